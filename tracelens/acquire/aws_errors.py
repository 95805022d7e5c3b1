"""Turn botocore failures into one-line ``SourceUnavailable`` errors, and say which to retry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracelens.errors import SourceUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

#: Error codes retried with backoff (X-Ray documents ``ThrottledException``; botocore and
#: other AWS services report ``ThrottlingException`` / ``TooManyRequestsException``; CloudWatch
#: Logs answers StartQuery with ``LimitExceededException`` while the account already runs its
#: maximum of concurrent Logs Insights queries).
THROTTLE_CODES = frozenset(
    {
        "LimitExceededException",
        "ThrottledException",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)


def is_aws_error(exc: BaseException) -> bool:
    """Say whether ``exc`` is a botocore failure (a service error or a client-side one).

    Args:
        exc: Any exception.

    Returns:
        True for ``ClientError`` and every ``BotoCoreError``.
    """
    # Imported here: boto3 / botocore stay out of `import tracelens`.
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, ClientError | BotoCoreError)


def is_retryable(exc: BaseException) -> bool:
    """Say whether a botocore failure is worth retrying: a throttle, a 5xx or 429, or a
    failed connection.

    Args:
        exc: A botocore exception.

    Returns:
        True when a later attempt may succeed.
    """
    from botocore.exceptions import ClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, ClientError):
        code, _message, status = _error_parts(exc)
        return code in THROTTLE_CODES or status >= 500 or status == 429
    return isinstance(exc, BotoConnectionError)


def aws_failure(what: str, exc: BaseException, *, gave_up: bool = False) -> SourceUnavailable:
    """The one-line error for a botocore failure of the call ``what``.

    Args:
        what: The call, as the user should read it (``X-Ray GetTraceSummaries``).
        exc: A botocore exception (see ``is_aws_error``).
        gave_up: The call was retried and is failing still.

    Returns:
        The error to raise (``from exc``, so callers can inspect the cause).
    """
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, ClientError):
        code, message, status = _error_parts(exc)
        why = f"{code}: {message}" if message else code or f"HTTP {status}"
        hint = " (gave up after retries)" if gave_up else ""
        return SourceUnavailable(f"{what} failed: {why}{hint}")
    if isinstance(exc, NoCredentialsError):
        return SourceUnavailable(
            "no AWS credentials found: set a profile (--profile) or the standard AWS "
            "environment variables"
        )
    if isinstance(exc, NoRegionError):
        return SourceUnavailable("no AWS region configured: pass --region")
    if isinstance(exc, BotoConnectionError):
        return SourceUnavailable(f"{what}: cannot reach the endpoint ({exc})")
    return SourceUnavailable(f"{what} failed: {exc}")


def aws_call(what: str, fn: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """Call one AWS API once, translating botocore failures with ``aws_failure``.

    Args:
        what: The call, for the error message.
        fn: A boto3 client method.
        **kwargs: Its parameters.

    Returns:
        The response.

    Raises:
        SourceUnavailable: The call failed.
    """
    try:
        return fn(**kwargs)
    except Exception as exc:
        if is_aws_error(exc):
            raise aws_failure(what, exc) from exc
        raise


def _error_parts(exc: Any) -> tuple[str, str, int]:
    """(code, first line of the message, HTTP status) of a ``ClientError``."""
    response = exc.response
    error = response.get("Error", {})
    lines = str(error.get("Message", "")).splitlines()
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return str(error.get("Code", "")), lines[0] if lines else "", status


__all__ = ["THROTTLE_CODES", "aws_call", "aws_failure", "is_aws_error", "is_retryable"]
