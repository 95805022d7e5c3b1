"""``tracelens explain``: the story of one request, message or trace, in time order."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

import tracelens
from tracelens.commands.report_io import console, output_format, side_inputs
from tracelens.errors import TracelensError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tracelens.engine.run import EngineOptions


#: What ``explain`` writes.
FORMATS = ("text", "markdown", "json")


def run(
    key: str,
    paths: Sequence[str],
    *,
    fmt: str | None,
    config: Sequence[Path],
    output: Path | None = None,
    dlq: Sequence[str],
    engine: EngineOptions | None = None,
) -> None:
    """Find ``key`` in the traces and write its story in ``fmt`` (text, markdown or json;
    else the format ``output``'s extension names) to ``output`` or stdout.

    Raises:
        TracelensError: Nothing matches ``key``, or ``output`` cannot be written.
    """
    fmt = output_format(fmt, output, formats=FORMATS)
    from tracelens.analysis.explain import MIN_PREFIX, SEARCHED, explain_partitions
    from tracelens.engine.run import open_run
    from tracelens.report.story import render_story_json, render_story_markdown

    with open_run(list(paths), engine) as work:
        side = side_inputs(paths, config, dlq)
        explained = explain_partitions(work.partition_frames, side, key)
    story = explained.story
    if not story.found and key.strip().startswith("annotation."):
        raise TracelensError(
            f"nothing found for {key!r}: no document of the {explained.traces:,} traces in "
            f"{', '.join(paths)} has that annotation value"
        )
    if not story.found:
        raise TracelensError(
            f"nothing found for {key!r}: searched the {SEARCHED} of {explained.traces:,} traces "
            f"in {', '.join(paths)} (any case; a prefix needs at least {MIN_PREFIX} characters)"
        )
    try:
        if fmt == "json":
            _write(render_story_json(story).decode(), output)
        elif fmt == "markdown":
            _write(render_story_markdown(story), output)
        elif output is None:
            tracelens.render_story(story, console=console(None))
        else:
            with output.open("w", encoding="utf-8") as handle:
                tracelens.render_story(story, console=console(handle))
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise TracelensError(f"cannot write {output or 'stdout'}: {exc.strerror or exc}") from exc


def _write(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
