"""Sync requests: throttles, failed requests, logical calls, client retries, duplicates."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import polars as pl
from click.testing import CliRunner

from tests.analysis.conftest import TraceBuilder, at, trace_id
from tracelens.analysis import analyse
from tracelens.cli import main
from tracelens.model import schema as col
from tracelens.model.side import SideInputs

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE = ROOT / "sample_traces" / "sync_client_retries"

#: Try outcomes of the emulator's truth after which the function had run (a read timeout is
#: the client giving up: the function went on running).
_RAN = frozenset({"ok", "function_error", "read_timeout"})


# --- the sample bundle against its truth ---------------------------------------------------


def _truth_expectations() -> dict[str, Any]:
    """What the report must say, computed from truth.json alone (every sync call, its tries)."""
    truth = json.loads((SAMPLE / "truth.json").read_text())
    calls = truth["sync_calls"]
    assert calls, "the sample must hold sync calls"
    per_fn: dict[str, dict[str, int]] = {}
    sync = dict.fromkeys(
        ("requests", "failed", "throttled", "client_retries", "duplicate_executions"), 0
    )
    duplicates: dict[str, int] = {}
    for call in calls:
        fn = per_fn.setdefault(call["function"], {"throttles": 0, "failed_requests": 0})
        tries = call["tries"]
        sync["requests"] += len(tries)
        sync["client_retries"] += len(tries) - 1
        for t in tries:
            throttled = t["status"] == 429
            # Lambda's answer to the try (a read timeout was a 200 the client never read)
            failed = throttled or (t["status"] is not None and t["status"] >= 500)
            failed = failed or t["outcome"] == "function_error"
            fn["throttles"] += throttled
            fn["failed_requests"] += failed
            sync["throttled"] += throttled
            sync["failed"] += failed
        if sum(t["outcome"] in _RAN for t in tries) > 1:
            sync["duplicate_executions"] += 1
            duplicates[call["function"]] = duplicates.get(call["function"], 0) + 1
    sync["succeeded"] = sync["requests"] - sync["failed"]
    return {"functions": per_fn, "sync": sync, "duplicates": duplicates}


def _analyze(*args: str) -> Any:
    result = CliRunner().invoke(main, ["analyze", str(SAMPLE), *args])
    assert result.exit_code == 0, result.output
    return result


def test_sample_throttles_and_failures_are_counted_per_function() -> None:
    expected = _truth_expectations()
    report = json.loads(_analyze("--format", "json").stdout)
    functions = {f["name"]: f for f in report["functions"]}
    for name, want in expected["functions"].items():
        got = functions[name]
        assert (got["throttles"], got["failed_requests"]) == (
            want["throttles"],
            want["failed_requests"],
        ), name
    assert functions["quote-api"]["throttles"] == 202  # the 202 throttled segments
    assert functions["quote-api"]["failed_requests"] > 0


def test_sample_sync_section_matches_truth() -> None:
    expected = _truth_expectations()
    report = json.loads(_analyze("--format", "json").stdout)
    assert report["sync"] == expected["sync"]
    sync = report["sync"]
    assert sync["succeeded"] + sync["failed"] == sync["requests"]
    assert sync["throttled"] <= sync["failed"]


def test_sample_sync_findings() -> None:
    expected = _truth_expectations()
    report = json.loads(_analyze("--format", "json").stdout)
    found = {(f["code"], f["function"]): f for f in report["findings"]}
    throttled = found[("SYNC_THROTTLED", "quote-api")]
    fn = expected["functions"]["quote-api"]
    assert throttled["count"] == fn["throttles"]
    assert throttled["severity"] == "critical"  # 202 of 306 sync requests
    assert 0 < len(throttled["examples"]) <= 5
    assert throttled["examples"] == sorted(throttled["examples"])
    failures = found[("SYNC_FAILURES", "quote-api")]
    assert failures["count"] == fn["failed_requests"] - fn["throttles"]
    assert failures["severity"] == "warning"
    for name, count in expected["duplicates"].items():
        duplicate = found[("SYNC_DUPLICATE_EXECUTIONS", name)]
        assert (duplicate["count"], duplicate["severity"]) == (count, "warning")
    assert not [f for f in report["findings"] if f["code"] == "LAMBDA_NOT_REACHED"]


def test_sample_text_shows_sync_throttles() -> None:
    text = _analyze().stdout
    assert "sync: 326 requests" in text
    assert "SYNC_THROTTLED quote-api (202)" in text
    functions = text[text.index("Functions (") :]
    row = next(line for line in functions.splitlines() if line.strip().startswith("quote-api"))
    assert " 202 " in row


# --- a small hand-built frame ---------------------------------------------------------------


def _service(
    builder: TraceBuilder,
    trace: str,
    request_id: str,
    start: float,
    *,
    parent: str,
    status: int = 200,
    throttle: bool = False,
    error: bool = False,
    fault: bool = False,
) -> str:
    svc = builder.service("fn", trace, start, start + 0.01, request_id=request_id, parent_id=parent)
    row = builder.rows[-1]
    row.update({col.HTTP_STATUS: status, col.THROTTLE: throttle, col.ERROR: error})
    row[col.FAULT] = fault
    return svc


def _caller(builder: TraceBuilder, trace: str, name: str, start: float, end: float) -> str:
    return builder.row(
        trace_id=trace,
        kind=col.KIND_SEGMENT,
        top=True,
        name=name,
        origin="AWS::ApiGateway::Stage",
        start=at(start),
        end=at(end),
    )


def _inferred(
    builder: TraceBuilder, trace: str, parent: str, start: float, operation: str = "Invoke"
) -> str:
    return builder.row(
        trace_id=trace,
        kind=col.KIND_INFERRED,
        top=True,
        name="Lambda",
        origin="AWS::Lambda",
        parent_id=parent,
        start=at(start),
        end=at(start + 0.01),
        fault=True,
        http_status=500,
        operation=operation,
    )


def _sync_frames(builder: TraceBuilder) -> None:
    # A: an SDK call throttled once (429 service segment, no function segment), then served
    a = trace_id(1)
    _caller(builder, a, "pricing-service", 0.0, 2.0)
    _service(
        builder, a, "r1", 0.1, parent="c0000000000000a1", status=429, throttle=True, error=True
    )
    svc = _service(builder, a, "r2", 0.5, parent="c0000000000000a1")
    builder.function("fn", a, svc, 0.51, 0.6)
    # B: a 5xx from Lambda (fault, no function segment), then served
    b = trace_id(2)
    _caller(builder, b, "pricing-service", 10.0, 12.0)
    _service(builder, b, "r3", 10.1, parent="c0000000000000b1", status=500, fault=True)
    svc = _service(builder, b, "r4", 10.5, parent="c0000000000000b1")
    builder.function("fn", b, svc, 10.51, 10.6)
    # C: a legacy re-invoke after a client read timeout: the function ran twice
    c = trace_id(3)
    _caller(builder, c, "nightly-exporter", 20.0, 30.0)
    svc = _service(builder, c, "r5", 20.1, parent="c0000000000000c1")
    builder.function("fn", c, svc, 20.11, 25.0)
    svc = _service(builder, c, "r6", 21.0, parent="c0000000000000c1")
    builder.function("fn", c, svc, 21.01, 26.0)
    # D: a function error (200 from Lambda, the function segment failed)
    d = trace_id(4)
    _caller(builder, d, "pricing-service", 40.0, 41.0)
    svc = _service(builder, d, "r7", 40.1, parent="c0000000000000d1")
    builder.function("fn", d, svc, 40.11, 40.5, error=True, cause="ValueError: boom")
    # E: API Gateway got a fault from Lambda, which never recorded a request
    e = trace_id(5)
    _caller(builder, e, "orders-api/prod", 50.0, 50.5)
    _inferred(builder, e, "c0000000000000e1", 50.1)
    # F: an inferred faulted Lambda segment whose call did reach Lambda: not counted
    f = trace_id(6)
    _caller(builder, f, "orders-api/prod", 60.0, 60.5)
    _inferred(builder, f, "c0000000000000f1", 60.1)
    _service(builder, f, "r8", 60.1, parent="c0000000000000f1", status=500, fault=True)


def test_throttled_and_failed_requests_per_function(builder: TraceBuilder) -> None:
    _sync_frames(builder)
    results = analyse(builder.frames(), SideInputs())
    fn = results.functions.row(0, named=True)
    # r1 throttled; r3, r8 5xx; r7 function error
    assert (fn["requests"], fn["throttles"], fn["failed_requests"]) == (8, 1, 4)
    assert fn["failed_invocations"] == 1
    flags = {
        r["request"]: (r["throttled"], r["failed"])
        for r in results.requests.select("request", "throttled", "failed").to_dicts()
    }
    assert flags["r1"] == (True, True)
    assert flags["r3"] == (False, True)
    assert flags["r7"] == (False, True)
    assert flags["r5"] == flags["r2"] == (False, False)


def test_sync_section_counts_calls_retries_and_duplicates(builder: TraceBuilder) -> None:
    _sync_frames(builder)
    results = analyse(builder.frames(), SideInputs())
    assert asdict(results.sync) == {
        "requests": 8,
        "succeeded": 4,
        "failed": 4,
        "throttled": 1,
        "client_retries": 3,  # r2 after r1, r4 after r3, r6 after r5
        "duplicate_executions": 1,  # r5 and r6 both ran the function
    }


def test_sync_findings(builder: TraceBuilder) -> None:
    _sync_frames(builder)
    results = analyse(builder.frames(), SideInputs())
    found = {f.code: f for f in results.findings}
    throttled = found["SYNC_THROTTLED"]
    # 1 of 8 sync requests: 12.5 % >= 10 % is critical
    assert (throttled.severity, throttled.function, throttled.count) == ("critical", "fn", 1)
    assert throttled.examples == ("r1",)
    failures = found["SYNC_FAILURES"]
    assert (failures.severity, failures.count, failures.examples) == (
        "warning",
        3,
        ("r3", "r7", "r8"),
    )
    duplicate = found["SYNC_DUPLICATE_EXECUTIONS"]
    assert (duplicate.severity, duplicate.count, duplicate.examples) == (
        "warning",
        1,
        ("r5", "r6"),
    )
    not_reached = found["LAMBDA_NOT_REACHED"]
    assert (not_reached.severity, not_reached.count) == ("critical", 1)
    assert "orders-api/prod" in not_reached.message
    assert not_reached.examples == (trace_id(5),)
    for finding in (throttled, failures, duplicate, not_reached):
        assert finding.message.count(";") <= 1
        assert finding.message.endswith(".")


def test_throttles_below_ten_percent_are_a_warning(builder: TraceBuilder) -> None:
    t = trace_id(20)
    _caller(builder, t, "client", 0.0, 100.0)
    _service(builder, t, "t0", 0.0, parent="c000000000000100", status=429, throttle=True)
    for n in range(1, 11):  # ten served calls, each its own subsegment
        svc = _service(builder, t, f"t{n}", float(n), parent=f"c0000000000001{n:02d}")
        builder.function("fn", t, svc, n + 0.01, n + 0.1)
    results = analyse(builder.frames(), SideInputs())
    (throttled,) = [f for f in results.findings if f.code == "SYNC_THROTTLED"]
    assert (throttled.severity, throttled.count) == ("warning", 1)  # 1 of 11 < 10 %


def test_unidentified_caller_is_said(builder: TraceBuilder) -> None:
    # two overlapping callers in one trace, neither inside the other: the caller is unknown
    t = trace_id(30)
    _caller(builder, t, "a", 0.0, 1.0)
    _caller(builder, t, "b", 0.05, 2.0)
    _inferred(builder, t, "c000000000000300", 0.5)
    results = analyse(builder.frames(), SideInputs())
    (finding,) = [f for f in results.findings if f.code == "LAMBDA_NOT_REACHED"]
    assert "unidentified caller" in finding.message
    assert finding.function is None


def test_nested_caller_is_the_innermost(builder: TraceBuilder) -> None:
    # API Gateway -> function "front" -> a Lambda call that never reached Lambda
    t = trace_id(31)
    stage = _caller(builder, t, "api/prod", 0.0, 3.0)
    svc = builder.service("front", t, 0.1, 2.9, request_id="rf", parent_id=stage)
    builder.function("front", t, svc, 0.2, 2.8)
    _inferred(builder, t, "c000000000000310", 1.0)
    results = analyse(builder.frames(), SideInputs())
    (finding,) = [f for f in results.findings if f.code == "LAMBDA_NOT_REACHED"]
    assert "from front " in finding.message


def test_no_sync_requests_gives_zeros(builder: TraceBuilder) -> None:
    builder.async_event("fn", trace_id(40), "ra", 0.0, [(0.1, 0.2, False)])
    results = analyse(builder.frames(), SideInputs())
    assert asdict(results.sync) == dict.fromkeys(
        ("requests", "succeeded", "failed", "throttled", "client_retries", "duplicate_executions"),
        0,
    )
    assert not [f for f in results.findings if f.code.startswith("SYNC_")]
    assert results.requests.filter(pl.col("failed")).is_empty()


def test_failed_requests_of_async_events_follow_their_outcome(builder: TraceBuilder) -> None:
    failing = [(1.0, 1.5, True), (61.0, 61.5, True), (181.0, 181.5, True)]
    builder.async_event("fn", trace_id(50), "exhausted", 0.0, failing)
    builder.async_event(
        "fn", trace_id(51), "recovered", 0.0, [(1.0, 1.5, True), (61.0, 61.5, False)]
    )
    builder.async_event("fn", trace_id(52), "open", 0.0, [(1.0, None, False)], in_progress=True)
    results = analyse(builder.frames(), SideInputs())
    flags = {
        r["request"]: (r["throttled"], r["failed"])
        for r in results.requests.select("request", "throttled", "failed").to_dicts()
    }
    # the last attempt of "recovered" failed first, but the event succeeded: not failed
    assert flags == {
        "exhausted": (False, True),
        "recovered": (False, False),
        "open": (False, False),
    }
    fn = results.functions.row(0, named=True)
    assert (fn["failed_requests"], fn["throttles"]) == (1, 0)
    assert results.sync.requests == 0


def test_async_event_made_good_after_a_throttled_attempt_did_not_fail(
    builder: TraceBuilder,
) -> None:
    # Attempt 1 throttled, attempt 2 succeeded: the request is throttled but not failed; an
    # async event whose attempts all failed did fail (its outcome decides, D2).
    t = trace_id(40)
    svc = builder.service("fn", t, 0.0, 0.01, request_id="a1", status=202)
    builder.dwell(t, svc, 0.0, 0.05)
    builder.attempt(t, svc, 1, 0.05, 0.06, throttle=True)
    att = builder.attempt(t, svc, 2, 60.0, 60.5)
    builder.function("fn", t, att, 60.01, 60.49)
    builder.async_event("fn", trace_id(41), "a2", 1.0, [(1.1, 1.5, True)] * 3)
    builder.async_event("fn", trace_id(42), "a3", 400.0, [(400.1, 400.5, False)])
    results = analyse(builder.frames(), SideInputs())
    flags = {
        r["request"]: (r["throttled"], r["failed"])
        for r in results.requests.select("request", "throttled", "failed").to_dicts()
    }
    assert flags["a1"] == (True, False)
    assert flags["a2"] == (False, True)
    fn = results.functions.row(0, named=True)
    assert (fn["throttles"], fn["failed_requests"]) == (1, 1)


def test_a_failed_control_plane_call_is_not_lambda_not_reached(builder: TraceBuilder) -> None:
    # X-Ray infers an AWS::Lambda segment for every Lambda API call (real_traces/aws-iatk has
    # GetFunction ones): only a failed Invoke means a function was not reached.
    t = trace_id(50)
    _caller(builder, t, "deployer", 0.0, 1.0)
    _inferred(builder, t, "c000000000000050", 0.1, operation="GetFunction")
    u = trace_id(51)
    _caller(builder, u, "orders-api/prod", 2.0, 3.0)
    _inferred(builder, u, "c000000000000051", 2.1, operation="Invoke")
    results = analyse(builder.frames(), SideInputs())
    (finding,) = [f for f in results.findings if f.code == "LAMBDA_NOT_REACHED"]
    assert (finding.count, finding.examples) == (1, (u,))
