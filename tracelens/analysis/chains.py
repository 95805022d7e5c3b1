"""Retry chains: every async event, SQS message or stream batch retried or ended badly."""

from __future__ import annotations

import polars as pl

from tracelens.analysis import columns as c
from tracelens.model import schema as col
from tracelens.model.vocab import BAD_OUTCOMES

STEP_KIND = c.STEP_KIND
ERROR = c.ERROR
STEPS = c.STEPS
ERRORS = c.ERRORS

_HEAD = (
    c.CHAIN_KIND,
    c.KEY,
    c.FUNCTION,
    c.TRACE_IDS,
    c.ATTEMPTS,
    c.OUTCOME,
    c.FATE,
    c.FATE_EVIDENCE,
    c.DWELL_MS,
    c.FIRST_START,
    c.LAST_END,
)
_STEP = (c.CHAIN_KIND, c.FUNCTION, c.KEY, STEP_KIND, col.START, col.END, ERROR, col.TRACE_ID)
_STEP_ORDER = {"dwell": 0, "wait": 1, "attempt": 2}


def chains(
    events: pl.LazyFrame,
    units: pl.LazyFrame,
    delays: pl.LazyFrame,
    messages: pl.LazyFrame,
    message_deliveries: pl.LazyFrame,
    batches: pl.LazyFrame,
    batch_deliveries: pl.LazyFrame,
) -> pl.LazyFrame:
    """One row per chain with its errors and timeline steps, sorted by first start then key.

    Columns: chain_kind, key, function, trace_ids, attempts, outcome, fate, fate_evidence,
    dwell_ms,
    first_start, last_end, errors (text per failed attempt, in order), steps (list of
    struct step_kind/start/end/error/trace_id).
    """
    async_heads = _async_heads(events, units)
    sqs_heads = _sqs_heads(messages)
    stream_heads = _stream_heads(batches)
    heads = pl.concat([async_heads, sqs_heads, stream_heads]).select(_HEAD)
    steps = _timelines(
        _async_steps(events, units, delays, async_heads.select(c.KEY)),
        _delivery_steps(
            "sqs",
            message_deliveries.rename({"message_id": c.KEY}),
            sqs_heads.select(c.FUNCTION, c.KEY),
        ),
        _delivery_steps(
            "stream",
            batch_deliveries.rename({"inv_error": ERROR}),
            stream_heads.select(c.FUNCTION, c.KEY),
        ),
    )
    return (
        heads.join(steps, on=[c.CHAIN_KIND, c.FUNCTION, c.KEY], how="left")
        .with_columns(pl.col(ERRORS).fill_null([]))
        .sort(c.FIRST_START, c.KEY, c.CHAIN_KIND, c.FUNCTION, nulls_last=True)
    )


def _async_heads(events: pl.LazyFrame, units: pl.LazyFrame) -> pl.LazyFrame:
    """Chain heads of the async events retried or ended badly, with their trace ids."""
    chained = events.filter((pl.col(c.ATTEMPTS) > 1) | pl.col(c.OUTCOME).is_in(BAD_OUTCOMES))
    # Trace ids only for the (few) chained events: the event's trace plus its attempts'.
    async_traces = (
        pl.concat(
            [
                chained.select(c.REQUEST, col.TRACE_ID),
                units.join(chained.select(c.REQUEST), on=c.REQUEST, how="semi").select(
                    c.REQUEST, col.TRACE_ID
                ),
            ]
        )
        .drop_nulls()
        .unique()
        .sort(c.REQUEST, col.TRACE_ID)
        .group_by(c.REQUEST, maintain_order=True)
        .agg(pl.col(col.TRACE_ID).alias(c.TRACE_IDS))
    )
    return chained.join(async_traces, on=c.REQUEST, how="left").select(
        _head(
            "async",
            pl.col(c.REQUEST),
            fate_evidence=pl.col(c.FATE_EVIDENCE),
            dwell_ms=pl.col(c.DWELL_MS),
            first_start=pl.col(c.ENQUEUED),
        )
    )


def _sqs_heads(messages: pl.LazyFrame) -> pl.LazyFrame:
    """Chain heads of the SQS messages redelivered, poison or failed."""
    return messages.filter(
        (pl.col(c.ATTEMPTS) > 1) | pl.col(c.OUTCOME).is_in(["poison", "failed"])
    ).select(_head("sqs", pl.col("message_id")))


def _stream_heads(batches: pl.LazyFrame) -> pl.LazyFrame:
    """Chain heads of the stream batches retried, failed or still failing."""
    return batches.filter(
        pl.col("retried")
        | (pl.col(c.OUTCOME) == "failed")
        | ((pl.col(c.OUTCOME) == "in_progress") & (pl.col(c.FAILURES) > 0))
    ).select(_head("stream", pl.col(c.KEY)))


