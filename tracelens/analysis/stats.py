"""Nearest-rank statistic blocks and quantiles as polars expressions."""

from __future__ import annotations

import polars as pl

#: Columns of a statistic block, in contract order.
STAT_FIELDS = ("count", "min", "p50", "p90", "p99", "max", "mean")


def nearest_rank(values: pl.Expr, percent: int) -> pl.Expr:
    """The nearest-rank percentile of ``values`` (nulls ignored; null when empty).

    Nearest rank: the smallest value with at least ``percent`` % of values at or below it,
    i.e. the value at 1-based rank ``ceil(percent * n / 100)`` (rank 1 for p0). Integer
    arithmetic avoids float rounding in the rank (0.9 * 10 is not exactly 9).

    Args:
        values: A numeric expression.
        percent: 0..100.

    Returns:
        An expression usable in ``select`` and in ``group_by().agg()``.
    """
    present = values.drop_nulls()
    rank = (present.len().cast(pl.Int64) * percent + 99) // 100
    return present.sort().get((rank - 1).clip(lower_bound=0), null_on_oob=True)


def stat_exprs(values: pl.Expr, prefix: str = "") -> list[pl.Expr]:
    """The aggregations of one statistic block, named ``prefix + field``.

    Args:
        values: A numeric expression (milliseconds).
        prefix: Prefix of the output column names.

    Returns:
        Seven expressions: count, min, p50, p90, p99, max, mean.
    """
    present = values.drop_nulls().cast(pl.Float64)
    return [
        present.len().cast(pl.Int64).alias(f"{prefix}count"),
        present.min().alias(f"{prefix}min"),
        nearest_rank(present, 50).alias(f"{prefix}p50"),
        nearest_rank(present, 90).alias(f"{prefix}p90"),
        nearest_rank(present, 99).alias(f"{prefix}p99"),
        present.max().alias(f"{prefix}max"),
        # Sum whole nanoseconds as integers: exact and independent of the order polars adds
        # chunks in, so the same input always gives the same mean, byte for byte (durations
        # come from microsecond timestamps, so nothing is lost).
        pl.when(present.len() > 0)
        .then(
            (present * 1_000_000).round().cast(pl.Int64).sum()
            / present.len().cast(pl.Float64)
            / 1_000_000
        )
        .round(6)
        .alias(f"{prefix}mean"),
    ]


def quantiles_expr(values: pl.Expr) -> pl.Expr:
    """The 101 nearest-rank quantiles p0..p100 as one list (empty when there are no values).

    Args:
        values: A numeric expression.

    Returns:
        A ``List(Float64)`` expression.
    """
    present = values.drop_nulls().cast(pl.Float64)
    n = present.len().cast(pl.Int64)
    ranks = pl.int_range(0, 101, dtype=pl.Int64)
    index = ((ranks * n + 99) // 100 - 1).clip(lower_bound=0)
    return (
        pl.when(n > 0)
        .then(present.sort().gather(index.filter(n > 0)).implode())
        .otherwise(pl.lit([], dtype=pl.List(pl.Float64)))
    )
