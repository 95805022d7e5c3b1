"""Affected events: the async events, SQS messages and stream batches to replay or check.

An event is affected when it did not end well: its outcome is neither ``succeeded``,
``succeeded_after_retry`` nor (SQS / streams) ``redelivered``. That is every event that ended
badly (whatever its fate: even one sent to a DLQ still needs a redrive) and every event whose
end is not known when the data ends (``in_progress``, or an SQS message or stream batch with
one failed delivery and nothing after it).
"""

from __future__ import annotations

import polars as pl

from tracelens.analysis import columns as c
from tracelens.model import schema as col

#: Outcomes of events that ended well; every other outcome is affected.
GOOD_OUTCOMES = ("succeeded", "succeeded_after_retry", "redelivered")

#: The columns of ``affected``, in order (the ``--affected`` file's columns, less ``caller``).
COLUMNS = (
    c.FUNCTION,
    "path",
    "request_id",
    "message_id",
    "shard_id",
    "sequence_number",
    c.OUTCOME,
    c.FATE,
    c.FATE_EVIDENCE,
    "first_time",
    "last_time",
    c.ATTEMPTS,
    c.LAST_ERROR,
    c.TRACE_IDS,
)

_NULL = pl.lit(None, pl.String)


def affected(
    events: pl.DataFrame,
    units: pl.DataFrame,
    messages: pl.DataFrame,
    sqs_deliveries: pl.DataFrame,
    batches: pl.DataFrame,
    stream_deliveries: pl.DataFrame,
    *,
    message_ids: bool,
) -> pl.DataFrame:
    """One row per affected async event, SQS message and stream batch.

    Args:
        events: One row per async event (``analysis.async_events``).
        units: One row per async attempt.
        messages: One row per (function, SQS message).
        sqs_deliveries: One row per SQS delivery.
        batches: One row per stream batch.
        stream_deliveries: One row per stream batch delivery.
        message_ids: Whether SQS messages are keyed by their real message id (record
            annotations); with trace-link evidence the key is a producer segment id, which is
            no message id, so ``message_id`` is null.

    Returns:
        Columns ``COLUMNS`` plus ``key`` (the chain key), sorted by first_time, path, key and
        function. ``last_time`` is the end of the last attempt, null while one is open;
        ``request_id`` is the async event's request id, or the Lambda request of the last
        delivery of an SQS message or stream batch (where its logs are).
    """
    frames = [
        _async(events.lazy(), units.lazy()),
        _sqs(messages.lazy(), sqs_deliveries.lazy(), message_ids=message_ids),
        _stream(batches.lazy(), stream_deliveries.lazy()),
    ]
    return (
        pl.concat(frames)
        .sort("first_time", "path", c.KEY, c.FUNCTION, nulls_last=True)
        .select(*COLUMNS, c.KEY)
        .collect()
    )


