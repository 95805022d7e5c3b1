"""Async events: dwell, attempts, retry delays, outcomes and fates."""

from __future__ import annotations

import polars as pl
import pytest

from tests.analysis.conftest import TraceBuilder, trace_id
from tracelens.analysis import analyse
from tracelens.model.side import DlqMessage, FunctionConfig, SideDump, SideInputs

DLQ = "arn:aws:sqs:us-east-1:123456789012:fn-dlq"


def _event(results, request_id: str) -> dict:  # type: ignore[no-untyped-def]
    rows = results.events.filter(pl.col("request") == request_id).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_sync_api_gateway_request_is_not_async(builder: TraceBuilder) -> None:
    # GIVEN an API Gateway stage segment calling a function synchronously
    t = trace_id(1)
    stage = builder.row(
        trace_id=t,
        kind="segment",
        top=True,
        name="api/prod",
        origin="AWS::ApiGateway::Stage",
        start=None,
    )
    svc = builder.service("api-fn", t, 0.0, 0.2, request_id="r-sync", parent_id=stage)
    builder.function("api-fn", t, svc, 0.01, 0.19, cold=True)
    # WHEN
    results = analyse(builder.frames(), SideInputs())
    # THEN
    assert results.events.is_empty()
    fn = results.functions.row(0, named=True)
    assert (fn["function"], fn["requests"], fn["invocations"], fn["cold_starts"]) == (
        "api-fn",
        1,
        1,
        1,
    )
    assert (fn["mode_sync"], fn["mode_unknown"]) == (1, 0)
    assert fn["duration_count"] == 1
    assert fn["duration_p50"] == pytest.approx(180.0)


def test_inferred_lambda_segments_are_not_requests(builder: TraceBuilder) -> None:
    builder.row(
        trace_id=trace_id(2),
        kind="inferred",
        top=True,
        name="Lambda",
        origin="AWS::Lambda",
        request_id="9df0b943",
    )
    results = analyse(builder.frames(), SideInputs())
    assert results.requests.is_empty()
    assert results.functions.is_empty()


def test_succeeded_first_time(builder: TraceBuilder) -> None:
    builder.async_event("fn", trace_id(3), "r1", 0.0, [(0.2, 0.5, False)], dwell=0.2)
    results = analyse(builder.frames(), SideInputs())
    ev = _event(results, "r1")
    assert (ev["outcome"], ev["attempts"], ev["fate"]) == ("succeeded", 1, None)
    assert ev["dwell_ms"] == pytest.approx(200.0)
    assert results.chains.is_empty()


def test_succeeded_after_retry_measures_retry_delay(builder: TraceBuilder) -> None:
    builder.async_event("fn", trace_id(4), "r2", 0.0, [(0.1, 0.4, True), (60.4, 60.9, False)])
    results = analyse(builder.frames(), SideInputs())
    ev = _event(results, "r2")
    assert (ev["outcome"], ev["attempts"]) == ("succeeded_after_retry", 2)
    assert results.retry_delays.get_column("delay_ms").to_list() == [pytest.approx(60_000.0)]
    chain = results.chains.row(0, named=True)
    assert chain["errors"] == ["ValueError: boom"]
    assert [s["step_kind"] for s in chain["steps"]] == ["dwell", "attempt", "wait", "attempt"]


def _exhausted(builder: TraceBuilder, request_id: str = "r3") -> None:
    builder.async_event(
        "fn",
        trace_id(5),
        request_id,
        0.0,
        [(0.1, 0.2, True), (60.2, 60.3, True), (180.3, 180.4, True)],
    )


@pytest.mark.parametrize(
    ("side", "fate"),
    [
        (
            SideInputs(
                functions={"fn": FunctionConfig(name="fn", dlq_arn=DLQ)},
                config_files=("c.json",),
                dumps=(
                    SideDump(
                        source="d.json", queue_arn=DLQ, dlq_messages=(DlqMessage(request_id="r3"),)
                    ),
                ),
            ),
            "sent",
        ),
        (
            SideInputs(
                functions={"fn": FunctionConfig(name="fn", dlq_arn=DLQ)},
                config_files=("c.json",),
                dumps=(
                    SideDump(
                        source="d.json",
                        queue_arn=DLQ,
                        dlq_messages=(DlqMessage(request_id="other"),),
                    ),
                ),
            ),
            "missing",
        ),
        (
            SideInputs(
                functions={"fn": FunctionConfig(name="fn", dlq_arn=DLQ)}, config_files=("c.json",)
            ),
            "sent",
        ),
        (
            SideInputs(functions={"fn": FunctionConfig(name="fn")}, config_files=("c.json",)),
            "dropped",
        ),
        (SideInputs(), "unknown"),
    ],
    ids=["in-dump", "missing-from-dump", "target-no-dump", "no-target", "no-config"],
)
def test_retries_exhausted_fates(builder: TraceBuilder, side: SideInputs, fate: str) -> None:
    _exhausted(builder)
    results = analyse(builder.frames(), side)
    ev = _event(results, "r3")
    assert (ev["outcome"], ev["attempts"], ev["fate"]) == ("retries_exhausted", 3, fate)
    codes = {f.code for f in results.findings}
    assert "ASYNC_RETRIES_EXHAUSTED" in codes
    assert ("ASYNC_EVENTS_DROPPED" in codes) == (fate == "dropped")
    assert ("ASYNC_EVENTS_MISSING_FROM_DLQ" in codes) == (fate == "missing")


