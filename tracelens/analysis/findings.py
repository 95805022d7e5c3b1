"""Findings: what a person should act on, one actionable sentence each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import _columns as c
from tracelens.analysis.async_events import partial_dumps
from tracelens.model.frames import NOT_SEGMENTS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tracelens.analysis.sync import SyncFrames
    from tracelens.model.frames import IngestStats, Rejection
    from tracelens.model.side import SideInputs

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
HIGH_DWELL_MS = 60_000.0  # async p99 dwell above this is a finding
MAX_EXAMPLES = 5
SYNC_THROTTLED_CRITICAL = 0.10  # share of a function's sync requests throttled: critical
SYNC_CODES = frozenset(
    {"SYNC_THROTTLED", "SYNC_FAILURES", "SYNC_DUPLICATE_EXECUTIONS", "LAMBDA_NOT_REACHED"}
)
MAX_EVENT_AGE_SECONDS = 21600  # the largest MaximumEventAgeInSeconds Lambda accepts


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One finding (the report's ``findings[]`` entry)."""

    severity: str
    code: str
    function: str | None
    count: int
    message: str
    examples: tuple[str, ...]


def _grouped(frame: pl.LazyFrame, ids: pl.Expr) -> pl.LazyFrame:
    return frame.group_by(c.FUNCTION).agg(
        pl.len().cast(pl.Int64).alias("count"),
        ids.sort().head(MAX_EXAMPLES).alias("examples"),
    )


