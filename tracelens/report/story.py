"""Render an explain Story: terminal, Markdown or JSON, in time order, untrusted text escaped.

The JSON form is the ``tracelens.story/1`` document (``StoryDocument``), described in the
README: a story can be pasted into a review or read by a script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from rich.cells import cell_len
from rich.text import Text

from tracelens.report._format import duration
from tracelens.report._layout import flow, print_lines, shorten_middle, words
from tracelens.report.markdown import escape

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console

    from tracelens.analysis import Story

#: The ``schema`` value of the JSON story document.
STORY_SCHEMA = "tracelens.story/1"
#: Where an event's detail starts, under its heading line.
DETAIL_INDENT = 4


class StoryEventDocument(msgspec.Struct, frozen=True, kw_only=True):
    """One event of a story in the JSON document (``StoryEvent``, times as ISO-8601 UTC)."""

    time: str | None  # e.g. 2026-11-27T09:00:25.945431Z; null when the traces lack it
    kind: str  # segment, request, enqueue, dwell, attempt, wait, invocation, delivery, ...
    function: str | None
    text: str  # untrusted: built from names and ids in the traces
    duration_ms: float | None
    error: str | None  # untrusted: the error or cause from the traces or a dump
    trace_id: str | None


class StoryDocument(msgspec.Struct, frozen=True, kw_only=True):
    """The ``tracelens.story/1`` JSON document of ``tracelens explain --format json``."""

    schema: str  # always STORY_SCHEMA
    query: str  # what was asked for (a prefix, another case, or the key itself)
    key: str  # the id as the traces spell it
    found: bool
    subject: str  # async event, request, SQS message, stream batch, trace
    trace_ids: list[str]
    events: list[StoryEventDocument]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def story_document(story: Story) -> StoryDocument:
    """The JSON document of a story (field order as declared, events in story order)."""
    return StoryDocument(
        schema=STORY_SCHEMA,
        query=story.query or story.key,
        key=story.key,
        found=story.found,
        subject=story.subject,
        trace_ids=list(story.trace_ids),
        events=[
            StoryEventDocument(
                time=_iso(e.time),
                kind=e.kind,
                function=e.function,
                text=e.text,
                duration_ms=None if e.duration_ms is None else round(e.duration_ms, 3),
                error=e.error,
                trace_id=e.trace_id,
            )
            for e in story.events
        ],
    )


def render_story_json(story: Story) -> bytes:
    """The story as ``tracelens.story/1`` JSON, indented, ending in a newline (deterministic)."""
    return msgspec.json.format(msgspec.json.encode(story_document(story)), indent=2) + b"\n"


def render_story_markdown(story: Story) -> str:
    """The story as a Markdown section for a review: heading, traces, one table row per event.

    Every string from the traces or dumps is escaped (``report.markdown.escape``).
    """
    if not story.found:
        return f"# Nothing found for {escape(story.query or story.key)}\n"
    lines = [f"# Story of {story.subject} {escape(story.key)}", ""]
    if story.query and story.query != story.key:
        lines += [f"Asked for {escape(story.query)}.", ""]
    if story.trace_ids:
        lines += ["Traces: " + ", ".join(escape(t) for t in story.trace_ids), ""]
    lines += [
        "| time (UTC) | what | function | duration | detail |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for event in story.events:
        when = event.time.strftime("%Y-%m-%d %H:%M:%S.%f") if event.time else "?"
        detail = escape(event.text)
        if event.error:
            detail += f"<br>error: {escape(event.error)}"
        cells = [when, event.kind, escape(event.function or ""), _duration(event.duration_ms)]
        lines.append("| " + " | ".join([*cells, detail]) + " |")
    return "\n".join(lines) + "\n"


def _duration(ms: float | None) -> str:
    return "" if ms is None else duration(ms)


def render_story(story: Story, *, console: Console) -> None:
    """Print the story of one key as a timeline that fits the console's width.

    One heading line per event (time, what, function, duration; aligned in columns when they
    fit), its detail and error under it. Ids and ARNs are never cut: one wider than the line
    goes whole onto a line of its own. Every string that came from traces or dumps is passed
    as ``rich.text.Text``, so markup in it is shown literally, never interpreted.

    Args:
        story: What ``tracelens.analysis.explain`` returned.
        console: Where to print.
    """
    width = console.width
    if not story.found:
        print_lines(
            console,
            words(
                f"Nothing found for {story.key!r}: not a request id, SQS message id, "
                "stream batch key or trace id in these traces.",
                width,
            ),
        )
        return
    title = Text.assemble(("Story of ", "bold"), (f"{story.subject} ", "bold"), story.key)
    print_lines(console, words(title, width, hang="  "))
    if story.query and story.query != story.key:
        print_lines(console, words(Text(f"(asked for {story.query})"), width))
    if story.trace_ids:
        traces = [f"Traces: {story.trace_ids[0]}", *story.trace_ids[1:]]
        print_lines(console, flow(traces, width, sep=", ", hang="  "))
    # One day: its date once, and only the time of day on each event.
    days = sorted({event.time.date() for event in story.events if event.time})
    clock = "%H:%M:%S.%f" if len(days) == 1 else "%Y-%m-%d %H:%M:%S.%f"
    if len(days) == 1:
        console.print(Text(f"Date: {days[0].isoformat()} (times in UTC)"))
    rows = [
        (
            event.time.strftime(clock) if event.time else "?",
            event.kind,
            shorten_middle(event.function or "", width - DETAIL_INDENT),
            _duration(event.duration_ms),
        )
        for event in story.events
    ]
    header = ("time (UTC)", "what", "function", "duration")
    widths = [max(cell_len(row[i]) for row in [header, *rows]) for i in range(3)]
    aligned = sum(widths) + 2 * 3 + max(cell_len(row[3]) for row in [header, *rows]) <= width
    if aligned:
        console.print(Text(_columns(header, widths), style="bold"))
    for event, row in zip(story.events, rows, strict=True):
        if aligned:
            heading = [Text(_columns(row, widths).rstrip())]
        else:
            heading = [Text(part) for part in row if part]
        print_lines(console, flow(heading, width, sep="  ", hang=" " * DETAIL_INDENT))
        lines = words(Text(event.text), width - DETAIL_INDENT, hang="  ")
        if event.error:
            lines += words(Text(event.error, style="red"), width - DETAIL_INDENT, hang="  ")
        indent = " " * DETAIL_INDENT
        print_lines(console, lines, first=indent, rest=indent)


def _columns(cells: tuple[str, ...], widths: list[int]) -> str:
    """The cells of a story heading, each but the last padded to its column's width."""
    padded = [cell + " " * (w - cell_len(cell)) for cell, w in zip(cells, widths, strict=False)]
    return "  ".join([*padded, *cells[len(widths) :]])
