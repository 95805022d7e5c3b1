"""SQS messages and deliveries: from record annotations, else from SQS trace links."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis._expr import error_text, flagged
from tracelens.model import schema as col
from tracelens.model.vocab import SQS_FATES

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from tracelens.model.side import SideInputs

SQS = "aws:sqs"
MESSAGE = c.MESSAGE_ID
#: SQS defaults (lambda-semantics §0.2): VisibilityTimeout and MessageRetentionPeriod.
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30
DEFAULT_RETENTION_SECONDS = 345_600
#: Fates of poison messages (report ``sqs.fates``).
FATES = SQS_FATES


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


def _link_pairs(links: pl.LazyFrame) -> pl.LazyFrame:
    """(consumer entity, producer entity) pairs from both directions of SQS trace links.

    X-Ray links traces only for SQS -> Lambda (xray-lambda-shapes §4.4). A consumer-side link
    (``parent``) sits on the consumer's segment and names the producer; a producer-side link
    (``child``) names the consumer.
    """
    consumer_side = links.filter(pl.col(col.REFERENCE_TYPE) != "child").select(
        pl.col(col.DOC_ID).alias("consumer"),
        pl.col(col.LINKED_ID).alias(MESSAGE),
    )
    producer_side = links.filter(pl.col(col.REFERENCE_TYPE) == "child").select(
        pl.col(col.LINKED_ID).alias("consumer"),
        pl.col(col.ID).alias(MESSAGE),
    )
    return pl.concat([consumer_side, producer_side]).unique()


def linked_requests(
    links: pl.LazyFrame, services: pl.LazyFrame, invocations: pl.LazyFrame
) -> pl.LazyFrame:
    """Requests on the SQS path by trace links (column ``request``), function segment or not.

    A service segment (or a function segment) that is the consumer of an SQS trace link was
    invoked by an SQS event source mapping, even when no function segment recorded the
    invocation (a throttled delivery, an unsampled or lost function segment).
    """
    consumers = _link_pairs(links).select("consumer").unique()
    by_service = services.select(pl.col(col.ID).alias("consumer"), c.REQUEST).join(
        consumers, on="consumer", how="semi"
    )
    by_function = invocations.select(pl.col(c.INVOCATION).alias("consumer"), c.REQUEST).join(
        consumers, on="consumer", how="semi"
    )
    return pl.concat([by_service, by_function]).select(c.REQUEST).drop_nulls().unique()


def linked_deliveries(
    links: pl.LazyFrame, services: pl.LazyFrame, invocations: pl.LazyFrame
) -> pl.LazyFrame:
    """Deliveries inferred from SQS trace links: consumer invocations linked to one producer.

    Without message ids, the producer entity stands in for the message here;
    ``separate_sends`` then tells redeliveries from different messages of one send.
    """
    pairs = _link_pairs(links)
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


def separate_sends(deliveries: pl.DataFrame, visibility_seconds: Mapping[str, int]) -> pl.DataFrame:
    """Split link-only deliveries of one producer segment into messages.

    Two invocations linking one producer segment are one message redelivered only if the
    second started at least the queue's VisibilityTimeout after the first (a message becomes
    visible again only then), and the first had failed or was still running; otherwise they
    are different messages of one batch send. Deliveries are taken in start order and each
    joins the open message that has waited longest, else starts a new one. The first message
    keeps the producer id; later ones are ``<producer id>#2``, ``#3``, ... in order of first
    delivery.

    Args:
        deliveries: ``linked_deliveries`` output.
        visibility_seconds: VisibilityTimeout per function; missing functions use 30 s.
    """
    shared = pl.len().over(c.FUNCTION, MESSAGE) > 1
    multi = deliveries.filter(shared).sort(
        c.FUNCTION, MESSAGE, col.START, c.INVOCATION, nulls_last=True
    )
    if multi.is_empty():
        return deliveries
    keys: list[tuple[str, str, str, str]] = []
    current: tuple[str, str] | None = None
    wait = timedelta(seconds=DEFAULT_VISIBILITY_TIMEOUT_SECONDS)
    # Per open message of the current producer: [start of its last delivery, its end (None:
    # still running), whether it failed].
    open_messages: list[list[Any]] = []
    # One pass over the sorted rows (no per-group frames: there can be many producers).
    rows = multi.select(
        pl.col(c.FUNCTION).cast(pl.String), MESSAGE, c.INVOCATION, col.START, col.END, c.FAILED
    ).iter_rows()
    for function, producer, invocation, start, end, failed in rows:
        if (function, producer) != current:
            current = (function, producer)
            seconds = visibility_seconds.get(function, DEFAULT_VISIBILITY_TIMEOUT_SECONDS)
            wait = timedelta(seconds=seconds)
            open_messages = []
        chosen = None
        if start is not None:
            waiting = sorted(
                (i for i, message in enumerate(open_messages) if message[0] is not None),
                key=lambda i: (open_messages[i][0], i),
            )
            for index in waiting:
                last_start, last_end, last_failed = open_messages[index]
                running = last_end is None or last_end > start
                if start - last_start >= wait and (last_failed or running):
                    chosen = index
                    break
        if chosen is None:
            chosen = len(open_messages)
            open_messages.append([start, end, failed])
        else:
            open_messages[chosen] = [start, end, failed]
        name = producer if chosen == 0 else f"{producer}#{chosen + 1}"
        keys.append((function, producer, invocation, name))
    renamed = pl.DataFrame(
        keys,
        schema={
            "_fn": pl.String,
            MESSAGE: pl.String,
            c.INVOCATION: pl.String,
            "_message": pl.String,
        },
        orient="row",
    )
    return (
        deliveries.with_columns(pl.col(c.FUNCTION).cast(pl.String).alias("_fn"))
        .join(renamed, on=["_fn", MESSAGE, c.INVOCATION], how="left")
        .with_columns(pl.coalesce("_message", MESSAGE).alias(MESSAGE))
        .drop("_message", "_fn")
    )


def queue_settings(side: SideInputs, functions: list[str]) -> pl.DataFrame:
    """The consumed queue's redrive policy, retention and visibility timeout per function."""
    rows = []
    for name in sorted(set(functions)):
        queue = side.queue_for(name)
        if queue is None:
            continue
        policy = queue.redrive_policy
        rows.append(
            (
                name,
                None if policy is None else policy.max_receive_count,
                None if policy is None else policy.dead_letter_target_arn,
                queue.message_retention_seconds or DEFAULT_RETENTION_SECONDS,
            )
        )
    return pl.DataFrame(
        rows,
        schema={
            c.FUNCTION: pl.String,
            "max_receive_count": pl.Int64,
            "dead_letter_arn": pl.String,
            "retention_seconds": pl.Int64,
        },
        orient="row",
    )


