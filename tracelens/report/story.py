"""Render an explain Story: terminal, Markdown or JSON, in time order, untrusted text escaped.

The JSON form is the ``tracelens.story/1`` document (``StoryDocument``), described in the
README: a story can be pasted into a review or read by a script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from rich.table import Table
from rich.text import Text

from tracelens.report.markdown import escape

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console

    from tracelens.analysis import Story

#: The ``schema`` value of the JSON story document.
STORY_SCHEMA = "tracelens.story/1"


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
    if ms is None:
        return ""
    if ms >= 60_000:
        return f"{ms / 60_000:.1f} min"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.1f} ms"


def render_story(story: Story, *, console: Console) -> None:
    """Print the story of one key as a timeline.

    Every string that came from traces or dumps is passed as ``rich.text.Text``, so markup in
    it is shown literally, never interpreted.

    Args:
        story: What ``tracelens.analysis.explain`` returned.
        console: Where to print.
    """
    if not story.found:
        console.print(
            Text(
                f"Nothing found for {story.key!r}: not a request id, SQS message id, "
                "stream batch key or trace id in these traces."
            )
        )
        return
    console.print(Text.assemble(("Story of ", "bold"), (f"{story.subject} ", "bold"), story.key))
    if story.query and story.query != story.key:
        console.print(Text(f"(asked for {story.query})"))
    if story.trace_ids:
        console.print(Text("Traces: " + ", ".join(story.trace_ids)))
    table = Table(show_edge=False, pad_edge=False)
    for header in ("time (UTC)", "what", "function", "duration", "detail"):
        table.add_column(header)
    for event in story.events:
        when = event.time.strftime("%Y-%m-%d %H:%M:%S.%f") if event.time else "?"
        detail = Text(event.text)
        if event.error:
            detail.append("\n")
            detail.append(event.error, style="red")
        table.add_row(
            Text(when),
            Text(event.kind),
            Text(event.function or ""),
            Text(_duration(event.duration_ms)),
            detail,
        )
    console.print(table)
