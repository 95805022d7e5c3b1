"""What the report commands share: reading their inputs into a Report, and writing it out."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from dataclasses import replace
from typing import IO, TYPE_CHECKING

import click

import tracelens
from tracelens.commands.progress import Progress, is_terminal, read_summary
from tracelens.errors import SelectionError, TracelensError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from pathlib import Path

    from rich.console import Console

    from tracelens.analysis.pipeline import AnalysisResults
    from tracelens.engine.run import EngineOptions
    from tracelens.model.side import SideInputs
    from tracelens.report.models import Report


def side_inputs(paths: Sequence[str], config: Sequence[Path], dlq: Sequence[str]) -> SideInputs:
    """The side inputs of PATH... (bundles: directories or ``s3://`` prefixes), ``--config``
    and ``--dlq``."""
    return tracelens.read_side_inputs(list(paths), config=config, dlq=list(dlq))


def _filtered(results: AnalysisResults, trace_filter: str) -> AnalysisResults:
    """``results`` of a ``--filter`` run, with a note naming the filter; nothing matched is
    an error (there is nothing to analyse)."""
    if results.traces == 0:
        raise SelectionError(
            f"--filter {trace_filter!r}: no trace matches (nothing to analyse); "
            "try 'tracelens find' with the same expression"
        )
    noun = "trace matches" if results.traces == 1 else "traces match"
    note = f"Only the traces that --filter {trace_filter!r} matches: {results.traces:,} {noun}."
    return replace(results, side_notes=(*results.side_notes, note))


def engine_options(
    *,
    work_dir: str | None,
    keep_work_dir: bool,
    partitions: int | None,
    engine: str = "local",
    scheduler: str | None = None,
) -> EngineOptions:
    """The engine options of the command line."""
    from tracelens.engine.run import EngineOptions

    return EngineOptions(
        work_dir=work_dir,
        keep_work_dir=keep_work_dir,
        partitions=partitions,
        engine=engine,
        scheduler=scheduler if engine == "dask" else None,
    )


def build_report(
    paths: Sequence[str],
    config: Sequence[Path],
    dlq: Sequence[str],
    *,
    functions: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    engine: EngineOptions | None = None,
    progress: Progress | None = None,
    trace_filter: str | None = None,
) -> Report:
    """Read the traces and side inputs, analyse them (only the traces ``trace_filter``
    matches, when given) and build the Report (each a stage of ``progress``).

    Raises:
        FilterSyntaxError: ``trace_filter`` does not parse (before any input is read).
        SelectionError: ``trace_filter`` matches no trace.
    """
    from tracelens.engine.run import open_run

    if trace_filter is not None:
        from tracelens.analysis.filter_expr import parse

        parse(trace_filter)  # a syntax error fails before any work
    progress = progress or Progress(None)
    with ExitStack() as stack:
        with progress.stage("reading") as reading:
            run = stack.enter_context(open_run(list(paths), engine))
            reading.done(read_summary(run.inputs.stats(0), paths))
        with progress.stage("analysing") as analysing:
            side = side_inputs(paths, config, dlq)
            results = run.analyse(
                side, functions=functions, since=since, until=until, trace_filter=trace_filter
            )
            if trace_filter is not None:
                results = _filtered(results, trace_filter)
            if run.options.keep_work_dir:
                click.echo(f"work directory kept: {run.store or run.work}", err=True)
            analysing.done("analysed")
    return tracelens.build_report(results, generated_by=f"tracelens {tracelens.__version__}")


#: The width of the text report in a file or a pipe.
FILE_WIDTH = 100


def console(file: IO[str] | None) -> Console:
    """A rich console for stdout (``None``) or for a file (plain text, 100 columns)."""
    from rich.console import Console

    class _PipeConsole(Console):
        """Leave a closed stdout to the group's handler (exit 141) instead of exiting 1."""

        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    if file is None:
        # A pipe gets the width a file gets, unless COLUMNS says otherwise.
        piped = not is_terminal(sys.stdout) and "COLUMNS" not in os.environ
        return _PipeConsole(highlight=False, width=FILE_WIDTH if piped else None)
    # A file gets plain text at a width that fits the tables.
    return Console(
        file=file, width=FILE_WIDTH, color_system=None, force_terminal=False, highlight=False
    )


#: The format an output file's extension (any case) asks for; any other extension is text.
EXTENSION_FORMATS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
}


def output_format(fmt: str | None, output: Path | None, *, formats: Sequence[str]) -> str:
    """The format to write: ``--format`` when given, else the one ``output``'s extension
    names (``report.md`` is Markdown), else text.

    Raises:
        TracelensError: the extension names a format the command cannot write.
    """
    if fmt is not None:
        return fmt
    chosen = "text" if output is None else EXTENSION_FORMATS.get(output.suffix.lower(), "text")
    if chosen not in formats:
        raise TracelensError(
            f"-o {output}: {chosen} is not a format this command writes "
            f"({', '.join(formats)}); choose one with --format"
        )
    return chosen


def emit(report: Report, *, fmt: str, output: Path | None) -> None:
    """Render ``report`` in ``fmt`` to ``output`` (a file) or stdout.

    Raises:
        TracelensError: ``output`` cannot be written.
    """
    if fmt == "json":
        write_output(output, tracelens.render_json(report))
    elif fmt == "markdown":
        write_output(output, tracelens.render_markdown(report))
    elif fmt == "html":
        spec = tracelens.load_dashboard_spec("incident")
        write_output(output, tracelens.render_html(report, spec=spec))
    else:
        write_output(output, lambda on: tracelens.render_terminal(report, console=on))


def write_output(output: Path | None, content: str | bytes | Callable[[Console], None]) -> None:
    """Write ``content`` to ``output`` (a file) or stdout: text, bytes, or what a renderer
    prints on a console (plain text at a fixed width for a file).

    Raises:
        TracelensError: ``output`` cannot be written.
    """
    try:
        if callable(content):
            if output is None:
                content(console(None))
            else:
                with output.open("w", encoding="utf-8") as handle:
                    content(console(handle))
        elif output is None:
            click.echo(content, nl=False)
        elif isinstance(content, bytes):
            output.write_bytes(content)
        else:
            output.write_text(content, encoding="utf-8")
    except BrokenPipeError:
        raise
    except OSError as exc:
        target = output if output is not None else "stdout"
        raise TracelensError(f"cannot write {target}: {exc.strerror or exc}") from exc
