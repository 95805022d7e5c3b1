"""The data dictionary: segment documents, frame schemas and TraceFrames."""

from __future__ import annotations

from tracelens.model.frames import IngestStats, Rejection, TraceFrames

__all__ = ["IngestStats", "Rejection", "TraceFrames"]
