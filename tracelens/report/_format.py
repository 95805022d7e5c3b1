"""Formatting shared by the text and Markdown renderers: durations, chain order, histograms."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from tracelens.report.models import Chain, SqsSection, StreamsSection

GOOD_OUTCOMES = frozenset({"succeeded", "succeeded_after_retry"})
#: Fates whose events, messages or records are gone for good.
LOST_FATES = frozenset({"dropped", "missing", "discarded", "retention_deleted"})
SQS_NO_QUEUE = "no queue attributes in the config: supply --config"


def sqs_fates_line(sqs: SqsSection) -> str | None:
    """``poison message fates: 2 moved to the DLQ, ...``, or None without poison messages."""
    f = sqs.fates
    if not sqs.poison_messages:
        return None
    line = (
        f"poison message fates: {f.dlq:,} moved to the DLQ, {f.retention_deleted:,} deleted "
        f"at the end of retention, {f.in_queue:,} still in the queue when the data ends, "
        f"{f.unknown:,} unknown"
    )
    return line + (f" ({SQS_NO_QUEUE})" if f.unknown else "")


def stream_fates_line(st: StreamsSection) -> str | None:
    """``batches that ended badly: 1 sent to ..., ...``, or None when nothing failed for good."""
    f = st.fates
    if not (f.sent or f.discarded or f.unknown or st.still_retrying):
        return None
    return (
        f"failed batches: {f.sent:,} sent to the on-failure destination, {f.discarded:,} "
        f"discarded, {f.unknown:,} fate unknown, {st.still_retrying:,} still retrying when the "
        "data ends (their shard is blocked)"
    )


def duration(ms: float | None, *, minute: str = "m", second: str = "s", hour: str = "h") -> str:
    """A millisecond duration for people: ``850.0 ms``, ``12.35 s``, ``2m 03.4s``, ``2h 01m``.

    Args:
        ms: The duration in milliseconds, or None (shown as ``-``).
        minute: Unit written after minutes (``m``, or `` min`` for prose).
        second: Unit written after seconds in minute-long durations.
        hour: Unit written after hours.
    """
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.1f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}{minute} {rest:04.1f}{second}"
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}{hour} {minutes:02d}{minute}"


def worst_chains(chains: Iterable[Chain], limit: int) -> list[Chain]:
    """The chains a person should look at first.

    Lost events (fate ``dropped`` or ``missing``) first, then chains that did not end well,
    then by attempts (most first), then by time and key, so the choice is deterministic.
    """
    return sorted(
        chains,
        key=lambda c: (
            c.fate not in LOST_FATES,
            c.outcome in GOOD_OUTCOMES,
            -c.attempts,
            c.first_start,
            c.kind,
            c.key,
        ),
    )[:limit]


def histogram_items(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Histogram buckets in numeric order (non-numeric keys last)."""

    def order(key: str) -> tuple[int, str]:
        return (int(key), key) if key.isdigit() else (1 << 62, key)

    return [(key, counts[key]) for key in sorted(counts, key=order)]
