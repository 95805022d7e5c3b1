"""Views: the slice of a Report that one choice of the dashboard's function filter shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import msgspec

from tracelens.report.models import (
    AsyncFates,
    AsyncOutcomes,
    Chain,
    Finding,
    FunctionDetail,
    FunctionSummary,
    FunctionTimeline,
    PoisonMessage,
    Report,
    SqsFates,
    StreamFates,
    Timeline,
)

#: A struct whose every field is a count.
_CountsT = TypeVar("_CountsT", AsyncOutcomes, AsyncFates, SqsFates, StreamFates)

#: Key of the view over every function in the report.
ALL_FUNCTIONS = ""


@dataclass(frozen=True, slots=True)
class Headline:
    """The headline numbers of one view."""

    events: int
    succeeded_after_retry: int
    sent_to_dlq: int
    missing_from_dlq: int
    dropped: int
    poison_messages: int
    p99_dwell_ms: float | None
    failed_requests: int = 0  # of the view's functions, every invoke path (D2)
    throttled_requests: int = 0  # of the view's functions, every invoke path (D1)
    fate_unknown: int = 0  # async events that ended badly with no config for their function
    requests: int = 0  # of the view's functions, every invoke path
    sqs_messages: int = 0
    sqs_redelivered: int = 0  # messages delivered more than once
    sqs_fates: SqsFates = field(default_factory=SqsFates)  # of the poison messages
    stream_batches: int = 0
    stream_retried: int = 0  # batches retried whole
    stream_fates: StreamFates = field(default_factory=StreamFates)  # of batches that ended badly
    stream_still_retrying: int = 0  # failed batches still within every limit: shard blocked


@dataclass(frozen=True, slots=True)
class View:
    """What the panels show for one choice of the function filter.

    Attributes:
        key: The function name, or ``ALL_FUNCTIONS`` for the view over every function.
        label: Text of the filter option (unescaped).
        functions: Function summaries, sorted by name.
        details: Per-function dashboard aggregates, sorted by function.
        chains: Retry chains, in report order.
        findings: Findings, in report order.
        poison: SQS poison messages, in report order.
        headline: The headline numbers.
        bucket_seconds: Width of the time buckets in ``details``.
        data_end: Latest time in the input, if known (ends open intervals).
        timeline: The report's timeline (its window and buckets).
        timeline_functions: The timeline series of the view's functions.
        stream_unknown_reasons: Why stream batch fates are unknown (the report's reasons,
            which name their functions).
    """

    key: str
    label: str
    functions: tuple[FunctionSummary, ...]
    details: tuple[FunctionDetail, ...]
    chains: tuple[Chain, ...]
    findings: tuple[Finding, ...]
    poison: tuple[PoisonMessage, ...]
    headline: Headline
    bucket_seconds: int
    data_end: str | None
    timeline: Timeline = field(default_factory=Timeline)
    timeline_functions: tuple[FunctionTimeline, ...] = ()
    stream_unknown_reasons: tuple[str, ...] = ()

    @property
    def is_all(self) -> bool:
        """Whether this view covers every function."""
        return self.key == ALL_FUNCTIONS


def function_names(report: Report) -> list[str]:
    """Every function named by the report's summaries or details, sorted."""
    return sorted({f.name for f in report.functions} | {d.function for d in report.details})


def build_views(report: Report) -> list[View]:
    """One view over all functions, then one per function, sorted by name.

    Args:
        report: The report (already filtered by the CLI's ``--function``, if given).

    Returns:
        The views, the all-functions one first.
    """
    views = [_all_view(report)]
    views.extend(_function_view(report, name) for name in function_names(report))
    return views


