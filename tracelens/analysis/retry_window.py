"""Retries of async events: Lambda's retry schedule, MaximumRetryAttempts, retry delays."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis._expr import millis
from tracelens.analysis.async_config import MAX_RETRY
from tracelens.model import schema as col

# Lambda retries a failed async event about 1 minute after the first failed attempt and about
# 2 minutes after the second (lambda-semantics.md R2.4, AWS "Asynchronous invocation"). A
# failed last attempt can therefore only be followed by another one within about 3 minutes of
# its end; after that the event has ended, whatever MaximumRetryAttempts says.
RETRY_WINDOW = timedelta(minutes=3)
FIRST_RETRY_DELAY = timedelta(minutes=1)
LATER_RETRY_DELAY = timedelta(minutes=2)
# While Lambda is throttling the function, throttled tries are retried with an interval that
# grows up to 5 minutes (lambda-semantics.md R2.7), bounded only by MaximumEventAgeInSeconds:
# a throttle seen this close to the end of the data means the function is still throttled.
THROTTLE_RETRY_MAX = timedelta(minutes=5)
#: The most retries Lambda allows (MaximumRetryAttempts 0-2, lambda-semantics.md R2.5).
MAX_RETRY_ATTEMPTS = 2


def with_retry_policy(
    joined: pl.LazyFrame, units: pl.LazyFrame, invocations: pl.LazyFrame, end: pl.Expr | None
) -> pl.LazyFrame:
    """Add ``max_retry`` (MaximumRetryAttempts) and ``throttled_at_end`` per event.

    MaximumRetryAttempts comes from the config for the function. Without config it is
    inferred from the data: the most attempts any event of the function reached, minus 1
    (at most 2), once the data shows that many is all it gets: an event of the function
    failed that many attempts and its retry window passed with no further attempt (or it
    reached Lambda's maximum of 3). Until then the AWS maximum of 2 is assumed, so an event
    inside its retry window stays in progress.

    ``throttled_at_end``: the function has a throttled attempt, invocation or request (429)
    within ``THROTTLE_RETRY_MAX`` of the end of the data.
    """
    if end is None:
        stopped = pl.lit(False)
    else:
        stopped = (
            pl.col("last_failed")
            & ~pl.col("units_open")
            & (end > pl.col("units_end") + RETRY_WINDOW)
        )
    per_function = joined.group_by(c.FUNCTION).agg(
        pl.col(c.ATTEMPTS).max().alias("most_attempts"),
        (stopped & (pl.col(c.ATTEMPTS) == pl.col(c.ATTEMPTS).max())).any().alias("stopped"),
        (pl.col(col.HTTP_STATUS) == 429)
        .fill_null(False)
        .filter(_near_end(pl.coalesce(col.END, col.START), end))
        .any()
        .alias("request_throttled"),
    )
    recent = pl.col(col.THROTTLE).fill_null(False) & _near_end(pl.coalesce(col.END, col.START), end)
    throttles = (
        pl.concat(
            [
                invocations.filter(recent).select(c.FUNCTION),
                units.filter(recent)
                .select(c.REQUEST)
                .join(joined.select(c.REQUEST, c.FUNCTION), on=c.REQUEST, how="inner")
                .select(c.FUNCTION),
            ]
        )
        .drop_nulls()
        .unique()
        .with_columns(pl.lit(True).alias("inv_throttled"))
    )
    inferred = (
        pl.when(pl.col("stopped") | (pl.col("most_attempts") > MAX_RETRY_ATTEMPTS))
        .then((pl.col("most_attempts") - 1).clip(0, MAX_RETRY_ATTEMPTS))
        .otherwise(pl.lit(MAX_RETRY_ATTEMPTS))
    )
    return (
        joined.join(per_function, on=c.FUNCTION, how="left")
        .join(throttles, on=c.FUNCTION, how="left")
        .with_columns(
            pl.coalesce(pl.col(MAX_RETRY), inferred).cast(pl.Int64).alias(MAX_RETRY),
            (
                pl.col("request_throttled").fill_null(False)
                | pl.col("inv_throttled").fill_null(False)
            ).alias("throttled_at_end"),
        )
    )


def _near_end(time: pl.Expr, end: pl.Expr | None) -> pl.Expr:
    if end is None:
        return pl.lit(False)
    return time >= end - THROTTLE_RETRY_MAX


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
