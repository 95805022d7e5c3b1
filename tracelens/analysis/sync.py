"""Synchronous requests: logical calls, client retries, duplicate executions, unreached Lambda.

A caller's SDK records one subsegment per Invoke call and sends every retry of that call
(after a 429, a 5xx or a read timeout) as a new Lambda request whose service segment has
that subsegment as its parent. So the sync requests that share a trace and a parent are one
logical call (definition D4): its extra requests are client retries, and a call whose
function ran more than once (a legacy SDK re-invoking after a read timeout while the first
run went on) is a duplicate execution.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.functions import MODE
from tracelens.model import schema as col

#: Name X-Ray gives an inferred segment built from an AWS SDK ``Lambda`` subsegment.
#: Lambda API operations that run a function (botocore's lambda model).
INVOKE_OPERATIONS = col.INVOKE_OPERATIONS
_GENERIC_NAME = "Lambda"
#: Stands for "still open" when comparing end times.
_OPEN_END = datetime(9999, 1, 1, tzinfo=UTC)
#: The keys of one logical call.
CALL_KEY = (c.FUNCTION, col.TRACE_ID, col.PARENT_ID)
TRIES = "tries"  # requests made for one logical call
EXECUTIONS = "executions"  # function segments (not throttled) under a request or call
REQUESTS = "requests"  # sorted request ids of one logical call


@dataclass(frozen=True, slots=True)
class SyncTotals:
    """The report's ``sync`` section (definition D3)."""

    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    throttled: int = 0
    client_retries: int = 0
    duplicate_executions: int = 0


@dataclass(frozen=True, slots=True)
class SyncFrames:
    """What the sync findings read."""

    requests: pl.DataFrame  # sync_requests
    calls: pl.DataFrame  # logical_calls
    not_reached: pl.DataFrame  # lambda_not_reached


def sync_requests(
    requests: pl.LazyFrame,
    modes: pl.LazyFrame,
    outcomes: pl.LazyFrame,
    invocations: pl.LazyFrame,
) -> pl.LazyFrame:
    """One row per sync request (mode ``sync``) with its call key, flags and executions.

    Args:
        requests: Requests (filtered), with ``parent_id``.
        modes: ``functions.request_modes`` output.
        outcomes: ``requests.request_outcomes`` output.
        invocations: Invocations with their request.

    Returns:
        Columns request, function, trace_id, parent_id, start, throttled, failed,
        executions (function segments under the request that were not throttled).
    """
    ran = (
        invocations.filter(pl.col(c.REQUEST).is_not_null() & ~pl.col(col.THROTTLE).fill_null(False))
        .group_by(c.REQUEST)
        .agg(pl.len().cast(pl.Int64).alias(EXECUTIONS))
    )
    sync = modes.filter(pl.col(MODE) == "sync").select(c.REQUEST)
    return (
        requests.select(c.REQUEST, c.FUNCTION, col.TRACE_ID, col.PARENT_ID, col.START)
        .join(sync, on=c.REQUEST, how="semi")
        .join(outcomes.select(c.REQUEST, c.THROTTLED, c.FAILED), on=c.REQUEST, how="left")
        .join(ran, on=c.REQUEST, how="left")
        .with_columns(
            pl.col(c.THROTTLED).fill_null(False),
            pl.col(c.FAILED).fill_null(False),
            pl.col(EXECUTIONS).fill_null(0),
        )
    )


def logical_calls(requests: pl.LazyFrame) -> pl.LazyFrame:
    """Sync requests grouped into logical calls by (function, trace_id, parent_id).

    Args:
        requests: ``sync_requests`` output.

    Returns:
        One row per call: function, trace_id, parent_id, tries, executions and requests (the
        request ids, sorted), sorted by function, trace_id and parent_id.
    """
    return (
        requests.group_by(*CALL_KEY)
        .agg(
            pl.len().cast(pl.Int64).alias(TRIES),
            pl.col(EXECUTIONS).sum().cast(pl.Int64),
            pl.col(c.REQUEST).sort().alias(REQUESTS),
        )
        .sort(*CALL_KEY)
    )


def totals(requests: pl.DataFrame, calls: pl.DataFrame) -> SyncTotals:
    """The ``sync`` section from ``sync_requests`` and ``logical_calls`` (eager)."""
    if requests.is_empty():
        return SyncTotals()
    row = requests.select(
        pl.len().alias("requests"),
        pl.col(c.FAILED).sum().alias("failed"),
        pl.col(c.THROTTLED).sum().alias("throttled"),
    ).row(0, named=True)
    n, failed = int(row["requests"]), int(row["failed"])
    retries = calls.select((pl.col(TRIES) - 1).sum()).item()
    duplicates = calls.filter(pl.col(EXECUTIONS) > 1).height
    return SyncTotals(
        requests=n,
        succeeded=n - failed,
        failed=failed,
        throttled=int(row["throttled"]),
        client_retries=int(retries or 0),
        duplicate_executions=duplicates,
    )