def _all_view(report: Report) -> View:
    """The view over every function, with headline numbers from the report's sections."""
    section = report.async_
    headline = Headline(
        events=section.events,
        succeeded_after_retry=section.outcomes.succeeded_after_retry,
        sent_to_dlq=section.fates.sent,
        missing_from_dlq=section.fates.missing,
        dropped=section.fates.dropped,
        poison_messages=len(report.sqs.poison_messages),
        p99_dwell_ms=section.dwell_ms.p99,
        failed_requests=sum(f.failed_requests for f in report.functions),
        throttled_requests=sum(f.throttles for f in report.functions),
        fate_unknown=section.fates.unknown,
        requests=sum(f.requests for f in report.functions),
        sqs_messages=report.sqs.messages,
        sqs_redelivered=report.sqs.redelivered_messages,
        sqs_fates=report.sqs.fates,
        stream_batches=report.streams.batches,
        stream_retried=report.streams.retried_batches,
        stream_fates=report.streams.fates,
        stream_still_retrying=report.streams.still_retrying,
    )
    return View(
        key=ALL_FUNCTIONS,
        label="All functions",
        functions=tuple(sorted(report.functions, key=lambda f: f.name)),
        details=tuple(sorted(report.details, key=lambda d: d.function)),
        chains=tuple(report.chains),
        findings=tuple(report.findings),
        poison=tuple(report.sqs.poison_messages),
        headline=headline,
        bucket_seconds=report.bucket_seconds,
        data_end=report.input.end,
        timeline=report.timeline,
        stream_unknown_reasons=tuple(report.streams.fate_unknown_reasons),
        timeline_functions=tuple(report.timeline.functions),
    )


def _function_view(report: Report, name: str) -> View:
    """The view of one function, with headline numbers from its detail."""
    details = tuple(d for d in report.details if d.function == name)
    poison = tuple(p for p in report.sqs.poison_messages if p.function == name)
    outcomes = sum_outcomes(details)
    fates = sum_fates(details)
    quantiles = details[0].dwell_quantiles_ms if len(details) == 1 else []
    summaries = tuple(f for f in report.functions if f.name == name)
    chains = tuple(c for c in report.chains if c.function == name)
    streams = [c for c in chains if c.kind == "stream"]
    headline = Headline(
        events=sum(d.events for d in details),
        succeeded_after_retry=outcomes.succeeded_after_retry,
        sent_to_dlq=fates.sent,
        missing_from_dlq=fates.missing,
        dropped=fates.dropped,
        poison_messages=max(sum(d.poison_messages for d in details), len(poison)),
        # p0..p100 by nearest rank: index 99 is the p99 of the contract.
        p99_dwell_ms=quantiles[99] if len(quantiles) == 101 else None,
        failed_requests=sum(f.failed_requests for f in summaries),
        throttled_requests=sum(f.throttles for f in summaries),
        fate_unknown=fates.unknown,
        requests=sum(f.requests for f in summaries),
        sqs_messages=sum(sum(d.deliveries_histogram.values()) for d in details),
        sqs_redelivered=sum(
            count
            for d in details
            for key, count in d.deliveries_histogram.items()
            if key.isdigit() and int(key) > 1
        ),
        sqs_fates=_count_fates(SqsFates, [p.fate for p in poison]),
        stream_batches=sum(point.batches for d in details for point in d.stream_batches),
        stream_retried=sum(point.retried for d in details for point in d.stream_batches),
        stream_fates=_count_fates(StreamFates, [c.fate for c in streams]),
        stream_still_retrying=sum(1 for c in streams if c.outcome == "in_progress"),
    )
    return View(
        key=name,
        label=name,
        functions=summaries,
        details=details,
        chains=chains,
        findings=tuple(f for f in report.findings if f.function == name),
        poison=poison,
        headline=headline,
        bucket_seconds=report.bucket_seconds,
        data_end=report.input.end,
        timeline=report.timeline,
        stream_unknown_reasons=tuple(report.streams.fate_unknown_reasons),
        timeline_functions=tuple(f for f in report.timeline.functions if f.function == name),
    )


def sum_outcomes(details: tuple[FunctionDetail, ...]) -> AsyncOutcomes:
    """Add up the async outcomes of several details."""
    return _add_up(AsyncOutcomes, [d.outcomes for d in details])


def sum_fates(details: tuple[FunctionDetail, ...]) -> AsyncFates:
    """Add up the async fates of several details."""
    return _add_up(AsyncFates, [d.fates for d in details])


def _add_up(kind: type[_CountsT], parts: list[_CountsT]) -> _CountsT:
    """A struct of counts whose every field is the sum of that field over ``parts``."""
    totals = {name: sum(getattr(part, name) for part in parts) for name in kind.__struct_fields__}
    return msgspec.convert(totals, kind)


def _count_fates(kind: type[_CountsT], fates: list[str | None]) -> _CountsT:
    """A struct of counts with one count per fate named in ``fates`` (None: not counted)."""
    totals = {name: sum(1 for fate in fates if fate == name) for name in kind.__struct_fields__}
    return msgspec.convert(totals, kind)
