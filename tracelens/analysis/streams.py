"""Kinesis and DynamoDB stream batches and their retries."""

from __future__ import annotations

import polars as pl

from tracelens.analysis import _columns as c
from tracelens.analysis.sqs import outcome_of_deliveries
from tracelens.model import schema as col

STREAM_SOURCES = ("aws:kinesis", "aws:dynamodb")
SEQ = "first_sequence"  # lowest sequence number of the batch, leading zeros stripped


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
        pl.col(SEQ).sort_by(pl.col(SEQ).str.len_bytes(), pl.col(SEQ)).first()
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
            pl.lit(None, pl.String).alias(col.SHARD_ID), pl.lit(None, pl.String).alias(SEQ)
        )
    )


def batches(deliveries: pl.LazyFrame) -> pl.LazyFrame:
    """One row per batch: invocations, retried, failures, outcome, first start."""
    ordered = deliveries.sort(c.FUNCTION, c.KEY, col.START, c.INVOCATION, nulls_last=True)
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
        )
        .with_columns(
            (pl.col(c.ATTEMPTS) > 1).alias("retried"),
            pl.when(pl.col(col.IN_PROGRESS))
            .then(None)
            .otherwise(pl.col("max_end"))
            .alias(c.LAST_END),
            outcome_of_deliveries("failed").alias(c.OUTCOME),
        )
        .drop("max_end")
    )
