"""Kinesis and DynamoDB stream batches and their retries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.sqs import outcome_of_deliveries
from tracelens.model import schema as col
from tracelens.model.vocab import STREAM_FATES

if TYPE_CHECKING:
    from datetime import datetime

    from tracelens.model.side import EventSourceMapping, SideInputs

STREAM_SOURCES = ("aws:kinesis", "aws:dynamodb")
SEQ = "first_sequence"  # lowest sequence number of the batch, leading zeros stripped
SEQS = "sequences"  # every record's sequence number (as SEQ), of a delivery or a batch
#: Kinesis' default retention and DynamoDB Streams' fixed one (lambda-semantics §0.2).
STREAM_RETENTION_SECONDS = 86_400
#: Fates of stream batches that ended badly (report ``streams.fates``).
FATES = STREAM_FATES


def annotated_deliveries(entities: pl.LazyFrame, invocations: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (batch, invocation) from stream record annotations.

    A batch is (function, shard_id, lowest sequence_number of its records compared as
    integers). Sequence numbers can exceed 128 bits, so they are compared as digit strings:
    leading zeros stripped, shorter first, then lexicographically. A retry may start a new
    trace, so annotations win over trace ids (report-contract "Stream batch").
    """
    digits = pl.col(col.SEQUENCE_NUMBER).str.strip_chars().str.strip_chars_start("0")
    records = entities.filter(
        (pl.col(col.KIND) == col.KIND_RECORD)
        & pl.col(col.EVENT_SOURCE).is_in(STREAM_SOURCES)
        & pl.col(col.SHARD_ID).is_not_null()
        & pl.col(col.SEQUENCE_NUMBER).is_not_null()
    ).select(
        pl.col(col.DOC_ID).alias(c.INVOCATION),
        col.SHARD_ID,
        pl.when(digits == "").then(pl.lit("0")).otherwise(digits).alias(SEQ),
    )
    per_invocation = records.group_by(c.INVOCATION, col.SHARD_ID).agg(
        pl.col(SEQ).sort_by(pl.col(SEQ).str.len_bytes(), pl.col(SEQ)).first(),
        pl.len().cast(pl.Int64).alias(c.RECORDS),
        pl.col(SEQ).unique().sort().alias(SEQS),
    )
    return per_invocation.join(_carried(invocations), on=c.INVOCATION, how="inner").with_columns(
        pl.format("{}/{}", col.SHARD_ID, SEQ).alias(c.KEY)
    )


def _carried(invocations: pl.LazyFrame) -> pl.LazyFrame:
    return invocations.select(
        c.INVOCATION,
        c.FUNCTION,
        c.REQUEST,
        col.TRACE_ID,
        col.START,
        col.END,
        col.IN_PROGRESS,
        c.FAILED,
        "inv_error",
    )


def traced_deliveries(
    requests: pl.LazyFrame,
    invocations: pl.LazyFrame,
    *,
    excluded: pl.LazyFrame,
    stream_functions: frozenset[str],
) -> pl.LazyFrame:
    """Batches inferred from repeated root service segments of one function in one trace.

    Stream records carry no trace header, so each batch starts a trace with the service
    segment as its root, and a retried batch has been seen reusing that trace
    (xray-lambda-shapes §4.5). A single root service segment looks the same as an untraced
    direct invoke, so it counts as a batch only when the config shows a stream event source
    mapping for the function.

    Args:
        requests: Requests.
        invocations: Invocations with error columns.
        excluded: Requests already known to be async or SQS (column ``request``).
        stream_functions: Functions with a Kinesis / DynamoDB mapping in the config.
    """
    roots = (
        requests.filter(~pl.col(c.TRACED_CALLER))
        .join(excluded, on=c.REQUEST, how="anti")
        .select(c.REQUEST, c.FUNCTION, col.TRACE_ID)
        .with_columns(pl.len().over(c.FUNCTION, col.TRACE_ID).alias("roots"))
        .filter((pl.col("roots") > 1) | pl.col(c.FUNCTION).is_in(sorted(stream_functions)))
    )
    return (
        roots.select(c.REQUEST, pl.col(col.TRACE_ID).cast(pl.String).alias(c.KEY))
        .join(_carried(invocations), on=c.REQUEST, how="inner")
        .with_columns(
            pl.lit(None, pl.String).alias(col.SHARD_ID),
            pl.lit(None, pl.String).alias(SEQ),
            pl.lit(None, pl.Int64).alias(c.RECORDS),
            pl.lit(None, pl.List(pl.String)).alias(SEQS),
        )
    )


