"""Round trip: `tracelens analyze` on each bundle recovers every figure of truth.json.

With the bundle's config every figure equals the truth (totals, per-function throttles and
failed requests, the sync section, dwell and retry-delay statistics and per-function dwell
quantiles, every chain with its attempts, outcome, fate, evidence, dwell, errors and retry
waits, and the findings); without it, nothing truth says ended badly is reported as
succeeded or in progress; with partial dumps, left-out events are not a critical "missing".
"""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

import pytest

from tests.emulator.conftest import BUILTINS, builtin_result
from tests.emulator.oracle import analyse_bundle, compare, ended_badly_problems, stats
from tracelens.emulator import run_scenario, write_bundle
from tracelens.emulator.scenario import parse_scenario
from tracelens.emulator.truth import BAD_OUTCOMES

if TYPE_CHECKING:
    from pathlib import Path

    from tracelens.emulator import EmulationResult

SEED = 3


def _bundle(name: str, tmp_path: Path) -> tuple[EmulationResult, Path]:
    result = builtin_result(name, SEED)  # run once per session, shared by the tests below
    write_bundle(result, tmp_path / "bundle")
    return result, tmp_path / "bundle"


def _agrees_with_truth(
    scenario: dict[str, Any], tmp_path: Path, *, seed: int = 0
) -> EmulationResult:
    """Run ``scenario``, write its bundle and assert the report agrees with its truth."""
    result = run_scenario(parse_scenario(scenario, "<scenario>"), seed=seed)
    write_bundle(result, tmp_path)
    problems = compare(result.truth, analyse_bundle(tmp_path))
    assert not problems, problems.text()
    return result


@pytest.mark.parametrize("name", BUILTINS)
def test_analyze_recovers_truth(name: str, tmp_path: Path) -> None:
    result, bundle = _bundle(name, tmp_path)
    problems = compare(result.truth, analyse_bundle(bundle))
    assert not problems, problems.text()


#: Functions whose failures carry each flag, with and without a recorded cause, on every
#: path: a report that ignores one flag or mislabels a cause-less failure differs here.
FLAG_SCENARIO: dict[str, Any] = {
    "name": "flags",
    "functions": {
        f"{flag}-{'cause' if cause else 'bare'}": {
            "failure_rate": 0.4,
            "failure_flag": flag,
            "failure_cause": cause,
            "duration_ms": 40,
            "max_retry_attempts": 2,
        }
        for flag in ("error", "fault", "throttle")
        for cause in (True, False)
    },
    "queues": {"q": {"visibility_timeout_s": 30, "max_receive_count": 3}},
    "streams": {"s": {"kind": "kinesis"}, "t": {"kind": "dynamodb"}},
    "mappings": [
        {"source": "q", "function": "throttle-bare", "batch_size": 2},
        {"source": "s", "function": "fault-bare", "batch_size": 3, "max_retry_attempts": 2},
        {"source": "t", "function": "error-bare", "batch_size": 3, "max_retry_attempts": 1},
    ],
    "callers": [
        *(
            {"kind": kind, "function": fn, "count": 12, "duration_s": 300}
            for fn in (
                f"{flag}-{cause}"
                for flag in ("error", "fault", "throttle")
                for cause in ("cause", "bare")
            )
            for kind in ("s3", "api_gateway")
        ),
        {"kind": "sqs", "target": "q", "count": 20, "poison": [3], "duration_s": 120},
        {"kind": "kinesis", "target": "s", "count": 20, "poison": [5], "duration_s": 120},
        {"kind": "dynamodb", "target": "t", "count": 20, "poison": [7], "duration_s": 120},
    ],
}


def test_analyze_recovers_truth_for_every_failure_flag(tmp_path: Path) -> None:
    _agrees_with_truth(FLAG_SCENARIO, tmp_path, seed=SEED)


