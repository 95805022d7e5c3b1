"""``tracelens explain``: the story of one request, message or trace, in time order."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

import tracelens
from tracelens.commands.report_io import console, side_inputs
from tracelens.errors import TracelensError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tracelens.engine.run import EngineOptions


def run(
    key: str,
    paths: Sequence[str],
    *,
    fmt: str,
    config: Sequence[Path],
    dlq: Sequence[str],
    engine: EngineOptions | None = None,
) -> None:
    """Find ``key`` in the traces and print its story in ``fmt`` (text, markdown or json).

    Raises:
        TracelensError: Nothing matches ``key``.
    """
    from tracelens.analysis.explain import MIN_PREFIX, SEARCHED, explain_partitions
    from tracelens.engine.run import open_run
    from tracelens.report.story import render_story_json, render_story_markdown

    with open_run(list(paths), engine) as work:
        side = side_inputs(paths, config, dlq)
        explained = explain_partitions(work.partition_frames, side, key)
    story = explained.story
    if not story.found:
        raise TracelensError(
            f"nothing found for {key!r}: searched the {SEARCHED} of {explained.traces:,} traces "
            f"in {', '.join(paths)} (any case; a prefix needs at least {MIN_PREFIX} characters)"
        )
    if fmt == "json":
        click.echo(render_story_json(story), nl=False)
    elif fmt == "markdown":
        click.echo(render_story_markdown(story), nl=False)
    else:
        tracelens.render_story(story, console=console(None))