def findings(
    *,
    events: pl.LazyFrame,
    messages: pl.LazyFrame,
    batches: pl.LazyFrame,
    invocations: pl.LazyFrame,
    side: SideInputs,
    stats: IngestStats,
    sync: SyncFrames | None = None,
) -> list[FindingRow]:
    """Every finding, sorted by severity, then code, then function.

    Args:
        events: Async events.
        messages: SQS messages.
        batches: Stream batches.
        invocations: Invocations (for cold starts).
        side: Side inputs (queue redrive policies).
        stats: Ingest counts (rejections).
        sync: Sync requests, logical calls and unreached Lambda calls (``analysis.sync``).

    Returns:
        The findings.
    """
    request = pl.col(c.REQUEST)
    # Functions whose target has only a partial dump: their events not found in it are a
    # warning (ASYNC_EVENTS_NOT_IN_PARTIAL_DUMP), not the critical ASYNC_EVENTS_MISSING_FROM_DLQ.
    partial_notes = _partial_notes(events, side)
    in_partial = pl.col(c.FUNCTION).cast(pl.String).is_in(sorted(partial_notes))
    missing = events.filter(pl.col(c.FATE) == "missing")
    plans: list[tuple[str, str, pl.LazyFrame]] = [
        (
            "critical",
            "ASYNC_EVENTS_DROPPED",
            _grouped(events.filter(pl.col(c.FATE) == "dropped"), request),
        ),
        (
            "critical",
            "ASYNC_EVENTS_MISSING_FROM_DLQ",
            _grouped(missing.filter(~in_partial), request),
        ),
        (
            "warning",
            "ASYNC_EVENTS_NOT_IN_PARTIAL_DUMP",
            _grouped(missing.filter(in_partial), request),
        ),
        (
            "warning",
            "ASYNC_FATE_UNKNOWN",
            _grouped(events.filter(pl.col(c.FATE) == "unknown"), request),
        ),
        (
            "warning",
            "ASYNC_RETRIES_EXHAUSTED",
            _grouped(events.filter(pl.col(c.OUTCOME) == "retries_exhausted"), request),
        ),
        (
            "warning",
            "ASYNC_EVENT_AGE_EXCEEDED",
            _grouped(events.filter(pl.col(c.OUTCOME) == "event_age_exceeded"), request),
        ),
        (
            "poison",
            "SQS_POISON_MESSAGE",
            _grouped(messages.filter(pl.col(c.POISON)), pl.col("message_id")),
        ),
        (
            "info",
            "SQS_REDELIVERY",
            _grouped(messages.filter(pl.col(c.ATTEMPTS) > 1), pl.col("message_id")),
        ),
        (
            "warning",
            "STREAM_BATCH_RETRIED",
            _grouped(batches.filter(pl.col("retried")), pl.col(c.KEY)),
        ),
        (
            "warning",
            "HIGH_DWELL",
            events.group_by(c.FUNCTION)
            .agg(
                _p99(pl.col(c.DWELL_MS)).alias("p99"),
                (pl.col(c.DWELL_MS) > HIGH_DWELL_MS).sum().cast(pl.Int64).alias("count"),
                request.filter(pl.col(c.DWELL_MS) > HIGH_DWELL_MS)
                .sort()
                .head(MAX_EXAMPLES)
                .alias("examples"),
            )
            .filter(pl.col("p99") > HIGH_DWELL_MS),
        ),
        (
            "info",
            "COLD_STARTS",
            _grouped(invocations.filter(pl.col(c.COLD)), pl.coalesce(c.REQUEST, "trace_id")),
        ),
    ]
    if sync is not None:
        plans += _sync_plans(sync)
    frames = pl.collect_all([plan for _, _, plan in plans])
    rows: list[FindingRow] = []
    for (severity, code, _), frame in zip(plans, frames, strict=True):
        order = [k for k in (c.FUNCTION, c.CALLER) if k in frame.columns]
        for row in frame.sort(order, nulls_last=True).iter_rows(named=True):
            function = row[c.FUNCTION]
            count = int(row["count"])
            if count == 0:
                continue
            sev = _poison_severity(side, function) if severity == "poison" else severity
            if code in SYNC_CODES:
                sev = row.get("severity") or sev
                message = _sync_message(code, row)
            else:
                message = _message(
                    code, function, count, row.get("p99"), side, note=partial_notes.get(function)
                )
            rows.append(
                FindingRow(
                    severity=sev,
                    code=code,
                    function=function,
                    count=count,
                    message=message,
                    examples=tuple(row["examples"]),
                )
            )
    if stats.rejected:
        examples = tuple(
            f"{r.file}:{r.line}" if r.line is not None else r.file
            for r in stats.rejections[:MAX_EXAMPLES]
        )
        rows.append(
            FindingRow(
                severity="warning",
                code="INPUT_REJECTED",
                function=None,
                count=stats.rejected,
                message=(
                    f"{stats.rejected} input lines or documents were not valid X-Ray segment "
                    "documents and were skipped; check the listed rejections and re-export them."
                    + _not_segments(stats.rejections)
                ),
                examples=examples,
            )
        )
    rows.extend(_dump_findings(side))
    return sorted(rows, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.code, f.function or ""))


def _sync_plans(sync: SyncFrames) -> list[tuple[str, str, pl.LazyFrame]]:
    """SYNC_THROTTLED, SYNC_FAILURES, SYNC_DUPLICATE_EXECUTIONS and LAMBDA_NOT_REACHED."""
    from tracelens.analysis.sync import EXECUTIONS, REQUESTS

    requests = sync.requests.lazy()
    request, throttled = pl.col(c.REQUEST), pl.col(c.THROTTLED)
    share = pl.col("count") / pl.col("total")
    throttles = (
        requests.group_by(c.FUNCTION)
        .agg(
            throttled.sum().cast(pl.Int64).alias("count"),
            pl.len().cast(pl.Int64).alias("total"),
            request.filter(throttled).sort().head(MAX_EXAMPLES).alias("examples"),
        )
        .with_columns(
            pl.when(share >= SYNC_THROTTLED_CRITICAL)
            .then(pl.lit("critical"))
            .otherwise(pl.lit("warning"))
            .alias("severity")
        )
    )
    duplicates = (
        sync.calls.lazy()
        .filter(pl.col(EXECUTIONS) > 1)
        .group_by(c.FUNCTION)
        .agg(
            pl.len().cast(pl.Int64).alias("count"),
            pl.col(REQUESTS)
            .list.explode(keep_nulls=False, empty_as_null=False)
            .sort()
            .head(MAX_EXAMPLES)
            .alias("examples"),
        )
    )
    not_reached = (
        sync.not_reached.lazy()
        .group_by(c.FUNCTION, c.CALLER)
        .agg(
            pl.len().cast(pl.Int64).alias("count"),
            pl.col("trace_id").cast(pl.String).unique().sort().head(MAX_EXAMPLES).alias("examples"),
        )
    )
    return [
        ("warning", "SYNC_THROTTLED", throttles),
        (
            "warning",
            "SYNC_FAILURES",
            _grouped(requests.filter(pl.col(c.FAILED) & ~throttled), request),
        ),
        ("warning", "SYNC_DUPLICATE_EXECUTIONS", duplicates),
        ("critical", "LAMBDA_NOT_REACHED", not_reached),
    ]


