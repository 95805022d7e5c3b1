"""Fixtures for the live-source tests: boto3 clients for the shared moto server (tests/conftest.py)
and botocore event hooks."""

from __future__ import annotations

import json
from typing import Any

import pytest

REGION = "us-east-1"


@pytest.fixture
def client_factory(endpoint: str) -> Any:
    """Make boto3 clients for the moto endpoint (botocore's own retries off)."""
    import boto3
    from botocore.config import Config

    def make(service: str, **config: Any) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=endpoint,
            config=Config(retries={"mode": "standard", "max_attempts": 1}, **config),
        )

    return make


class SummaryPager:
    """Pages GetTraceSummaries responses at ``page_size`` with NextToken.

    moto 5.2 ignores NextToken and returns every summary in one response; real X-Ray pages
    them. The hook splits moto's real response and serves the later pages on the calls
    that carry the token, so the fetcher's pagination loop runs against moto's data.
    """

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self._pages: dict[str, dict[str, Any]] = {}
        self.served = 0
        self.calls = 0

    def install(self, client: Any) -> None:
        client.meta.events.register("before-call.xray.GetTraceSummaries", self._before)
        client.meta.events.register("after-call.xray.GetTraceSummaries", self._after)

    def _before(self, params: dict[str, Any], **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        self.calls += 1
        body = json.loads(params.get("body") or b"{}")
        token = body.get("NextToken")
        if token is None:
            return None
        page = self._pages.pop(token)
        page["_served"] = True
        self.served += 1
        return AWSResponse("http://pager", 200, {}, None), page

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        if parsed.pop("_served", False):
            return
        summaries = parsed.get("TraceSummaries", [])
        chunks = [
            summaries[i : i + self.page_size] for i in range(0, len(summaries), self.page_size)
        ] or [[]]
        parsed["TraceSummaries"] = chunks[0]
        previous = parsed
        for n, chunk in enumerate(chunks[1:], 1):
            token = f"page-{id(parsed)}-{n}"
            previous["NextToken"] = token
            page: dict[str, Any] = {"TraceSummaries": chunk}
            self._pages[token] = page
            previous = page


class Throttler:
    """Raise a throttling ClientError for the first ``n`` calls of one operation."""

    def __init__(
        self, operation: str, n: int, *, code: str = "ThrottledException", status: int = 429
    ) -> None:
        self.operation = operation
        self.remaining = n
        self.code = code
        self.status = status
        self.raised = 0

    def install(self, client: Any) -> None:
        client.meta.events.register(f"before-call.xray.{self.operation}", self._before)

    def _before(self, **_: Any) -> None:
        from botocore.exceptions import ClientError

        if self.remaining > 0:
            self.remaining -= 1
            self.raised += 1
            raise ClientError(
                {
                    "Error": {"Code": self.code, "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": self.status},
                },
                self.operation,
            )


@pytest.fixture
def summary_pager() -> type[SummaryPager]:
    """The GetTraceSummaries pager class."""
    return SummaryPager


@pytest.fixture
def throttler() -> type[Throttler]:
    """The throttling injector class."""
    return Throttler
