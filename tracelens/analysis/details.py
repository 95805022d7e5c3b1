"""Per-function dashboard aggregates: dwell quantiles, histograms, time buckets, counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.stats import nearest_rank, quantiles_expr
from tracelens.model import schema as col

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

#: Candidate time-bucket widths in seconds, smallest first.
BUCKET_WIDTHS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200, 86400)
MAX_BUCKETS = 60
SMALLEST_DWELL_BUCKET_MS = 0.1

BUCKET = c.BUCKET
COUNT = c.COUNT


@dataclass(frozen=True, slots=True)
class DetailFrames:
    """The per-function aggregates behind ``Report.details`` (all eager, small)."""

    functions: list[str]  # functions with async events, SQS messages or stream batches
    quantiles: pl.DataFrame  # function, quantiles (list of 101 floats)
    histogram: pl.DataFrame  # function, bucket (float ms), count
    over_time: pl.DataFrame  # function, bucket (datetime), count, p50, p90, p99
    attempts: pl.DataFrame  # function, outcome, attempts, count
    fates: pl.DataFrame  # function, fate, count
    deliveries: pl.DataFrame  # function, attempts, count
    poison: pl.DataFrame  # function, count
    stream_points: pl.DataFrame  # function, shard_id, bucket (datetime), batches, retried
    bucket_seconds: int


def bucket_seconds(start: datetime | None, end: datetime | None) -> int:
    """The smallest width giving at most 60 epoch-aligned buckets over [start, end].

    Args:
        start: Earliest time of the data.
        end: Latest time of the data.

    Returns:
        One of ``BUCKET_WIDTHS`` (the largest if none fits).
    """
    return smallest_width(start, end, BUCKET_WIDTHS, MAX_BUCKETS)


def smallest_width(
    start: datetime | None, end: datetime | None, widths: Sequence[int], most: int
) -> int:
    """The smallest of ``widths`` (ascending, seconds) giving at most ``most`` epoch-aligned
    buckets over [start, end]; the largest if none does, the smallest without times."""
    if start is None or end is None:
        return widths[0]
    first, last = start.timestamp(), end.timestamp()
    for width in widths:
        if int(last // width) - int(first // width) + 1 <= most:
            return width
    return widths[-1]


def dwell_bucket(values: pl.Expr) -> pl.Expr:
    """The lower bound of the 1-2-5 log bucket holding each dwell (0 below 0.1 ms)."""
    exponent = values.log10().floor()
    scale = pl.lit(10.0).pow(exponent)
    mantissa = values / scale
    lower = pl.when(mantissa >= 5).then(5.0).when(mantissa >= 2).then(2.0).otherwise(1.0)
    return pl.when(values < SMALLEST_DWELL_BUCKET_MS).then(0.0).otherwise((lower * scale).round(6))


def _time_bucket(times: pl.Expr, width: int) -> pl.Expr:
    return times.dt.truncate(f"{width}s")


def details(
    events: pl.LazyFrame,
    messages: pl.LazyFrame,
    batches: pl.LazyFrame,
    *,
    width: int,
) -> DetailFrames:
    """Compute every per-function aggregate in one collect.

    Args:
        events: Async events.
        messages: SQS messages.
        batches: Stream batches.
        width: Time bucket width in seconds.

    Returns:
        The aggregates.
    """
    dwell = pl.col(c.DWELL_MS)
    with_dwell = events.filter(dwell.is_not_null())
    plans = [
        pl.concat(
            [
                events.select(c.FUNCTION),
                messages.select(c.FUNCTION),
                batches.select(c.FUNCTION),
            ]
        )
        .unique()
        .sort(c.FUNCTION),
        events.group_by(c.FUNCTION).agg(quantiles_expr(dwell).alias(c.QUANTILES)),
        with_dwell.group_by(c.FUNCTION, dwell_bucket(dwell).alias(BUCKET))
        .agg(pl.len().cast(pl.Int64).alias(COUNT))
        .sort(c.FUNCTION, BUCKET),
        with_dwell.group_by(c.FUNCTION, _time_bucket(pl.col(c.ENQUEUED), width).alias(BUCKET))
        .agg(
            pl.len().cast(pl.Int64).alias(COUNT),
            nearest_rank(dwell, 50).alias(c.P50),
            nearest_rank(dwell, 90).alias(c.P90),
            nearest_rank(dwell, 99).alias(c.P99),
        )
        .sort(c.FUNCTION, BUCKET),
        events.group_by(c.FUNCTION, c.OUTCOME, c.ATTEMPTS)
        .agg(pl.len().cast(pl.Int64).alias(COUNT))
        .sort(c.FUNCTION, c.OUTCOME, c.ATTEMPTS),
        events.filter(pl.col(c.FATE).is_not_null())
        .group_by(c.FUNCTION, c.FATE)
        .agg(pl.len().cast(pl.Int64).alias(COUNT))
        .sort(c.FUNCTION, c.FATE),
        messages.group_by(c.FUNCTION, c.ATTEMPTS)
        .agg(pl.len().cast(pl.Int64).alias(COUNT))
        .sort(c.FUNCTION, c.ATTEMPTS),
        messages.filter(pl.col(c.POISON))
        .group_by(c.FUNCTION)
        .agg(pl.len().cast(pl.Int64).alias(COUNT))
        .sort(c.FUNCTION),
        batches.group_by(
            c.FUNCTION,
            pl.col(col.SHARD_ID).fill_null("(no shard)"),
            _time_bucket(pl.col(c.FIRST_START), width).alias(BUCKET),
        )
        .agg(
            pl.len().cast(pl.Int64).alias(c.BATCHES),
            pl.col(c.RETRIED).sum().cast(pl.Int64).alias(c.RETRIED),
        )
        .sort(c.FUNCTION, col.SHARD_ID, BUCKET),
    ]
    names, quantiles, histogram, over_time, attempts, fates, deliveries, poison, points = (
        pl.collect_all(plans)
    )
    return DetailFrames(
        functions=names.get_column(c.FUNCTION).to_list(),
        quantiles=quantiles,
        histogram=histogram,
        over_time=over_time,
        attempts=attempts,
        fates=fates,
        deliveries=deliveries,
        poison=poison,
        stream_points=points,
        bucket_seconds=width,
    )
