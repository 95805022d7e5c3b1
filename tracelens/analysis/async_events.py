"""Async events: dwell, attempts, retry delays, outcome and fate of each event."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import _columns as c
from tracelens.analysis._expr import error_text, first_per_key, flagged, millis
from tracelens.model import schema as col
from tracelens.model.side import (
    DEFAULT_MAXIMUM_EVENT_AGE_SECONDS,
    DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
)

if TYPE_CHECKING:
    from datetime import datetime

    from tracelens.model.side import SideInputs

OUTCOMES = (
    "succeeded",
    "succeeded_after_retry",
    "retries_exhausted",
    "event_age_exceeded",
    "in_progress",
)
FATES = ("sent", "missing", "dropped", "unknown")
BAD_OUTCOMES = ("retries_exhausted", "event_age_exceeded")

_CONFIGURED = "configured"
_MAX_RETRY = "max_retry"
_MAX_AGE = "max_age_s"
_HAS_TARGET = "has_target"
_TARGET_DUMPED = "target_dumped"


def config_frame(side: SideInputs) -> pl.DataFrame:
    """One row per configured function: retry policy and failure targets.

    ``target_dumped`` is true when a dump of one of its targets was supplied (a dump belongs
    to the target whose ARN equals its ``QueueArn``).
    """
    dumped = {d.queue_arn for d in side.dumps if d.queue_arn}
    rows = [
        {
            c.FUNCTION: name,
            _CONFIGURED: True,
            _MAX_RETRY: cfg.maximum_retry_attempts,
            _MAX_AGE: cfg.maximum_event_age_seconds,
            _HAS_TARGET: bool(cfg.failure_targets),
            _TARGET_DUMPED: any(t in dumped for t in cfg.failure_targets),
        }
        for name, cfg in sorted(side.functions.items())
    ]
    return pl.DataFrame(
        rows,
        schema={
            c.FUNCTION: col.ENTITIES[col.NAME],  # joined with names read from the traces
            _CONFIGURED: pl.Boolean,
            _MAX_RETRY: pl.Int64,
            _MAX_AGE: pl.Int64,
            _HAS_TARGET: pl.Boolean,
            _TARGET_DUMPED: pl.Boolean,
        },
    )


def async_units(
    events: pl.LazyFrame, attempts: pl.LazyFrame, invocations: pl.LazyFrame
) -> pl.LazyFrame:
    """The attempts of each async event, one row per attempt.

    An event's attempts are its distinct ``Attempt #N`` subsegments; without any, its
    invocations in start order (report-contract "Async event"). Columns: request, n, start,
    end, in_progress, failed, throttle, error (text when failed), trace_id, invocation.
    """
    keys = events.select(c.REQUEST)
    with_n = invocations.filter(pl.col(c.N).is_not_null())
    repeated = pl.struct(c.REQUEST, c.N).is_duplicated()
    per_attempt = pl.concat(
        [
            # One invocation per attempt (the usual case) needs no aggregation.
            with_n.filter(~repeated).select(
                c.REQUEST,
                c.N,
                pl.col(c.FAILED).alias("inv_failed"),
                pl.col(col.THROTTLE).alias("inv_throttle"),
                pl.col(col.FAULT).alias("inv_fault"),
                pl.col(col.CAUSE).alias("inv_cause"),
                pl.col(col.IN_PROGRESS).alias("inv_open"),
                c.INVOCATION,
            ),
            with_n.filter(repeated)
            .sort(col.START, c.INVOCATION, nulls_last=True)
            .group_by(c.REQUEST, c.N)
            .agg(
                pl.col(c.FAILED).any().alias("inv_failed"),
                pl.col(col.THROTTLE).any().alias("inv_throttle"),
                pl.col(col.FAULT).any().alias("inv_fault"),
                pl.col(col.CAUSE).drop_nulls().first().alias("inv_cause"),
                pl.col(col.IN_PROGRESS).any().alias("inv_open"),
                pl.col(c.INVOCATION).first(),
            ),
        ]
    )
    from_attempts = (
        first_per_key(
            attempts.join(keys, on=c.REQUEST, how="semi"),
            [c.REQUEST, col.ATTEMPT],
            [col.IN_PROGRESS, col.START, col.ID],
        )
        .rename({col.ATTEMPT: c.N})
        .join(per_attempt, on=[c.REQUEST, c.N], how="left")
        .select(
            c.REQUEST,
            c.N,
            col.START,
            col.END,
            (pl.col(col.IN_PROGRESS) | pl.col("inv_open").fill_null(False)).alias(col.IN_PROGRESS),
            (flagged() | pl.col("inv_failed").fill_null(False)).alias(c.FAILED),
            (pl.col(col.THROTTLE) | pl.col("inv_throttle").fill_null(False)).alias(col.THROTTLE),
            error_text(
                pl.coalesce(col.CAUSE, "inv_cause"),
                pl.col(col.THROTTLE) | pl.col("inv_throttle").fill_null(False),
                pl.col(col.FAULT) | pl.col("inv_fault").fill_null(False),
            ).alias("error"),
            col.TRACE_ID,
            c.INVOCATION,
        )
    )
    # An event has attempt rows in ``from_attempts`` exactly when ``attempts`` has a row for
    # it (both are restricted to ``keys``), so the anti join reads ``attempts`` directly and
    # does not evaluate ``from_attempts`` a second time.
    from_invocations = (
        invocations.join(keys, on=c.REQUEST, how="semi")
        .join(attempts.select(c.REQUEST), on=c.REQUEST, how="anti")
        .sort(c.REQUEST, col.START, c.INVOCATION, nulls_last=True)
        .select(
            c.REQUEST,
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(c.REQUEST).alias(c.N),
            col.START,
            col.END,
            col.IN_PROGRESS,
            c.FAILED,
            col.THROTTLE,
            error_text(pl.col(col.CAUSE), pl.col(col.THROTTLE), pl.col(col.FAULT)).alias("error"),
            col.TRACE_ID,
            c.INVOCATION,
        )
    )
    return (
        pl.concat([from_attempts, from_invocations])
        .with_columns(pl.when(pl.col(c.FAILED)).then(pl.col("error")).alias("error"))
        .sort(c.REQUEST, c.N)
    )


def async_events(
    requests: pl.LazyFrame,
    entities: pl.LazyFrame,
    services: pl.LazyFrame,
    attempts: pl.LazyFrame,
    invocations: pl.LazyFrame,
    *,
    config: pl.DataFrame,
    dumped_ids: frozenset[str],
    data_end: datetime | None,
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Async events with dwell, attempts, outcome and fate, and their attempt rows.

    Args:
        requests: Requests (see ``requests.requests``), already filtered.
        entities: All entity rows.
        services: Service segment rows with their request key.
        attempts: Attempt rows with their request key.
        invocations: Invocations with their request key.
        config: ``config_frame`` of the side inputs.
        dumped_ids: Request ids found in any supplied DLQ / destination dump.
        data_end: When the data ends (whole input).

    Returns:
        ``(events, units)``: one row per event, and one row per attempt (``async_units``).
    """
    owner = services.select(pl.col(col.ID).alias(col.DOC_ID), c.REQUEST)
    dwell = first_per_key(
        entities.filter(pl.col(col.KIND) == col.KIND_DWELL).join(owner, on=col.DOC_ID, how="inner"),
        [c.REQUEST],
        [col.IN_PROGRESS, col.START, col.ID],
    ).select(
        c.REQUEST,
        pl.col(col.START).alias(c.DWELL_START),
        pl.col(col.END).alias(c.DWELL_END),
        pl.col(col.IN_PROGRESS).alias("dwell_open"),
    )
    attempt_keys = attempts.select(c.REQUEST).unique().with_columns(has_attempt=pl.lit(True))
    events = (
        requests.join(dwell, on=c.REQUEST, how="left")
        .join(attempt_keys, on=c.REQUEST, how="left")
        .filter(
            pl.col(c.DWELL_START).is_not_null()
            | pl.col("has_attempt").fill_null(False)
            | (pl.col(col.HTTP_STATUS) == 202)
        )
    )
    # Materialised once: both the units and the final rows read these events, and a shared
    # lazy sub-plan would be computed twice.
    events = events.collect().lazy()
    units = async_units(events, attempts, invocations).collect().lazy()
    # Most events have one attempt: only events with several go through the group_by.
    repeated = pl.col(c.REQUEST).is_duplicated()
    per_event = pl.concat(
        [
            units.filter(~repeated).select(
                c.REQUEST,
                pl.lit(1, pl.Int64).alias(c.ATTEMPTS),
                pl.col(col.START).alias("first_attempt"),
                pl.col(c.FAILED).alias("last_failed"),
                pl.col(col.IN_PROGRESS).alias("units_open"),
                pl.col(col.END).alias("units_end"),
            ),
            units.filter(repeated)
            .sort(c.REQUEST, col.START, c.N, nulls_last=True)
            .group_by(c.REQUEST)
            .agg(
                pl.len().cast(pl.Int64).alias(c.ATTEMPTS),
                pl.col(col.START).min().alias("first_attempt"),
                pl.col(c.FAILED).last().alias("last_failed"),
                pl.col(col.IN_PROGRESS).any().alias("units_open"),
                pl.col(col.END).max().alias("units_end"),
            ),
        ]
    )
    expired = _expired(data_end)
    allowed = pl.col(_MAX_RETRY) + 1
    joined = (
        events.join(per_event, on=c.REQUEST, how="left")
        .join(config.lazy(), on=c.FUNCTION, how="left")
        .with_columns(
            pl.col(c.ATTEMPTS).fill_null(0),
            pl.col(_MAX_RETRY).fill_null(DEFAULT_MAXIMUM_RETRY_ATTEMPTS),
            pl.col(_MAX_AGE).fill_null(DEFAULT_MAXIMUM_EVENT_AGE_SECONDS),
            pl.col(_CONFIGURED).fill_null(False),
            pl.col(_HAS_TARGET).fill_null(False),
            pl.col(_TARGET_DUMPED).fill_null(False),
        )
    )
    open_ = (
        pl.col(col.IN_PROGRESS).fill_null(False)
        | pl.col("units_open").fill_null(False)
        | pl.col("dwell_open").fill_null(False)
    )
    outcome = (
        pl.when(open_)
        .then(pl.lit("in_progress"))
        .when((pl.col(c.ATTEMPTS) > 0) & ~pl.col("last_failed").fill_null(False))
        .then(
            pl.when(pl.col(c.ATTEMPTS) == 1)
            .then(pl.lit("succeeded"))
            .otherwise(pl.lit("succeeded_after_retry"))
        )
        .when(pl.col(c.ATTEMPTS) >= allowed)
        .then(pl.lit("retries_exhausted"))
        .when(expired)
        .then(pl.lit("event_age_exceeded"))
        .otherwise(pl.lit("in_progress"))
    )
    # Fate (report-contract "fate"): a request id found in any dump was sent; otherwise the
    # config decides: no target -> dropped, a dump of a target supplied -> missing, a target
    # but no dump of it -> assumed sent; no config for the function -> unknown.
    fate = (
        pl.when(~pl.col(c.OUTCOME).is_in(BAD_OUTCOMES))
        .then(pl.lit(None, pl.String))
        .when(pl.col(c.REQUEST).is_in(pl.Series(sorted(dumped_ids), dtype=pl.String).implode()))
        .then(pl.lit("sent"))
        .when(~pl.col(_CONFIGURED))
        .then(pl.lit("unknown"))
        .when(~pl.col(_HAS_TARGET))
        .then(pl.lit("dropped"))
        .when(pl.col(_TARGET_DUMPED))
        .then(pl.lit("missing"))
        .otherwise(pl.lit("sent"))
    )
    result = joined.with_columns(outcome.alias(c.OUTCOME)).select(
        c.REQUEST,
        c.FUNCTION,
        col.TRACE_ID,
        pl.col(col.START).alias(c.ENQUEUED),
        c.DWELL_START,
        c.DWELL_END,
        pl.coalesce(
            millis(pl.col(c.DWELL_START), pl.col(c.DWELL_END)),
            pl.when(pl.col(c.DWELL_START).is_null()).then(
                millis(pl.col(col.START), pl.col("first_attempt"))
            ),
        ).alias(c.DWELL_MS),
        c.ATTEMPTS,
        pl.col(_MAX_RETRY),
        c.OUTCOME,
        fate.alias(c.FATE),
        pl.when(open_).then(None).otherwise(pl.col("units_end")).alias(c.LAST_END),
    )
    return result, units