def _bad(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.filter(~pl.col(c.OUTCOME).is_in(GOOD_OUTCOMES))


def _async(events: pl.LazyFrame, units: pl.LazyFrame) -> pl.LazyFrame:
    """Async events that did not succeed: their attempts' last error and every trace id."""
    bad = _bad(events)
    keys = bad.select(c.REQUEST)
    mine = units.join(keys, on=c.REQUEST, how="semi")
    last_error = (
        mine.filter(pl.col(c.ERROR).is_not_null())
        .sort(c.REQUEST, col.START, c.N, nulls_last=True)
        .group_by(c.REQUEST)
        .agg(pl.col(c.ERROR).last().alias(c.LAST_ERROR))
    )
    traces = (
        pl.concat(
            [
                bad.select(c.REQUEST, pl.col(col.TRACE_ID).cast(pl.String)),
                mine.select(c.REQUEST, pl.col(col.TRACE_ID).cast(pl.String)),
            ]
        )
        .drop_nulls()
        .group_by(c.REQUEST)
        .agg(pl.col(col.TRACE_ID).unique().sort().alias(c.TRACE_IDS))
    )
    return (
        bad.join(last_error, on=c.REQUEST, how="left")
        .join(traces, on=c.REQUEST, how="left")
        .select(
            _row(
                "async",
                key=pl.col(c.REQUEST),
                request_id=pl.col(c.REQUEST),
                fate_evidence=pl.col(c.FATE_EVIDENCE),
                first_time=pl.col(c.ENQUEUED),
            )
        )
    )


def _last_request(deliveries: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """The Lambda request id of the last delivery (latest start) of each (function, key)."""
    return (
        deliveries.filter(pl.col(c.REQUEST).is_not_null())
        .with_columns(pl.col(c.FUNCTION).cast(pl.String))
        .sort(c.FUNCTION, key, col.START, c.INVOCATION, nulls_last=True)
        .group_by(c.FUNCTION, key)
        .agg(pl.col(c.REQUEST).last().alias("request_id"))
    )


def _sqs(messages: pl.LazyFrame, deliveries: pl.LazyFrame, *, message_ids: bool) -> pl.LazyFrame:
    """SQS messages that did not end well (poison, one failed delivery, still in flight)."""
    key = c.MESSAGE_ID
    return (
        _bad(messages)
        .with_columns(pl.col(c.FUNCTION).cast(pl.String))
        .join(_last_request(deliveries, key), on=[c.FUNCTION, key], how="left")
        .select(
            _row(
                "sqs",
                key=pl.col(key),
                request_id=pl.col("request_id"),
                message_id=pl.col(key) if message_ids else _NULL,
            )
        )
    )


def _stream(batches: pl.LazyFrame, deliveries: pl.LazyFrame) -> pl.LazyFrame:
    """Stream batches that did not end well; shard and sequence number split from the key.

    An annotated batch's key is ``<shard_id>/<lowest sequence number>`` (digits only, so the
    last ``/`` separates them); a batch found from traces alone is keyed by its trace id and
    has neither.
    """
    annotated = pl.col(col.SHARD_ID).is_not_null()
    return (
        _bad(batches)
        .with_columns(pl.col(c.FUNCTION).cast(pl.String))
        .join(_last_request(deliveries, c.KEY), on=[c.FUNCTION, c.KEY], how="left")
        .select(
            _row(
                "stream",
                key=pl.col(c.KEY),
                request_id=pl.col("request_id"),
                shard_id=pl.when(annotated).then(pl.col(col.SHARD_ID)),
                sequence_number=pl.when(annotated).then(
                    pl.col(c.KEY).str.extract(r"/([0-9]+)$", 1)
                ),
            )
        )
    )


def _row(
    path: str,
    *,
    key: pl.Expr,
    request_id: pl.Expr,
    message_id: pl.Expr = _NULL,
    shard_id: pl.Expr = _NULL,
    sequence_number: pl.Expr = _NULL,
    fate_evidence: pl.Expr = _NULL,
    first_time: pl.Expr | None = None,
) -> list[pl.Expr]:
    """The columns of one affected row (``COLUMNS`` plus ``key``)."""
    return [
        pl.col(c.FUNCTION).cast(pl.String),
        pl.lit(path).alias("path"),
        request_id.cast(pl.String).alias("request_id"),
        message_id.cast(pl.String).alias("message_id"),
        shard_id.cast(pl.String).alias("shard_id"),
        sequence_number.cast(pl.String).alias("sequence_number"),
        pl.col(c.OUTCOME).cast(pl.String),
        pl.col(c.FATE).cast(pl.String),
        fate_evidence.cast(pl.String).alias(c.FATE_EVIDENCE),
        (pl.col(c.FIRST_START) if first_time is None else first_time).alias("first_time"),
        pl.col(c.LAST_END).alias("last_time"),
        pl.col(c.ATTEMPTS).cast(pl.Int64),
        pl.col(c.LAST_ERROR).cast(pl.String),
        pl.col(c.TRACE_IDS).cast(pl.List(pl.String)).fill_null([]),
        key.cast(pl.String).alias(c.KEY),
    ]
