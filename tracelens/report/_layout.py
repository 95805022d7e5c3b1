"""Fitting text to a terminal's width: names shortened in the middle, lines packed from whole
pieces, words wrapped without ever cutting an id or an ARN."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.measure import Measurement
from rich.text import Text

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from rich.console import Console
    from rich.table import Table

#: Narrower than this, wide tables become stacked ``key: value`` blocks (one per row).
WIDE = 90
ELLIPSIS = "…"
_WORD = re.compile(r"\s*\S+\s*")


def shorten_middle(text: str, width: int) -> str:
    """``text`` if it fits in ``width`` cells, else its start and end around ``…``.

    The middle goes because names differ at their ends (``orders-prod-…-invoice-renderer``);
    the JSON report keeps the full name.
    """
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS if width == 1 else ""
    room = width - 1
    head = _fit(text, (room + 1) // 2)
    tail = _fit(text[::-1], room - cell_len(head))[::-1]
    return head + ELLIPSIS + tail


def _fit(text: str, width: int) -> str:
    """The longest start of ``text`` that fits in ``width`` cells."""
    used = 0
    for index, char in enumerate(text):
        used += cell_len(char)
        if used > width:
            return text[:index]
    return text


def flow(
    pieces: Iterable[Text | str],
    width: int,
    *,
    sep: str = " · ",
    hang: str = "  ",
) -> list[Text]:
    """Pack ``pieces`` into lines of at most ``width`` cells, never splitting a piece that fits
    on a line of its own (``12 failed invocations`` stays together).

    A piece wider than a line wraps at its spaces; a word wider than a line (an ARN, a trace
    id) goes whole onto a line of its own, past ``width``, so it is never cut: a terminal
    wraps it softly and it still copies as one word. Continuation lines start with ``hang``.
    """
    lines: list[Text] = []
    current: Text | None = None
    listed = sep.strip() == ","  # a list broken across lines keeps its comma
    items = [Text(raw) if isinstance(raw, str) else raw for raw in pieces]
    items = [item for item in items if item.plain]
    for index, piece in enumerate(items):
        comma = 1 if listed and index < len(items) - 1 else 0
        if current is not None and current.cell_len + len(sep) + piece.cell_len + comma <= width:
            current.append(sep)
            current.append_text(piece)
            continue
        if current is not None:
            if listed:
                current.append(",")
            lines.append(current)
        prefix = hang if lines or current is not None else ""
        room = max(1, width - len(prefix))
        if piece.cell_len + comma <= room:
            current = Text(prefix) + piece
            continue
        wrapped = _wrap(piece, room, max(1, width - len(hang)))
        for line in wrapped[:-1]:
            lines.append(Text(prefix) + line)
            prefix = hang
        current = Text(prefix) + wrapped[-1]
    if current is not None:
        lines.append(current)
    return lines


def _wrap(text: Text, first: int, rest: int) -> list[Text]:
    """``text`` broken at spaces into lines of at most ``first`` cells, then ``rest``; a word
    wider than that is a line of its own, whole."""
    lines: list[Text] = []
    width = first
    for line in text.split("\n", allow_blank=True):
        breaks: list[int] = []
        used = 0
        for match in _WORD.finditer(line.plain):
            word = match.group()
            if used and used + cell_len(word.rstrip()) > width:
                breaks.append(match.start())
                used = 0
                width = rest
            used += cell_len(word)
        for part in line.divide(breaks):
            part.rstrip()
            lines.append(part)
    return lines or [Text()]


def words(text: Text | str, width: int, *, hang: str = "") -> list[Text]:
    """``text`` wrapped at its spaces into lines of at most ``width`` cells (ids never cut)."""
    return flow([text], width, hang=hang)


def print_lines(
    console: Console, lines: Sequence[Text], *, first: Text | str = "", rest: str = ""
) -> None:
    """Print ``lines``, the first after ``first`` and the others after ``rest``, exactly as
    they are: never wrapped again or cut at the console's width."""
    for index, line in enumerate(lines):
        prefix = first if index == 0 else rest
        console.print(Text.assemble(prefix, line), soft_wrap=True)


def table_width(console: Console, table: Table) -> int:
    """The width ``table`` takes when no column is shrunk."""
    return measure(console, table).maximum


def measure(console: Console, table: Table) -> Measurement:
    """The narrowest and widest ``table`` can be, however wide the console."""
    return Measurement.get(console, console.options.update_width(1 << 16), table)


def fits(console: Console, table: Table) -> bool:
    """Whether ``table`` fits the console's width without shrinking a column."""
    return table_width(console, table) <= console.width
