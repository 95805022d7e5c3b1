"""Async events: dwell, attempts, retry delays, outcome and fate of each event."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis._expr import error_text, first_per_key, flagged, millis
from tracelens.analysis.async_config import (
    CONFIGURED,
    HAS_TARGET,
    MAX_AGE,
    MAX_RETRY,
    TARGET_DUMPED,
    TARGET_UNCOMPARABLE,
)
from tracelens.analysis.retry_window import (
    FIRST_RETRY_DELAY,
    LATER_RETRY_DELAY,
    RETRY_WINDOW,
    with_retry_policy,
)
from tracelens.model import schema as col
from tracelens.model import vocab
from tracelens.model.side import DEFAULT_MAXIMUM_EVENT_AGE_SECONDS
from tracelens.model.vocab import ASYNC_FATES, ASYNC_OUTCOMES, BAD_OUTCOMES

if TYPE_CHECKING:
    from datetime import datetime


OUTCOMES = ASYNC_OUTCOMES
FATES = ASYNC_FATES
#: How a fate is known (report-contract amendment "Fate evidence"): ``dump`` = the request id
#: was checked against a comparable dump of the target, ``config`` = the config alone names a
#: target (or none), ``none`` = neither (no config, or only a dump without request ids).
FATE_EVIDENCE = vocab.FATE_EVIDENCE


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
        dumped_ids: Request ids found in the comparable DLQ / destination dumps
            (``comparable_request_ids``).
        data_end: When the data ends (whole input).

    Returns:
        ``(events, units)``: one row per event, and one row per attempt (``async_units``).
        Event columns: request, function, trace_id, enqueued, dwell_start, dwell_end,
        dwell_ms, attempts, max_retry (from the config, else inferred from the data),
        outcome, fate, fate_evidence, last_end.
    """
    # Materialised once: both the units and the final rows read these events, and a shared
    # lazy sub-plan would be computed twice.
    events = _candidate_events(requests, entities, services, attempts).collect().lazy()
    units = async_units(events, attempts, invocations).collect().lazy()
    # Materialised: the retry policy reads it three times (per function, throttles, rows).
    joined = _with_units_and_config(events, _per_event(units), config).collect().lazy()
    end = None if data_end is None else pl.lit(data_end, dtype=col.TIME)
    joined = with_retry_policy(joined, units, invocations, end)
    outcome = _outcome(end)
    fate, evidence = _fate_and_evidence(dumped_ids)
    result = (
        joined.with_columns(outcome.alias(c.OUTCOME))
        .with_columns(fate.alias(c.FATE), evidence.alias(c.FATE_EVIDENCE))
        .select(*_event_columns())
    )
    return result, units


def _candidate_events(
    requests: pl.LazyFrame,
    entities: pl.LazyFrame,
    services: pl.LazyFrame,
    attempts: pl.LazyFrame,
) -> pl.LazyFrame:
    """Requests that are async events (a dwell, an attempt or HTTP 202), with their dwell."""
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
    return (
        requests.join(dwell, on=c.REQUEST, how="left")
        .join(attempt_keys, on=c.REQUEST, how="left")
        .filter(
            pl.col(c.DWELL_START).is_not_null()
            | pl.col("has_attempt").fill_null(False)
            | (pl.col(col.HTTP_STATUS) == 202)
        )
    )