def _sync_message(code: str, row: dict[str, object]) -> str:
    fn, count = row[c.FUNCTION], row["count"]
    if code == "SYNC_THROTTLED":
        return (
            f"{count} of {row['total']} synchronous requests to {fn} were throttled (429) and "
            "failed for their callers; raise the function's reserved concurrency or the "
            "account's concurrency quota, or slow the callers down."
        )
    if code == "SYNC_FAILURES":
        return (
            f"{count} synchronous requests to {fn} failed with a Lambda service error or a "
            "function error; fix the errors that `tracelens explain` shows for the examples."
        )
    if code == "SYNC_DUPLICATE_EXECUTIONS":
        return (
            f"{count} synchronous calls ran {fn} more than once because the client re-sent a "
            "request the function had already run (e.g. after a read timeout); make the "
            "handler idempotent or raise the client's read timeout above the function's duration."
        )
    caller = row.get(c.CALLER) or "an unidentified caller"
    target = f" to {fn}" if fn else ""
    return (
        f"{count} Lambda calls from {caller}{target} failed and Lambda recorded no request for "
        "them; check the caller's invoke permission, the function name or alias it calls and "
        "the Lambda service health."
    )


def _not_segments(rejections: Sequence[Rejection]) -> str:
    """What to do about the first file that is X-Ray output other than segments, if any."""
    for rejection in rejections:
        if rejection.reason in NOT_SEGMENTS:
            return f" {rejection.file} is {rejection.reason}."
    return ""


def _partial_notes(events: pl.LazyFrame, side: SideInputs) -> dict[str, str]:
    """Function -> "N of M messages" of the partial dump of its target, if any."""
    partial = partial_dumps(events, side)
    notes: dict[str, str] = {}
    for name, cfg in sorted(side.functions.items()):
        for target in cfg.failure_targets:
            if target in partial:
                held, total = partial[target]
                notes[name] = f"{held:,} of {total:,} messages"
                break
    return notes


def _dump_findings(side: SideInputs) -> list[FindingRow]:
    """DLQ_DUMP_NOT_COMPARABLE: dumps whose messages carry no request ids."""
    sources = sorted({d.source for d in side.dumps if not d.comparable})
    if not sources:
        return []
    return [
        FindingRow(
            severity="warning",
            code="DLQ_DUMP_NOT_COMPARABLE",
            function=None,
            count=len(sources),
            message=(
                f"{len(sources)} DLQ / destination dumps have no RequestID message attributes, "
                "so failed events could not be checked against them; dump the queue again with "
                "`aws sqs receive-message --message-attribute-names All` (or `tracelens fetch "
                "--with-dlq`)."
            ),
            examples=tuple(sources[:MAX_EXAMPLES]),
        )
    ]


