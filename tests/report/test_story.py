"""render_story: time order, escaping, not found."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from _fixed_report import check_golden
from rich.console import Console

from tests.analysis.conftest import TraceBuilder, trace_id
from tracelens.analysis import Story, StoryEvent, explain
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


LONG_ARN = "arn:aws:sqs:eu-west-1:123456789012:orders-platform-production-invoice-renderer-dlq"
LONG_FUNCTION = "orders-platform-production-eu-west-1-invoice-renderer-for-enterprise-customers"


def _long_story() -> Story:
    """A story whose ids, ARN and function name are wider than a narrow terminal."""
    t0 = datetime(2026, 11, 28, 1, 0, 0, tzinfo=UTC)
    events = (
        StoryEvent(
            time=t0,
            kind="enqueue",
            function=LONG_FUNCTION,
            text=f"async event req-0123456789abcdef accepted (202) and queued; DLQ {LONG_ARN}",
            trace_id=trace_id(1),
        ),
        StoryEvent(
            time=t0 + timedelta(seconds=61.5),
            kind="attempt",
            function=LONG_FUNCTION,
            text="attempt 1 (failed)",
            duration_ms=125_000.0,
            error=f"AccessDenied: not authorized to perform sqs:SendMessage on {LONG_ARN}",
        ),
    )
    return Story(
        key="req-0123456789abcdef",
        found=True,
        subject="async event",
        trace_ids=(trace_id(1), trace_id(2), trace_id(3)),
        events=events,
    )


def _render_at(story: Story, width: int) -> str:
    out = io.StringIO()
    render_story(story, console=Console(file=out, width=width, color_system=None))
    return out.getvalue()


@pytest.mark.parametrize("width", [60, 80, 120])
def test_story_at_width_matches_golden(width: int) -> None:
    check_golden(f"story_{width}.txt", _render_at(_long_story(), width))


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_story_never_cuts_ids_or_arns(width: int) -> None:
    out = _render_at(_long_story(), width)
    assert out.count(LONG_ARN) == 2
    for tid in (trace_id(1), trace_id(2), trace_id(3)):
        assert tid in out
    for line in out.splitlines():
        if len(line) > width:  # only a word wider than the line, whole, on a line of its own
            assert len(line.split()) == 1, line
            assert line.split()[0].rstrip(",") in (LONG_ARN, trace_id(1)), line
    assert "2 min 05 s" in out  # the one duration format
