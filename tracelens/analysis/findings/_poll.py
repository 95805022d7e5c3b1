"""Finding rules of poll-based invokes: SQS poison and redelivered messages, stream batches."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.findings._rule import Rule, advised, agree, count_of, grouped, no_config
from tracelens.model.vocab import SQS_FATES, STREAM_ENDED_BY, STREAM_FATES, Severity

if TYPE_CHECKING:
    from tracelens.analysis.findings._rule import FindingInputs, Row
    from tracelens.model.side import EventSourceMapping, SideInputs


def _poison(inputs: FindingInputs) -> pl.LazyFrame:
    return grouped(
        inputs.messages.filter(pl.col(c.POISON)),
        pl.col("message_id"),
        *[count_of(c.FATE, f) for f in SQS_FATES],
        pl.col(c.FATE_REASON).drop_nulls().sort().first().alias("reason"),
    )


def _redelivered(inputs: FindingInputs) -> pl.LazyFrame:
    return grouped(
        inputs.messages.filter(pl.col(c.ATTEMPTS) > 1),
        pl.col("message_id"),
        # Redelivered although an earlier delivery of its own did not fail: its batch
        # failed for another message, or the visibility timeout ran out mid-run.
        (pl.col(c.FAILURES) < pl.col(c.ATTEMPTS) - 1).sum().cast(pl.Int64).alias("collateral"),
    )


def _retried_batches(inputs: FindingInputs) -> pl.LazyFrame:
    return grouped(inputs.batches.filter(pl.col("retried")), pl.col(c.KEY))


def _failed_batches(inputs: FindingInputs) -> pl.LazyFrame:
    return grouped(
        inputs.batches.filter(pl.col(c.FATE).is_not_null()),
        pl.col(c.KEY),
        *[count_of(c.FATE, f) for f in STREAM_FATES],
        *[count_of(c.ENDED_BY, e) for e in STREAM_ENDED_BY],
        pl.col(c.FATE_REASON).drop_nulls().sort().first().alias("reason"),
        pl.col("destination").drop_nulls().sort().first().alias("destination"),
    )


def _poison_severity(inputs: FindingInputs, row: Row) -> Severity:
    """Critical when the config shows the function's queue has no redrive policy."""
    queue = inputs.side.queue_for(row[c.FUNCTION])
    if queue is not None and queue.redrive_policy is None:
        return Severity.CRITICAL
    return Severity.WARNING


def _stream_fate_severity(_: FindingInputs, row: Row) -> Severity:
    """Critical when records were discarded (no on-failure destination)."""
    return Severity.CRITICAL if row["fate_discarded"] else Severity.WARNING


def _poison_advice(side: SideInputs, fn: str, row: Row) -> str:
    queue = side.queue_for(fn)
    if queue is None:
        return "fix the handler error (" + no_config(fn, "queue attributes") + ")"
    deleted, waiting = row["fate_retention_deleted"], row["fate_in_queue"]
    where = []
    if row["fate_dlq"]:
        where.append(f"{row['fate_dlq']} moved to the DLQ")
    if deleted:
        where.append(f"{deleted} deleted at the end of the retention period")
    if waiting:
        where.append(f"{waiting} still in the queue when the data ends")
    if row["fate_unknown"]:
        unknown = row["fate_unknown"]
        where.append(f"{unknown} gone from the queue with an unknown fate: {row['reason']}")
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


def _redelivery_advice(side: SideInputs, fn: str, row: Row) -> str:
    collateral = row["collateral"]
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
            + no_config(fn, "SQS event source mapping")
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


def _stream_retry_advice(side: SideInputs, fn: str, _: Row | None = None) -> str:
    mappings = _stream_mappings(side, fn)
    if not mappings:
        return (
            "check that BisectBatchOnFunctionError or ReportBatchItemFailures is enabled so one "
            "bad record does not block its shard ("
            + no_config(fn, "stream event source mapping")
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


def _stream_fate_message(inputs: FindingInputs, row: Row) -> str:
    fn, count = row[c.FUNCTION], row["count"]
    mappings = _stream_mappings(inputs.side, fn)
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
    if count == 1:
        verb = verb.replace("were or may have been", "was or may have been").replace(
            "were given", "was given"
        )
    batches = agree("{batch|batches}", count)
    return f"{count} failed stream {batches} of {fn} {verb}: " + "; ".join(parts) + "."


POLL_RULES = (
    Rule(
        code="SQS_POISON_MESSAGE",
        severity=_poison_severity,
        plan=_poison,
        message=advised("SQS {message|messages} failed on every delivery to {fn}", _poison_advice),
    ),
    Rule(
        code="SQS_REDELIVERY",
        severity=Severity.INFO,
        plan=_redelivered,
        message=advised(
            "SQS {message was|messages were} delivered to {fn} more than once",
            _redelivery_advice,
        ),
    ),
    Rule(
        code="STREAM_BATCH_RETRIED",
        severity=Severity.WARNING,
        plan=_retried_batches,
        message=advised("stream {batch|batches} of {fn} {was|were} retried", _stream_retry_advice),
    ),
    Rule(
        code="STREAM_RECORDS_DISCARDED",
        severity=_stream_fate_severity,
        plan=_failed_batches,
        message=_stream_fate_message,
    ),
)
