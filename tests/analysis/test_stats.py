"""Nearest-rank statistics against a brute-force definition."""

from __future__ import annotations

import math

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelens.analysis.stats import nearest_rank, quantiles_expr, stat_exprs


def _brute(values: list[float], p: int) -> float:
    """The smallest value with at least p% of values at or below it."""
    ordered = sorted(values)
    n = len(ordered)
    for v in ordered:
        if sum(1 for x in ordered if x <= v) * 100 >= p * n:
            return v
    return ordered[-1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40), st.integers(0, 100))
def test_nearest_rank_matches_definition(values: list[float], p: int) -> None:
    got = pl.DataFrame({"x": values}).select(nearest_rank(pl.col("x"), p)).item()
    assert got == _brute(values, p)


def test_classic_example() -> None:
    # Wikipedia's nearest-rank example: 15, 20, 35, 40, 50.
    df = pl.DataFrame({"x": [50.0, 15.0, 40.0, 20.0, 35.0]})
    row = df.select(stat_exprs(pl.col("x"))).row(0, named=True)
    assert (row["p50"], row["p90"], row["p99"], row["min"], row["max"]) == (35, 50, 50, 15, 50)
    assert math.isclose(row["mean"], 32.0)
    q = df.select(quantiles_expr(pl.col("x"))).item().to_list()
    assert len(q) == 101
    assert q[0] == 15
    assert q[30] == 20
    assert q[100] == 50


def test_empty_block_is_null() -> None:
    row = (
        pl.DataFrame({"x": []}, schema={"x": pl.Float64})
        .select(stat_exprs(pl.col("x")))
        .row(0, named=True)
    )
    assert row == {
        "count": 0,
        "min": None,
        "p50": None,
        "p90": None,
        "p99": None,
        "max": None,
        "mean": None,
    }
