"""Findings: what a person should act on, one actionable sentence each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.async_events import partial_dumps
from tracelens.model.frames import NOT_SEGMENTS
from tracelens.model.side import DEFAULT_MAXIMUM_EVENT_AGE_SECONDS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tracelens.analysis.sync import SyncFrames
    from tracelens.model.frames import IngestStats, Rejection
    from tracelens.model.side import EventSourceMapping, SideInputs

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
HIGH_DWELL_MS = 60_000.0  # async p99 dwell above this is a finding
MAX_EXAMPLES = 5
SYNC_THROTTLED_CRITICAL = 0.10  # share of a function's sync requests throttled: critical
SYNC_CODES = frozenset(
    {"SYNC_THROTTLED", "SYNC_FAILURES", "SYNC_DUPLICATE_EXECUTIONS", "LAMBDA_NOT_REACHED"}
)


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One finding (the report's ``findings[]`` entry)."""

    severity: str
    code: str
    function: str | None
    count: int
    message: str
    examples: tuple[str, ...]


def _grouped(frame: pl.LazyFrame, ids: pl.Expr, *extra: pl.Expr) -> pl.LazyFrame:
    return frame.group_by(c.FUNCTION).agg(
        pl.len().cast(pl.Int64).alias("count"),
        ids.sort().head(MAX_EXAMPLES).alias("examples"),
        *extra,
    )


