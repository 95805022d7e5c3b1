"""function_summary: the ARN rule and counts taken from the request modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.functions import MODE, function_summary
from tracelens.model import schema as col

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _summary(
    requests: list[tuple[str, str | None, float]],
    invocations: list[tuple[str, str | None, float]],
    modes: list[tuple[str, str]],
    outcomes: list[tuple[str, bool, bool]] | None = None,
) -> dict[str, dict[str, object]]:
    reqs = pl.LazyFrame(
        {
            c.FUNCTION: [r[0] for r in requests],
            col.ARN: [r[1] for r in requests],
            col.START: [_at(r[2]) for r in requests],
        },
        schema={c.FUNCTION: pl.String, col.ARN: pl.String, col.START: col.TIME},
    )
    invs = pl.LazyFrame(
        {
            c.FUNCTION: [i[0] for i in invocations],
            col.ARN: [i[1] for i in invocations],
            col.START: [_at(i[2]) for i in invocations],
            c.COLD: [False] * len(invocations),
            c.FAILED: [False] * len(invocations),
            col.THROTTLE: [False] * len(invocations),
            c.DURATION_MS: [1.0] * len(invocations),
        },
        schema={
            c.FUNCTION: pl.String,
            col.ARN: pl.String,
            col.START: col.TIME,
            c.COLD: pl.Boolean,
            c.FAILED: pl.Boolean,
            col.THROTTLE: pl.Boolean,
            c.DURATION_MS: pl.Float64,
        },
    )
    mode_frame = pl.LazyFrame(
        {c.FUNCTION: [m[0] for m in modes], MODE: [m[1] for m in modes]},
        schema={c.FUNCTION: pl.String, MODE: pl.String},
    )
    flags = outcomes or []
    outcome_frame = pl.LazyFrame(
        {
            c.FUNCTION: [o[0] for o in flags],
            c.THROTTLED: [o[1] for o in flags],
            c.FAILED: [o[2] for o in flags],
        },
        schema={c.FUNCTION: pl.String, c.THROTTLED: pl.Boolean, c.FAILED: pl.Boolean},
    )
    frame = function_summary(reqs, invs, mode_frame, outcome_frame).collect()
    return {row[c.FUNCTION]: row for row in frame.iter_rows(named=True)}


def test_arn_prefers_requests_then_earliest_then_smallest() -> None:
    rows = _summary(
        requests=[
            ("a", "arn:a:late", 5.0),
            ("a", "arn:a:z-early", 1.0),
            ("a", "arn:a:b-early", 1.0),  # same start: the smaller ARN wins
            ("a", None, 0.0),  # no ARN: never chosen
            ("b", None, 0.0),
        ],
        invocations=[
            ("a", "arn:a:invocation", 0.0),  # requests come first even when earlier
            ("b", "arn:b:later", 3.0),
            ("b", "arn:b:first", 2.0),
            ("c", None, 1.0),
        ],
        modes=[("a", "async"), ("a", "async"), ("a", "sync"), ("a", "unknown"), ("b", "sqs")],
    )
    assert rows["a"][col.ARN] == "arn:a:b-early"
    assert rows["b"][col.ARN] == "arn:b:first"
    assert rows["c"][col.ARN] is None


def test_request_and_mode_counts_come_from_modes() -> None:
    rows = _summary(
        requests=[("a", None, 0.0), ("a", None, 1.0), ("a", None, 2.0), ("b", None, 0.0)],
        invocations=[("a", None, 0.0), ("c", None, 0.0)],
        modes=[("a", "async"), ("a", "async"), ("a", "sync"), ("b", "stream")],
    )
    assert rows["a"]["requests"] == 3
    assert (rows["a"]["mode_async"], rows["a"]["mode_sync"]) == (2, 1)
    assert (rows["b"]["requests"], rows["b"]["mode_stream"]) == (1, 1)
    assert (rows["c"]["requests"], rows["c"]["invocations"]) == (0, 1)


def test_throttles_and_failed_requests_count_requests() -> None:
    # throttled invocations no longer count: only the request outcomes (D1, D2) do
    rows = _summary(
        requests=[("a", None, 0.0), ("a", None, 1.0), ("a", None, 2.0), ("b", None, 0.0)],
        invocations=[("a", None, 0.0)],
        modes=[("a", "sync"), ("a", "sync"), ("a", "sync"), ("b", "async")],
        outcomes=[("a", True, True), ("a", False, True), ("a", False, False), ("b", False, False)],
    )
    assert (rows["a"]["throttles"], rows["a"]["failed_requests"]) == (1, 2)
    assert (rows["b"]["throttles"], rows["b"]["failed_requests"]) == (0, 0)
