"""Links from trace ids to the X-Ray trace view of the AWS console (CloudWatch).

The region comes from a Lambda function ARN (``arn:aws:lambda:<region>:<account>:function:
<name>``) and from nothing else: without an ARN, or with an ARN outside the commercial ``aws``
partition (whose console hosts differ), there is no link rather than a guessed one.

The URL is the CloudWatch console's X-Ray trace view,
``https://<region>.console.aws.amazon.com/cloudwatch/home?region=<region>#xray:traces/<id>``
(the X-Ray console now lives in CloudWatch; the X-Ray Developer Guide's "Console deep linking"
page documents the older ``xray/home?region=<region>#/traces/<trace-id>`` route and the
``region`` query). Ids are percent-encoded, so text from the documents can never end the
URL or start markup.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: A region code as AWS writes them (``us-east-1``, ``eu-central-2``, ``ap-southeast-4``).
_REGION: Final = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")

#: Console hosts are known for this partition only.
PARTITION: Final = "aws"

#: What ``trace_url`` makes; a renderer links nothing else (a report read back from a file
#: could hold any text in ``trace_urls``).
_URL: Final = re.compile(
    r"https://[a-z0-9-]+\.console\.aws\.amazon\.com/cloudwatch/home\?region=[a-z0-9-]+"
    r"#xray:traces/[A-Za-z0-9%-]+"
)


def is_console_url(url: str) -> bool:
    """Whether ``url`` has the form ``trace_url`` writes (safe to put in a link as is)."""
    return _URL.fullmatch(url) is not None


def region_of_arn(arn: str | None) -> str | None:
    """The region of a Lambda function ARN, or None when it is not one.

    Args:
        arn: ``arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]``.

    Returns:
        The region, or None (no ARN, another service or partition, a malformed region).

    Example:
        >>> region_of_arn("arn:aws:lambda:eu-west-1:123456789012:function:orders")
        'eu-west-1'
    """
    if not arn:
        return None
    parts = arn.split(":", 6)
    if len(parts) < 7 or parts[0] != "arn" or parts[1] != PARTITION or parts[2] != "lambda":
        return None
    region = parts[3]
    return region if _REGION.fullmatch(region) else None


def trace_url(region: str, trace_id: str) -> str:
    """The console URL of one trace.

    Args:
        region: A region from ``region_of_arn``.
        trace_id: The X-Ray trace id (percent-encoded here, whatever it holds).

    Returns:
        The URL.

    Example:
        >>> trace_url("eu-west-1", "1-6553f100-0123456789abcdef01234567")
        'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#xray:traces/1-6553f100-0123456789abcdef01234567'
    """
    return console_prefix(region) + quote(trace_id, safe="")


def console_prefix(region: str) -> str:
    """The URL of the region's trace view up to the (encoded) trace id."""
    if not _REGION.fullmatch(region):
        raise ValueError(f"not a region: {region!r}")
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#xray:traces/"


def regions_by_function(arns: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Each function whose ARN names a region, mapped to that region.

    Args:
        arns: (function name, function ARN or None) pairs, e.g. the report's ``functions``.

    Returns:
        Function name to region, for the functions with a usable ARN only.
    """
    out: dict[str, str] = {}
    for function, arn in arns:
        region = region_of_arn(arn)
        if region is not None:
            out[function] = region
    return out


def trace_urls(function: str, trace_ids: Iterable[str], regions: Mapping[str, str]) -> list[str]:
    """The console URLs of ``trace_ids`` (same order), or [] when the region is unknown.

    Args:
        function: The function the traces belong to.
        trace_ids: Its trace ids.
        regions: ``regions_by_function`` output.

    Returns:
        One URL per trace id, or an empty list.
    """
    region = regions.get(function)
    if region is None:
        return []
    return [trace_url(region, trace_id) for trace_id in trace_ids]


__all__ = [
    "PARTITION",
    "console_prefix",
    "is_console_url",
    "region_of_arn",
    "regions_by_function",
    "trace_url",
    "trace_urls",
]
