"""``tracelens explain``: the story of one request, message or trace, in time order."""

from __future__ import annotations

from typing import TYPE_CHECKING

import tracelens
from tracelens.commands.report_io import output_format, side_inputs, write_output
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
    if fmt == "json":
        write_output(output, render_story_json(story))
    elif fmt == "markdown":
        write_output(output, render_story_markdown(story))
    else:
        write_output(output, lambda on: tracelens.render_story(story, console=on))
