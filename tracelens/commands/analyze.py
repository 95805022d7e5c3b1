"""``tracelens analyze``: report on traces, and check the ``--fail-on`` threshold."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from tracelens.commands.progress import Progress
from tracelens.commands.report_io import build_report, emit, output_format
from tracelens.model.vocab import Severity, severity_rank
from tracelens.report._format import plural
from tracelens.report.affected import SUFFIXES, affected_format, encode

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from pathlib import Path

    from tracelens.engine.run import EngineOptions
    from tracelens.report.affected import AffectedFormat
    from tracelens.report.models import Finding, Report


#: What ``analyze`` writes.
FORMATS = ("text", "json", "markdown", "html")


def run(
    paths: Sequence[str],
    *,
    fmt: str | None,
    output: Path | None,
    config: Sequence[Path],
    dlq: Sequence[str],
    functions: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    fail_on: str | None,
    engine: EngineOptions | None = None,
    affected: Path | None = None,
    progress: Progress | None = None,
    trace_filter: str | None = None,
) -> bool:
    """Write the report (in ``fmt``, else the format ``output``'s extension names); with
    ``fail_on``, name the findings that cross it on stderr.

    With ``affected``, also write the affected events there (CSV or JSON by its extension);
    the path is checked before any input is read.

    Returns:
        Whether a finding of severity ``fail_on`` or worse exists.
    """
    fmt = output_format(fmt, output, formats=FORMATS)
    affected_fmt = None if affected is None else check_affected_path(affected, report=output)
    with progress or Progress(None) as shown:
        report = build_report(
            paths,
            config,
            dlq,
            functions=functions,
            since=since,
            until=until,
            engine=engine,
            progress=shown,
            trace_filter=trace_filter,
        )
        if output is not None:
            with shown.stage("writing") as writing:
                emit(report, fmt=fmt, output=output)
                writing.done(f"wrote {output.name}")
    if output is None:  # stdout may be the same terminal: after the progress line ends
        emit(report, fmt=fmt, output=None)
    if affected is not None and affected_fmt is not None:
        write_affected(report, affected, affected_fmt)
    if fail_on is None:
        return False
    crossed = crossing(report, fail_on)
    if crossed:
        click.echo(fail_on_line(fail_on, crossed), err=True)
    return bool(crossed)


def check_affected_path(path: Path, *, report: Path | None = None) -> AffectedFormat:
    """The format of the ``--affected`` file, once it is known the file can be written.

    Args:
        path: The ``--affected`` file.
        report: The ``-o`` report file, if any (the two must differ).

    Raises:
        click.ClickException: the extension is neither ``.csv`` nor ``.json``, the path is
            the report's, a directory, or its directory is missing or not writable (one line
            naming it).
    """
    fmt = affected_format(path)
    if fmt is None:
        accepted = " or ".join(SUFFIXES)
        raise click.ClickException(f"--affected {path}: the file name must end in {accepted}")
    if report is not None and path.resolve() == report.resolve():
        raise click.ClickException(f"--affected {path}: the same file as -o (give another name)")
    parent = path.parent
    if path.is_dir():
        raise click.ClickException(f"--affected {path}: is a directory (give a file name)")
    if not parent.exists():
        raise click.ClickException(f"--affected {path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise click.ClickException(f"--affected {path}: {parent} is not a directory")
    writable = os.access(path, os.W_OK) if path.exists() else os.access(parent, os.W_OK | os.X_OK)
    if not writable:
        where = path if path.exists() else parent
        raise click.ClickException(f"--affected {path}: {where} is not writable")
    return fmt


def write_affected(report: Report, path: Path, fmt: AffectedFormat) -> None:
    """Write the report's affected events to ``path``; say how many on stderr."""
    try:
        path.write_bytes(encode(report.affected, fmt))
    except OSError as exc:
        raise click.ClickException(f"--affected {path}: cannot write: {exc.strerror}") from exc
    click.echo(f"affected: {plural(len(report.affected), 'event')} written to {path}", err=True)


def crossing(report: Report, fail_on: str) -> list[Finding]:
    """The findings of severity ``fail_on`` or worse, in report order."""
    # A lower rank is more urgent; an unknown severity (rank 9) never crosses.
    threshold = Severity(fail_on).rank
    return [f for f in report.findings if severity_rank(f.severity) <= threshold]


def fail_on_line(fail_on: str, crossed: list[Finding]) -> str:
    """One stderr line: ``fail-on critical: 2 findings at critical or worse: CODE fn (12), ...``.

    Function names come from the traces: ``repr`` folds control characters, so the line
    stays one line and cannot drive the terminal.
    """
    parts = []
    for finding in crossed:
        name = "" if finding.function is None else f" {_plain(finding.function)}"
        parts.append(f"{finding.code}{name} ({finding.count})")
    noun = "finding" if len(crossed) == 1 else "findings"
    return f"fail-on {fail_on}: {len(crossed)} {noun} at {fail_on} or worse: " + ", ".join(parts)


def _plain(text: str) -> str:
    """``text`` itself when printable, else its ``repr`` (escapes newlines and ESC)."""
    return text if text.isprintable() else repr(text)