def not_reached_candidates(entities: pl.LazyFrame, services: pl.LazyFrame) -> pl.LazyFrame:
    """Failed calls to Lambda that no Lambda request of their own trace answered, with their
    caller; ``lambda_not_reached`` drops those a request of any trace answered.

    An inferred ``AWS::Lambda`` segment (X-Ray builds it from the caller's subsegment) with
    fault, error, throttle or a status of 400 or more, and no service segment with the same
    parent (the caller's subsegment): Lambda may never have recorded a request for the call
    (e.g. API Gateway's 500 when the invoke was refused).

    The caller's subsegment is not kept by ingest, so the caller is the innermost top-level
    segment or function segment of the same trace whose span contains the call's start; when
    the containing documents are not nested in each other (parallel work), or none contains
    it, the caller is null (unidentified) rather than a guess.

    Args:
        entities: The entity rows of a whole number of traces.
        services: Their service segment rows with their request key.

    Returns:
        Columns id, trace_id, start, function (the called function when X-Ray named the
        inferred segment after it, else null), caller and request_id.
    """
    flagged = (
        pl.col(col.ERROR).fill_null(False)
        | pl.col(col.FAULT).fill_null(False)
        | pl.col(col.THROTTLE).fill_null(False)
        | (pl.col(col.HTTP_STATUS) >= 400).fill_null(False)
    )
    # X-Ray infers an AWS::Lambda segment for every Lambda API call (GetFunction, ...): only
    # an invoke (or a call whose operation was not recorded) asked Lambda to run a function.
    invoke = pl.col(col.OPERATION).cast(pl.String)
    inferred = entities.filter(
        (pl.col(col.KIND) == col.KIND_INFERRED)
        & (pl.col(col.ORIGIN).cast(pl.String) == "AWS::Lambda")
        & (invoke.is_null() | invoke.is_in(INVOKE_OPERATIONS))
        & flagged
    ).select(col.ID, col.TRACE_ID, col.PARENT_ID, col.NAME, col.START, col.REQUEST_ID)
    answered = services.filter(pl.col(col.PARENT_ID).is_not_null()).select(
        col.TRACE_ID, col.PARENT_ID
    )
    unanswered = inferred.join(answered, on=[col.TRACE_ID, col.PARENT_ID], how="anti")
    candidates = entities.filter(
        pl.col(col.TOP) & pl.col(col.KIND).is_in([col.KIND_SEGMENT, col.KIND_FUNCTION])
    ).select(
        col.TRACE_ID,
        pl.col(col.NAME).cast(pl.String).alias(c.CALLER),
        pl.col(col.START).alias("caller_start"),
        pl.col(col.END).fill_null(pl.lit(_OPEN_END, dtype=col.TIME)).alias("caller_end"),
    )
    start = pl.col("caller_start")
    innermost = start == start.max()
    inner_end = pl.col("caller_end").filter(innermost).min()
    callers = (
        unanswered.select(col.ID, col.TRACE_ID, col.START)
        .join(candidates, on=col.TRACE_ID, how="inner")
        .filter((start <= pl.col(col.START)) & (pl.col("caller_end") >= pl.col(col.START)))
        .group_by(col.ID)
        .agg(
            pl.when((innermost.sum() == 1) & (pl.col("caller_end") >= inner_end).all())
            .then(pl.col(c.CALLER).filter(innermost).first())
            .alias(c.CALLER)
        )
    )
    name = pl.col(col.NAME).cast(pl.String)
    return unanswered.join(callers, on=col.ID, how="left").select(
        col.ID,
        col.TRACE_ID,
        col.START,
        pl.when(name != _GENERIC_NAME).then(name).alias(c.FUNCTION),
        c.CALLER,
        col.REQUEST_ID,
    )


def lambda_not_reached(candidates: pl.LazyFrame, services: pl.LazyFrame) -> pl.LazyFrame:
    """Failed calls to Lambda that no Lambda request answered (D3 "Lambda not reached").

    Args:
        candidates: ``not_reached_candidates`` of every partition.
        services: Service segment rows of every partition, with their request key.

    Returns:
        The candidates no request answered by request id either, without ``request_id``,
        sorted by trace id, start and id.
    """
    return (
        candidates.join(
            services.select(pl.col(c.REQUEST).alias(col.REQUEST_ID)), on=col.REQUEST_ID, how="anti"
        )
        .drop(col.REQUEST_ID)
        .sort(pl.col(col.TRACE_ID).cast(pl.String), col.START, col.ID)
    )
