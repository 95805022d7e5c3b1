"""Lambda requests: one per non-inferred AWS::Lambda service segment request id."""

from __future__ import annotations

import polars as pl

from tracelens.analysis import columns as c
from tracelens.model import schema as col
from tracelens.model.vocab import BAD_OUTCOMES

_FLAGS = (col.ERROR, col.FAULT, col.THROTTLE)

#: The service segment columns later analyses read (the rest is never materialised).
SERVICE_COLUMNS = (
    col.ID,
    col.TRACE_ID,
    col.PARENT_ID,
    col.NAME,
    col.ARN,
    col.START,
    col.END,
    col.IN_PROGRESS,
    col.HTTP_STATUS,
    col.ERROR,
    col.FAULT,
    col.THROTTLE,
)


def service_segments(entities: pl.LazyFrame) -> pl.LazyFrame:
    """Service segment rows with their request key (``aws.request_id``, else the segment id).

    Only ``SERVICE_COLUMNS`` and ``request`` are kept.
    """
    return entities.filter(pl.col(col.KIND) == col.KIND_SERVICE).select(
        *SERVICE_COLUMNS, pl.coalesce(col.REQUEST_ID, col.ID).alias(c.REQUEST)
    )


def requests(services: pl.LazyFrame) -> pl.LazyFrame:
    """One row per Lambda request.

    Several documents with the same request id (revisions, split files) are one request
    (report-contract "Lambda request"). Columns: request, function, arn, trace_id (of the
    earliest segment), start, end, in_progress, http_status, traced_caller, parent_id (the
    caller's subsegment, of the earliest segment that has one), and error / fault / throttle
    (set on any of its service segments).
    """
    # Almost every request has one service segment: those skip the (high-cardinality,
    # costly) group_by and only the repeated ones are aggregated.
    repeated = pl.col(c.REQUEST).is_duplicated()
    single = services.filter(~repeated).select(
        c.REQUEST,
        pl.col(col.NAME).alias(c.FUNCTION),
        col.ARN,
        col.TRACE_ID,
        col.START,
        col.END,
        col.IN_PROGRESS,
        col.HTTP_STATUS,
        pl.col(col.PARENT_ID).is_not_null().alias(c.TRACED_CALLER),
        col.PARENT_ID,
        *[pl.col(f).fill_null(False) for f in _FLAGS],
    )
    multi = (
        services.filter(repeated)
        .sort(col.START, col.ID, nulls_last=True)
        .group_by(c.REQUEST)
        .agg(
            pl.col(col.NAME).first().alias(c.FUNCTION),
            pl.col(col.ARN).drop_nulls().first().alias(col.ARN),
            pl.col(col.TRACE_ID).first().alias(col.TRACE_ID),
            pl.col(col.START).min().alias(col.START),
            pl.col(col.END).max().alias(col.END),
            pl.col(col.IN_PROGRESS).any().alias(col.IN_PROGRESS),
            pl.col(col.HTTP_STATUS).max().alias(col.HTTP_STATUS),
            pl.col(col.PARENT_ID).is_not_null().any().alias(c.TRACED_CALLER),
            pl.col(col.PARENT_ID).drop_nulls().first().alias(col.PARENT_ID),
            *[pl.col(f).fill_null(False).any().alias(f) for f in _FLAGS],
        )
    )
    return pl.concat([single, multi])


def request_outcomes(
    requests: pl.LazyFrame,
    attempts: pl.LazyFrame,
    invocations: pl.LazyFrame,
    events: pl.LazyFrame,
) -> pl.LazyFrame:
    """Whether each request was throttled and whether it failed (one row per request).

    Throttled (definition D1): the service segment has ``throttle`` or status 429, or an
    ``Attempt #N``, a function segment or its ``Invocation`` subsegment has ``throttle``.
    Failed (D2): the service segment is throttled or has fault / error or a status of 400
    or more; or, for an async event, its outcome is ``retries_exhausted`` or
    ``event_age_exceeded`` (a throttled attempt that a later retry made good does not fail
    it); or, for any other request, it is throttled or its last invocation (latest start)
    failed.

    Args:
        requests: ``requests`` output (with the service segment flags).
        attempts: ``Attempt #N`` rows with their request.
        invocations: Invocations with their request (``failed``, ``throttle``).
        events: Async events (``request``, ``outcome``).

    Returns:
        Columns request, function, throttled, failed.
    """
    throttled_attempts = (
        attempts.filter(pl.col(col.THROTTLE).fill_null(False))
        .select(c.REQUEST)
        .unique()
        .with_columns(attempt_throttled=pl.lit(True))
    )
    keyed = invocations.filter(pl.col(c.REQUEST).is_not_null())
    per_request = keyed.group_by(c.REQUEST).agg(
        pl.col(col.THROTTLE).fill_null(False).any().alias("invocation_throttled"),
        pl.col(c.FAILED)
        .sort_by([col.START, c.INVOCATION], nulls_last=[False, False])
        .last()
        .alias("last_failed"),
    )
    outcomes = events.select(
        c.REQUEST,
        pl.col(c.OUTCOME).is_in(BAD_OUTCOMES).alias("event_failed"),
    )
    throttled = (
        pl.col(col.THROTTLE)
        | (pl.col(col.HTTP_STATUS) == 429).fill_null(False)
        | pl.col("attempt_throttled").fill_null(False)
        | pl.col("invocation_throttled").fill_null(False)
    )
    service_failed = (
        pl.col(col.ERROR) | pl.col(col.FAULT) | (pl.col(col.HTTP_STATUS) >= 400).fill_null(False)
    )
    service_throttled = pl.col(col.THROTTLE) | (pl.col(col.HTTP_STATUS) == 429).fill_null(False)
    # An async event's outcome decides whether it failed: a throttled attempt that Lambda
    # retried with success did not fail the request (its Invoke call was accepted, 202).
    others_failed = pl.col(c.THROTTLED) | pl.col("last_failed").fill_null(False)
    failed = (
        service_throttled
        | service_failed
        | pl.when(pl.col("event_failed").is_not_null())
        .then(pl.col("event_failed"))
        .otherwise(others_failed)
    )
    return (
        requests.select(c.REQUEST, c.FUNCTION, col.HTTP_STATUS, *_FLAGS)
        .join(throttled_attempts, on=c.REQUEST, how="left")
        .join(per_request, on=c.REQUEST, how="left")
        .join(outcomes, on=c.REQUEST, how="left")
        .with_columns(throttled.alias(c.THROTTLED))
        .select(c.REQUEST, c.FUNCTION, c.THROTTLED, failed.alias(c.FAILED))
    )
