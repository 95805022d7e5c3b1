"""TraceFrames: the normalised, source-independent form of everything read from traces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from tracelens.errors import SchemaError
from tracelens.model import schema as col


@dataclass(frozen=True, slots=True)
class Rejection:
    """One input line or document that could not be used."""

    file: str
    line: int | None
    reason: str


# Rejection reasons of values that X-Ray tools write but that hold no segment documents.
SUMMARIES = "trace summaries output, not segments: fetch the traces with `tracelens fetch`"
KEYED_BY_TRACE_ID = (
    "an object keyed by trace id, not segments: give BatchGetTraces output or segment "
    "documents (fetch the traces with `tracelens fetch`)"
)
NOT_SEGMENTS = frozenset({SUMMARIES, KEYED_BY_TRACE_ID})


@dataclass(frozen=True, slots=True)
class IngestStats:
    """Counts of what ingest read, kept for the report's ``input`` block."""

    files: tuple[str, ...] = ()
    documents: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: tuple[Rejection, ...] = ()  # the first 100


def data_end() -> pl.Expr:
    """When entity rows end: the latest end, or start of an in-progress entity."""
    return pl.max_horizontal(
        pl.col(col.END).max(), pl.col(col.START).filter(pl.col(col.IN_PROGRESS)).max()
    )


@dataclass(frozen=True, slots=True)
class TraceFrames:
    """Normalised trace data: entity rows and span links, plus ingest counts.

    ``entities`` holds one row per top-level document (after duplicates are removed) and per
    subsegment that the analyses use (schema ``ENTITIES``); ``links`` holds X-Ray span links
    (schema ``LINKS``).
    """

    entities: pl.DataFrame
    links: pl.DataFrame
    stats: IngestStats = field(default_factory=IngestStats)

    def validate(self) -> None:
        """Raise SchemaError if a frame does not have its declared schema."""
        for frame_name, frame, expected in (
            ("entities", self.entities, col.ENTITIES),
            ("links", self.links, col.LINKS),
        ):
            if frame.schema != expected:
                raise SchemaError(
                    f"{frame_name} frame has schema {dict(frame.schema)}, expected {dict(expected)}"
                )

    @property
    def traces(self) -> int:
        """Number of distinct trace ids."""
        return int(self.entities.get_column(col.TRACE_ID).n_unique())

    @property
    def start(self) -> datetime | None:
        """Earliest start time in the data."""
        value = self.entities.get_column(col.START).min()
        return value if isinstance(value, datetime) else None

    @property
    def end(self) -> datetime | None:
        """When the data ends: the latest end, or start of an in-progress entity."""
        if self.entities.is_empty():
            return None
        value = self.entities.select(data_end()).item()
        return value if isinstance(value, datetime) else None

    @classmethod
    def empty(cls) -> TraceFrames:
        """Frames with no rows."""
        return cls(entities=pl.DataFrame(schema=col.ENTITIES), links=pl.DataFrame(schema=col.LINKS))