def _age_advice(side: SideInputs, function: str) -> str:
    """Advice for expired events that never asks for a setting the config already has."""
    cfg = side.functions.get(function)
    if cfg is None:
        return (
            "raise the function's concurrency, or its MaximumEventAgeInSeconds if that is "
            f"below the maximum of {MAX_EVENT_AGE_SECONDS} s (no config was supplied)."
        )
    if cfg.maximum_event_age_seconds >= MAX_EVENT_AGE_SECONDS:
        return (
            "raise the function's concurrency (MaximumEventAgeInSeconds is already the "
            f"maximum, {MAX_EVENT_AGE_SECONDS} s)."
        )
    return (
        f"raise MaximumEventAgeInSeconds (now {cfg.maximum_event_age_seconds} s) or the "
        "function's concurrency."
    )


def _p99(values: pl.Expr) -> pl.Expr:
    from tracelens.analysis.stats import nearest_rank

    return nearest_rank(values, 99)


def _poison_severity(side: SideInputs, function: str) -> str:
    """Critical when the config shows the function's queue has no redrive policy."""
    queue = side.queue_for(function)
    if queue is not None and queue.redrive_policy is None:
        return "critical"
    return "warning"


def _message(
    code: str,
    function: str,
    count: int,
    p99: float | None,
    side: SideInputs,
    *,
    note: str | None = None,
) -> str:
    fn = function
    if code == "ASYNC_EVENTS_NOT_IN_PARTIAL_DUMP":
        return (
            f"{count} failed async events of {fn} were not found in a partial dump ({note}); "
            "dump the whole queue (loop `receive-message` until it is empty, or `tracelens "
            "fetch --with-dlq`) to tell whether they are missing."
        )
    if code == "ASYNC_FATE_UNKNOWN":
        return (
            f"{count} async events of {fn} ended badly, fate unknown: supply `--config` (or "
            "`fetch --with-config`) to tell whether they went to a DLQ or were dropped."
        )
    if code == "ASYNC_EVENTS_DROPPED":
        return (
            f"{count} async events of {fn} failed and were lost because it has no DLQ or "
            "on-failure destination; configure one so failed events are kept."
        )
    if code == "ASYNC_EVENTS_MISSING_FROM_DLQ":
        return (
            f"{count} failed async events of {fn} are not in the supplied DLQ / destination "
            "dump; check the target's permissions, encryption and retention."
        )
    if code == "ASYNC_RETRIES_EXHAUSTED":
        return (
            f"{count} async events of {fn} failed on every retry; fix the errors shown in the "
            "chains and replay them from the DLQ."
        )
    if code == "ASYNC_EVENT_AGE_EXCEEDED":
        return f"{count} async events of {fn} expired before they could succeed; " + _age_advice(
            side, fn
        )
    if code == "SQS_POISON_MESSAGE":
        queue = side.queue_for(fn)
        advice = (
            "add a RedrivePolicy to the queue so they stop being retried"
            if queue is not None and queue.redrive_policy is None
            else "fix the handler error and check that the queue's DLQ receives them"
        )
        return f"{count} SQS messages failed on every delivery to {fn}; {advice}."
    if code == "SQS_REDELIVERY":
        return (
            f"{count} SQS messages were delivered to {fn} more than once; make the handler "
            "idempotent and check the visibility timeout against the function timeout."
        )
    if code == "STREAM_BATCH_RETRIED":
        return (
            f"{count} stream batches of {fn} were retried; enable BisectBatchOnFunctionError or "
            "ReportBatchItemFailures so one bad record does not block its shard."
        )
    if code == "HIGH_DWELL":
        seconds = (p99 or 0.0) / 1000.0
        return (
            f"Async events of {fn} waited {seconds:.1f} s at p99 in Lambda's queue before "
            "running; raise the function's reserved concurrency or reduce the event rate."
        )
    return (
        f"{count} invocations of {fn} were cold starts; consider provisioned concurrency if "
        "their latency matters."
    )
