"""Render ``find`` results: a rich table (names escaped), JSON (``tracelens.find/1``) or CSV."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import msgspec
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tracelens.report._format import duration, plural

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from tracelens.analysis.find import FoundTrace

FIND_SCHEMA = "tracelens.find/1"
CSV_COLUMNS = (
    "trace_id",
    "start",
    "duration_ms",
    "requests",
    "request_ids",
    "functions",
    "outcomes",
    "fates",
)


def summary_line(matched: int, searched: int, shown: int) -> str:
    """``3 traces match (of 120 searched)``, and how many are shown when limited."""
    noun = "trace matches" if matched == 1 else "traces match"
    line = f"{matched:,} {noun} (of {plural(searched, 'trace')} searched)"
    if shown < matched:
        line += f"; the first {shown:,} by start time shown (--limit)"
    return line


def _ms(row: FoundTrace) -> float | None:
    return None if row.duration_s is None else round(row.duration_s * 1000, 3)


def _start(row: FoundTrace) -> str | None:
    return None if row.start is None else row.start.isoformat().replace("+00:00", "Z")


#: Below this width the table becomes one block of "key: value" lines per trace.
TABLE_WIDTH = 130


def _when(row: FoundTrace) -> str:
    return "unknown" if row.start is None else row.start.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _took(row: FoundTrace) -> str:
    return "in progress" if row.duration_s is None else duration(row.duration_s * 1000)


def render_found_text(
    rows: Sequence[FoundTrace], *, matched: int, searched: int, console: Console
) -> None:
    """The matching traces (a table, or blocks on a narrow console), then the summary line.
    Trace ids are never cut; names from the traces are printed as text, never as markup."""
    if rows and console.width >= TABLE_WIDTH:
        table = Table(show_edge=False, pad_edge=False, header_style="bold")
        table.add_column("trace", no_wrap=True)
        table.add_column("start (UTC)", no_wrap=True)
        table.add_column("duration", justify="right", no_wrap=True)
        table.add_column("requests", justify="right")
        table.add_column("functions")
        table.add_column("outcomes")
        table.add_column("fates")
        for row in rows:
            table.add_row(
                Text(row.trace_id),
                _when(row),
                _took(row),
                str(row.requests),
                Text("\n".join(row.functions) or "-"),
                Text("\n".join(row.outcomes) or "-"),
                Text("\n".join(row.fates) or "-"),
            )
        console.print(table)
    else:
        for row in rows:
            console.print(Text(row.trace_id, style="bold"), soft_wrap=True)
            lines = (
                f"start: {_when(row)} UTC · duration: {_took(row)} · requests: {row.requests}",
                f"functions: {', '.join(row.functions) or '-'}",
                f"outcomes: {', '.join(row.outcomes) or '-'}",
                f"fates: {', '.join(row.fates) or '-'}",
            )
            for line in lines:
                console.print(Text("  " + line))
    console.print(escape(summary_line(matched, searched, len(rows))))


def render_found_json(
    rows: Sequence[FoundTrace],
    *,
    expression: str,
    matched: int,
    searched: int,
    missing_keys: Sequence[str],
) -> bytes:
    """The ``tracelens.find/1`` document."""
    document = {
        "schema": FIND_SCHEMA,
        "expression": expression,
        "traces_searched": searched,
        "matched": matched,
        "shown": len(rows),
        "missing_annotation_keys": list(missing_keys),
        "traces": [
            {
                "trace_id": row.trace_id,
                "start": _start(row),
                "duration_ms": _ms(row),
                "requests": row.requests,
                "request_ids": list(row.request_ids),
                "functions": list(row.functions),
                "outcomes": list(row.outcomes),
                "fates": list(row.fates),
            }
            for row in rows
        ],
    }
    return msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n"


def render_found_csv(rows: Sequence[FoundTrace]) -> str:
    """One CSV row per trace; list cells are joined with ``; ``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        ms = _ms(row)
        writer.writerow(
            (
                row.trace_id,
                _start(row) or "",
                "" if ms is None else f"{ms:g}",
                row.requests,
                "; ".join(row.request_ids),
                "; ".join(row.functions),
                "; ".join(row.outcomes),
                "; ".join(row.fates),
            )
        )
    return out.getvalue()
