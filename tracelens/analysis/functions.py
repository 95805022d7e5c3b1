"""Per-function summary: requests, invocations, cold starts, failures, modes, durations."""

from __future__ import annotations

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.stats import stat_exprs
from tracelens.model import schema as col
from tracelens.model.vocab import MODES as MODES

MODE = "mode"


def request_modes(
    requests: pl.LazyFrame,
    *,
    async_requests: pl.LazyFrame,
    sqs_requests: pl.LazyFrame,
    stream_requests: pl.LazyFrame,
) -> pl.LazyFrame:
    """The invoke path of each request: async, sqs, stream, sync (traced caller) or unknown."""
    flags = (
        requests.select(c.REQUEST, c.FUNCTION, c.TRACED_CALLER)
        .join(async_requests.unique().with_columns(is_async=pl.lit(True)), on=c.REQUEST, how="left")
        .join(sqs_requests.unique().with_columns(is_sqs=pl.lit(True)), on=c.REQUEST, how="left")
        .join(
            stream_requests.unique().with_columns(is_stream=pl.lit(True)), on=c.REQUEST, how="left"
        )
    )
    return flags.select(
        c.REQUEST,
        c.FUNCTION,
        pl.when(pl.col("is_async").fill_null(False))
        .then(pl.lit("async"))
        .when(pl.col("is_sqs").fill_null(False))
        .then(pl.lit("sqs"))
        .when(pl.col("is_stream").fill_null(False))
        .then(pl.lit("stream"))
        .when(pl.col(c.TRACED_CALLER))
        .then(pl.lit("sync"))
        .otherwise(pl.lit("unknown"))
        .alias(MODE),
    )


def function_summary(
    requests: pl.LazyFrame,
    invocations: pl.LazyFrame,
    modes: pl.LazyFrame,
    outcomes: pl.LazyFrame,
) -> pl.LazyFrame:
    """One row per function name with a Lambda service or function segment, sorted by name.

    Args:
        requests: Requests (filtered).
        invocations: Invocations (filtered).
        modes: ``request_modes`` output (one row per request of ``requests``).
        outcomes: ``requests.request_outcomes`` (one row per request: ``throttled``,
            ``failed``): ``throttles`` counts throttled requests, ``failed_requests`` failed
            ones.
    """
    names = pl.concat([requests.select(c.FUNCTION), invocations.select(c.FUNCTION)]).unique()
    # The ARN of the earliest request (else invocation) that has one, ties to the smallest
    # ARN: narrowed by window minima instead of sorting a million rows on strings.
    source, start = pl.col("source"), pl.col(col.START)
    arns = (
        pl.concat(
            [
                requests.select(c.FUNCTION, col.ARN, col.START, pl.lit(0).alias("source")),
                invocations.select(c.FUNCTION, col.ARN, col.START, pl.lit(1).alias("source")),
            ]
        )
        .filter(pl.col(col.ARN).is_not_null())
        .filter(source == source.min().over(c.FUNCTION))
        .filter(start.eq_missing(start.min().over(c.FUNCTION)))
        .group_by(c.FUNCTION)
        .agg(pl.col(col.ARN).min())
    )
    per_invocation = invocations.group_by(c.FUNCTION).agg(
        pl.len().cast(pl.Int64).alias(c.INVOCATIONS),
        pl.col(c.COLD).sum().cast(pl.Int64).alias(c.COLD_STARTS),
        pl.col(c.FAILED).sum().cast(pl.Int64).alias(c.FAILED_INVOCATIONS),
        *stat_exprs(pl.col(c.DURATION_MS), prefix=c.DURATION_PREFIX),
    )
    per_request = outcomes.group_by(c.FUNCTION).agg(
        pl.col(c.THROTTLED).sum().cast(pl.Int64).alias(c.THROTTLES),
        pl.col(c.FAILED).sum().cast(pl.Int64).alias(c.FAILED_REQUESTS),
    )
    # ``modes`` has exactly one row per request, so it also gives the request counts.
    mode_counts = modes.group_by(c.FUNCTION).agg(
        pl.len().cast(pl.Int64).alias(c.REQUESTS),
        *[(pl.col(MODE) == m).sum().cast(pl.Int64).alias(f"{c.MODE_PREFIX}{m}") for m in MODES],
    )
    counts = [
        c.REQUESTS,
        c.INVOCATIONS,
        c.COLD_STARTS,
        c.FAILED_INVOCATIONS,
        c.FAILED_REQUESTS,
        c.THROTTLES,
    ]
    return (
        names.join(arns, on=c.FUNCTION, how="left")
        .join(per_invocation, on=c.FUNCTION, how="left")
        .join(per_request, on=c.FUNCTION, how="left")
        .join(mode_counts, on=c.FUNCTION, how="left")
        .with_columns(
            *[pl.col(x).fill_null(0) for x in counts],
            *[pl.col(f"{c.MODE_PREFIX}{m}").fill_null(0) for m in MODES],
            pl.col(f"{c.DURATION_PREFIX}count").fill_null(0),
        )
        .sort(c.FUNCTION)
    )
