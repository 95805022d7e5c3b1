"""AnalysisResults as plain typed aggregates: statistic blocks, counts, section totals, details.

Every number the report shows is aggregated here, so the report only shapes these values into
its contract structs and never reads a result frame's columns itself.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.async_events import FATE_EVIDENCE, FATES, OUTCOMES
from tracelens.analysis.functions import MODES
from tracelens.analysis.sqs import FATES as SQS_FATES
from tracelens.analysis.stats import STAT_FIELDS, stat_exprs
from tracelens.analysis.streams import FATES as STREAM_FATES
from tracelens.model import schema as col

if TYPE_CHECKING:
    from datetime import datetime

    from tracelens.analysis.details import DetailFrames
    from tracelens.analysis.pipeline import AnalysisResults
    from tracelens.model.vocab import SqsEvidence, SqsFate, StreamEvidence


@dataclass(frozen=True, slots=True)
class StatBlock:
    """Nearest-rank statistics of one set of values (milliseconds); all None when count is 0."""

    count: int
    min: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None
    mean: float | None = None


@dataclass(frozen=True, slots=True)
class FunctionTotals:
    """One function's requests, invocations, failures, invoke paths and durations."""

    name: str
    arn: str | None
    requests: int
    invocations: int
    cold_starts: int
    failed_invocations: int
    failed_requests: int
    throttles: int
    modes: dict[str, int]  # requests per invoke path, every one of ``functions.MODES``
    duration_ms: StatBlock


@dataclass(frozen=True, slots=True)
class AsyncTotals:
    """Async events: dwell, attempts, retry delays, outcomes and fates."""

    events: int
    dwell_ms: StatBlock
    attempts: dict[str, int]  # events by attempts observed, in attempts order
    retry_delay_ms: StatBlock
    outcomes: dict[str, int]  # every one of ``async_events.OUTCOMES``
    fates: dict[str, int]  # every one of ``async_events.FATES``
    fates_evidence: dict[str, int]  # every one of ``async_events.FATE_EVIDENCE``


@dataclass(frozen=True, slots=True)
class PoisonRow:
    """One poison SQS message."""

    message_id: str
    function: str
    deliveries: int
    first_seen: datetime
    last_seen: datetime
    last_error: str | None
    fate: SqsFate | None


@dataclass(frozen=True, slots=True)
class SqsTotals:
    """SQS messages, their deliveries and the poison messages."""

    messages: int
    deliveries: int
    redelivered_messages: int
    max_deliveries: int
    max_receive_count: int | None
    deliveries_histogram: dict[str, int]  # messages by deliveries, in deliveries order
    poison_messages: list[PoisonRow]  # by first seen, message id, function
    evidence: SqsEvidence
    fates: dict[str, int]  # poison messages per ``sqs.FATES`` (empty: no fates known)


@dataclass(frozen=True, slots=True)
class StreamTotals:
    """Stream batches: retries, fates, batches still retrying."""

    batches: int
    retried_batches: int
    max_attempts: int
    evidence: StreamEvidence
    fates: dict[str, int] = field(default_factory=dict)  # per ``streams.FATES`` (or empty)
    still_retrying: int = 0
    fate_unknown_reasons: list[str] = field(default_factory=list)  # sorted


@dataclass(frozen=True, slots=True)
class TimeBucket:
    """Dwell percentiles of the async events enqueued in one time bucket."""

    start: datetime
    count: int
    p50: float | None
    p90: float | None
    p99: float | None


@dataclass(frozen=True, slots=True)
class ShardBucket:
    """Stream batches of one shard that started in one time bucket."""

    shard_id: str
    start: datetime
    batches: int
    retried: int


@dataclass(frozen=True, slots=True)
class FunctionDetails:
    """One function's dashboard aggregates."""

    function: str
    events: int
    dwell_quantiles_ms: list[float]  # p0..p100; empty without dwell
    dwell_histogram_ms: list[tuple[float, int]]  # (1-2-5 bucket lower bound, events), sorted
    dwell_over_time: list[TimeBucket]
    attempts: dict[str, int]  # events by attempts, in attempts order
    attempts_by_outcome: dict[str, dict[str, int]]  # outcome -> attempts -> events
    outcomes: dict[str, int]  # every one of ``async_events.OUTCOMES``
    fates: dict[str, int]  # every one of ``async_events.FATES``
    deliveries_histogram: dict[str, int]  # SQS messages by deliveries
    poison_messages: int
    stream_batches: list[ShardBucket]  # by shard id, then start


