"""``tracelens analyze``: report on traces, and check the ``--fail-on`` threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from tracelens.commands.progress import Progress
from tracelens.commands.report_io import build_report, emit, output_format
from tracelens.model.vocab import Severity, severity_rank

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from pathlib import Path

    from tracelens.engine.run import EngineOptions
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
    progress: Progress | None = None,
) -> bool:
    """Write the report (in ``fmt``, else the format ``output``'s extension names); with
    ``fail_on``, name the findings that cross it on stderr.

    Returns:
        Whether a finding of severity ``fail_on`` or worse exists.
    """
    fmt = output_format(fmt, output, formats=FORMATS)
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
        )
        if output is not None:
            with shown.stage("writing") as writing:
                emit(report, fmt=fmt, output=output)
                writing.done(f"wrote {output.name}")
    if output is None:  # stdout may be the same terminal: after the progress line ends
        emit(report, fmt=fmt, output=None)
    if fail_on is None:
        return False
    crossed = crossing(report, fail_on)
    if crossed:
        click.echo(fail_on_line(fail_on, crossed), err=True)
    return bool(crossed)


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