def batches(deliveries: pl.LazyFrame) -> pl.LazyFrame:
    """One row per batch: invocations, retried, failures, outcome, first start.

    ``tail_attempts`` counts the last deliveries that had as many records as the last one:
    with BisectBatchOnFunctionError a failed batch is split before it is retried, and the
    splits do not use up MaximumRetryAttempts (lambda-semantics R3.25). Without record counts
    (trace evidence) it equals ``attempts``. ``last_records``: the records of the last
    delivery (null without record counts); ``first_sequence`` and ``sequences``: the batch's
    lowest sequence number and those of all its records (empty without record annotations).
    """
    ordered = deliveries.sort(c.FUNCTION, c.KEY, col.START, c.INVOCATION, nulls_last=True)
    records = pl.col(c.RECORDS)
    position = pl.int_range(pl.len(), dtype=pl.Int64)
    last_other_size = position.filter(records.ne_missing(records.last())).max()
    return (
        ordered.group_by(c.FUNCTION, c.KEY)
        .agg(
            pl.col(col.SHARD_ID).first(),
            pl.col(c.INVOCATION).n_unique().cast(pl.Int64).alias(c.ATTEMPTS),
            pl.col(c.FAILED).sum().cast(pl.Int64).alias(c.FAILURES),
            (~pl.col(c.FAILED) & ~pl.col(col.IN_PROGRESS)).sum().cast(pl.Int64).alias(c.SUCCESSES),
            pl.col(col.IN_PROGRESS).any().alias(col.IN_PROGRESS),
            pl.col(col.START).min().alias(c.FIRST_START),
            pl.col(col.END).max().alias("max_end"),
            pl.col("inv_error").drop_nulls().last().alias(c.LAST_ERROR),
            pl.col(col.TRACE_ID).drop_nulls().unique().sort().alias(c.TRACE_IDS),
            (pl.len().cast(pl.Int64) - (last_other_size + 1).fill_null(0)).alias("tail_attempts"),
            records.last().alias("last_records"),
            pl.col(SEQ).first(),
            pl.col(SEQS).list.explode(keep_nulls=False, empty_as_null=False).unique().sort(),
        )
        .with_columns(
            (pl.col(c.ATTEMPTS) > 1).alias(c.RETRIED),
            pl.when(pl.col(col.IN_PROGRESS))
            .then(None)
            .otherwise(pl.col("max_end"))
            .alias(c.LAST_END),
            outcome_of_deliveries("failed").alias(c.OUTCOME),
        )
        .drop("max_end")
    )


# --- fates of batches that ended badly --------------------------------------------------

_SETTINGS = {
    c.FUNCTION: pl.String,
    "esm_retries": pl.Int64,  # MaximumRetryAttempts, -1 = infinite
    "esm_age": pl.Int64,  # MaximumRecordAgeInSeconds, -1 = infinite
    "esm_destination": pl.String,  # DestinationConfig.OnFailure.Destination
    "esm_bisect": pl.Boolean,
    "esm_one_at_a_time": pl.Boolean,  # ParallelizationFactor 1: a shard's batches in order
    "esm_dynamodb": pl.Boolean,  # DynamoDB Streams: retention is fixed at 24 h
    "esm_problem": pl.String,  # why the settings cannot be used
}


def _is_stream(mapping: EventSourceMapping) -> bool:
    arn = mapping.event_source_arn
    return ":kinesis:" in arn or ":dynamodb:" in arn


