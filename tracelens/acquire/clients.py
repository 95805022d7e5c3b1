"""boto3 clients for a fetch, made through the standard credential chain."""

from __future__ import annotations

from typing import Any

from tracelens.errors import SourceUnavailable


def make_clients(
    *,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    concurrency: int,
    side: bool,
) -> dict[str, Any]:
    """Create the X-Ray and CloudWatch Logs clients (and Lambda and SQS when ``side``).

    The Logs client runs the Logs Insights queries over ``aws/spans`` when Transaction
    Search is on; creating it makes no call.

    Args:
        region: AWS region, or None for boto3's configuration.
        profile: Named profile, or None for the default chain.
        endpoint_url: Another endpoint (e.g. a local emulator), or None.
        concurrency: BatchGetTraces calls in flight (sizes the connection pool).
        side: Also create ``lambda`` and ``sqs`` clients.

    Returns:
        The clients by service name.

    Raises:
        SourceUnavailable: The profile does not exist or a client cannot be created.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        # tracelens does its own backoff (and counts throttles), so botocore does not retry:
        # ``total_max_attempts`` counts the first call; botocore's ``max_attempts`` counts
        # retries, so ``max_attempts: 1`` left one hidden, uncounted retry.
        xray_config = Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            max_pool_connections=max(10, concurrency + 2),
        )
        clients: dict[str, Any] = {
            service: session.client(service, endpoint_url=endpoint_url, config=xray_config)
            for service in ("xray", "logs")
        }
        if side:
            side_config = Config(retries={"mode": "standard", "max_attempts": 5})
            for service in ("lambda", "sqs"):
                clients[service] = session.client(
                    service, endpoint_url=endpoint_url, config=side_config
                )
    except ProfileNotFound as exc:
        raise SourceUnavailable(f"AWS profile not found: {profile}") from exc
    except BotoCoreError as exc:
        raise SourceUnavailable(f"cannot create an AWS client: {exc}") from exc
    return clients


__all__ = ["make_clients"]
