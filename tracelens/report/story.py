"""Render an explain Story on the terminal, in time order, with untrusted text escaped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console

    from tracelens.analysis import Story


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
