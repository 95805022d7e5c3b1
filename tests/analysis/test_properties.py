"""Property tests: invariants of async analysis over generated events."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.analysis.conftest import TraceBuilder, at, trace_id
from tracelens.analysis import analyse
from tracelens.model.side import FunctionConfig, SideInputs

event_strategy = st.tuples(
    st.floats(0, 3600),  # enqueue offset (s)
    st.floats(0, 120),  # dwell (s)
    st.lists(st.booleans(), min_size=0, max_size=3),  # attempt failures
)


@settings(max_examples=40, deadline=None)
@given(
    events=st.lists(event_strategy, min_size=1, max_size=8),
    max_retry=st.integers(0, 2),
    max_age=st.sampled_from([60, 600, 21600]),
    has_dlq=st.booleans(),
)
def test_async_invariants(
    events: list[tuple[float, float, list[bool]]], max_retry: int, max_age: int, has_dlq: bool
) -> None:
    # GIVEN events whose attempts respect the retry policy (at most MaximumRetryAttempts + 1)
    b = TraceBuilder()
    for i, (t, dwell, failures) in enumerate(events):
        failures = failures[: max_retry + 1]
        attempts = []
        start = t + dwell
        for failed in failures:
            attempts.append((start, start + 0.5, failed))
            start += 60
        b.async_event("fn", trace_id(i + 1), f"r{i}", t, attempts, dwell=dwell)
    side = SideInputs(
        functions={
            "fn": FunctionConfig(
                name="fn",
                maximum_retry_attempts=max_retry,
                maximum_event_age_seconds=max_age,
                dlq_arn="arn:dlq" if has_dlq else None,
            )
        },
        config_files=("c.json",),
    )
    frames = b.frames()
    # WHEN
    results = analyse(frames, side)
    ev = results.events
    # THEN
    assert ev.height == len(events)
    assert ev.filter(pl.col("dwell_ms") < 0).is_empty()
    assert ev.filter(pl.col("attempts") > max_retry + 1).is_empty()
    assert results.retry_delays.filter(pl.col("delay_ms") < 0).is_empty()
    end = frames.end
    assert end is not None
    window = timedelta(minutes=3)  # D6: no retry within 3 min of a failure: the event ended
    for row in ev.filter(pl.col("fate") == "dropped").iter_rows(named=True):
        exhausted = row["attempts"] >= max_retry + 1
        aged = end > row["enqueued"] + timedelta(seconds=max_age)
        stopped = row["last_end"] is not None and end > row["last_end"] + window
        left_queue = row["attempts"] == 0 and end > row["dwell_end"] + window
        assert exhausted or aged or stopped or left_queue
        assert not has_dlq
    bad = ev.filter(pl.col("outcome").is_in(["retries_exhausted", "event_age_exceeded"]))
    assert bad.filter(pl.col("fate").is_null()).is_empty()
    assert ev.filter(
        ~pl.col("outcome").is_in(["retries_exhausted", "event_age_exceeded"])
        & pl.col("fate").is_not_null()
    ).is_empty()
    assert at(0) <= end
