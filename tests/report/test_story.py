"""render_story: time order, escaping, not found."""

from __future__ import annotations

import io

from rich.console import Console

from tests.analysis.conftest import TraceBuilder, trace_id
from tracelens.analysis import explain
from tracelens.model.side import DlqMessage, FunctionConfig, SideDump, SideInputs
from tracelens.report.story import render_story

DLQ = "arn:aws:sqs:us-east-1:1:dlq"


def _render(story) -> str:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    render_story(story, console=Console(file=out, width=200, color_system=None))
    return out.getvalue()


def _frames():  # type: ignore[no-untyped-def]
    b = TraceBuilder()
    b.async_event(
        "fn",
        trace_id(1),
        "req-1",
        0.0,
        [(0.1, 0.2, True), (60.2, 60.3, True), (180.3, 180.4, True)],
        cause="[bold red]Evil[/]: <script>",
    )
    return b.frames()


def test_story_of_an_exhausted_event() -> None:
    # GIVEN an event that failed three times and reached the DLQ
    side = SideInputs(
        functions={"fn": FunctionConfig(name="fn", dlq_arn=DLQ)},
        config_files=("c",),
        dumps=(
            SideDump(
                source="dlq.json",
                queue_arn=DLQ,
                dlq_messages=(
                    DlqMessage(
                        request_id="req-1", error_code="200", error_message="[link]x[/link]"
                    ),
                ),
            ),
        ),
    )
    # WHEN
    story = explain(_frames(), side, "req-1")
    text = _render(story)
    # THEN
    assert story.found
    assert story.subject == "async event"
    kinds = [e.kind for e in story.events]
    assert kinds == [
        "enqueue",
        "dwell",
        "attempt",
        "wait",
        "attempt",
        "wait",
        "attempt",
        "outcome",
        "fate",
        "dlq",
    ]
    times = [e.time for e in story.events]
    assert times == sorted(times)  # type: ignore[type-var]
    assert "[bold red]Evil[/]: <script>" in text  # markup shown literally
    assert "[link]x[/link]" in text
    assert trace_id(1) in text
    assert "retries_exhausted" in text


def test_story_by_trace_id() -> None:
    story = explain(_frames(), SideInputs(), trace_id(1))
    assert story.found
    assert story.subject == "trace"
    assert story.trace_ids == (trace_id(1),)


def test_unknown_key() -> None:
    story = explain(_frames(), SideInputs(), "nope")
    assert not story.found
    assert "Nothing found" in _render(story)