def test_analyze_recovers_truth_on_random_scenarios(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, assume, given, settings
    from hypothesis import strategies as st

    from tests.emulator.test_random_scenarios import scenarios

    # Derandomized: the same 20 scenarios every run, so a landing never depends on luck; the
    # open-ended search for new cases is bench/fuzz_roundtrip.py (each case it found is a
    # named regression scenario below).
    @settings(
        max_examples=20,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(scenarios(), st.integers(0, 1000))
    def check(data: dict[str, Any], seed: int) -> None:
        result = run_scenario(parse_scenario(data, "<hypothesis>"), seed=seed)
        assume(result.lines)  # a scenario whose callers send nothing has no traces to analyse
        out = tmp_path / f"b{seed}"
        write_bundle(result, out)
        problems = compare(result.truth, analyse_bundle(out))
        assert not problems, problems.text()
        # the same traces without config or dumps: nothing that ended badly looks fine,
        # and no fate claims a dump was checked
        bare = tmp_path / f"t{seed}"
        bare.mkdir(exist_ok=True)
        shutil.copy(out / "traces.ndjson", bare / "traces.ndjson")
        report = analyse_bundle(bare)
        wrong = ended_badly_problems(result.truth, report)
        wrong += [
            f"{c['key']}: fate evidence dump with no dump supplied"
            for c in report["chains"]
            if c.get("fate_evidence") == "dump"
        ]
        assert not wrong, "\n".join(wrong)

    check()


@pytest.mark.parametrize("name", BUILTINS)
def test_without_config_nothing_that_ended_badly_looks_fine(name: str, tmp_path: Path) -> None:
    """Traces only: fates are unknown, never succeeded/in progress for what ended badly."""
    result, bundle = _bundle(name, tmp_path)
    bare = tmp_path / "traces-only"
    bare.mkdir()
    shutil.copy(bundle / "traces.ndjson", bare / "traces.ndjson")
    report = analyse_bundle(bare)
    problems = ended_badly_problems(result.truth, report)
    chains = {c["key"]: c for c in report["chains"] if c["kind"] == "async"}
    unknown: dict[str, int] = {}
    for e in result.truth["async_events"]:
        chain = chains.get(e["request_id"])
        if chain is None or chain["outcome"] not in BAD_OUTCOMES:
            continue
        unknown[e["function"]] = unknown.get(e["function"], 0) + 1
        if chain["fate"] != "unknown" or chain.get("fate_evidence") != "none":
            problems.append(
                f"{e['request_id']}: no config and no dump, fate {chain['fate']} "
                f"({chain.get('fate_evidence', 'no fate_evidence field')}), want unknown (none)"
            )
    raised = {
        f["function"]: f["count"] for f in report["findings"] if f["code"] == "ASYNC_FATE_UNKNOWN"
    }
    if raised != unknown:
        problems.append(f"ASYNC_FATE_UNKNOWN findings {raised}, want {unknown}")
    # Figures that do not depend on the config still equal the truth.
    totals = result.truth["totals"]
    by_name = {f["name"]: f for f in report["functions"]}
    for fn, want in totals["functions"].items():
        for key in ("requests", "invocations", "cold_starts", "failed_invocations", "throttles"):
            got = by_name.get(fn, {}).get(key)
            if got != want[key]:
                problems.append(f"functions[].{key} ({fn}): truth {want[key]}, report {got}")
    if "async" in totals:
        dwell = stats([e["dwell_ms"] for e in result.truth["async_events"]])
        if compare_block(dwell, report["async"]["dwell_ms"]):
            problems.append(f"async.dwell_ms: truth {dwell}, report {report['async']['dwell_ms']}")
    if "sync" in totals and report.get("sync") != totals["sync"]:
        problems.append(f"sync: truth {totals['sync']}, report {report.get('sync')}")
    assert not problems, "\n".join(problems)


def compare_block(want: dict[str, Any], got: dict[str, Any]) -> bool:
    """True when two statistic blocks differ by more than a microsecond."""
    for key, value in want.items():
        other = got.get(key)
        if value is None or other is None:
            if value is not other:
                return True
        elif abs(value - other) > 0.0011:
            return True
    return False


def _partial_dumps(bundle: Path, out: Path) -> set[str]:
    """Copy the bundle keeping one message of each dump; return the request ids left out."""
    shutil.copytree(bundle, out)
    left_out: set[str] = set()
    for path in sorted((out / "dlq").glob("*.json")):
        dump = json.loads(path.read_text())
        key = "Messages" if "Messages" in dump else "Notifications"
        items = dump[key]
        if len(items) < 2:
            continue
        dump[key] = items[:1]
        left_out.update(rid for m in items[1:] if (rid := _request_id(m)))
        path.write_text(json.dumps(dump, indent=2, sort_keys=True) + "\n")
    return left_out


def _request_id(message: dict[str, Any]) -> str | None:
    """Lambda's request id in a DLQ message, SNS notification or on-failure record."""
    attributes = message.get("MessageAttributes") or {}
    rid = attributes.get("RequestID")
    if rid:
        return str(rid.get("StringValue") or rid.get("Value"))
    try:
        context = json.loads(message.get("Body") or message.get("Message") or "{}")
    except ValueError:
        return None
    request_id = (context.get("requestContext") or {}).get("requestId")
    return str(request_id) if request_id else None


def _has_partial_async_dump(name: str) -> bool:
    events = builtin_result(name, SEED).truth["async_events"]
    return sum(e.get("fate_evidence") == "dump" for e in events) > 1


PARTIAL = [name for name in BUILTINS if _has_partial_async_dump(name)]


def test_some_builtin_has_a_dump_to_cut() -> None:
    assert PARTIAL, "no built-in scenario has two or more events in a dump"


@pytest.mark.parametrize("name", PARTIAL)
def test_partial_dump_is_not_a_critical_missing(name: str, tmp_path: Path) -> None:
    """Dumps cut to one message (one receive-message call): left-out events are a warning."""
    result, bundle = _bundle(name, tmp_path)
    left_out = _partial_dumps(bundle, tmp_path / "partial")
    assert left_out
    report = analyse_bundle(tmp_path / "partial")
    problems = []
    chains = {c["key"]: c for c in report["chains"] if c["kind"] == "async"}
    for e in result.truth["async_events"]:
        if e["request_id"] not in left_out or e["outcome"] not in BAD_OUTCOMES:
            continue
        chain = chains.get(e["request_id"], {})
        if chain.get("fate") != "missing" or chain.get("fate_evidence") != "dump":
            problems.append(
                f"{e['request_id']}: left out of a partial dump, fate {chain.get('fate')} "
                f"({chain.get('fate_evidence', 'no fate_evidence field')}), want missing (dump)"
            )
    critical = [
        f
        for f in report["findings"]
        if f["code"] == "ASYNC_EVENTS_MISSING_FROM_DLQ" and f["severity"] == "critical"
    ]
    if critical:
        problems.append(f"critical 'missing' finding for a partial dump: {critical}")
    if not any(
        f["severity"] == "warning" and "partial dump" in f["message"] for f in report["findings"]
    ):
        problems.append("no warning says the events were not found in a partial dump")
    # Everything but fates and the missing finding still equals the truth.
    problems.extend(
        w for w in compare(result.truth, report).wrong if "fate" not in w and "MISSING" not in w
    )
    assert not problems, "\n".join(problems)


# Found by the random round trip: a Kinesis batch Lambda discards for its record age at the
# poll after its last attempt, which is the last document: the data shows it still retried.
AGED_OUT_AT_DATA_END: dict[str, Any] = {
    "name": "random",
    "functions": {
        "beta": {
            "duration_ms": 5.0,
            "failure_rate": 1.0,
            "failure_kind": "timeout",
            "timeout_s": 10,
            "max_retry_attempts": 0,
            "max_event_age_s": 60,
            "duplicate_rate": 0.0,
            "service_error_rate": 0.0,
            "failure_flag": "error",
            "failure_cause": False,
        },
    },
    "callers": [
        {"kind": "kinesis", "target": "s", "count": 10, "poison": [1]},
    ],
    "streams": {"s": {"kind": "kinesis", "shards": 1}},
    "mappings": [
        {
            "source": "s",
            "function": "beta",
            "batch_size": 4,
            "bisect": False,
            "max_retry_attempts": 3,
            "max_record_age_s": 120,
        }
    ],
}


def test_a_batch_aged_out_when_the_data_ends_is_still_retried_as_the_data_shows_it(
    tmp_path: Path,
) -> None:
    result = _agrees_with_truth(AGED_OUT_AT_DATA_END, tmp_path)
    batches = result.truth["stream_batches"]
    assert any(b["outcome"] == "RecordAgeExceeded" for b in batches)


# Found by the random round trip: with BisectBatchOnFunctionError a failed batch of two
# records is split and retried (splits do not use up MaximumRetryAttempts, here 0), so when
# the data ends after its first failure it is still being retried, not discarded.
SPLITTABLE_AT_DATA_END: dict[str, Any] = {
    **AGED_OUT_AT_DATA_END,
    "callers": [{"kind": "kinesis", "target": "s", "count": 11, "poison": [1]}],
    "mappings": [
        {
            "source": "s",
            "function": "beta",
            "batch_size": 4,
            "bisect": True,
            "max_retry_attempts": 0,
            "max_record_age_s": 120,
        }
    ],
}


def test_a_failed_batch_that_bisect_can_still_split_is_not_discarded(tmp_path: Path) -> None:
    result = _agrees_with_truth(SPLITTABLE_AT_DATA_END, tmp_path)
    invoked = [b for b in result.truth["stream_batches"] if b["attempts"]]
    last = max(invoked, key=lambda b: b["attempts"][-1]["start"])
    assert last["records"] == 2
    assert len(last["attempts"]) == 1


# Found by the random round trip: with bisect, the first half of a split batch failed until
# its records were too old and Lambda discarded it; the other half of the split then started
# as a batch of its own. That start shows the first half ended, though its retries had not
# run out and the traces carry no record arrival times.
SPLIT_HALF_AGED_OUT: dict[str, Any] = {
    **AGED_OUT_AT_DATA_END,
    "functions": {
        "alpha": {**AGED_OUT_AT_DATA_END["functions"]["beta"], "failure_rate": 0.0},
        "beta": {
            **AGED_OUT_AT_DATA_END["functions"]["beta"],
            "duration_ms": 1530.0,
            "failure_kind": "exception",
        },
    },
    # The ALB callers send nothing; they are kept because they shape the random draws.
    "callers": [
        {"kind": "alb", "function": "alpha", "count": 0, "duration_s": 1.0},
        {"kind": "alb", "function": "alpha", "count": 0, "duration_s": 1.0},
        {"kind": "kinesis", "target": "s", "count": 11, "poison": [1]},
    ],
    "mappings": [
        {
            "source": "s",
            "function": "beta",
            "batch_size": 4,
            "bisect": True,
            "max_retry_attempts": 3,
            "max_record_age_s": 120,
        }
    ],
}


def test_a_split_half_that_aged_out_is_discarded_when_the_other_half_starts(
    tmp_path: Path,
) -> None:
    result = _agrees_with_truth(SPLIT_HALF_AGED_OUT, tmp_path)
    aged = [b for b in result.truth["stream_batches"] if b["outcome"] == "RecordAgeExceeded"]
    assert any(b["ended"] < result.truth["data_end"] for b in aged)


# Found by the random round trip: a single-record batch failed once (MaximumRetryAttempts 1)
# and was discarded for its age; the shard's next batch then started. With
# ParallelizationFactor 1 a shard's batches run one at a time, so that start ends it.
SHARD_MOVED_ON: dict[str, Any] = {
    **SPLIT_HALF_AGED_OUT,
    "functions": {
        "alpha": SPLIT_HALF_AGED_OUT["functions"]["alpha"],
        "beta": {
            **AGED_OUT_AT_DATA_END["functions"]["beta"],
            "failure_rate": 0.6,
        },
    },
    "callers": [
        {"kind": "alb", "function": "alpha", "count": 0, "duration_s": 1.0},
        {"kind": "kinesis", "target": "s", "count": 11, "poison": [1]},
    ],
    "mappings": [
        {
            "source": "s",
            "function": "beta",
            "batch_size": 4,
            "bisect": True,
            "max_retry_attempts": 1,
            "max_record_age_s": 120,
        }
    ],
}


def test_a_batch_the_shard_read_past_has_ended(tmp_path: Path) -> None:
    _agrees_with_truth(SHARD_MOVED_ON, tmp_path)


# Found by the random round trip: with reserved concurrency 1 a throttled async event left the
# queue at its age limit, 5 min after enqueue; its ``Dwell Time`` ended after every top-level
# document. The data runs until that subsegment ends (as the analysis reads it), so the
# truth's data end must include subsegments, and the event has ended.
DWELL_ENDS_LAST: dict[str, Any] = {
    "name": "random",
    "functions": {
        "alpha": {
            **AGED_OUT_AT_DATA_END["functions"]["beta"],
            "max_event_age_s": 300,
            "reserved_concurrency": 1,
        },
        "beta": {**AGED_OUT_AT_DATA_END["functions"]["beta"], "failure_rate": 0.0},
    },
    "callers": [{"kind": "cloudformation", "function": "alpha", "count": 12, "duration_s": 1.0}],
}


def test_the_data_ends_when_its_last_subsegment_ends(tmp_path: Path) -> None:
    result = _agrees_with_truth(DWELL_ENDS_LAST, tmp_path)
    expired = [e for e in result.truth["async_events"] if e["condition"] == "EventAgeExceeded"]
    assert any(e["outcome"] == "event_age_exceeded" for e in expired)


# Found by the random round trip: a poison message's last receives were throttled (no trace)
# and SQS moved it to the DLQ; the traces show 3 failed deliveries (maxReceiveCount 4) and
# data running past the queue's retention. It is no longer in the queue, but whether SQS
# moved it or deleted it the traces cannot tell: its fate is unknown, with the reason.
UNSEEN_MOVE: dict[str, Any] = {
    "name": "random",
    "functions": {
        "alpha": {
            **AGED_OUT_AT_DATA_END["functions"]["beta"],
            "duration_ms": 870.56706503017,
            "failure_kind": "exception",
            "reserved_concurrency": 1,
        },
        "beta": {**AGED_OUT_AT_DATA_END["functions"]["beta"], "failure_rate": 0.0},
    },
    "callers": [
        {
            "kind": "sdk",
            "function": "alpha",
            "count": 14,
            "duration_s": 539.1262098668453,
            "retry_mode": "none",
            "read_timeout_s": 1.0,
        },
        {"kind": "alb", "function": "alpha", "count": 14, "duration_s": 1.0},
        {"kind": "alb", "function": "alpha", "count": 0, "duration_s": 1.0},
        {"kind": "sqs", "target": "q", "count": 8, "poison": [0], "links": False},
    ],
    "queues": {
        "q": {"visibility_timeout_s": 30, "retention_s": 300, "max_receive_count": 4, "fifo": False}
    },
    "mappings": [
        {"source": "q", "function": "alpha", "batch_size": 5, "report_batch_item_failures": False}
    ],
}


def test_a_message_gone_past_retention_with_a_redrive_policy_has_an_unknown_fate(
    tmp_path: Path,
) -> None:
    result = _agrees_with_truth(UNSEEN_MOVE, tmp_path)
    assert result.truth["totals"]["sqs"]["fates"]["unknown"] >= 1


def test_an_unknown_fate_with_a_config_says_why_and_does_not_ask_for_one(tmp_path: Path) -> None:
    import tracelens
    from tests.report._render import terminal_text

    _agrees_with_truth(UNSEEN_MOVE, tmp_path)
    side = tracelens.read_side_inputs([str(tmp_path)], config=[], dlq=[])
    report = tracelens.build_report(
        tracelens.analyse(tracelens.read_traces([tmp_path]), side), generated_by="tracelens t"
    )
    (poison,) = [f for f in report.findings if f.code == "SQS_POISON_MESSAGE"]
    assert "1 gone from the queue with an unknown fate" in poison.message
    assert "MessageRetentionPeriod (300 s)" in poison.message
    text = terminal_text(report, width=200)
    assert "1 unknown (why: see the SQS_POISON_MESSAGE finding)" in text
    assert "no queue attributes in the config" not in text
    markdown = tracelens.render_markdown(report)
    assert "1 unknown (why: see the SQS\\_POISON\\_MESSAGE finding)" in markdown