@dataclass(frozen=True, slots=True)
class Summary:
    """Every aggregate of the report's function, async, SQS, stream and details sections."""

    functions: list[FunctionTotals]  # by name
    async_: AsyncTotals
    sqs: SqsTotals
    streams: StreamTotals
    details: list[FunctionDetails]  # by function


def summarise(results: AnalysisResults) -> Summary:
    """Aggregate analysis results into plain values.

    Args:
        results: What ``analyse`` returned.

    Returns:
        The aggregates, every list sorted deterministically.
    """
    return Summary(
        functions=[_function(row) for row in results.functions.iter_rows(named=True)],
        async_=async_totals(results),
        sqs=sqs_totals(results),
        streams=stream_totals(results),
        details=function_details(results.details),
    )


def stat_block(row: dict[str, Any], prefix: str = "") -> StatBlock:
    """The statistic block in a row holding ``stats.stat_exprs`` columns named ``prefix``+field.

    Args:
        row: A named row.
        prefix: Prefix of the statistic columns.

    Returns:
        The block; every statistic None when the count is 0.
    """
    count = int(row.get(f"{prefix}count") or 0)
    if count == 0:
        return StatBlock(count=0)
    values = {f: row[f"{prefix}{f}"] for f in STAT_FIELDS[1:]}
    return StatBlock(
        count=count, **{k: (None if v is None else float(v)) for k, v in values.items()}
    )


def stats_of(frame: pl.DataFrame, column: str) -> StatBlock:
    """The statistic block of one column of a frame (nulls ignored)."""
    return stat_block(frame.select(stat_exprs(pl.col(column))).row(0, named=True))


def counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    """Rows per non-null value of ``column``, keyed by the value as text, in value order."""
    if frame.is_empty():
        return {}
    grouped = frame.group_by(column).len().sort(column)
    return {str(k): int(v) for k, v in grouped.iter_rows() if v > 0 and k is not None}


def _every(names: tuple[str, ...], found: dict[str, int]) -> dict[str, int]:
    """``found`` over exactly ``names`` (0 where absent)."""
    return {name: found.get(name, 0) for name in names}


def _max(frame: pl.DataFrame, column: str) -> int | None:
    """The largest value of an integer column (None when it has none)."""
    value = frame.select(pl.col(column).max()).item()
    return None if value is None else int(value)


def _function(row: dict[str, Any]) -> FunctionTotals:
    return FunctionTotals(
        name=row[c.FUNCTION],
        arn=row[col.ARN],
        requests=int(row[c.REQUESTS]),
        invocations=int(row[c.INVOCATIONS]),
        cold_starts=int(row[c.COLD_STARTS]),
        failed_invocations=int(row[c.FAILED_INVOCATIONS]),
        failed_requests=int(row[c.FAILED_REQUESTS]),
        throttles=int(row[c.THROTTLES]),
        modes={m: int(row[f"{c.MODE_PREFIX}{m}"]) for m in MODES},
        duration_ms=stat_block(row, c.DURATION_PREFIX),
    )


def async_totals(results: AnalysisResults) -> AsyncTotals:
    """The async section's aggregates."""
    events = results.events
    return AsyncTotals(
        events=events.height,
        dwell_ms=stats_of(events, c.DWELL_MS),
        attempts=counts(events, c.ATTEMPTS),
        retry_delay_ms=stats_of(results.retry_delays, c.DELAY_MS),
        outcomes=_every(OUTCOMES, counts(events, c.OUTCOME)),
        fates=_every(FATES, counts(events.filter(pl.col(c.FATE).is_not_null()), c.FATE)),
        fates_evidence=_every(
            FATE_EVIDENCE,
            counts(events.filter(pl.col(c.FATE_EVIDENCE).is_not_null()), c.FATE_EVIDENCE),
        ),
    )


def _fate_counts(frame: pl.DataFrame, fates: tuple[str, ...]) -> dict[str, int]:
    if c.FATE not in frame.columns:
        return {}
    return _every(fates, counts(frame.filter(pl.col(c.FATE).is_not_null()), c.FATE))


def sqs_totals(results: AnalysisResults) -> SqsTotals:
    """The SQS section's aggregates."""
    messages = results.messages
    poison = messages.filter(pl.col(c.POISON)).sort(c.FIRST_START, c.MESSAGE_ID, c.FUNCTION)
    return SqsTotals(
        messages=messages.height,
        deliveries=int(messages.get_column(c.ATTEMPTS).sum()) if messages.height else 0,
        redelivered_messages=messages.filter(pl.col(c.ATTEMPTS) > 1).height,
        max_deliveries=(_max(messages, c.ATTEMPTS) or 0) if messages.height else 0,
        max_receive_count=_max(messages, c.RECEIVE_COUNT) if messages.height else None,
        deliveries_histogram=counts(messages, c.ATTEMPTS),
        poison_messages=[
            PoisonRow(
                message_id=row[c.MESSAGE_ID],
                function=row[c.FUNCTION],
                deliveries=int(row[c.ATTEMPTS]),
                first_seen=row[c.FIRST_START],
                last_seen=row[c.LAST_SEEN],
                last_error=row[c.LAST_ERROR],
                fate=row.get(c.FATE),
            )
            for row in poison.iter_rows(named=True)
        ],
        evidence=results.sqs_evidence,
        fates=_fate_counts(poison, SQS_FATES),
    )


