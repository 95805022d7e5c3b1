"""Hypothesis-generated scenarios run, stay deterministic and respect the retry limits."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracelens.emulator import run_scenario
from tracelens.emulator.scenario import parse_scenario
from tracelens.model.vocab import ASYNC_CALLERS, SYNC_CALLERS

FUNCTIONS = ("alpha", "beta")


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    functions = {
        name: {
            "duration_ms": draw(st.floats(5, 2000)),
            "failure_rate": draw(st.sampled_from([0.0, 0.2, 0.6, 1.0])),
            "failure_kind": draw(st.sampled_from(["exception", "timeout"])),
            "timeout_s": 10,
            "max_retry_attempts": draw(st.integers(0, 2)),
            "max_event_age_s": draw(st.sampled_from([60, 300, 21600])),
            "reserved_concurrency": draw(st.sampled_from([None, 0, 1, 5])),
            "duplicate_rate": draw(st.sampled_from([0.0, 0.3])),
            "service_error_rate": draw(st.sampled_from([0.0, 0.1])),
            "failure_flag": draw(st.sampled_from(["error", "fault", "throttle"])),
            "failure_cause": draw(st.booleans()),
            "dlq": draw(
                st.sampled_from(
                    [None, "arn:aws:sqs:us-east-1:123456789012:d", "arn:aws:sns:us-east-1:1:t"]
                )
            ),
        }
        for name in FUNCTIONS
    }
    for spec in functions.values():
        for key in ("reserved_concurrency", "dlq"):
            if spec[key] is None:
                del spec[key]
    callers = [
        {
            "kind": draw(st.sampled_from(sorted(SYNC_CALLERS | ASYNC_CALLERS))),
            "function": draw(st.sampled_from(FUNCTIONS)),
            "count": draw(st.integers(0, 15)),
            "duration_s": draw(st.floats(1, 600)),
        }
        for _ in range(draw(st.integers(1, 3)))
    ]
    for caller in callers:
        if caller["kind"] == "sdk":
            caller["retry_mode"] = draw(st.sampled_from(["none", "legacy", "standard", "adaptive"]))
            caller["read_timeout_s"] = draw(st.sampled_from([1.0, 60.0]))
    data: dict[str, Any] = {"name": "random", "functions": functions, "callers": callers}
    if draw(st.booleans()):
        fifo = draw(st.booleans())
        data["queues"] = {
            "q": {
                "visibility_timeout_s": 30,
                "retention_s": 300,
                "max_receive_count": draw(st.sampled_from([2, 4])),
                "fifo": fifo,
            }
        }
        data["mappings"] = [
            {
                "source": "q",
                "function": "alpha",
                "batch_size": 5,
                "report_batch_item_failures": draw(st.booleans()),
            }
        ]
        producer: dict[str, Any] = {
            "kind": "sqs",
            "target": "q",
            "count": draw(st.integers(1, 15)),
            "poison": [0],
            "links": draw(st.booleans()),
        }
        if fifo:
            producer["groups"] = draw(st.integers(1, 3))
        callers.append(producer)
    if draw(st.booleans()):
        data["streams"] = {
            "s": {"kind": draw(st.sampled_from(["kinesis", "dynamodb"])), "shards": 1}
        }
        data.setdefault("mappings", []).append(
            {
                "source": "s",
                "function": "beta",
                "batch_size": 4,
                "bisect": draw(st.booleans()),
                "max_retry_attempts": draw(st.integers(0, 3)),
                "max_record_age_s": 120,
            }
        )
        callers.append(
            {
                "kind": "kinesis" if data["streams"]["s"]["kind"] == "kinesis" else "dynamodb",
                "target": "s",
                "count": draw(st.integers(1, 15)),
                "poison": [1],
            }
        )
    return data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(0, 2**16))
def test_random_scenarios_run(data: dict[str, Any], seed: int) -> None:
    scenario = parse_scenario(data, "<hypothesis>")
    result = run_scenario(scenario, seed=seed)
    assert list(result.trace_lines()) == list(run_scenario(scenario, seed=seed).trace_lines())
    for event in result.truth["async_events"]:
        limit = scenario.functions[event["function"]].max_retry_attempts + 1
        assert len(event["attempts"]) <= limit
        assert all(a["end"] >= a["start"] for a in event["attempts"])
    totals = result.truth["totals"]
    for name, tally in totals["functions"].items():
        assert tally["failed_invocations"] <= tally["invocations"]
        assert tally["cold_starts"] <= tally["invocations"]
        assert name.removeprefix("us-east-1.") in scenario.functions  # Lambda@Edge replicas
    if "sqs" in totals:
        max_receive = scenario.queues["q"].max_receive_count
        assert max_receive is not None
        assert totals["sqs"]["max_receive_count"] is None or (
            totals["sqs"]["max_receive_count"] <= max_receive
        )
