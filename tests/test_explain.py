"""explain finds every trace id and request id analyze counts; prefixes; text/markdown/json.

Written before the fix and seen failing: a trace holding only a function segment, only a
(throttled) service segment, only an inferred segment or only a caller segment was "nothing
found", as were the throttled sync requests of sync_client_retries; ids had to be typed whole
and in their exact case; the story was terminal text only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import tracelens
from tests.cli_helpers import one_line_error, run_cli
from tracelens.analysis import explain
from tracelens.errors import TracelensError

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
STORM = SAMPLES / "async_retry_storm"
# An async event of async_retry_storm that failed three times and went to the DLQ.
EXHAUSTED = "b5050d2e-0666-41d5-be3e-2b1a04306e75"
T0 = 1795770000.0
ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"

ONLY_FUNCTION = "1-6b094690-00000000000000000000f001"
ONLY_SERVICE = "1-6b094690-00000000000000000000f002"
ONLY_INFERRED = "1-6b094690-00000000000000000000f003"
ONLY_CALLER = "1-6b094690-00000000000000000000f004"
THROTTLED_REQUEST = "7eea5dec-0000-42c5-ab45-45a574000001"


def _docs() -> list[dict[str, Any]]:
    return [
        {  # a function segment whose service segment was never recorded
            "name": "resizer",
            "id": "f000000000000001",
            "trace_id": ONLY_FUNCTION,
            "start_time": T0,
            "end_time": T0 + 0.5,
            "origin": "AWS::Lambda::Function",
            "aws": {"function_arn": ARN.format("resizer")},
            "subsegments": [
                {
                    "id": "f000000000000002",
                    "name": "Invocation",
                    "start_time": T0 + 0.01,
                    "end_time": T0 + 0.49,
                }
            ],
        },
        {  # a throttled sync request: service segment only, 429
            "name": "quote-api",
            "id": "f000000000000003",
            "trace_id": ONLY_SERVICE,
            "start_time": T0 + 1,
            "end_time": T0 + 1.01,
            "origin": "AWS::Lambda",
            "resource_arn": ARN.format("quote-api"),
            "throttle": True,
            "error": True,
            "aws": {"request_id": THROTTLED_REQUEST},
            "http": {"response": {"status": 429}},
        },
        {  # API Gateway's call that never reached Lambda: an inferred segment only
            "name": "orders-api",
            "id": "f000000000000004",
            "trace_id": ONLY_INFERRED,
            "start_time": T0 + 2,
            "end_time": T0 + 2.2,
            "origin": "AWS::Lambda",
            "inferred": True,
            "fault": True,
            "http": {"response": {"status": 500}},
        },
        {  # a caller's own segment, nothing else
            "name": "pricing|<b>service</b>",
            "id": "f000000000000005",
            "trace_id": ONLY_CALLER,
            "start_time": T0 + 3,
            "end_time": T0 + 3.3,
            "http": {"response": {"status": 200}},
        },
    ]


@pytest.fixture
def lonely(tmp_path: Path) -> Path:
    path = tmp_path / "lonely.ndjson"
    path.write_text("".join(json.dumps(d) + "\n" for d in _docs()))
    return path


# --- every trace id and request id is found ----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "needles"),
    [
        (ONLY_FUNCTION, ["resizer"]),
        (ONLY_SERVICE, ["quote-api", "429"]),
        (ONLY_INFERRED, ["orders-api", "500"]),
        (ONLY_CALLER, ["pricing"]),
        (THROTTLED_REQUEST, ["quote-api", "429"]),
    ],
)
def test_every_kind_of_lonely_trace_is_found(lonely: Path, key: str, needles: list[str]) -> None:
    result = run_cli("explain", key, lonely, "--format", "json")
    assert result.exit_code == 0, result.output
    story = json.loads(result.stdout)
    assert story["found"] is True
    assert story["events"]
    text = json.dumps(story)
    for needle in needles:
        assert needle in text


def test_every_request_and_trace_of_sync_client_retries_is_found() -> None:
    bundle = SAMPLES / "sync_client_retries"
    frames = tracelens.read_traces([str(bundle)])
    side = tracelens.read_side_inputs([bundle], config=None, dlq=[])
    results = tracelens.analyse(frames, side)
    requests = sorted(results.requests.get_column("request").to_list())
    traces = sorted(set(frames.entities.get_column("trace_id").to_list()))
    # every 7th keeps the test quick while covering throttled, failed and plain requests
    for key in requests[::7] + traces[::7]:
        assert explain(frames, side, key).found, key


# --- prefixes and case -------------------------------------------------------------------------


@pytest.mark.parametrize("key", [EXHAUSTED[:8], EXHAUSTED.upper(), EXHAUSTED[:13].upper()])
def test_prefix_and_case(key: str) -> None:
    result = run_cli("explain", key, STORM, "--format", "json")
    assert result.exit_code == 0, result.output
    story = json.loads(result.stdout)
    assert story["key"] == EXHAUSTED
    assert story["query"] == key
    assert story["subject"] == "async event"


def test_prefix_shorter_than_8_is_not_a_prefix() -> None:
    one_line_error(run_cli("explain", EXHAUSTED[:7], STORM), EXHAUSTED[:7], "at least 8")


def test_ambiguous_prefix_lists_candidates() -> None:
    # every trace id of the sample starts with the same 8 characters (1-6b0946...)
    line = one_line_error(run_cli("explain", "1-6b0946", STORM), "1-6b0946", "matches")
    assert 1 <= line.count("1-6b0946") - 1 <= 5
    assert "..." in line or "more" in line


def test_library_raises_on_an_ambiguous_prefix() -> None:
    frames = tracelens.read_traces([str(STORM)])
    with pytest.raises(TracelensError, match="matches"):
        explain(frames, tracelens.read_side_inputs([STORM], config=None, dlq=[]), "1-6b0946")


def test_unknown_key_says_what_was_searched() -> None:
    one_line_error(
        run_cli("explain", "deadbeef-nothing", STORM),
        "deadbeef-nothing",
        "request ids",
        "trace ids",
        "150 traces",
    )


# --- formats -----------------------------------------------------------------------------------


def test_text_story_of_an_exhausted_event() -> None:
    result = run_cli("explain", EXHAUSTED, STORM)
    assert result.exit_code == 0, result.output
    assert "attempt 3 (failed)" in result.stdout
    assert "retry wait" in result.stdout


def test_markdown_story_is_escaped(lonely: Path) -> None:
    result = run_cli("explain", ONLY_CALLER, lonely, "--format", "markdown")
    assert result.exit_code == 0, result.output
    md = result.stdout
    assert md.startswith("# Story of trace")
    assert "| time (UTC) |" in md
    assert "<b>" not in md
    assert "pricing\\|&lt;b&gt;service&lt;/b&gt;" in md


def test_markdown_story_of_an_exhausted_event() -> None:
    result = run_cli("explain", EXHAUSTED, STORM, "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert f"# Story of async event {EXHAUSTED}" in result.stdout.replace("\\", "")
    assert "attempt 3 (failed)" in result.stdout


def test_json_story_is_the_documented_struct() -> None:
    result = run_cli("explain", EXHAUSTED, STORM, "--format", "json")
    assert result.exit_code == 0, result.output
    story = json.loads(result.stdout)
    assert story["schema"] == "tracelens.story/1"
    assert set(story) == {"schema", "query", "key", "found", "subject", "trace_ids", "events"}
    kinds = [e["kind"] for e in story["events"]]
    assert kinds.count("attempt") == 3
    assert kinds[-2:] == ["outcome", "fate"] or "dlq" in kinds
    for event in story["events"]:
        assert set(event) == {
            "time",
            "kind",
            "function",
            "text",
            "duration_ms",
            "error",
            "trace_id",
        }
        assert event["time"] is None or event["time"].endswith("Z")
    # deterministic: the same input gives the same bytes
    assert run_cli("explain", EXHAUSTED, STORM, "--format", "json").stdout == result.stdout


def test_readme_example_is_a_real_story() -> None:
    # The README's explain example named an id that is not in the sample (seen failing).
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### `tracelens explain KEY PATH...`") :]
    section = section[: section.index("\n### ")]
    commands = re.findall(r"^tracelens explain (\S+) (sample_traces/\S+)", section, re.M)
    assert commands
    for key, bundle in commands:
        result = run_cli("explain", key, ROOT / bundle, "--format", "json")
        assert result.exit_code == 0, result.output
    story = json.loads(
        run_cli("explain", commands[0][0], ROOT / commands[0][1], "--format", "json").stdout
    )
    shown = section[section.index("```text\nStory of") :]  # the output block after the commands
    shown = shown[: shown.index("\n```", 4)]
    assert f"Story of {story['subject']} {story['key']}" in shown
    kinds = re.findall(r"^(?:\d{4}-\d\d-\d\d )?\d\d:\d\d:[\d.]+ +(\w+)", shown, re.M)
    assert kinds == [e["kind"] for e in story["events"]]
    assert kinds.count("attempt") == 3  # an event that shows retries