def _count_of(column: str, value: str) -> pl.Expr:
    return (pl.col(column) == value).sum().cast(pl.Int64).alias(f"{column}_{value}")


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
            _grouped(
                messages.filter(pl.col(c.POISON)),
                pl.col("message_id"),
                *[_count_of(c.FATE, f) for f in ("dlq", "retention_deleted", "in_queue")],
            ),
        ),
        (
            "info",
            "SQS_REDELIVERY",
            _grouped(
                messages.filter(pl.col(c.ATTEMPTS) > 1),
                pl.col("message_id"),
                # Redelivered although an earlier delivery of its own did not fail: its batch
                # failed for another message, or the visibility timeout ran out mid-run.
                (pl.col(c.FAILURES) < pl.col(c.ATTEMPTS) - 1)
                .sum()
                .cast(pl.Int64)
                .alias("collateral"),
            ),
        ),
        (
            "warning",
            "STREAM_BATCH_RETRIED",
            _grouped(batches.filter(pl.col("retried")), pl.col(c.KEY)),
        ),
        (
            "stream_fate",
            "STREAM_RECORDS_DISCARDED",
            _grouped(
                batches.filter(pl.col(c.FATE).is_not_null()),
                pl.col(c.KEY),
                *[_count_of(c.FATE, f) for f in ("sent", "discarded", "unknown")],
                *[_count_of(c.ENDED_BY, e) for e in ("retries", "record_age", "retention")],
                pl.col(c.FATE_REASON).drop_nulls().sort().first().alias("reason"),
                pl.col("destination").drop_nulls().sort().first().alias("destination"),
            ),
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
            sev = severity
            if severity == "poison":
                sev = _poison_severity(side, function)
            elif severity == "stream_fate":
                sev = "critical" if row["fate_discarded"] else "warning"
            if code in SYNC_CODES:
                sev = row.get("severity") or sev
                message = _sync_message(code, row)
            else:
                message = _message(
                    code,
                    function,
                    count,
                    row.get("p99"),
                    side,
                    row,
                    note=partial_notes.get(function),
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
    row: dict[str, Any],
    *,
    note: str | None = None,
) -> str:
    """The finding's sentence; its advice depends on what the config already sets."""
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
        return f"{count} async events of {fn} failed on every retry; {_exhausted_advice(side, fn)}."
    if code == "ASYNC_EVENT_AGE_EXCEEDED":
        return (
            f"{count} async events of {fn} expired before they could succeed; "
            f"{_age_advice(side, fn)}."
        )
    if code == "SQS_POISON_MESSAGE":
        return (
            f"{count} SQS messages failed on every delivery to {fn}; "
            f"{_poison_advice(side, fn, row)}."
        )
    if code == "SQS_REDELIVERY":
        return (
            f"{count} SQS messages were delivered to {fn} more than once; "
            f"{_redelivery_advice(side, fn, row['collateral'])}."
        )
    if code == "STREAM_BATCH_RETRIED":
        return f"{count} stream batches of {fn} were retried; {_stream_retry_advice(side, fn)}."
    if code == "STREAM_RECORDS_DISCARDED":
        return _stream_fate_message(side, fn, count, row)
    if code == "HIGH_DWELL":
        seconds = (p99 or 0.0) / 1000.0
        return (
            f"Async events of {fn} waited {seconds:.1f} s at p99 in Lambda's queue before "
            "running; give the function more concurrency (its reserved concurrency, or the "
            "account's) or reduce the event rate."
        )
    return (
        f"{count} invocations of {fn} were cold starts; consider provisioned concurrency if "
        "their latency matters."
    )


def _no_config(fn: str, what: str) -> str:
    return f"no {what} for {fn} in the config: supply --config for specific advice"


def _exhausted_advice(side: SideInputs, fn: str) -> str:
    config = side.functions.get(fn)
    if config is None:
        return "fix the errors shown in the chains (" + _no_config(fn, "settings") + ")"
    if config.failure_targets:
        return "fix the errors shown in the chains and replay them from " + " and ".join(
            config.failure_targets
        )
    return (
        f"fix the errors shown in the chains; {fn} has no DLQ or on-failure destination, so "
        "they were dropped"
    )


def _age_advice(side: SideInputs, fn: str) -> str:
    config = side.functions.get(fn)
    if config is None:
        return (
            "give the function more concurrency, or raise MaximumEventAgeInSeconds if it is "
            f"below {DEFAULT_MAXIMUM_EVENT_AGE_SECONDS} s ({_no_config(fn, 'settings')})"
        )
    if config.maximum_event_age_seconds >= DEFAULT_MAXIMUM_EVENT_AGE_SECONDS:
        return (
            "MaximumEventAgeInSeconds is already the maximum "
            f"({DEFAULT_MAXIMUM_EVENT_AGE_SECONDS} s): give the function more concurrency or "
            "reduce the event rate"
        )
    return (
        f"raise MaximumEventAgeInSeconds (now {config.maximum_event_age_seconds} s, at most "
        f"{DEFAULT_MAXIMUM_EVENT_AGE_SECONDS}) or the function's concurrency"
    )


def _poison_advice(side: SideInputs, fn: str, row: dict[str, Any]) -> str:
    queue = side.queue_for(fn)
    if queue is None:
        return "fix the handler error (" + _no_config(fn, "queue attributes") + ")"
    deleted, waiting = row["fate_retention_deleted"], row["fate_in_queue"]
    where = []
    if row["fate_dlq"]:
        where.append(f"{row['fate_dlq']} moved to the DLQ")
    if deleted:
        where.append(f"{deleted} deleted at the end of the retention period")
    if waiting:
        where.append(f"{waiting} still in the queue when the data ends")
    policy = queue.redrive_policy
    if policy is None:
        retention = queue.message_retention_seconds
        period = f"{retention} s" if retention is not None else "345600 s by default"
        return (
            "the queue has no RedrivePolicy, so they are redelivered until its "
            f"MessageRetentionPeriod ({period}) deletes them ({', '.join(where)}): add a "
            "RedrivePolicy with a DLQ and fix the handler error"
        )
    dlq = policy.dead_letter_target_arn or "its dead-letter queue"
    limit = policy.max_receive_count
    return (
        f"{', '.join(where)}; the RedrivePolicy moves them to {dlq} after maxReceiveCount "
        f"{limit}: fix the handler error and redrive them from the DLQ"
    )


def _sqs_mapping(side: SideInputs, fn: str) -> EventSourceMapping | None:
    for mapping in sorted(side.mappings, key=lambda m: m.event_source_arn):
        if mapping.function_name == fn and ":sqs:" in mapping.event_source_arn:
            return mapping
    return None


def _redelivery_advice(side: SideInputs, fn: str, collateral: int) -> str:
    if not collateral:
        return (
            "each was redelivered after a failed delivery of its own: fix the errors shown in "
            "the retry chains and make the handler idempotent"
        )
    lead = (
        f"{collateral} of them without a failed delivery of their own; make the handler idempotent"
    )
    mapping = _sqs_mapping(side, fn)
    if mapping is None:
        return (
            f"{lead}, and check the visibility timeout against the function timeout and "
            "whether ReportBatchItemFailures is enabled ("
            + _no_config(fn, "SQS event source mapping")
            + ")"
        )
    if "ReportBatchItemFailures" not in mapping.function_response_types:
        return (
            f"{lead} and enable ReportBatchItemFailures so one failing message does not return "
            "its whole batch to the queue"
        )
    queue = side.queue_for(fn)
    timeout = (
        f" ({queue.visibility_timeout_seconds} s)"
        if queue is not None and queue.visibility_timeout_seconds is not None
        else ""
    )
    return (
        f"{lead}; ReportBatchItemFailures is already on, so check the visibility "
        f"timeout{timeout} against the function timeout"
    )


def _stream_mappings(side: SideInputs, fn: str) -> list[EventSourceMapping]:
    return sorted(
        (
            m
            for m in side.mappings
            if m.function_name == fn
            and (":kinesis:" in m.event_source_arn or ":dynamodb:" in m.event_source_arn)
        ),
        key=lambda m: m.event_source_arn,
    )


def _stream_retry_advice(side: SideInputs, fn: str) -> str:
    mappings = _stream_mappings(side, fn)
    if not mappings:
        return (
            "check that BisectBatchOnFunctionError or ReportBatchItemFailures is enabled so one "
            "bad record does not block its shard ("
            + _no_config(fn, "stream event source mapping")
            + ")"
        )
    mapping = mappings[0]
    bisect = mapping.bisect_batch_on_function_error
    partial = "ReportBatchItemFailures" in mapping.function_response_types
    if bisect and partial:
        advice = (
            "BisectBatchOnFunctionError and ReportBatchItemFailures are on: fix the errors shown "
            "in the chains"
        )
    elif bisect:
        advice = (
            "BisectBatchOnFunctionError is on, so failing batches are split to isolate bad "
            "records: fix the errors shown in the chains"
        )
    elif partial:
        advice = (
            "ReportBatchItemFailures is on, so retries start at the first failed record: fix "
            "the errors shown in the chains"
        )
    else:
        advice = (
            "enable BisectBatchOnFunctionError or ReportBatchItemFailures so one bad record "
            "does not block its shard"
        )
    retries = mapping.maximum_retry_attempts
    age = mapping.maximum_record_age_seconds
    if (retries is None or retries < 0) and (age is None or age < 0):
        advice += (
            "; MaximumRetryAttempts and MaximumRecordAgeInSeconds are infinite, so a bad record "
            "blocks its shard until it expires: set one of them"
        )
    return advice


def _stream_fate_message(side: SideInputs, fn: str, count: int, row: dict[str, Any]) -> str:
    mappings = _stream_mappings(side, fn)
    why = []
    if mappings:
        mapping = mappings[0]
        if row["ended_by_retries"]:
            why.append(f"MaximumRetryAttempts ({mapping.maximum_retry_attempts}) ran out")
        if row["ended_by_record_age"]:
            why.append(f"MaximumRecordAgeInSeconds ({mapping.maximum_record_age_seconds}) passed")
        if row["ended_by_retention"]:
            why.append("the stream's 24 h retention passed")
    after = f" after {' or '.join(why)}" if why else ""
    parts = []
    if row["fate_discarded"]:
        parts.append(
            f"{row['fate_discarded']} discarded{after} because the event source mapping has no "
            "on-failure destination: set DestinationConfig.OnFailure so discarded records are kept"
        )
    if row["fate_sent"]:
        parts.append(
            f"{row['fate_sent']} sent to the on-failure destination {row['destination']}{after}: "
            "replay their records from there"
        )
    if row["fate_unknown"]:
        parts.append(f"{row['fate_unknown']} with an unknown fate: {row['reason']}")
    if not row["fate_unknown"]:
        verb = "were given up"
    elif row["fate_unknown"] == count:
        verb = "may have been given up"
    else:
        verb = "were or may have been given up"
    return f"{count} failed stream batches of {fn} {verb}: " + "; ".join(parts) + "."
