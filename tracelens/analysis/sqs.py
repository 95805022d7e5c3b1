"""SQS messages and deliveries: from record annotations, else from SQS trace links."""

from __future__ import annotations

import polars as pl

from tracelens.analysis import _columns as c
from tracelens.analysis._expr import error_text, flagged
from tracelens.model import schema as col

SQS = "aws:sqs"
MESSAGE = "message_id"


def annotated_deliveries(entities: pl.LazyFrame, invocations: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (message, invocation) from ``aws:sqs`` record subsegments.

    A delivery failed when its record subsegment has error, fault or throttle set
    (report-contract "SQS message"). Records are attached to their invocation by ``doc_id``
    (the function segment they were read from).
    """
    records = entities.filter(
        (pl.col(col.KIND) == col.KIND_RECORD)
        & (pl.col(col.EVENT_SOURCE) == SQS)
        & pl.col(col.MESSAGE_ID).is_not_null()
    ).select(
        pl.col(col.DOC_ID).alias(c.INVOCATION),
        pl.col(col.MESSAGE_ID).alias(MESSAGE),
        flagged().alias("record_failed"),
        error_text(pl.col(col.CAUSE), pl.col(col.THROTTLE), pl.col(col.FAULT)).alias("error"),
        col.RECEIVE_COUNT,
    )
    return (
        records.join(_invocation_columns(invocations), on=c.INVOCATION, how="inner")
        .group_by(c.FUNCTION, MESSAGE, c.INVOCATION)
        .agg(
            pl.col("record_failed").any().alias(c.FAILED),
            pl.col("error").filter(pl.col("record_failed")).first().alias("error"),
            pl.col(col.RECEIVE_COUNT).max(),
            *[pl.col(x).first() for x in _CARRIED],
        )
    )


_CARRIED = (c.REQUEST, col.TRACE_ID, col.START, col.END, col.IN_PROGRESS)


def _invocation_columns(invocations: pl.LazyFrame) -> pl.LazyFrame:
    return invocations.select(c.INVOCATION, c.FUNCTION, *_CARRIED, "inv_failed", "inv_error")


def with_error_columns(invocations: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``inv_failed``/``inv_error`` (invocation failure and its text) to invocations."""
    return invocations.with_columns(
        pl.col(c.FAILED).alias("inv_failed"),
        pl.when(pl.col(c.FAILED))
        .then(error_text(pl.col(col.CAUSE), pl.col(col.THROTTLE), pl.col(col.FAULT)))
        .alias("inv_error"),
    )


def linked_deliveries(
    links: pl.LazyFrame, services: pl.LazyFrame, invocations: pl.LazyFrame
) -> pl.LazyFrame:
    """Deliveries inferred from SQS trace links: consumer invocations linked to one producer.

    X-Ray links traces only for SQS -> Lambda (xray-lambda-shapes §4.4). A consumer-side link
    (``parent``) sits on the consumer's segment and names the producer; a producer-side link
    (``child``) names the consumer. Without message ids, the producer entity stands in for
    the message, so fan-out from one producer segment looks like redelivery.
    """
    consumer_side = links.filter(pl.col(col.REFERENCE_TYPE) != "child").select(
        pl.col(col.DOC_ID).alias("consumer"),
        pl.col(col.LINKED_ID).alias(MESSAGE),
    )
    producer_side = links.filter(pl.col(col.REFERENCE_TYPE) == "child").select(
        pl.col(col.LINKED_ID).alias("consumer"),
        pl.col(col.ID).alias(MESSAGE),
    )
    pairs = pl.concat([consumer_side, producer_side]).unique()
    inv = invocations.select(c.INVOCATION, c.REQUEST)
    # A consumer entity is a function segment (the invocation) or a service segment (every
    # invocation of that request).
    by_function = pairs.join(inv, left_on="consumer", right_on=c.INVOCATION, how="inner").select(
        MESSAGE, pl.col("consumer").alias(c.INVOCATION)
    )
    by_service = (
        pairs.join(
            services.select(pl.col(col.ID).alias("consumer"), c.REQUEST), on="consumer", how="inner"
        )
        .join(inv, on=c.REQUEST, how="inner")
        .select(MESSAGE, c.INVOCATION)
    )
    return (
        pl.concat([by_function, by_service])
        .unique()
        .join(_invocation_columns(invocations), on=c.INVOCATION, how="inner")
        .select(
            c.FUNCTION,
            MESSAGE,
            c.INVOCATION,
            pl.col("inv_failed").alias(c.FAILED),
            pl.col("inv_error").alias("error"),
            pl.lit(None, pl.Int64).alias(col.RECEIVE_COUNT),
            *_CARRIED,
        )
    )


def messages(deliveries: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (function, message) with its deliveries and outcome.

    redelivered = more than one delivery; poison = at least 2 failed deliveries and no
    successful one (report-contract "SQS message").
    """
    ordered = deliveries.sort(c.FUNCTION, MESSAGE, col.START, c.INVOCATION, nulls_last=True)
    agg = ordered.group_by(c.FUNCTION, MESSAGE).agg(
        pl.len().cast(pl.Int64).alias(c.ATTEMPTS),
        pl.col(c.FAILED).sum().cast(pl.Int64).alias(c.FAILURES),
        (~pl.col(c.FAILED) & ~pl.col(col.IN_PROGRESS)).sum().cast(pl.Int64).alias(c.SUCCESSES),
        pl.col(col.IN_PROGRESS).any().alias(col.IN_PROGRESS),
        pl.col(col.START).min().alias(c.FIRST_START),
        pl.col(col.START).max().alias("last_seen"),
        pl.col(col.END).max().alias("max_end"),
        pl.col("error").drop_nulls().last().alias(c.LAST_ERROR),
        pl.col(col.RECEIVE_COUNT).max().alias(c.RECEIVE_COUNT),
        pl.col(col.TRACE_ID).drop_nulls().unique().sort().alias(c.TRACE_IDS),
    )
    return agg.with_columns(
        ((pl.col(c.FAILURES) >= 2) & (pl.col(c.SUCCESSES) == 0)).alias(c.POISON),
        pl.when(pl.col(col.IN_PROGRESS)).then(None).otherwise(pl.col("max_end")).alias(c.LAST_END),
        outcome_of_deliveries("poison").alias(c.OUTCOME),
    ).drop("max_end")


def outcome_of_deliveries(repeated_failure: str) -> pl.Expr:
    """Outcome of an SQS message or stream batch from its delivery counts.

    Args:
        repeated_failure: The outcome when at least two deliveries failed and none succeeded.
    """
    return (
        pl.when(pl.col(c.SUCCESSES) > 0)
        .then(
            pl.when(pl.col(c.FAILURES) > 0)
            .then(pl.lit("succeeded_after_retry"))
            .when(pl.col(c.ATTEMPTS) > 1)
            .then(pl.lit("redelivered"))
            .otherwise(pl.lit("succeeded"))
        )
        .when(pl.col(c.FAILURES) >= 2)
        .then(pl.lit(repeated_failure))
        .when(pl.col(col.IN_PROGRESS))
        .then(pl.lit("in_progress"))
        .otherwise(pl.lit("failed"))
    )
