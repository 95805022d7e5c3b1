"""Rendering a Report as plain terminal text into a string (shared by the renderer tests)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from rich.console import Console

from tracelens.report.terminal import render_terminal

if TYPE_CHECKING:
    from tracelens.report.models import Report


def terminal_text(report: Report, *, width: int = 100) -> str:
    """What ``render_terminal`` prints for ``report`` at ``width`` columns, without colour."""
    console = Console(
        file=io.StringIO(),
        width=width,
        color_system=None,
        force_terminal=False,
        legacy_windows=False,
    )
    render_terminal(report, console=console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out