def _expired(data_end: datetime | None) -> pl.Expr:
    """The data runs past the event's enqueue time + MaximumEventAgeInSeconds."""
    if data_end is None:
        return pl.lit(False)
    age = pl.duration(seconds=pl.col(_MAX_AGE))
    return pl.lit(data_end, dtype=col.TIME) > (pl.col(col.START) + age)


def retry_delays(units: pl.LazyFrame, events: pl.LazyFrame) -> pl.LazyFrame:
    """Retry delays: start of attempt N+1 minus end of attempt N, one row per retry."""
    ordered = units.sort(c.REQUEST, c.N)
    # After the sort, the previous attempt of the same event is the previous row: a plain
    # shift compared on the key is much cheaper than a window over a string key.
    same_event = pl.col(c.REQUEST) == pl.col(c.REQUEST).shift(1)
    return (
        ordered.with_columns(
            pl.when(same_event).then(pl.col(col.END).shift(1)).alias("previous_end"),
        )
        .filter(pl.col("previous_end").is_not_null())
        .join(events.select(c.REQUEST, c.FUNCTION), on=c.REQUEST, how="inner")
        .select(
            c.FUNCTION,
            c.REQUEST,
            c.N,
            pl.col("previous_end").alias("wait_start"),
            pl.col(col.START).alias("wait_end"),
            col.TRACE_ID,
            millis(pl.col("previous_end"), pl.col(col.START)).alias(c.DELAY_MS),
        )
    )