def test_configured_retry_attempts_change_the_outcome(builder: TraceBuilder) -> None:
    # Two failed attempts: exhausted with MaximumRetryAttempts 1, still open with the default 2.
    builder.async_event("fn", trace_id(6), "r4", 0.0, [(0.1, 0.2, True), (60.2, 60.3, True)])
    frames = builder.frames()
    default = _event(analyse(frames, SideInputs()), "r4")
    one = _event(
        analyse(
            frames,
            SideInputs(
                functions={"fn": FunctionConfig(name="fn", maximum_retry_attempts=1)},
                config_files=("c.json",),
            ),
        ),
        "r4",
    )
    assert default["outcome"] == "in_progress"
    assert (one["outcome"], one["fate"]) == ("retries_exhausted", "dropped")


def test_event_age_exceeded(builder: TraceBuilder) -> None:
    # GIVEN one failed attempt and data running 2 minutes past a 60 s maximum event age
    builder.async_event("fn", trace_id(7), "r5", 0.0, [(0.1, 0.2, True)])
    builder.async_event("other", trace_id(8), "r6", 180.0, [(180.1, 180.2, False)])
    side = SideInputs(
        functions={"fn": FunctionConfig(name="fn", maximum_event_age_seconds=60)},
        config_files=("c.json",),
    )
    # WHEN
    results = analyse(builder.frames(), side)
    # THEN
    ev = _event(results, "r5")
    assert (ev["outcome"], ev["fate"]) == ("event_age_exceeded", "dropped")


def test_event_without_attempts_expires(builder: TraceBuilder) -> None:
    builder.service("fn", trace_id(9), 0.0, 0.01, request_id="r7", status=202)
    builder.async_event("fn", trace_id(10), "r8", 30000.0, [(30000.1, 30000.2, False)])
    results = analyse(builder.frames(), SideInputs())
    ev = _event(results, "r7")
    assert (ev["outcome"], ev["attempts"], ev["dwell_ms"]) == ("event_age_exceeded", 0, None)
    assert ev["fate"] == "unknown"


def test_in_progress_attempt(builder: TraceBuilder) -> None:
    builder.async_event(
        "fn", trace_id(11), "r9", 0.0, [(0.1, 0.2, True), (60.0, None, False)], in_progress=True
    )
    results = analyse(builder.frames(), SideInputs())
    ev = _event(results, "r9")
    assert (ev["outcome"], ev["attempts"], ev["last_end"]) == ("in_progress", 2, None)


def test_throttled_attempt_without_invocation_counts_as_throttle(builder: TraceBuilder) -> None:
    t = trace_id(12)
    svc = builder.service("fn", t, 0.0, 0.01, request_id="r10", status=202)
    builder.attempt(t, svc, 1, 0.1, 0.1, throttle=True)
    att = builder.attempt(t, svc, 2, 1.0, 1.5)
    builder.function("fn", t, att, 1.0, 1.5)
    results = analyse(builder.frames(), SideInputs())
    ev = _event(results, "r10")
    assert (ev["outcome"], ev["attempts"]) == ("succeeded_after_retry", 2)
    fn = results.functions.row(0, named=True)
    assert (fn["throttles"], fn["failed_invocations"], fn["invocations"]) == (1, 0, 1)
    assert ev["dwell_ms"] == pytest.approx(100.0)  # no Dwell Time: first attempt - enqueue


def test_filters_by_function_and_time(builder: TraceBuilder) -> None:
    from tests.analysis.conftest import at

    builder.async_event("a", trace_id(13), "ra", 0.0, [(0.1, 0.2, False)])
    builder.async_event("b", trace_id(14), "rb", 100.0, [(100.1, 100.2, False)])
    frames = builder.frames()
    only_b = analyse(frames, SideInputs(), functions=["b"])
    assert only_b.functions.get_column("function").to_list() == ["b"]
    early = analyse(frames, SideInputs(), until=at(50))
    assert early.events.get_column("request").to_list() == ["ra"]
    late = analyse(frames, SideInputs(), since=at(50))
    assert late.invocations.get_column("function").to_list() == ["b"]
