"""Which way a fetch reads traces, from the account's segment destination and the options."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.acquire.transaction_search import PATH_SPANS, PATH_XRAY
from tracelens.errors import SourceUnavailable

if TYPE_CHECKING:
    from tracelens.acquire.destination import SegmentDestination
    from tracelens.acquire.fetch import FetchSummary

#: GetTraceSummaries + BatchGetTraces (Transaction Search off).
PATH_CLASSIC = "xray"
#: Every path, as recorded in source.json and the report.
PATHS = (PATH_CLASSIC, PATH_XRAY, PATH_SPANS)


def choose_path(
    destination: SegmentDestination, *, spans: bool, filter_expression: str | None
) -> str:
    """The fetch path for this account.

    Args:
        destination: The answer of GetTraceSegmentDestination.
        spans: ``--source spans`` was given.
        filter_expression: ``--filter``, if given.

    Returns:
        ``xray``, ``transaction-search-xray`` or ``transaction-search-spans``.

    Raises:
        SourceUnavailable: ``--filter`` with Transaction Search on (X-Ray filter expressions
            do not apply to ``aws/spans``), or ``--source spans`` where the destination is
            known to be X-Ray.
    """
    if destination.transaction_search:
        if filter_expression:
            raise SourceUnavailable(
                "--filter takes an X-Ray filter expression, and Transaction Search is on: "
                "these traces are found with CloudWatch Logs Insights over aws/spans, where "
                "filter expressions do not apply; drop --filter and narrow with --function NAME"
            )
        return PATH_SPANS if spans else PATH_XRAY
    if spans:
        if destination.destination == "XRay":
            raise SourceUnavailable(
                "--source spans reads the aws/spans log group, which Transaction Search "
                "writes; this account's segment destination is XRay, so fetch without "
                "--source spans"
            )
        return PATH_SPANS
    return PATH_CLASSIC


def path_notice(destination: SegmentDestination, path: str) -> str:
    """The one line ``fetch`` prints on stderr about its choice (always one: what is fetched,
    and how, depends on the account's segment destination).

    Args:
        destination: The answer of GetTraceSegmentDestination.
        path: The chosen path.

    Returns:
        The line (plain text).
    """
    if destination.transaction_search:
        how = (
            "the aws/spans events of the traces (Logs Insights) into spans.ndjson"
            if path == PATH_SPANS
            else "trace ids from Logs Insights over aws/spans, traces from StartTraceRetrieval"
        )
        return (
            "Transaction Search is on (segment destination CloudWatchLogs, ACTIVE): "
            f"BatchGetTraces cannot see these traces; switching to {how}"
        )
    if destination.destination is None:
        then = (
            "trying Logs Insights over aws/spans"
            if path == PATH_SPANS
            else "using GetTraceSummaries + BatchGetTraces"
        )
        return f"{destination.note}; {then}"
    if destination.destination == "CloudWatchLogs":
        return (
            f"segment destination CloudWatchLogs is {destination.status or 'of unknown status'} "
            "(Transaction Search not active yet): "
            + (
                "trying Logs Insights over aws/spans"
                if path == PATH_SPANS
                else "using GetTraceSummaries + BatchGetTraces"
            )
        )
    return (
        "segment destination XRay (Transaction Search is off): "
        "using GetTraceSummaries + BatchGetTraces"
    )


def empty_hint(destination: SegmentDestination, summary: FetchSummary) -> str | None:
    """What an empty fetch may mean, when there is something to add (else None).

    An empty answer is not always an empty window: with the segment destination unknown,
    Transaction Search may be on and GetTraceSummaries blind; with Transaction Search on, the
    Lambda service spans exist only for functions with active tracing.

    Args:
        destination: The answer of GetTraceSegmentDestination.
        summary: The fetch counts.

    Returns:
        One line, or None.
    """
    if summary.found:
        return None
    if summary.path == PATH_CLASSIC and destination.destination != "XRay":
        return (
            "no traces found, and the segment destination is not known to be XRay: if "
            "CloudWatch Transaction Search is on, GetTraceSummaries sees only the indexed "
            "share of traces and BatchGetTraces none; allow xray:GetTraceSegmentDestination "
            "so fetch can switch, or try --source spans"
        )
    if summary.path != PATH_CLASSIC:
        return (
            "no traces in aws/spans for this window (with --function: no <function>/"
            "LambdaService spans); Lambda writes its spans only for functions with active "
            "tracing (TracingConfig Mode=Active)"
        )
    return None


__all__ = ["PATHS", "PATH_CLASSIC", "choose_path", "empty_hint", "path_notice"]
