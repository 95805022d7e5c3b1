"""Formatting shared by the text and Markdown renderers: durations, orders, paths, histograms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.model.vocab import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from tracelens.model.vocab import ChainFate, ChainOutcome, FateEvidence
    from tracelens.report.models import (
        Chain,
        Finding,
        Modes,
        Report,
        SqsSection,
        StreamsSection,
    )

GOOD_OUTCOMES: frozenset[ChainOutcome] = frozenset({"succeeded", "succeeded_after_retry"})
#: Fates whose events, messages or records are gone for good.
LOST_FATES: frozenset[ChainFate] = frozenset(
    {"dropped", "missing", "discarded", "retention_deleted"}
)
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


def by_severity(findings: Iterable[Finding]) -> list[Finding]:
    """Findings most severe first, then by code and function."""
    return sorted(findings, key=lambda f: (Severity(f.severity).rank, f.code, f.function or ""))


def invoke_paths(modes: Modes) -> str:
    """A function's requests on the invoke paths it was called by: ``sync 3, sqs 12`` (or ``-``)."""
    counts = {
        "sync": modes.sync,
        "async": modes.async_,
        "sqs": modes.sqs,
        "stream": modes.stream,
        "unknown": modes.unknown,
    }
    return ", ".join(f"{name} {count:,}" for name, count in counts.items() if count) or "-"


def histogram_items(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Histogram buckets in numeric order (non-numeric keys last)."""

    def order(key: str) -> tuple[int, str]:
        return (int(key), key) if key.isdigit() else (1 << 62, key)

    return [(key, counts[key]) for key in sorted(counts, key=order)]


#: How a ``sent`` fate is known, as the text and Markdown reports say it.
SENT_EVIDENCE: tuple[tuple[FateEvidence, str], ...] = (
    ("dump", "checked in DLQ dump"),
    ("config", "config names a DLQ; not checked"),
    ("none", "DLQ dump has no request ids; not checked"),
)
#: What a person should do about fates that are unknown.
UNKNOWN_FATE = "ended badly, fate unknown: supply `--config` (or `fetch --with-config`)"
#: A chain's fate evidence, shown after its fate.
CHAIN_EVIDENCE: dict[FateEvidence, str] = {
    "dump": "checked in dump",
    "config": "per config",
    "none": "not checked",
}


def fate_parts(report: Report) -> list[tuple[str, bool]]:
    """The fates of async events that ended badly as phrases, each with "lost" (to stress).

    ``sent`` is split by how it is known (``chains[].fate_evidence``; every event that ended
    badly is a chain): "11 sent (checked in DLQ dump)" vs "11 sent (config names a DLQ; not
    checked)". Unknown fates say how to learn them.
    """
    fates = report.async_.fates
    by_evidence: dict[FateEvidence, int] = {}
    for chain in report.chains:
        if chain.kind == "async" and chain.fate == "sent":
            key = chain.fate_evidence or "none"
            by_evidence[key] = by_evidence.get(key, 0) + 1
    parts: list[tuple[str, bool]] = []
    if fates.sent and sum(by_evidence.values()) == fates.sent:
        parts += [
            (f"{by_evidence[key]:,} sent ({label})", False)
            for key, label in SENT_EVIDENCE
            if by_evidence.get(key)
        ]
    else:
        parts.append((f"{fates.sent:,} sent to DLQ/destination", False))
    parts.append((f"{fates.missing:,} missing from DLQ", bool(fates.missing)))
    parts.append((f"{fates.dropped:,} dropped", bool(fates.dropped)))
    if fates.unknown:
        parts.append((f"{fates.unknown:,} {UNKNOWN_FATE}", False))
    else:
        parts.append(("0 unknown", False))
    return parts
