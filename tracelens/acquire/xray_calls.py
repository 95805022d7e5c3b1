"""X-Ray API calls with retries: GetTraceSummaries pages and BatchGetTraces batches."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from tracelens.acquire.aws_errors import aws_failure, is_aws_error, is_retryable
from tracelens.acquire.backoff import Backoff, RetryPolicy
from tracelens.acquire.probe import trace_record

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from datetime import datetime


class XRayCalls:
    """The X-Ray calls of one fetch, safe to share between its worker threads.

    Throttled, 5xx and unreachable-endpoint calls are retried with full-jitter backoff;
    every call and every retry is counted.
    """

    def __init__(
        self,
        client: Any,
        retry: RetryPolicy,
        sleep: Callable[[float], None],
        *,
        service: str = "X-Ray",
    ) -> None:
        """Wrap ``client``.

        Args:
            client: A boto3 X-Ray client (or anything with the same methods; the CloudWatch
                Logs client for Logs Insights queries).
            retry: Backoff policy.
            sleep: Backoff sleep (tests pass a no-op).
            service: The service name shown in error messages.
        """
        self.client = client
        self.service = service
        self.retry = retry
        self.sleep = sleep
        self._backoff = Backoff(retry)
        self._lock = threading.Lock()
        self.throttles = 0
        self.api_calls = 0

    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Call one operation, retrying throttles and 5xx with full-jitter backoff.

        Args:
            operation: The client method (``get_trace_summaries``).
            **kwargs: Its parameters.

        Returns:
            The response.

        Raises:
            SourceUnavailable: AWS refused the call, or kept failing through every retry.
        """
        method = getattr(self.client, operation)
        attempt = 0
        while True:
            with self._lock:
                self.api_calls += 1
            try:
                result: dict[str, Any] = method(**kwargs)
                return result
            except Exception as exc:
                if not is_aws_error(exc):
                    raise
                retryable = is_retryable(exc)
                if not retryable or attempt + 1 >= self.retry.max_attempts:
                    raise aws_failure(
                        f"{self.service} {_op_name(operation)}", exc, gave_up=retryable
                    ) from exc
            with self._lock:
                self.throttles += 1
            delay = self._backoff.delay(attempt)
            attempt += 1
            self.sleep(delay)

    def summaries(
        self, windows: Sequence[tuple[datetime, datetime]], expression: str | None
    ) -> Iterator[tuple[str, bool, int]]:
        """Yield (trace id, is partial, page number) over every window and page.

        Args:
            windows: GetTraceSummaries windows, in time order.
            expression: The filter expression, or None.

        Yields:
            Each summary's trace id, its ``IsPartial`` flag and the page it came on.
        """
        page = 0
        for w_start, w_end in windows:
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"StartTime": w_start, "EndTime": w_end}
                if expression:
                    kwargs["FilterExpression"] = expression
                if token:
                    kwargs["NextToken"] = token
                response = self.call("get_trace_summaries", **kwargs)
                page += 1
                for summary in response.get("TraceSummaries", []):
                    trace_id = summary.get("Id")
                    if isinstance(trace_id, str) and trace_id:
                        yield trace_id, bool(summary.get("IsPartial")), page
                token = response.get("NextToken")
                if not token:
                    break

    def batch(self, ids: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """Fetch up to five traces; retry unprocessed ids; return (traces, still missing).

        Args:
            ids: Trace ids, at most five.

        Returns:
            The trace records (in the order of ``ids``) and the ids X-Ray never returned.
        """
        traces: dict[str, dict[str, Any]] = {}
        pending = list(ids)
        attempt = 0
        while pending:
            unprocessed = self._batch_pages(pending, traces)
            pending = sorted(set(unprocessed) - traces.keys())
            if not pending:
                break
            attempt += 1
            if attempt >= self.retry.max_attempts:
                break
            self.sleep(self._backoff.delay(attempt))
        ordered = [traces[t] for t in ids if t in traces]
        return ordered, list(pending)

    def _batch_pages(self, ids: list[str], traces: dict[str, dict[str, Any]]) -> list[str]:
        """One BatchGetTraces request over all its pages; return the unprocessed ids."""
        token: str | None = None
        unprocessed: list[str] = []
        while True:
            kwargs: dict[str, Any] = {"TraceIds": ids}
            if token:
                kwargs["NextToken"] = token
            response = self.call("batch_get_traces", **kwargs)
            for trace in response.get("Traces", []):
                trace_id = trace.get("Id")
                if not isinstance(trace_id, str):
                    continue
                if trace_id in traces:
                    # A big trace can span pages: merge its segments.
                    traces[trace_id]["Segments"].extend(trace.get("Segments", []))
                else:
                    traces[trace_id] = trace_record(trace)
            unprocessed.extend(
                t for t in response.get("UnprocessedTraceIds", []) if isinstance(t, str)
            )
            token = response.get("NextToken")
            if not token:
                return unprocessed


def _op_name(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_"))


__all__ = ["XRayCalls"]
