"""Async events: dwell, attempts, retry delays, outcomes and fates."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

from tests.analysis.conftest import TraceBuilder, at, trace_id
from tracelens.analysis import analyse
from tracelens.ingest.files import read_traces
from tracelens.model.side import DlqMessage, FunctionConfig, SideDump, SideInputs

if TYPE_CHECKING:
    from tracelens.analysis.pipeline import AnalysisResults
    from tracelens.model.frames import TraceFrames

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


# --- issue 10: outcomes without config, retry window, fate evidence ---------------------

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"


def _async_dropped_without_config() -> TraceFrames:
    """``sample_traces/async_dropped`` read from its traces file alone (no config.json)."""
    return read_traces([SAMPLES / "async_dropped" / "traces.ndjson"])


def _outcomes(results: AnalysisResults) -> dict[str, int]:
    return dict(results.events.group_by("outcome").len().iter_rows())


def test_async_dropped_without_config_ended_badly() -> None:
    # GIVEN async_dropped (12 events failed twice, MaximumRetryAttempts 1) without its config,
    # whose data goes on for minutes after their last attempt
    frames = _async_dropped_without_config()
    # WHEN
    results = analyse(frames, SideInputs())
    # THEN they ended (retries inferred from the data), with an unknown fate
    outcomes = _outcomes(results)
    assert outcomes.get("in_progress", 0) == 0
    assert outcomes["retries_exhausted"] == 12
    bad = results.events.filter(pl.col("outcome") == "retries_exhausted")
    assert set(bad.get_column("fate")) == {"unknown"}
    assert set(bad.get_column("fate_evidence")) == {"none"}
    assert set(bad.get_column("max_retry")) == {1}
    unknown = [f for f in results.findings if f.code == "ASYNC_FATE_UNKNOWN"]
    assert [(f.severity, f.function, f.count) for f in unknown] == [("warning", "thumbnailer", 12)]
    assert unknown[0].examples == tuple(sorted(bad.get_column("request"))[:5])
    assert "--config" in unknown[0].message


def test_async_dropped_on_a_week_of_data_is_not_age_exceeded() -> None:
    # GIVEN the same events, and data that goes on for 7 days
    frames = _async_dropped_without_config()
    assert frames.end is not None
    # WHEN
    results = analyse(frames, SideInputs(), data_end=frames.end + timedelta(days=7))
    # THEN they ran out of retries; their age limit (6 h) was never what ended them
    outcomes = _outcomes(results)
    assert outcomes["retries_exhausted"] == 12
    assert outcomes.get("event_age_exceeded", 0) == 0
    assert outcomes.get("in_progress", 0) == 0
    codes = {f.code for f in results.findings}
    assert "ASYNC_EVENT_AGE_EXCEEDED" not in codes
    assert not any("MaximumEventAgeInSeconds" in f.message for f in results.findings)
    # a window of a week around the data (--since / --until) changes nothing
    week = analyse(
        frames,
        SideInputs(),
        since=frames.end - timedelta(days=7),
        until=frames.end + timedelta(days=7),
        data_end=frames.end + timedelta(days=7),
    )
    assert week.events.sort("request").equals(results.events.sort("request"))


def _one_failure(builder: TraceBuilder, data_end: float, *, other_fn: str = "other") -> None:
    """r1 of fn failed once (attempt ends at 0.2 s); the data ends at ``data_end``."""
    builder.async_event("fn", trace_id(20), "r1", 0.0, [(0.1, 0.2, True)])
    builder.async_event(
        other_fn, trace_id(21), "r-end", data_end - 1, [(data_end - 0.5, data_end, False)]
    )


@pytest.mark.parametrize(
    ("data_end", "outcome"),
    [(100.0, "in_progress"), (180.0, "in_progress"), (200.0, "retries_exhausted")],
)
def test_failed_attempt_is_in_progress_only_inside_the_retry_window(
    builder: TraceBuilder, data_end: float, outcome: str
) -> None:
    # GIVEN no config, one failed attempt, and data ending 100 s / 180 s / 200 s after it
    _one_failure(builder, data_end)
    # WHEN
    results = analyse(builder.frames(), SideInputs())
    # THEN in progress only while the next retry could still start (about 3 min)
    assert _event(results, "r1")["outcome"] == outcome


def test_config_allows_more_retries_but_none_came(builder: TraceBuilder) -> None:
    # GIVEN MaximumRetryAttempts 2 (config) and data going on 10 min past one failed attempt
    _one_failure(builder, 600.0)
    side = SideInputs(functions={"fn": FunctionConfig(name="fn")}, config_files=("c.json",))
    # WHEN
    results = analyse(builder.frames(), side)
    # THEN the event ended: no retry came while the data went on
    ev = _event(results, "r1")
    assert (ev["outcome"], ev["fate"], ev["fate_evidence"]) == (
        "retries_exhausted",
        "dropped",
        "config",
    )


def test_age_limit_before_the_next_retry_is_event_age_exceeded(builder: TraceBuilder) -> None:
    # GIVEN MaximumEventAgeInSeconds 60: the retry due 60 s after the failure is too late
    _one_failure(builder, 600.0)
    side = SideInputs(
        functions={"fn": FunctionConfig(name="fn", maximum_event_age_seconds=60)},
        config_files=("c.json",),
    )
    results = analyse(builder.frames(), side)
    assert _event(results, "r1")["outcome"] == "event_age_exceeded"


def test_inferred_retries_are_confirmed_by_an_event_that_stopped(builder: TraceBuilder) -> None:
    # GIVEN no config; r-old failed twice and its retry window passed with no third attempt;
    # r-new failed twice just before the data ends
    builder.async_event("fn", trace_id(22), "r-old", 0.0, [(0.1, 0.2, True), (60.2, 60.3, True)])
    builder.async_event(
        "fn", trace_id(23), "r-new", 300.0, [(300.1, 300.2, True), (360.2, 360.3, True)]
    )
    # WHEN
    results = analyse(builder.frames(), SideInputs())
    # THEN the data shows 2 attempts is all this function gets: both ended
    for request in ("r-old", "r-new"):
        ev = _event(results, request)
        assert (ev["outcome"], ev["max_retry"], ev["fate"]) == ("retries_exhausted", 1, "unknown")


def test_throttled_function_keeps_failed_events_open_until_their_age_limit(
    builder: TraceBuilder,
) -> None:
    # GIVEN r1 failed at 0.2 s and the function is being throttled when the data ends (300 s)
    _one_failure(builder, 300.0, other_fn="fn")
    t = trace_id(24)
    svc = builder.service("fn", t, 280.0, 280.01, request_id="r-thr", status=202)
    builder.attempt(t, svc, 1, 290.0, 290.1, throttle=True)
    side = SideInputs(
        functions={"fn": FunctionConfig(name="fn", maximum_event_age_seconds=3600)},
        config_files=("c.json",),
    )
    # WHEN
    results = analyse(builder.frames(), side)
    # THEN its next retry may still come (throttled), until enqueue + 1 h
    assert _event(results, "r1")["outcome"] == "in_progress"


def test_dwell_left_in_progress_on_a_completed_event(builder: TraceBuilder) -> None:
    # GIVEN an event whose attempt and function segment completed but whose Dwell Time
    # subsegment X-Ray left in progress
    t = trace_id(25)
    svc = builder.service("fn", t, 0.0, 0.01, request_id="r-dw", status=202)
    builder.row(
        trace_id=t,
        kind="dwell",
        name="Dwell Time",
        parent_id=svc,
        doc_id=svc,
        start=at(0.0),
        end=None,
        in_progress=True,
    )
    att = builder.attempt(t, svc, 1, 0.25, 0.5)
    builder.function("fn", t, att, 0.26, 0.49)
    # WHEN
    results = analyse(builder.frames(), SideInputs())
    # THEN it succeeded; dwell = first attempt start - service segment start
    ev = _event(results, "r-dw")
    assert ev["outcome"] == "succeeded"
    assert ev["dwell_ms"] == pytest.approx(250.0)
    assert ev["last_end"] is not None


def test_closed_dwell_without_any_attempt_ended(builder: TraceBuilder) -> None:
    # GIVEN no config; an event left Lambda's queue (Dwell Time ended at 120 s) without an
    # attempt, and the data goes on for 10 more minutes
    t = trace_id(26)
    svc = builder.service("fn", t, 0.0, 0.01, request_id="r-aged", status=202)
    builder.dwell(t, svc, 0.0, 120.0)
    builder.async_event("fn", trace_id(27), "r-late", 700.0, [(700.1, 720.0, False)])
    # WHEN
    results = analyse(builder.frames(), SideInputs())
    # THEN it ended by its age limit, not "in progress"
    ev = _event(results, "r-aged")
    assert (ev["outcome"], ev["attempts"], ev["fate"]) == ("event_age_exceeded", 0, "unknown")


def _dlq_side(dump: SideDump) -> SideInputs:
    return SideInputs(
        functions={"fn": FunctionConfig(name="fn", dlq_arn=DLQ)},
        config_files=("c.json",),
        dumps=(dump,),
    )


@pytest.mark.parametrize(
    ("side", "fate", "evidence"),
    [
        (
            _dlq_side(
                SideDump(
                    source="d.json",
                    queue_arn=DLQ,
                    dlq_messages=(DlqMessage(request_id="r3"),),
                    messages=1,
                )
            ),
            "sent",
            "dump",
        ),
        (
            _dlq_side(
                SideDump(
                    source="d.json",
                    queue_arn=DLQ,
                    dlq_messages=(DlqMessage(request_id="o1"), DlqMessage(request_id="o2")),
                    messages=2,
                )
            ),
            "missing",
            "dump",
        ),
        (
            SideInputs(
                functions={"fn": FunctionConfig(name="fn", dlq_arn=DLQ)}, config_files=("c.json",)
            ),
            "sent",
            "config",
        ),
        (
            SideInputs(functions={"fn": FunctionConfig(name="fn")}, config_files=("c.json",)),
            "dropped",
            "config",
        ),
        (SideInputs(), "unknown", "none"),
        (
            _dlq_side(SideDump(source="d.json", queue_arn=DLQ, messages=3, comparable=False)),
            "sent",
            "none",
        ),
    ],
    ids=["in-dump", "missing-from-dump", "target-no-dump", "no-target", "no-config", "no-ids"],
)
def test_fate_evidence(builder: TraceBuilder, side: SideInputs, fate: str, evidence: str) -> None:
    _exhausted(builder)
    results = analyse(builder.frames(), side)
    ev = _event(results, "r3")
    assert (ev["fate"], ev["fate_evidence"]) == (fate, evidence)
    chain = results.chains.filter(pl.col("key") == "r3").row(0, named=True)
    assert chain["fate_evidence"] == evidence


def test_succeeded_events_have_no_fate_evidence(builder: TraceBuilder) -> None:
    builder.async_event("fn", trace_id(3), "r1", 0.0, [(0.2, 0.5, False)])
    results = analyse(builder.frames(), SideInputs())
    assert _event(results, "r1")["fate_evidence"] is None


def test_dump_without_request_ids_is_never_missing(builder: TraceBuilder) -> None:
    # GIVEN a DLQ dump taken without --message-attribute-names All
    _exhausted(builder)
    side = _dlq_side(SideDump(source="dlq/fn.json", queue_arn=DLQ, messages=4, comparable=False))
    # WHEN
    results = analyse(builder.frames(), side)
    # THEN nothing is "missing"; a warning names the file
    assert _event(results, "r3")["fate"] != "missing"
    codes = {f.code: f for f in results.findings}
    assert "ASYNC_EVENTS_MISSING_FROM_DLQ" not in codes
    finding = codes["DLQ_DUMP_NOT_COMPARABLE"]
    assert (finding.severity, finding.function, finding.count, finding.examples) == (
        "warning",
        None,
        1,
        ("dlq/fn.json",),
    )


@pytest.mark.parametrize(
    ("messages", "expected", "partial"),
    [(1, None, True), (10, None, False), (2, 50, True), (2, None, False)],
    ids=["one-message", "ten-but-enough", "fewer-than-recorded", "complete"],
)
def test_partial_dump_makes_missing_a_warning(
    builder: TraceBuilder, messages: int, expected: int | None, partial: bool
) -> None:
    # GIVEN two exhausted events of fn and a DLQ dump holding neither of them
    _exhausted(builder, "r3")
    builder.async_event(
        "fn",
        trace_id(28),
        "r3b",
        1.0,
        [(1.1, 1.2, True), (61.2, 61.3, True), (181.3, 181.4, True)],
    )
    side = _dlq_side(
        SideDump(
            source="d.json",
            queue_arn=DLQ,
            dlq_messages=tuple(DlqMessage(request_id=f"o{i}") for i in range(messages)),
            messages=messages,
            expected_messages=expected,
        )
    )
    # WHEN
    results = analyse(builder.frames(), side)
    # THEN missing events of a partial dump are a warning, not the critical finding
    assert set(results.events.get_column("fate")) == {"missing"}
    codes = {f.code: f for f in results.findings}
    if partial:
        assert "ASYNC_EVENTS_MISSING_FROM_DLQ" not in codes
        warning = codes["ASYNC_EVENTS_NOT_IN_PARTIAL_DUMP"]
        assert (warning.severity, warning.count) == ("warning", 2)
        total = expected if expected is not None else 2
        assert f"not found in a partial dump ({messages} of {total} messages)" in warning.message
    else:
        assert codes["ASYNC_EVENTS_MISSING_FROM_DLQ"].severity == "critical"
        assert "ASYNC_EVENTS_NOT_IN_PARTIAL_DUMP" not in codes
