"""Formatting shared by the text and Markdown renderers: durations, orders, paths, histograms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.model.vocab import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from tracelens.model.vocab import ChainFate, ChainOutcome, FateEvidence
    from tracelens.report.models import (
        CallerSummary,
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


def sqs_fates_line(sqs: SqsSection, *, has_config: bool) -> str | None:
    """``poison message fates: 2 moved to the DLQ, ...``, or None without poison messages.

    Unknown fates ask for a config only when none was read; otherwise their reason (queue
    attributes missing, or a message gone past its retention with a redrive policy) is in
    the SQS_POISON_MESSAGE finding.
    """
    f = sqs.fates
    if not sqs.poison_messages:
        return None
    line = (
        f"poison message fates: {f.dlq:,} moved to the DLQ, {f.retention_deleted:,} deleted "
        f"at the end of retention, {f.in_queue:,} still in the queue when the data ends, "
        f"{f.unknown:,} unknown"
    )
    if not f.unknown:
        return line
    why = "why: see the SQS_POISON_MESSAGE finding" if has_config else SQS_NO_QUEUE
    return f"{line} ({why})"


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


def duration(ms: float | None) -> str:
    """A millisecond duration for people, the one format of every renderer.

    ``78.5 ms`` below a second, ``1.2 s`` below a minute, ``1 min 00 s`` below an hour,
    ``1 h 02 min`` above. Each form is rounded to its last digit first, so a value never
    shows as ``1000.0 ms``, ``60.0 s`` or ``59 min 60 s``.

    Args:
        ms: The duration in milliseconds, or None (shown as ``-``).
    """
    if ms is None:
        return "-"
    if ms < 0:
        return "-" + duration(-ms)
    if round(ms, 1) < 1000:
        return f"{ms:.1f} ms"
    if round(ms / 1000, 1) < 60:
        return f"{ms / 1000:.1f} s"
    seconds = round(ms / 1000)
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    minutes = round(ms / 60_000)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun`` in the right number: ``1 function``, ``2 functions``, ``1,234
    documents``, ``2 batches``, ``2 client retries``.

    Args:
        count: How many.
        noun: The singular (its last word is the one made plural).
        many: The plural when the English rules below do not make it (``was`` -> ``were``).
    """
    if count == 1:
        return f"{count:,} {noun}"
    if many is None:
        if noun.endswith(("s", "x", "z", "ch", "sh")):
            many = noun + "es"
        elif noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
            many = noun[:-1] + "ies"
        else:
            many = noun + "s"
    return f"{count:,} {many}"


def repeated(errors: Iterable[str]) -> list[tuple[str, int]]:
    """Each distinct error once, with how many times it occurs, in order of first appearance
    (a chain that failed three times the same way is one error, three times)."""
    counts: dict[str, int] = {}
    for error in errors:
        counts[error] = counts.get(error, 0) + 1
    return list(counts.items())


def times(error: str, count: int) -> str:
    """An error with its count when it repeats: ``TimeoutError: ... (3 times)``."""
    return error if count == 1 else f"{error} ({count:,} times)"


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


def caller_label(caller: CallerSummary) -> str:
    """``kind name`` of a caller (the kind alone when its name is unknown)."""
    return f"{caller.kind} {caller.name}" if caller.name else caller.kind


def callers_of(report: Report, function: str) -> list[CallerSummary]:
    """A function's entries of ``callers[]``, most requests first (the report's order)."""
    return [c for c in report.callers if c.function == function]


def counted(counts: Mapping[str, int]) -> str:
    """``36 succeeded, 8 retries exhausted`` from outcome or fate counts (``-`` when none)."""
    return ", ".join(f"{n:,} {key.replace('_', ' ')}" for key, n in counts.items()) or "-"


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
#: What ``input.duplicates`` counts, said where the number is shown: a span bundle has one
#: per Lambda request (the in-progress snapshot Lambda writes before the completed span).
DUPLICATES_MEANING = (
    "duplicates are documents or spans read more than once, and in-progress copies replaced "
    "by their completed ones (Lambda writes one per request to aws/spans); each entity is "
    "counted once"
)
#: Where a chain with an unknown fate finds why, by chain kind. An async event's fate is
#: unknown only when the config says nothing about its function; a message's or batch's can
#: be unknown with a full config, and the reason is written where the hint points.
UNKNOWN_FATE_HINTS: dict[str, str] = {
    "async": "supply `--config`",
    "sqs": "why: see the SQS_POISON_MESSAGE finding",
    "stream": "why: see Stream batches above",
}
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
