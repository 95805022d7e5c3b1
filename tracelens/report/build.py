"""AnalysisResults -> Report: fill every key of the tracelens.report/1 contract."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
import polars as pl

from tracelens.analysis import _columns as c
from tracelens.analysis.async_events import FATE_EVIDENCE, FATES, OUTCOMES
from tracelens.analysis.functions import MODES
from tracelens.analysis.sqs import FATES as SQS_FATES
from tracelens.analysis.stats import STAT_FIELDS, stat_exprs
from tracelens.analysis.streams import FATES as STREAM_FATES
from tracelens.report.models import (
    SCHEMA,
    AsyncFates,
    AsyncFatesEvidence,
    AsyncOutcomes,
    AsyncSection,
    Chain,
    Finding,
    FunctionDetail,
    FunctionSummary,
    InputSection,
    Modes,
    PoisonMessage,
    RejectionOut,
    Report,
    ShardPoint,
    SqsFates,
    SqsSection,
    Stats,
    StreamFates,
    StreamsSection,
    SyncSection,
    TimePoint,
)

if TYPE_CHECKING:
    from tracelens.analysis import AnalysisResults


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with microseconds and a ``Z`` (``2026-11-28T01:02:03.456789Z``)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def _iso(value: datetime) -> str:
    text = iso(value)
    assert text is not None
    return text


def compact_number(value: float) -> str:
    """A histogram key written compactly: ``0.5``, ``1``, ``2000``, ``1000000``."""
    return format(Decimal(repr(round(value, 6))).normalize(), "f")


def _stats(row: dict[str, Any], prefix: str = "") -> Stats:
    count = int(row.get(f"{prefix}count") or 0)
    if count == 0:
        return Stats(count=0, min=None, p50=None, p90=None, p99=None, max=None, mean=None)
    values = {f: row[f"{prefix}{f}"] for f in STAT_FIELDS[1:]}
    return Stats(count=count, **{k: (None if v is None else float(v)) for k, v in values.items()})


def _stats_of(frame: pl.DataFrame, column: str) -> Stats:
    return _stats(frame.select(stat_exprs(pl.col(column))).row(0, named=True))


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    if frame.is_empty():
        return {}
    grouped = frame.group_by(column).len().sort(column)
    return {str(k): int(v) for k, v in grouped.iter_rows() if v > 0 and k is not None}


def _outcomes(counts: dict[str, int]) -> AsyncOutcomes:
    return AsyncOutcomes(**{o: counts.get(o, 0) for o in OUTCOMES})


def _fates(counts: dict[str, int]) -> AsyncFates:
    return AsyncFates(**{f: counts.get(f, 0) for f in FATES})


def build_report(results: AnalysisResults, *, generated_by: str) -> Report:
    """Build the report from analysis results.

    Args:
        results: What ``analyse`` returned.
        generated_by: ``"tracelens <version>"``.

    Returns:
        The report; every list is sorted deterministically.
    """
    stats = results.stats
    return Report(
        schema=SCHEMA,
        generated_by=generated_by,
        input=InputSection(
            files=sorted(stats.files),
            documents=stats.documents,
            duplicates=stats.duplicates,
            rejected=stats.rejected,
            rejections=[
                RejectionOut(file=r.file, line=r.line, reason=r.reason)
                for r in stats.rejections[:100]
            ],
            traces=results.traces,
            start=iso(results.start),
            end=iso(results.end),
            config=results.has_config,
            dlq_dumps=results.dlq_dumps,
            notes=list(results.side_notes),
        ),
        functions=[_function(row) for row in results.functions.iter_rows(named=True)],
        sync=_sync_section(results),
        async_=_async_section(results),
        sqs=_sqs_section(results),
        streams=_streams_section(results),
        chains=_chains(results.chains),
        findings=[
            Finding(
                severity=f.severity,
                code=f.code,
                function=f.function,
                count=f.count,
                message=f.message,
                examples=list(f.examples),
            )
            for f in results.findings
        ],
        details=_details(results),
        bucket_seconds=results.details.bucket_seconds,
    )


def _function(row: dict[str, Any]) -> FunctionSummary:
    modes = {m: int(row[f"mode_{m}"]) for m in MODES}
    return FunctionSummary(
        name=row[c.FUNCTION],
        arn=row["arn"],
        requests=int(row["requests"]),
        invocations=int(row["invocations"]),
        cold_starts=int(row["cold_starts"]),
        failed_invocations=int(row["failed_invocations"]),
        failed_requests=int(row["failed_requests"]),
        throttles=int(row["throttles"]),
        modes=Modes(
            sync=modes["sync"],
            async_=modes["async"],
            sqs=modes["sqs"],
            stream=modes["stream"],
            unknown=modes["unknown"],
        ),
        duration_ms=_stats(row, "duration_"),
    )


def _sync_section(results: AnalysisResults) -> SyncSection:
    s = results.sync
    return SyncSection(
        requests=s.requests,
        succeeded=s.succeeded,
        failed=s.failed,
        throttled=s.throttled,
        client_retries=s.client_retries,
        duplicate_executions=s.duplicate_executions,
    )


def _async_section(results: AnalysisResults) -> AsyncSection:
    events = results.events
    return AsyncSection(
        events=events.height,
        dwell_ms=_stats_of(events, c.DWELL_MS),
        attempts=_counts(events, c.ATTEMPTS),
        retry_delay_ms=_stats_of(results.retry_delays, c.DELAY_MS),
        outcomes=_outcomes(_counts(events, c.OUTCOME)),
        fates=_fates(_counts(events.filter(pl.col(c.FATE).is_not_null()), c.FATE)),
        fates_evidence=AsyncFatesEvidence(
            **{
                e: n
                for e, n in _counts(
                    events.filter(pl.col(c.FATE_EVIDENCE).is_not_null()), c.FATE_EVIDENCE
                ).items()
                if e in FATE_EVIDENCE
            }
        ),
    )


def _sqs_section(results: AnalysisResults) -> SqsSection:
    messages = results.messages
    poison = messages.filter(pl.col(c.POISON)).sort(c.FIRST_START, "message_id", c.FUNCTION)
    max_receive = messages.get_column(c.RECEIVE_COUNT).max() if messages.height else None
    return SqsSection(
        messages=messages.height,
        deliveries=int(messages.get_column(c.ATTEMPTS).sum()) if messages.height else 0,
        redelivered_messages=messages.filter(pl.col(c.ATTEMPTS) > 1).height,
        max_deliveries=int(messages.get_column(c.ATTEMPTS).max() or 0) if messages.height else 0,  # type: ignore[arg-type]
        max_receive_count=None if max_receive is None else int(max_receive),  # type: ignore[arg-type]
        deliveries_histogram=_counts(messages, c.ATTEMPTS),
        poison_messages=[
            PoisonMessage(
                message_id=row["message_id"],
                function=row[c.FUNCTION],
                deliveries=int(row[c.ATTEMPTS]),
                first_seen=_iso(row[c.FIRST_START]),
                last_seen=_iso(row["last_seen"]),
                last_error=row[c.LAST_ERROR],
                fate=row.get(c.FATE),
            )
            for row in poison.iter_rows(named=True)
        ],
        evidence=results.sqs_evidence,
        fates=SqsFates(**_fate_counts(poison, SQS_FATES)),
    )


def _fate_counts(frame: pl.DataFrame, fates: tuple[str, ...]) -> dict[str, int]:
    if c.FATE not in frame.columns:
        return {}
    counts = _counts(frame.filter(pl.col(c.FATE).is_not_null()), c.FATE)
    return {f: counts.get(f, 0) for f in fates}


def _streams_section(results: AnalysisResults) -> StreamsSection:
    batches = results.batches
    if not batches.height:
        return StreamsSection(
            batches=0, retried_batches=0, max_attempts=0, evidence=results.stream_evidence
        )
    reasons: list[str] = []
    if c.FATE_REASON in batches.columns:
        reasons = sorted(set(batches.get_column(c.FATE_REASON).drop_nulls().to_list()))
    still = batches.filter(
        (pl.col(c.OUTCOME) == "in_progress") & (pl.col(c.FAILURES) > 0) & ~pl.col("in_progress")
    ).height
    return StreamsSection(
        batches=batches.height,
        retried_batches=int(batches.get_column("retried").sum()),
        max_attempts=int(batches.get_column(c.ATTEMPTS).max() or 0),  # type: ignore[arg-type]
        evidence=results.stream_evidence,
        fates=StreamFates(**_fate_counts(batches, STREAM_FATES)),
        still_retrying=still,
        fate_unknown_reasons=reasons,
    )


#: ``iso`` as a polars format (the year is always four digits, as ``isoformat`` writes it).
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"


def _iso_expr(column: str | pl.Expr) -> pl.Expr:
    """``iso`` of a UTC datetime column, computed in polars (null stays null)."""
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.dt.strftime(_ISO_FORMAT)


def _chains(frame: pl.DataFrame) -> list[Chain]:
    """Chain structs from the chains frame, converted column-wise and in one msgspec call.

    Times are formatted by polars, and polars writes the rows as JSON that msgspec decodes
    straight into structs: no Python object is made per row or step on the way (there can be
    tens of thousands of chains). Floats survive exactly (both sides use shortest round-trip
    text).
    """
    step = pl.element()
    rows = frame.select(
        pl.col(c.CHAIN_KIND).alias("kind"),
        pl.col(c.KEY).alias("key"),
        pl.col(c.FUNCTION).alias("function"),
        pl.col(c.TRACE_IDS).fill_null([]).alias("trace_ids"),
        pl.col(c.ATTEMPTS).alias("attempts"),
        pl.col(c.OUTCOME).alias("outcome"),
        pl.col(c.FATE).alias("fate"),
        pl.col(c.FATE_EVIDENCE).alias("fate_evidence"),
        pl.col(c.DWELL_MS).alias("dwell_ms"),
        _iso_expr(c.FIRST_START).alias("first_start"),
        _iso_expr(c.LAST_END).alias("last_end"),
        pl.col("errors").fill_null([]).alias("errors"),
        pl.col("steps")
        .fill_null([])
        .list.eval(
            pl.struct(
                step.struct.field("step_kind").alias("kind"),
                _iso_expr(step.struct.field("start")).alias("start"),
                _iso_expr(step.struct.field("end")).alias("end"),
                step.struct.field("error").alias("error"),
                step.struct.field("trace_id").alias("trace_id"),
            ).filter(step.struct.field("start").is_not_null())
        )
        .alias("steps"),
    ).write_json()
    return msgspec.json.decode(rows, type=list[Chain])


def _by_function(frame: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in frame.iter_rows(named=True):
        out[row[c.FUNCTION]].append(row)
    return out


def _details(results: AnalysisResults) -> list[FunctionDetail]:
    d = results.details
    quantiles = {r[c.FUNCTION]: r["quantiles"] for r in d.quantiles.iter_rows(named=True)}
    histogram = _by_function(d.histogram)
    over_time = _by_function(d.over_time)
    attempts = _by_function(d.attempts)
    fates = _by_function(d.fates)
    deliveries = _by_function(d.deliveries)
    poison = {r[c.FUNCTION]: int(r["count"]) for r in d.poison.iter_rows(named=True)}
    points = _by_function(d.stream_points)
    out = []
    for name in d.functions:
        by_attempts: dict[str, int] = defaultdict(int)
        by_outcome: dict[str, int] = defaultdict(int)
        joint: dict[str, dict[str, int]] = defaultdict(dict)
        for r in attempts.get(name, []):
            by_attempts[str(r[c.ATTEMPTS])] += int(r["count"])
            by_outcome[r[c.OUTCOME]] += int(r["count"])
            joint[r[c.OUTCOME]][str(r[c.ATTEMPTS])] = int(r["count"])
        out.append(
            FunctionDetail(
                function=name,
                events=sum(by_outcome.values()),
                dwell_quantiles_ms=[float(v) for v in quantiles.get(name) or []],
                dwell_histogram_ms={
                    compact_number(r["bucket"]): int(r["count"]) for r in histogram.get(name, [])
                },
                dwell_over_time=[
                    TimePoint(
                        start=_iso(r["bucket"]),
                        count=int(r["count"]),
                        p50=r["p50"],
                        p90=r["p90"],
                        p99=r["p99"],
                    )
                    for r in over_time.get(name, [])
                ],
                attempts=dict(sorted(by_attempts.items(), key=lambda kv: int(kv[0]))),
                attempts_by_outcome={
                    k: dict(sorted(v.items(), key=lambda kv: int(kv[0])))
                    for k, v in sorted(joint.items())
                },
                outcomes=_outcomes(by_outcome),
                fates=_fates({r[c.FATE]: int(r["count"]) for r in fates.get(name, [])}),
                deliveries_histogram={
                    str(r[c.ATTEMPTS]): int(r["count"]) for r in deliveries.get(name, [])
                },
                poison_messages=poison.get(name, 0),
                stream_batches=[
                    ShardPoint(
                        shard_id=r["shard_id"],
                        start=_iso(r["bucket"]),
                        batches=int(r["batches"]),
                        retried=int(r["retried"]),
                    )
                    for r in points.get(name, [])
                ],
            )
        )
    return out