def stream_totals(results: AnalysisResults) -> StreamTotals:
    """The streams section's aggregates."""
    batches = results.batches
    if not batches.height:
        return StreamTotals(
            batches=0, retried_batches=0, max_attempts=0, evidence=results.stream_evidence
        )
    reasons: list[str] = []
    if c.FATE_REASON in batches.columns:
        reasons = sorted(set(batches.get_column(c.FATE_REASON).drop_nulls().to_list()))
    # Failed, but within every limit of the mapping when the data ends: the shard is blocked.
    still = batches.filter(
        (pl.col(c.OUTCOME) == "in_progress") & (pl.col(c.FAILURES) > 0) & ~pl.col(col.IN_PROGRESS)
    ).height
    return StreamTotals(
        batches=batches.height,
        retried_batches=int(batches.get_column(c.RETRIED).sum()),
        max_attempts=_max(batches, c.ATTEMPTS) or 0,
        evidence=results.stream_evidence,
        fates=_fate_counts(batches, STREAM_FATES),
        still_retrying=still,
        fate_unknown_reasons=reasons,
    )


def _by_function(frame: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in frame.iter_rows(named=True):
        out[row[c.FUNCTION]].append(row)
    return out


def function_details(d: DetailFrames) -> list[FunctionDetails]:
    """Per-function dashboard aggregates, one per function of ``d.functions``, in that order."""
    quantiles = {r[c.FUNCTION]: r[c.QUANTILES] for r in d.quantiles.iter_rows(named=True)}
    histogram = _by_function(d.histogram)
    over_time = _by_function(d.over_time)
    attempts = _by_function(d.attempts)
    fates = _by_function(d.fates)
    deliveries = _by_function(d.deliveries)
    poison = {r[c.FUNCTION]: int(r[c.COUNT]) for r in d.poison.iter_rows(named=True)}
    points = _by_function(d.stream_points)
    out = []
    for name in d.functions:
        by_attempts: dict[str, int] = defaultdict(int)
        by_outcome: dict[str, int] = defaultdict(int)
        joint: dict[str, dict[str, int]] = defaultdict(dict)
        for r in attempts.get(name, []):
            by_attempts[str(r[c.ATTEMPTS])] += int(r[c.COUNT])
            by_outcome[r[c.OUTCOME]] += int(r[c.COUNT])
            joint[r[c.OUTCOME]][str(r[c.ATTEMPTS])] = int(r[c.COUNT])
        out.append(
            FunctionDetails(
                function=name,
                events=sum(by_outcome.values()),
                dwell_quantiles_ms=[float(v) for v in quantiles.get(name) or []],
                dwell_histogram_ms=[
                    (float(r[c.BUCKET]), int(r[c.COUNT])) for r in histogram.get(name, [])
                ],
                dwell_over_time=[
                    TimeBucket(
                        start=r[c.BUCKET],
                        count=int(r[c.COUNT]),
                        p50=r[c.P50],
                        p90=r[c.P90],
                        p99=r[c.P99],
                    )
                    for r in over_time.get(name, [])
                ],
                attempts=dict(sorted(by_attempts.items(), key=lambda kv: int(kv[0]))),
                attempts_by_outcome={
                    k: dict(sorted(v.items(), key=lambda kv: int(kv[0])))
                    for k, v in sorted(joint.items())
                },
                outcomes=_every(OUTCOMES, by_outcome),
                fates=_every(FATES, {r[c.FATE]: int(r[c.COUNT]) for r in fates.get(name, [])}),
                deliveries_histogram={
                    str(r[c.ATTEMPTS]): int(r[c.COUNT]) for r in deliveries.get(name, [])
                },
                poison_messages=poison.get(name, 0),
                stream_batches=[
                    ShardBucket(
                        shard_id=r[col.SHARD_ID],
                        start=r[c.BUCKET],
                        batches=int(r[c.BATCHES]),
                        retried=int(r[c.RETRIED]),
                    )
                    for r in points.get(name, [])
                ],
            )
        )
    return out
