"""Helper processes: ``python -m MODULE`` with this package importable, their stderr kept in
a file, and the first failure's last stderr line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

_STDERR = "stderr.txt"


def spawn_module(
    module: str, out: Path, args: list[str], *, stdin: int | None = None
) -> subprocess.Popen[bytes]:
    """Start ``python -m MODULE ARGS`` with this package importable.

    Its stderr goes to a file in its output directory ``out``, so a process that writes a lot
    there can never block on a pipe nobody reads.
    """
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    command = [sys.executable, "-m", module, *args]
    with (out / _STDERR).open("wb") as errors:
        return subprocess.Popen(command, env=env, stdin=stdin, stderr=errors)


def first_failure(processes: Sequence[tuple[subprocess.Popen[bytes], Path]]) -> str | None:
    """Wait for every process; the last stderr line of the first that failed (None: none)."""
    for process, _ in processes:
        process.wait()
    for process, out in processes:
        if process.returncode != 0:
            text = (out / _STDERR).read_bytes().decode(errors="replace").strip()
            return (text.splitlines() or ["no output"])[-1]
    return None