def visibility_timeouts(side: SideInputs, functions: list[str]) -> dict[str, int]:
    """The consumed queue's VisibilityTimeout per function (only where the config has it)."""
    out = {}
    for name in sorted(set(functions)):
        queue = side.queue_for(name)
        if queue is not None and queue.visibility_timeout_seconds is not None:
            out[name] = queue.visibility_timeout_seconds
    return out


def with_fates(
    messages: pl.LazyFrame, side: SideInputs, functions: list[str], *, data_end: datetime | None
) -> pl.LazyFrame:
    """Add ``fate`` (and ``fate_reason`` when unknown) to poison messages; null otherwise.

    - ``dlq``: its deliveries (or its highest receive count) reached the queue's RedrivePolicy
      maxReceiveCount, so the next receive moves it to the DLQ (lambda-semantics R3.12);
    - ``retention_deleted``: the data runs past its first delivery + MessageRetentionPeriod
      (config, else 345600 s) and the queue has no redrive policy: SQS deleted it (it was
      sent before its first delivery, R3.13);
    - ``in_queue``: otherwise; it is still being redelivered when the data ends;
    - ``unknown``: the config has no queue attributes for the function's event source mapping;
      or the data runs past the retention and the queue has a redrive policy: the message is
      gone, but SQS may have moved it to the DLQ after receives the traces do not show
      (throttled or unsampled) as well as deleted it, and the traces cannot tell which.
    """
    settings = queue_settings(side, functions).lazy()
    end = pl.lit(data_end, dtype=col.TIME)
    received = pl.max_horizontal(c.ATTEMPTS, pl.col(c.RECEIVE_COUNT).fill_null(0))
    reached = (
        pl.col("max_receive_count").is_not_null()
        & (received >= pl.col("max_receive_count"))
        & ~pl.col(col.IN_PROGRESS)
    )
    expired = (
        pl.col(c.FIRST_START) + pl.duration(seconds=pl.col("retention_seconds")) <= end
    ).fill_null(False)
    known = pl.col("retention_seconds").is_not_null()
    gone_either_way = expired & pl.col("max_receive_count").is_not_null()
    fate = (
        pl.when(~pl.col(c.POISON))
        .then(pl.lit(None, pl.String))
        .when(~known)
        .then(pl.lit("unknown"))
        .when(reached)
        .then(pl.lit("dlq"))
        .when(gone_either_way)
        .then(pl.lit("unknown"))
        .when(expired)
        .then(pl.lit("retention_deleted"))
        .otherwise(pl.lit("in_queue"))
    )
    reason = (
        pl.when(~pl.col(c.POISON))
        .then(pl.lit(None, pl.String))
        .when(~known)
        .then(
            pl.format(
                "no queue attributes for the event source mapping of {} in the config (supply "
                "--config with the queue's get-queue-attributes)",
                pl.col(c.FUNCTION),
            )
        )
        .when(~reached & gone_either_way)
        .then(
            pl.format(
                "the data runs past the queue's MessageRetentionPeriod ({} s) after its first "
                "delivery and the message was seen received {} of maxReceiveCount {} times: "
                "SQS either moved it to the DLQ after receives the traces do not show "
                "(throttled or unsampled) or deleted it at the end of retention",
                pl.col("retention_seconds"),
                received,
                pl.col("max_receive_count"),
            )
        )
    )
    return (
        messages.with_columns(pl.col(c.FUNCTION).cast(pl.String).alias("_fn"))
        .join(settings.rename({c.FUNCTION: "_fn"}), on="_fn", how="left")
        .with_columns(fate.alias(c.FATE), reason.alias(c.FATE_REASON))
        .drop("_fn", "max_receive_count", "retention_seconds")
        .rename({"dead_letter_arn": "destination"})
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
        pl.col(col.START).max().alias(c.LAST_SEEN),
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


def outcome_of_deliveries(repeated_failure: Literal["poison", "failed"]) -> pl.Expr:
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
