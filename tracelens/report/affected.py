"""The ``--affected`` file: the report's affected events as CSV or JSON rows to replay from.

Pure: the rows come from ``Report.affected`` and are returned as bytes; the command writes
them. Both encodings are deterministic UTF-8 with ``\\n`` line ends.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Literal

import msgspec

from tracelens.report.models import AffectedEvent

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

AffectedFormat = Literal["csv", "json"]

#: The file's columns, in order (the fields of ``AffectedEvent``).
COLUMNS: tuple[str, ...] = AffectedEvent.__struct_fields__
#: File name endings and the format each one selects.
SUFFIXES: dict[str, AffectedFormat] = {".csv": "csv", ".json": "json"}


def affected_format(path: Path) -> AffectedFormat | None:
    """The format the file name asks for (``.csv`` or ``.json``, any case), else None."""
    return SUFFIXES.get(path.suffix.lower())


def encode(events: Sequence[AffectedEvent], fmt: AffectedFormat) -> bytes:
    """The rows in ``fmt``: one row (CSV) or object (JSON) per event, in report order.

    CSV: a header of ``COLUMNS``; null is an empty cell and ``trace_ids`` are joined with a
    space. JSON: an array of objects with the keys in column order, ``trace_ids`` an array.
    """
    if fmt == "json":
        return msgspec.json.format(msgspec.json.encode(list(events)), indent=2) + b"\n"
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for event in events:
        writer.writerow([_cell(getattr(event, name)) for name in COLUMNS])
    return out.getvalue().encode("utf-8")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)