def _per_event(units: pl.LazyFrame) -> pl.LazyFrame:
    """Per event: attempts, first attempt start, last attempt failed, any open, last end."""
    # Most events have one attempt: only events with several go through the group_by.
    repeated = pl.col(c.REQUEST).is_duplicated()
    return pl.concat(
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


def _with_units_and_config(
    events: pl.LazyFrame, per_event: pl.LazyFrame, config: pl.DataFrame
) -> pl.LazyFrame:
    """Events with their attempts summary and their function's config (defaults filled)."""
    return (
        events.join(per_event, on=c.REQUEST, how="left")
        .join(config.lazy(), on=c.FUNCTION, how="left")
        .with_columns(
            pl.col(c.ATTEMPTS).fill_null(0),
            pl.col(MAX_AGE).fill_null(DEFAULT_MAXIMUM_EVENT_AGE_SECONDS),
            pl.col(CONFIGURED).fill_null(False),
            pl.col(HAS_TARGET).fill_null(False),
            pl.col(TARGET_DUMPED).fill_null(False),
            pl.col(TARGET_UNCOMPARABLE).fill_null(False),
            pl.col("last_failed").fill_null(False),
            pl.col("units_open").fill_null(False),
        )
        # A ``Dwell Time`` that X-Ray left in progress on an event whose attempts all completed
        # (seen in real traces) does not keep the event open: its dwell is unknown and falls
        # back to first attempt start - service segment start.
        .with_columns(
            stale_dwell=pl.col("dwell_open").fill_null(False)
            & (pl.col(c.ATTEMPTS) > 0)
            & ~pl.col("units_open")
        )
        .with_columns(
            *(
                pl.when(pl.col("stale_dwell")).then(None).otherwise(pl.col(name)).alias(name)
                for name in (c.DWELL_START, c.DWELL_END)
            ),
            (pl.col("dwell_open").fill_null(False) & ~pl.col("stale_dwell")).alias("dwell_open"),
        )
    )


def _open() -> pl.Expr:
    """The event is still open: its service segment, an attempt or its dwell."""
    return pl.col(col.IN_PROGRESS).fill_null(False) | pl.col("units_open") | pl.col("dwell_open")


def _outcome(end: pl.Expr | None) -> pl.Expr:
    """The event's outcome (``OUTCOMES``), given when the data ends (None: unknown)."""
    next_delay = (
        pl.when(pl.col(c.ATTEMPTS) == 1).then(FIRST_RETRY_DELAY).otherwise(LATER_RETRY_DELAY)
    )
    age_limit = pl.col(col.START) + pl.duration(seconds=pl.col(MAX_AGE))
    retry_too_late = age_limit < pl.col("units_end") + next_delay
    if end is None:
        # Nothing tells when the data ends: whatever could still continue is in progress.
        in_window = pl.lit(True)
        throttled_wait = pl.lit(True)
        expired = pl.lit(False)
        left_queue = pl.lit(False)
    else:
        in_window = pl.col("units_end").is_null() | (end <= pl.col("units_end") + RETRY_WINDOW)
        throttled_wait = pl.col("throttled_at_end") & (end <= age_limit)
        expired = end > age_limit
        # A ``Dwell Time`` that ended with no attempt after it: the event left Lambda's queue
        # without running (its age limit passed, or reserved concurrency is 0).
        left_queue = pl.col(c.DWELL_END).is_not_null() & (end > pl.col(c.DWELL_END) + RETRY_WINDOW)
    return (
        pl.when(_open())
        .then(pl.lit("in_progress"))
        .when((pl.col(c.ATTEMPTS) > 0) & ~pl.col("last_failed"))
        .then(
            pl.when(pl.col(c.ATTEMPTS) == 1)
            .then(pl.lit("succeeded"))
            .otherwise(pl.lit("succeeded_after_retry"))
        )
        .when(pl.col(c.ATTEMPTS) == 0)
        .then(
            pl.when(expired | left_queue)
            .then(pl.lit("event_age_exceeded"))
            .otherwise(pl.lit("in_progress"))
        )
        # The last attempt failed.
        .when(pl.col(c.ATTEMPTS) >= pl.col(MAX_RETRY) + 1)
        .then(pl.lit("retries_exhausted"))
        # Inside the retry window, unless the age limit passed before the retry was due.
        .when((in_window & ~(expired & retry_too_late)) | throttled_wait)
        .then(pl.lit("in_progress"))
        # The data went on past the retry window and no retry came: the event ended, by its
        # age if that ran out before the next retry was due.
        .when(retry_too_late)
        .then(pl.lit("event_age_exceeded"))
        .otherwise(pl.lit("retries_exhausted"))
    )


def _fate_and_evidence(dumped_ids: frozenset[str]) -> tuple[pl.Expr, pl.Expr]:
    """The fate (``FATES``) of an event that ended badly and what it rests on."""
    # Fate (report-contract "fate"): a request id found in a comparable dump was sent;
    # otherwise the config decides: no target -> dropped, a comparable dump of a target
    # supplied -> missing, a target but no dump of it -> assumed sent; no config for the
    # function -> unknown. ``fate_evidence`` says which of these the fate rests on.
    bad = pl.col(c.OUTCOME).is_in(BAD_OUTCOMES)
    in_dump = pl.col(c.REQUEST).is_in(pl.Series(sorted(dumped_ids), dtype=pl.String).implode())
    fate = (
        pl.when(~bad)
        .then(pl.lit(None, pl.String))
        .when(in_dump)
        .then(pl.lit("sent"))
        .when(~pl.col(CONFIGURED))
        .then(pl.lit("unknown"))
        .when(~pl.col(HAS_TARGET))
        .then(pl.lit("dropped"))
        .when(pl.col(TARGET_DUMPED))
        .then(pl.lit("missing"))
        .otherwise(pl.lit("sent"))
    )
    evidence = (
        pl.when(~bad)
        .then(pl.lit(None, pl.String))
        .when(in_dump | (pl.col(CONFIGURED) & pl.col(HAS_TARGET) & pl.col(TARGET_DUMPED)))
        .then(pl.lit("dump"))
        .when(~pl.col(CONFIGURED))
        .then(pl.lit("none"))
        # The only dump of its target has no request ids: the config's word was not checked.
        .when(pl.col(HAS_TARGET) & pl.col(TARGET_UNCOMPARABLE))
        .then(pl.lit("none"))
        .otherwise(pl.lit("config"))
    )
    return fate, evidence


def _event_columns() -> list[pl.Expr | str]:
    """The columns of an event row (see ``async_events``)."""
    return [
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
        pl.col(MAX_RETRY),
        c.OUTCOME,
        c.FATE,
        c.FATE_EVIDENCE,
        pl.when(_open()).then(None).otherwise(pl.col("units_end")).alias(c.LAST_END),
    ]