def mapping_settings(side: SideInputs) -> pl.DataFrame:
    """The stream event source mapping settings of each function that has one.

    A function with several stream mappings whose settings differ gets ``esm_problem``
    (a batch's annotations do not name its stream, so the mapping cannot be chosen).
    """
    by_function: dict[str, list[EventSourceMapping]] = {}
    for mapping in side.mappings:
        name = mapping.function_name
        if name and _is_stream(mapping):
            by_function.setdefault(name, []).append(mapping)
    rows: list[tuple[str, int | None, int | None, str | None, bool, bool, bool, str | None]] = []
    for name, mappings in sorted(by_function.items()):
        settings = {
            (
                -1 if m.maximum_retry_attempts is None else m.maximum_retry_attempts,
                -1 if m.maximum_record_age_seconds is None else m.maximum_record_age_seconds,
                m.on_failure_arn,
                m.bisect_batch_on_function_error,
                m.parallelization_factor == 1,
                ":dynamodb:" in m.event_source_arn,
            )
            for m in mappings
        }
        if len(settings) > 1:
            problem = (
                f"{name} has {len(mappings)} stream event source mappings with different "
                "settings, and a batch does not say which stream it came from"
            )
            rows.append((name, None, None, None, False, False, False, problem))
            continue
        ((retries, age, destination, bisect, in_order, dynamodb),) = settings
        rows.append((name, retries, age, destination, bisect, in_order, dynamodb, None))
    return pl.DataFrame(rows, schema=_SETTINGS, orient="row")


def with_fates(
    batches: pl.LazyFrame, side: SideInputs, *, data_end: datetime | None
) -> pl.LazyFrame:
    """Add ``ended_by``, ``fate`` and ``fate_reason`` to batches whose last delivery failed.

    A failed batch blocks its shard and is retried until one of the event source mapping's
    limits ends it (lambda-semantics R3.25-R3.27): ``retries`` (attempts > MaximumRetryAttempts;
    with BisectBatchOnFunctionError only attempts of the final split count, and a failed batch
    of several records is split again instead), ``record_age``
    (the data runs past the first attempt + MaximumRecordAgeInSeconds: the records arrived
    before that attempt, so they are older than the limit by then) or ``retention`` (a
    DynamoDB stream's 24 h). Then its fate is ``sent`` (the mapping has an on-failure
    destination) or ``discarded``; records that expired at the stream's retention are
    ``unknown`` when a destination is set (AWS documents on-failure records only for
    ``RetryAttemptsExhausted`` and ``RecordAgeExceeded``). A batch within every limit when the
    data ends is still being retried: its outcome becomes ``in_progress`` and it has no fate.
    Without the function's mapping in the config, or when a Kinesis batch outlives the 24 h
    default retention (the stream's retention is not in the config), the fate is ``unknown``
    with the reason in ``fate_reason``.
    """
    settings = mapping_settings(side).lazy()
    end = pl.lit(data_end, dtype=col.TIME)
    first = pl.col(c.FIRST_START)
    retries, age = pl.col("esm_retries"), pl.col("esm_age")
    used = pl.when(pl.col("esm_bisect")).then(pl.col("tail_attempts")).otherwise(c.ATTEMPTS)
    # With bisect, a failed batch of several records is split and retried, whatever its
    # attempts: only a single record runs out of retries.
    splittable = pl.col("esm_bisect") & (pl.col("last_records") > 1).fill_null(False)
    by_retries = (retries >= 0) & (used >= retries + 1) & ~splittable
    by_age = (
        (age > 0)
        & (age <= STREAM_RETENTION_SECONDS)
        & (first + pl.duration(seconds=age) <= end).fill_null(False)
    )
    # Lambda read on past this batch (see ``_moved_on``) before its retries ran out, which
    # only its records' age does.
    moved_on = pl.col("split_moved_on").fill_null(False) | (
        pl.col("shard_moved_on").fill_null(False) & pl.col("esm_one_at_a_time")
    )
    gave_up = moved_on & (age > 0)
    past_retention = (first + pl.duration(seconds=STREAM_RETENTION_SECONDS) <= end).fill_null(False)
    failed = (pl.col(c.OUTCOME) == "failed") & ~pl.col(col.IN_PROGRESS)
    configured = pl.col("esm_retries").is_not_null()
    ended_by = (
        pl.when(~failed | ~configured)
        .then(pl.lit(None, pl.String))
        .when(by_retries)
        .then(pl.lit("retries"))
        .when(by_age | gave_up)
        .then(pl.lit("record_age"))
        .when(past_retention & pl.col("esm_dynamodb"))
        .then(pl.lit("retention"))
    )
    has_destination = pl.col("esm_destination").is_not_null()
    no_mapping = pl.format(
        "no stream event source mapping for {} in the config: cannot tell whether its retries "
        "or record age ran out (supply --config)",
        pl.col(c.FUNCTION),
    )
    kinesis_retention = pl.lit(
        "the data runs past the stream's 24 h default retention and its retention period is "
        "not in the config: the records either expired or are still being retried"
    )
    expired = pl.lit(
        "the records expired at the stream's 24 h retention; AWS documents on-failure records "
        "only for RetryAttemptsExhausted and RecordAgeExceeded"
    )
    reason = (
        pl.when(~failed)
        .then(pl.lit(None, pl.String))
        .when(pl.col("esm_problem").is_not_null())
        .then(pl.col("esm_problem"))
        .when(~configured)
        .then(no_mapping)
        .when(pl.col(c.ENDED_BY) == "retention")
        .then(pl.when(has_destination).then(expired))
        .when(pl.col(c.ENDED_BY).is_null() & past_retention & ~pl.col("esm_dynamodb"))
        .then(kinesis_retention)
    )
    fate = (
        pl.when(pl.col(c.FATE_REASON).is_not_null())
        .then(pl.lit("unknown"))
        .when(pl.col(c.ENDED_BY).is_not_null())
        .then(pl.when(has_destination).then(pl.lit("sent")).otherwise(pl.lit("discarded")))
    )
    still_retrying = failed & configured & pl.col(c.FATE).is_null()
    return (
        batches.join(_moved_on(batches), on=[c.FUNCTION, c.KEY], how="left")
        .with_columns(pl.col(c.FUNCTION).cast(pl.String).alias("_fn"))
        .join(settings.rename({c.FUNCTION: "_fn"}), on="_fn", how="left")
        .with_columns(ended_by.alias(c.ENDED_BY))
        .with_columns(reason.alias(c.FATE_REASON))
        .with_columns(fate.alias(c.FATE))
        .with_columns(
            pl.when(still_retrying)
            .then(pl.lit("in_progress"))
            .otherwise(pl.col(c.OUTCOME))
            .alias(c.OUTCOME),
            pl.col("esm_destination").alias("destination"),
        )
        .drop("_fn", "split_moved_on", "shard_moved_on", *[k for k in _SETTINGS if k != c.FUNCTION])
    )


