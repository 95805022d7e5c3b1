"""The timeline: per function and time bucket, hand-checked on small frames and consistent
with the report's own totals on every sample bundle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import tracelens
from tracelens.analysis import columns as c
from tracelens.analysis.timeline import MAX_BUCKETS, timeline, timeline_width
from tracelens.model import schema as col

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
T0 = datetime(2026, 11, 28, 1, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _frame(rows: list[dict[str, object]], schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    return pl.DataFrame(rows, schema=schema, orient="row").lazy()


TIME = col.TIME
FN = pl.Categorical()


def _inputs() -> dict[str, pl.LazyFrame]:
    requests = _frame(
        [
            {c.FUNCTION: "a", col.START: at(1), c.FAILED: False, c.THROTTLED: False},
            {c.FUNCTION: "a", col.START: at(2), c.FAILED: True, c.THROTTLED: True},
            {c.FUNCTION: "a", col.START: at(65), c.FAILED: True, c.THROTTLED: False},
            {c.FUNCTION: "b", col.START: at(130), c.FAILED: None, c.THROTTLED: None},
        ],
        {c.FUNCTION: FN, col.START: TIME, c.FAILED: pl.Boolean(), c.THROTTLED: pl.Boolean()},
    )
    invocations = _frame(
        [
            {c.FUNCTION: "a", col.START: at(1.5), c.COLD: True},
            {c.FUNCTION: "a", col.START: at(66), c.COLD: False},
        ],
        {c.FUNCTION: FN, col.START: TIME, c.COLD: pl.Boolean()},
    )
    event_schema = {
        c.FUNCTION: FN,
        c.ENQUEUED: TIME,
        c.DWELL_MS: pl.Float64(),
        c.OUTCOME: pl.String(),
        c.LAST_END: TIME,
        c.DWELL_END: TIME,
    }
    events = _frame(
        [
            # Ended badly at 125 s (its last attempt's end), enqueued in the first bucket.
            {
                c.FUNCTION: "a",
                c.ENQUEUED: at(1),
                c.DWELL_MS: 10.0,
                c.OUTCOME: "retries_exhausted",
                c.LAST_END: at(125),
                c.DWELL_END: at(1.01),
            },
            {
                c.FUNCTION: "a",
                c.ENQUEUED: at(2),
                c.DWELL_MS: 30.0,
                c.OUTCOME: "succeeded",
                c.LAST_END: at(3),
                c.DWELL_END: at(2.03),
            },
            # No attempt: ended when its dwell ended.
            {
                c.FUNCTION: "a",
                c.ENQUEUED: at(61),
                c.DWELL_MS: None,
                c.OUTCOME: "event_age_exceeded",
                c.LAST_END: None,
                c.DWELL_END: at(70),
            },
        ],
        event_schema,
    )
    delivery_schema = {
        c.FUNCTION: FN,
        col.MESSAGE_ID: pl.String(),
        c.INVOCATION: pl.String(),
        col.RECEIVE_COUNT: pl.Int64(),
        col.START: TIME,
    }
    sqs = _frame(
        [
            {c.FUNCTION: "b", col.MESSAGE_ID: "m1", c.INVOCATION: "i1", col.START: at(121)},
            {c.FUNCTION: "b", col.MESSAGE_ID: "m1", c.INVOCATION: "i2", col.START: at(150)},
            # First seen in the data, but SQS says it is its third receive.
            {
                c.FUNCTION: "b",
                col.MESSAGE_ID: "m2",
                c.INVOCATION: "i3",
                col.RECEIVE_COUNT: 3,
                col.START: at(10),
            },
        ],
        delivery_schema,
    )
    stream = _frame(
        [
            {c.FUNCTION: "b", c.KEY: "s/1", c.INVOCATION: "j2", col.START: at(70)},
            {c.FUNCTION: "b", c.KEY: "s/1", c.INVOCATION: "j1", col.START: at(5)},
            {c.FUNCTION: "b", c.KEY: "s/2", c.INVOCATION: "j3", col.START: at(6)},
        ],
        {c.FUNCTION: FN, c.KEY: pl.String(), c.INVOCATION: pl.String(), col.START: TIME},
    )
    return {
        "requests": requests,
        "invocations": invocations,
        "events": events,
        "sqs_deliveries": sqs,
        "stream_deliveries": stream,
    }


def test_hand_checked_buckets() -> None:
    result = timeline(functions=["b", "a"], start=at(0.5), end=at(170), **_inputs())
    assert result.width == 2  # 170 s in at most 120 buckets
    assert result.start == T0
    assert result.buckets == 86  # 0, 2, ..., 170
    frame = result.frame
    assert frame.height == 2 * 86
    assert frame.get_column(c.FUNCTION).unique(maintain_order=True).to_list() == ["a", "b"]
    nonzero = frame.filter(
        pl.any_horizontal(pl.col(pl.Int64) > 0) | pl.col("dwell_p99_ms").is_not_null()
    ).with_columns(second=(pl.col(c.BUCKET) - pl.lit(T0)).dt.total_seconds())
    rows = {
        (r[c.FUNCTION], r["second"]): {
            k: v for k, v in r.items() if k not in {c.FUNCTION, c.BUCKET, "second"} and v
        }
        for r in nonzero.iter_rows(named=True)
    }
    assert rows == {
        ("a", 0): {"requests": 1, "cold_starts": 1, "dwell_p99_ms": 10.0},
        ("a", 2): {"requests": 1, "failed": 1, "throttled": 1, "dwell_p99_ms": 30.0},
        ("a", 64): {"requests": 1, "failed": 1},
        ("a", 70): {"ended_badly": 1},
        ("a", 124): {"ended_badly": 1},
        ("b", 10): {"sqs_redeliveries": 1},
        ("b", 70): {"stream_retries": 1},
        ("b", 130): {"requests": 1},
        ("b", 150): {"sqs_redeliveries": 1},
    }  # the first deliveries of s/1 (5 s) and s/2 (6 s) are not retries: no row


@pytest.mark.parametrize(
    ("seconds", "width"),
    [(0, 1), (119, 1), (120, 2), (3599, 30), (3600, 60), (86400, 900), (40 * 86400, 43200)],
)
def test_width_is_the_smallest_giving_at_most_120_buckets(seconds: int, width: int) -> None:
    assert timeline_width(T0, at(seconds)) == width
    count = int(at(seconds).timestamp() // width) - int(T0.timestamp() // width) + 1
    assert count <= MAX_BUCKETS


def test_no_data_gives_an_empty_timeline() -> None:
    result = timeline(functions=["a"], start=None, end=None, **_inputs())
    assert (result.buckets, result.start, result.frame.height) == (0, None, 0)


@pytest.mark.parametrize("bundle", sorted(p.name for p in SAMPLES.iterdir() if p.is_dir()))
def test_series_add_up_to_the_report_totals(bundle: str) -> None:
    path = SAMPLES / bundle
    side = tracelens.read_side_inputs([str(path)], config=[], dlq=[])
    results = tracelens.analyse(tracelens.read_traces([path]), side)
    report = tracelens.build_report(results, generated_by="test")
    series = {fn.function: fn for fn in report.timeline.functions}
    assert sorted(series) == sorted(f.name for f in report.functions)
    assert 1 <= report.timeline.buckets <= MAX_BUCKETS
    for f in report.functions:
        s = series[f.name]
        assert all(len(getattr(s, k)) == report.timeline.buckets for k in s.__struct_fields__[1:])
        assert sum(s.requests) == f.requests
        assert sum(s.failed) == f.failed_requests
        assert sum(s.throttled) == f.throttles
        assert sum(s.cold_starts) == f.cold_starts
    outcomes = report.async_.outcomes
    assert sum(sum(s.ended_badly) for s in series.values()) == (
        outcomes.retries_exhausted + outcomes.event_age_exceeded
    )
    batches = results.batches
    assert sum(sum(s.stream_retries) for s in series.values()) == (
        int(batches.get_column(c.ATTEMPTS).sum() or 0) - batches.height
    )
    first_seen = (
        results.sqs_deliveries.filter(pl.col(col.RECEIVE_COUNT).fill_null(1) <= 1)
        .select(c.FUNCTION, col.MESSAGE_ID)
        .n_unique()
        if results.sqs_deliveries.height
        else 0
    )
    assert sum(sum(s.sqs_redeliveries) for s in series.values()) == (
        results.sqs_deliveries.height - first_seen
    )
