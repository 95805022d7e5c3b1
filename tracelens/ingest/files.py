"""Read trace files, directories, globs and gzip into TraceFrames (streamed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tracelens.model.frames import TraceFrames


def read_traces(paths: Sequence[str | Path], *, workers: int | None = None) -> TraceFrames:
    """Read every trace document under ``paths`` (files, directories, globs, ``.gz``)."""
    raise NotImplementedError