def _moved_on(batches: pl.LazyFrame) -> pl.LazyFrame:
    """Per (function, key) of a batch whose last delivery ended, whether Lambda read on past
    it, so that it is no longer retried whatever its attempts:

    - ``split_moved_on``: a later batch of the same shard starts with one of this batch's
      records after this batch's last delivery ended. With BisectBatchOnFunctionError Lambda
      retries the first half of a split batch until it succeeds or is given up, and only then
      reads on from the second half, which the traces show as a batch of its own (at any
      ParallelizationFactor: the halves of one batch run one after the other).
    - ``shard_moved_on``: any later batch of the same shard starts after this batch's last
      delivery ended; that ends this batch only when the shard's batches run one at a time
      (ParallelizationFactor 1, checked by the caller).
    """
    mine = batches.filter(pl.col(c.LAST_END).is_not_null() & pl.col(col.SHARD_ID).is_not_null())
    later = batches.select(
        c.FUNCTION,
        col.SHARD_ID,
        SEQ,
        pl.col(c.KEY).alias("later_key"),
        pl.col(c.FIRST_START).alias("later_start"),
    )
    after = (pl.col("later_key") != pl.col(c.KEY)) & (pl.col("later_start") >= pl.col(c.LAST_END))
    split = (
        mine.select(c.FUNCTION, col.SHARD_ID, c.KEY, c.LAST_END, pl.col(SEQS).alias(SEQ))
        .explode(SEQ)
        .join(later, on=[c.FUNCTION, col.SHARD_ID, SEQ], how="inner")
        .filter(after)
        .select(c.FUNCTION, c.KEY)
        .unique()
        .with_columns(split_moved_on=pl.lit(True))
    )
    shard = (
        mine.select(c.FUNCTION, col.SHARD_ID, c.KEY, c.LAST_END)
        .join(later.drop(SEQ), on=[c.FUNCTION, col.SHARD_ID], how="inner")
        .filter(after)
        .select(c.FUNCTION, c.KEY)
        .unique()
        .with_columns(shard_moved_on=pl.lit(True))
    )
    return split.join(shard, on=[c.FUNCTION, c.KEY], how="full", coalesce=True)
