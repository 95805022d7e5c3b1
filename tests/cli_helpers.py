"""Running the CLI in-process and checking its one-line errors (shared by CLI tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from click.testing import CliRunner

from tracelens.cli import main

if TYPE_CHECKING:
    from pathlib import Path

    from click.testing import Result


def run_cli(*args: str | Path) -> Result:
    """``tracelens ARGS...`` in-process, stdout and stderr apart."""
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result: Result, *needles: str) -> str:
    """Assert exit 2 with exactly one ``error: ...`` line holding every needle; return it."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
