"""Bad spans cost one rejection each, with file, line and reason; the rest is still read."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from _docs import async_request, write_lines
from _spans import to_spans

from tracelens.ingest import read_traces

if TYPE_CHECKING:
    from pathlib import Path

GOOD = to_spans(async_request())[0]


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


BAD: list[tuple[dict[str, Any], str]] = [
    (_without("traceId"), "span has no traceId"),
    (_without("spanId"), "span has no spanId"),
    ({**GOOD, "traceId": "6437350a5611b044040fc7224c4790bz"}, "span traceId is not 32 hex digits"),
    ({**GOOD, "traceId": "6437350a5611b044040fc7224c4790"}, "span traceId is not 32 hex digits"),
    ({**GOOD, "traceId": 12}, "span traceId is not a string"),
    ({**GOOD, "spanId": "5e0000000000000g"}, "span spanId is not 16 hex digits"),
    ({**GOOD, "spanId": "5e000000000000011"}, "span spanId is not 16 hex digits"),
    ({**GOOD, "parentSpanId": "xyz"}, "span parentSpanId is not 16 hex digits"),
    (
        {**GOOD, "links": [{"traceId": "nothex", "spanId": "5e00000000000009"}]},
        "span link traceId is not 32 hex digits",
    ),
    (
        {**GOOD, "endTimeUnixNano": GOOD["startTimeUnixNano"] - 1},
        "span starts after it ends",
    ),
    (_without("startTimeUnixNano"), "span has no startTimeUnixNano"),
    ({**GOOD, "startTimeUnixNano": 1681339658.0e9}, "span startTimeUnixNano is not an integer"),
    ({**GOOD, "startTimeUnixNano": "1681339658e9"}, "span startTimeUnixNano is not an integer"),
    ({**GOOD, "startTimeUnixNano": True}, "span startTimeUnixNano is not an integer"),
    ({**GOOD, "endTimeUnixNano": "soon"}, "span endTimeUnixNano is not an integer"),
    ({**GOOD, "endTimeUnixNano": 1.5}, "span endTimeUnixNano is not an integer"),
    ({**GOOD, "durationNano": False}, "span durationNano is not an integer"),
]


@pytest.mark.parametrize(("span", "reason"), BAD, ids=[reason for _, reason in BAD])
def test_each_bad_span_is_one_rejection_with_its_reason(
    tmp_path: Path, span: dict[str, Any], reason: str
) -> None:
    # GIVEN a bad span between two good lines
    lines = [json.dumps(GOOD), json.dumps(span), json.dumps({**GOOD, "spanId": "5e00000000000002"})]
    path = tmp_path / "spans.ndjson"
    path.write_text("\n".join(lines) + "\n")
    # WHEN it is read
    frames = read_traces([path])
    # THEN it costs one rejection at its own line and file, and both good spans are used
    assert frames.stats.documents == 2
    assert [(r.file, r.line) for r in frames.stats.rejections] == [(str(path), 2)]
    assert frames.stats.rejections[0].reason.startswith(reason)


def test_bad_spans_inside_a_wrapper_cost_one_rejection_each(tmp_path: Path) -> None:
    messages = [
        json.dumps(GOOD),
        json.dumps(_without("spanId")),
        "START RequestId: x",
        json.dumps(BAD[-2][0]),
    ]
    path = write_lines(tmp_path / "events.json", [{"events": [{"message": m} for m in messages]}])
    frames = read_traces([path])
    assert frames.stats.documents == 1
    reasons = [r.reason for r in frames.stats.rejections]
    assert len(reasons) == 3
    assert reasons[0] == "span has no spanId"
    assert reasons[1].startswith("log event message: not valid JSON")
    assert reasons[2].startswith("span endTimeUnixNano is not an integer")
    assert {r.line for r in frames.stats.rejections} == {1}


def test_log_pages_without_events_are_no_rejection(tmp_path: Path) -> None:
    pages = [
        {"events": [], "searchedLogStreams": []},
        {"events": [{"message": json.dumps(GOOD)}], "nextToken": "n"},
        {"events": [], "nextForwardToken": "f/1", "nextBackwardToken": "b/1"},
        {"results": [], "status": "Complete"},
    ]
    frames = read_traces([write_lines(tmp_path / "pages.ndjson", pages)])
    assert (frames.stats.documents, frames.stats.rejected) == (1, 0)


def test_a_file_of_bad_spans_names_spans_among_the_expected_forms(tmp_path: Path) -> None:
    from tracelens.errors import NoUsableInput

    path = write_lines(tmp_path / "bad.ndjson", [_without("traceId")])
    with pytest.raises(NoUsableInput) as caught:
        read_traces([path])
    message = str(caught.value)
    assert "no valid X-Ray segment documents or spans in" in message
    assert "bad.ndjson:1: span has no traceId" in message
    assert "OpenTelemetry spans" in message
