"""Sources -> segment documents -> TraceFrames."""

from __future__ import annotations

from tracelens.ingest.files import read_traces

__all__ = ["read_traces"]
