"""Property tests: stream batch and SQS poison-message fates over generated histories."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.analysis.conftest import TraceBuilder, at, trace_id
from tests.analysis.test_poll_fates import FN_ARN, QUEUE, STREAM
from tracelens.analysis import analyse
from tracelens.model.side import (
    EventSourceMapping,
    QueueConfig,
    RedrivePolicy,
    SideInputs,
)


@settings(max_examples=40, deadline=None)
@given(
    failures=st.lists(st.booleans(), min_size=1, max_size=6),
    gap=st.floats(1, 90),
    tail=st.floats(0, 2000),
    retries=st.sampled_from([None, -1, 0, 1, 2, 5]),
    age=st.sampled_from([None, -1, 60, 300, 3600]),
    destination=st.booleans(),
    configured=st.booleans(),
)
def test_stream_fate_invariants(
    failures: list[bool],
    gap: float,
    tail: float,
    retries: int | None,
    age: int | None,
    destination: bool,
    configured: bool,
) -> None:
    # GIVEN one Kinesis batch delivered once per entry of ``failures``, ``gap`` s apart, and
    # data that goes on ``tail`` s after the last delivery
    b = TraceBuilder()
    start = 0.0
    for n, failed in enumerate(failures):
        t = trace_id(n + 1)
        svc = b.service("fn", t, start, start + 0.5, request_id=f"k{n}")
        fid = b.function("fn", t, svc, start + 0.1, start + 0.4, error=failed)
        b.record(t, fid, source="aws:kinesis", shard="s-1", seq="7")
        start += gap
    b.row(
        trace_id=trace_id(999),
        kind="segment",
        top=True,
        name="x",
        start=at(0),
        end=at(start + tail),
    )
    mapping = EventSourceMapping(
        event_source_arn=STREAM,
        function_arn=FN_ARN.format("fn"),
        maximum_retry_attempts=retries,
        maximum_record_age_seconds=age,
        on_failure_arn="arn:aws:sqs:us-east-1:1:f" if destination else None,
    )
    side = SideInputs(mappings=(mapping,), config_files=("c.json",)) if configured else SideInputs()
    frames = b.frames()
    # WHEN
    results = analyse(frames, side)
    # THEN
    (row,) = results.batches.iter_rows(named=True)
    end = frames.end
    assert end is not None
    succeeded = not all(failures)
    if succeeded:
        assert (row["fate"], row["ended_by"]) == (None, None)
        return
    if not configured:
        # a failed batch without config: never silently fine, never a guessed fate
        assert (row["fate"], row["outcome"]) == ("unknown", "failed")
        assert row["fate_reason"]
        return
    # with config: ended (a fate) or still retrying (in_progress), never both or neither
    assert (row["fate"] is None) == (row["outcome"] == "in_progress")
    if row["ended_by"] == "retries":
        assert retries is not None
        assert retries >= 0
        assert row["attempts"] >= retries + 1
    if row["ended_by"] == "record_age":
        assert age is not None
        assert age > 0
        assert end >= row["first_start"] + timedelta(seconds=age)
    if row["ended_by"] is not None:
        assert row["fate"] == ("sent" if destination else "discarded")
    if row["outcome"] == "in_progress":
        assert retries is None or retries < 0 or row["attempts"] < retries + 1


@settings(max_examples=40, deadline=None)
@given(
    deliveries=st.integers(2, 8),
    every=st.floats(30, 120),
    tail=st.floats(0, 1000),
    max_receive=st.sampled_from([None, 1, 3, 5]),
    retention=st.sampled_from([None, 60, 600, 3600]),
    configured=st.booleans(),
)
def test_poison_fate_invariants(
    deliveries: int,
    every: float,
    tail: float,
    max_receive: int | None,
    retention: int | None,
    configured: bool,
) -> None:
    # GIVEN a message that failed on every one of its deliveries
    b = TraceBuilder()
    for n in range(deliveries):
        t = trace_id(n + 1)
        svc = b.service("consumer", t, n * every, n * every + 1, request_id=f"p{n}")
        fid = b.function("consumer", t, svc, n * every + 0.1, n * every + 0.9, error=True)
        b.record(t, fid, source="aws:sqs", message_id="m", receive_count=n + 1, error=True)
    last = (deliveries - 1) * every + 1
    b.row(
        trace_id=trace_id(999), kind="segment", top=True, name="x", start=at(0), end=at(last + tail)
    )
    policy = (
        None
        if max_receive is None
        else RedrivePolicy(dead_letter_target_arn="arn:dlq", max_receive_count=max_receive)
    )
    queue = QueueConfig(arn=QUEUE, redrive_policy=policy, message_retention_seconds=retention)
    side = (
        SideInputs(
            queues={QUEUE: queue},
            mappings=(
                EventSourceMapping(event_source_arn=QUEUE, function_arn=FN_ARN.format("consumer")),
            ),
            config_files=("c.json",),
        )
        if configured
        else SideInputs()
    )
    frames = b.frames()
    # WHEN
    (row,) = analyse(frames, side).messages.iter_rows(named=True)
    # THEN every poison message has exactly one fate, consistent with the config and the data
    assert row["poison"]
    end = frames.end
    assert end is not None
    expires = row["first_start"] + timedelta(seconds=retention or 345_600)
    if not configured:
        assert row["fate"] == "unknown"
    elif max_receive is not None and deliveries >= max_receive:
        assert row["fate"] == "dlq"
    elif end >= expires:
        # Gone from the queue; with a redrive policy it may also have been moved to the DLQ
        # after receives the traces do not show.
        assert row["fate"] == ("unknown" if max_receive is not None else "retention_deleted")
    else:
        assert row["fate"] == "in_queue"
