"""``tracelens dashboard``: one self-contained offline HTML file of the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

import tracelens
from tracelens.commands.progress import Progress
from tracelens.commands.report_io import build_report
from tracelens.errors import TracelensError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tracelens.engine.run import EngineOptions


def run(
    paths: Sequence[str],
    *,
    output: Path,
    dashboard_name: str,
    config: Sequence[Path],
    dlq: Sequence[str],
    functions: Sequence[str],
    engine: EngineOptions | None = None,
    progress: Progress | None = None,
    trace_filter: str | None = None,
) -> None:
    """Write the ``dashboard_name`` dashboard of the traces to ``output``.

    Raises:
        TracelensError: The spec is unusable or ``output`` cannot be written.
    """
    spec = tracelens.load_dashboard_spec(dashboard_name)  # a bad spec fails before any work
    with progress or Progress(None) as shown:
        report = build_report(
            paths,
            config,
            dlq,
            functions=functions,
            engine=engine,
            progress=shown,
            trace_filter=trace_filter,
        )
        with shown.stage("writing") as writing:
            page = tracelens.render_html(report, spec=spec)
            try:
                output.write_text(page, encoding="utf-8")
            except OSError as exc:
                raise TracelensError(f"cannot write {output}: {exc.strerror or exc}") from exc
            writing.done(f"wrote {output.name}")
    click.echo(f"wrote {output} ({len(page.encode()) / 1e6:.1f} MB, {spec.name})", err=True)