def _async_steps(
    events: pl.LazyFrame, units: pl.LazyFrame, delays: pl.LazyFrame, async_keys: pl.LazyFrame
) -> pl.LazyFrame:
    """Dwell, attempt and wait steps of the chained async events (``async_keys``)."""
    unit_rows = units.rename({c.REQUEST: c.KEY}).join(async_keys, on=c.KEY, how="semi")
    event_rows = events.rename({c.REQUEST: c.KEY}).join(async_keys, on=c.KEY, how="semi")
    return pl.concat(
        [
            event_rows.filter(pl.col(c.DWELL_MS).is_not_null()).select(
                _step(
                    "async",
                    "dwell",
                    pl.coalesce(c.DWELL_START, c.ENQUEUED),
                    pl.coalesce(
                        c.DWELL_END,
                        pl.col(c.ENQUEUED) + pl.duration(microseconds=pl.col(c.DWELL_MS) * 1000),
                    ),
                )
            ),
            unit_rows.join(event_rows.select(c.KEY, c.FUNCTION), on=c.KEY).select(
                _step("async", "attempt", pl.col(col.START), pl.col(col.END), pl.col(ERROR))
            ),
            delays.rename({c.REQUEST: c.KEY})
            .join(async_keys, on=c.KEY, how="semi")
            .select(_step("async", "wait", pl.col("wait_start"), pl.col("wait_end"))),
        ]
    )


def _timelines(*steps: pl.LazyFrame) -> pl.LazyFrame:
    """Per chain: the errors of its failed attempts and its steps in time order."""
    return (
        pl.concat(steps)
        .with_columns(
            pl.col(STEP_KIND).replace_strict(_STEP_ORDER, return_dtype=pl.Int8).alias("order")
        )
        .sort(c.CHAIN_KIND, c.FUNCTION, c.KEY, col.START, "order", nulls_last=True)
        .group_by(c.CHAIN_KIND, c.FUNCTION, c.KEY, maintain_order=True)
        .agg(
            pl.col(ERROR)
            .filter((pl.col(STEP_KIND) == "attempt") & pl.col(ERROR).is_not_null())
            .alias(ERRORS),
            pl.struct(STEP_KIND, col.START, col.END, ERROR, col.TRACE_ID).alias(STEPS),
        )
    )


def _head(
    chain_kind: str,
    key: pl.Expr,
    *,
    fate_evidence: pl.Expr | None = None,
    dwell_ms: pl.Expr | None = None,
    first_start: pl.Expr | None = None,
) -> list[pl.Expr]:
    """The columns of a chain head (``_HEAD``); poll chains have no fate evidence and no dwell."""
    return [
        pl.lit(chain_kind).alias(c.CHAIN_KIND),
        key.alias(c.KEY),
        pl.col(c.FUNCTION),
        pl.col(c.TRACE_IDS),
        pl.col(c.ATTEMPTS),
        pl.col(c.OUTCOME),
        pl.col(c.FATE),  # poison messages and stream batches that ended badly; else null
        (pl.lit(None, pl.String) if fate_evidence is None else fate_evidence).alias(
            c.FATE_EVIDENCE
        ),
        (pl.lit(None, pl.Float64) if dwell_ms is None else dwell_ms).alias(c.DWELL_MS),
        (pl.col(c.FIRST_START) if first_start is None else first_start).alias(c.FIRST_START),
        pl.col(c.LAST_END),
    ]


def _step(
    chain_kind: str, step_kind: str, start: pl.Expr, end: pl.Expr, error: pl.Expr | None = None
) -> list[pl.Expr]:
    """The columns of a timeline step (``_STEP``); ``error`` only on attempts."""
    return [
        pl.lit(chain_kind).alias(c.CHAIN_KIND),
        pl.col(c.FUNCTION),
        pl.col(c.KEY),
        pl.lit(step_kind).alias(STEP_KIND),
        start.alias(col.START),
        end.alias(col.END),
        (pl.lit(None, pl.String) if error is None else error).alias(ERROR),
        pl.col(col.TRACE_ID),
    ]


def _delivery_steps(kind: str, deliveries: pl.LazyFrame, heads: pl.LazyFrame) -> pl.LazyFrame:
    """Attempt steps for each delivery and wait steps between consecutive deliveries."""
    rows = (
        deliveries.join(heads, on=[c.FUNCTION, c.KEY], how="semi")
        .sort(c.FUNCTION, c.KEY, col.START, c.INVOCATION, nulls_last=True)
        .with_columns(pl.col(col.END).shift(1).over(c.FUNCTION, c.KEY).alias("previous_end"))
    )
    attempts = rows.select(
        _step(
            kind,
            "attempt",
            pl.col(col.START),
            pl.col(col.END),
            pl.when(pl.col(c.FAILED)).then(pl.col(ERROR)),
        )
    )
    waits = rows.filter(pl.col("previous_end").is_not_null()).select(
        _step(kind, "wait", pl.col("previous_end"), pl.col(col.START))
    )
    return pl.concat([attempts, waits]).select(_STEP)
