"""``tracelens find``: the traces an X-Ray filter expression matches, offline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from tracelens.commands.report_io import console, side_inputs

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tracelens.engine.run import EngineOptions

#: What ``find`` writes.
FORMATS = ("text", "json", "csv")


def run(
    expression: str,
    paths: Sequence[str],
    *,
    fmt: str,
    limit: int | None,
    config: Sequence[Path],
    dlq: Sequence[str],
    engine: EngineOptions | None = None,
) -> None:
    """Write one row per trace ``expression`` matches (the first ``limit`` by start time),
    with its requests, outcomes and fates, to stdout in ``fmt``.

    Annotation keys of the expression that no document has are named on stderr (not an
    error: they match nothing). No match is not an error either.

    Raises:
        FilterSyntaxError: ``expression`` does not parse (before any input is read).
    """
    from tracelens.analysis.filter_expr import parse
    from tracelens.analysis.find import found_traces, match_partitions
    from tracelens.engine.run import open_run
    from tracelens.report.found import (
        render_found_csv,
        render_found_json,
        render_found_text,
        summary_line,
    )

    expr = parse(expression)
    with open_run(list(paths), engine) as work:
        matches = match_partitions(work.partition_frames, expr)
        results = None
        if matches.trace_ids:
            results = work.analyse(side_inputs(paths, config, dlq))
    for key in matches.missing_keys:
        click.echo(f"annotation.{key} appears in no document", err=True)
    rows = found_traces(matches, results)
    shown = rows if limit is None else rows[:limit]
    matched = len(matches.trace_ids)
    if fmt == "json":
        click.echo(
            render_found_json(
                shown,
                expression=expression,
                matched=matched,
                searched=matches.traces,
                missing_keys=matches.missing_keys,
            ).decode(),
            nl=False,
        )
    elif fmt == "csv":
        click.echo(render_found_csv(shown), nl=False)
    else:
        render_found_text(shown, matched=matched, searched=matches.traces, console=console(None))
        return
    click.echo(summary_line(matched, matches.traces, len(shown)), err=True)
