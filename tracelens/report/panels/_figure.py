"""Plain plotly figure dicts: the shared layout, colours, empty states, tables and escaping."""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

#: A plotly figure as plain JSON-able data: ``{"data": [...], "layout": {...}}``.
FigureDict = dict[str, Any]

#: Colour of each severity, and of good and neutral numbers.
SEVERITY_COLOURS: dict[str, str] = {
    "critical": "#c0392b",
    "warning": "#d68910",
    "info": "#2e86c1",
    "ok": "#1e8449",
    "neutral": "#4d5656",
}

#: Pixels kept free above every panel title for plotly's mode bar (its buttons are about 28
#: pixels high and sit in the top right corner), so a long title never runs under it.
MODEBAR_BAND = 34
#: Height of one line of a panel title, in pixels (the title font is 16 px).
TITLE_LINE = 22
#: Key of ``layout.meta`` that marks a figure with nothing to show (the page hides it).
EMPTY_KEY = "tracelens_empty"

#: Text colour of table cells that need no stress.
PLAIN_TEXT = "#1c2833"

#: Colours of series that are not severities, in order of use.
SERIES_COLOURS: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


#: Colour of the series that adds up the functions not drawn on their own.
OTHERS_COLOUR = "#aab7b8"

#: Most functions drawn as their own series by a panel with one series per function (the
#: rest are added up as "others" or left out, as the panel says); a spec's ``limit`` wins.
DEFAULT_FUNCTIONS = 8


def plot_text(value: str) -> str:
    """Escape untrusted text for plotly.js, which reads ``<b>``-style tags in every string.

    plotly.js turns a small set of HTML-like tags in titles, ticks, hover labels and table
    cells into SVG, and decodes ``&lt;``, ``&gt;`` and ``&amp;`` back to characters. Escaping
    these three makes trace data show literally, as text, and never as markup.
    """
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def series_colour(index: int) -> str:
    """The colour of the index-th series."""
    return SERIES_COLOURS[index % len(SERIES_COLOURS)]


def base_layout(
    title: str,
    *,
    x_title: str | None = None,
    y_title: str | None = None,
    height: int = 400,
    tight: bool = False,
) -> dict[str, Any]:
    """The layout every panel starts from: a left-aligned title and titled axes.

    Args:
        title: The panel title.
        x_title: Title of the x axis, if the panel has one.
        y_title: Title of the y axis, if the panel has one.
        height: Height in pixels.
        tight: Narrow margins, for panels with no axes or legend (tables, indicators).
    """
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "xanchor": "left"},
        "height": height,
        "margin": (
            {"l": 20, "r": 20, "t": 60, "b": 10} if tight else {"l": 70, "r": 30, "t": 60, "b": 110}
        ),
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#fbfcfc",
        "font": {"family": "DejaVu Sans, Arial, sans-serif", "size": 12},
        "hoverlabel": {"namelength": -1},
        # At the bottom of the panel, below the x axis title, whatever the plot's height.
        "legend": {"orientation": "h", "x": 0, "y": 0, "yref": "container", "yanchor": "bottom"},
    }
    if x_title is not None:
        layout["xaxis"] = {"title": {"text": x_title}, "automargin": True}
    if y_title is not None:
        layout["yaxis"] = {"title": {"text": y_title}, "automargin": True}
    return layout


def stacked_layout(
    title: str, categories: list[str], *, x_title: str, y_title: str
) -> dict[str, Any]:
    """The layout of stacked bars over categories shown in the given order."""
    layout = base_layout(title, x_title=x_title, y_title=y_title)
    layout["barmode"] = "stack"
    layout["xaxis"].update(
        {"type": "category", "categoryorder": "array", "categoryarray": categories}
    )
    return layout


def figure_or_note(data: list[dict[str, Any]], layout: dict[str, Any], note: str) -> FigureDict:
    """The figure of ``data``; with nothing to plot, a centred note says why the panel is empty.

    A figure with nothing to plot is also marked empty (see ``has_data``): the dashboard
    hides it in the views where it is empty rather than draw axes around nothing.
    """
    if not data:
        mark_empty(layout)
        layout["annotations"] = [
            {
                "text": note,
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "font": {"size": 14, "color": SEVERITY_COLOURS["neutral"]},
            }
        ]
    return {"data": data, "layout": layout}


def table_figure(
    title: str,
    header: Sequence[str],
    rows: list[list[str]],
    *,
    colours: list[list[str]],
    widths: list[int],
    row_height: int,
    max_height: int,
    align: str | list[str] = "left",
    fills: list[list[str]] | None = None,
    empty: bool = False,
) -> FigureDict:
    """A table panel: a bold header on grey over the rows, cells coloured row by row.

    Args:
        title: The panel title.
        header: Column names (plain text, shown bold).
        rows: Cell texts, already escaped, one list per row; at least one row (a table with
            nothing to show has a row that says so).
        colours: Text colour of every cell, one list per row.
        widths: Relative column widths.
        row_height: Pixels added to the panel's height per row.
        max_height: Largest panel height in pixels.
        align: Alignment of every column, or one per column.
        fills: Background colour of every cell, one list per row (plotly's default if None).
        empty: Whether the rows only say there is nothing to show (the figure is marked
            empty, see ``has_data``).
    """
    cells: dict[str, Any] = {
        "values": _columns(rows),
        "align": align,
        "height": 26,
        "font": {"color": _columns(colours)},
    }
    if fills is not None:
        cells["fill"] = {"color": _columns(fills)}
    table = {
        "type": "table",
        "columnwidth": widths,
        "header": {
            "values": [f"<b>{name}</b>" for name in header],
            "fill": {"color": "#eaecee"},
            "align": align,
        },
        "cells": cells,
    }
    height = min(130 + row_height * len(rows), max_height)
    layout = base_layout(title, height=height, tight=True)
    if empty:
        mark_empty(layout)
    return {"data": [table], "layout": layout}


def mark_empty(layout: dict[str, Any]) -> None:
    """Mark a figure's layout as having nothing to show (``layout.meta``, which plotly keeps)."""
    layout["meta"] = {EMPTY_KEY: True}


def has_data(figure: FigureDict) -> bool:
    """Whether a figure has something to show (builders mark the ones that have not)."""
    meta = figure["layout"].get("meta")
    return not (isinstance(meta, dict) and meta.get(EMPTY_KEY))


def wrap_title(text: str, width: int) -> str:
    """A title with its long lines broken at spaces (``<br>``) to at most ``width`` characters.

    A ``<sub>`` subtitle line is broken the same way, outside its tags, at a third more
    characters (its font is smaller).
    """
    lines: list[str] = []
    for line in text.split("<br>"):
        opening, closing, limit = "", "", width
        if line.startswith("<sub>") and line.endswith("</sub>"):
            opening, closing, line = "<sub>", "</sub>", line[5:-6]
            limit = width * 4 // 3
        parts = textwrap.wrap(line, limit, break_long_words=False, break_on_hyphens=False)
        lines.extend(f"{opening}{part}{closing}" for part in parts or [line])
    return "<br>".join(lines)


def place_title(figure: FigureDict, width: int) -> None:
    """Wrap the title to ``width`` characters and put it below the mode bar's band.

    The title's top is ``MODEBAR_BAND`` pixels below the top of the panel and the top margin
    grows with its lines, so neither the mode bar nor the plot covers any of it.
    """
    layout = figure["layout"]
    title = layout["title"]
    text = wrap_title(title["text"], width)
    lines = text.count("<br>") + 1
    title.update(
        {
            "text": text,
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            # plotly moves a title of several lines up by half a line per extra line
            "pad": {"t": MODEBAR_BAND + (lines - 1) * TITLE_LINE // 2},
            "font": {"size": 16},
        }
    )
    layout["margin"]["t"] = MODEBAR_BAND + TITLE_LINE * lines + 16
    layout["height"] += layout["margin"]["t"] - 60


def breakable(text: str, width: int = 36) -> str:
    """Text escaped for plotly, with words longer than ``width`` cut into lines (``<br>``).

    A plotly table wraps cell text at spaces only and clips a word wider than its column, so
    a long id or name (a stream batch's ``shard/sequence number``) is shown whole over
    several lines, broken after a ``/``, ``-``, ``_``, ``:`` or ``.`` where it has one.
    """
    words: list[str] = []
    for word in text.split(" "):
        lines: list[str] = []
        line = ""
        for part in re.split(r"(?<=[/\-_:.])", word):
            if line and len(line) + len(part) > width:
                lines.append(line)
                line = ""
            while len(part) > width:
                lines.append(part[:width])
                part = part[width:]
            line += part
        lines.append(line)
        words.append("<br>".join(plot_text(piece) for piece in lines))
    return " ".join(words)


def _columns(rows: list[list[str]]) -> list[list[str]]:
    """Row-wise values as the column lists plotly's table wants."""
    return [list(column) for column in zip(*rows, strict=True)]


def format_ms(value: float | None) -> str:
    """A duration in milliseconds as a short human string.

    ``850 ms``, ``1.5 s``, ``1 min 40 s``, ``2 h 05 min``: 3 significant digits below a
    minute, whole seconds (or minutes) above.
    """
    if value is None:
        return "n/a"
    # Rounded to 3 significant digits first, so 999.7 ms reads "1 s", never "1e+03 ms".
    for unit, size in (("ms", 1.0), ("s", 1000.0)):
        shown = float(f"{value / size:.3g}")
        if shown < (1000 if unit == "ms" else 60):
            return f"{shown:g} {unit}"
    seconds = round(value / 1000)
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min" + (f" {rest:02d} s" if rest else "")
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h" + (f" {rest:02d} min" if rest else "")


def sorted_counts(histogram: dict[str, int]) -> list[tuple[str, int]]:
    """Histogram entries sorted by their numeric key, then by the key's text."""
    return sorted(histogram.items(), key=lambda item: (_number(item[0]), item[0]))


def _number(text: str) -> float:
    """A histogram key as a number (unparseable keys sort last)."""
    try:
        return float(text)
    except ValueError:
        return float("inf")


def plot_time(iso: str) -> str:
    """A contract time (``2026-11-28T01:02:03.456789Z``) in plotly's own date form, UTC."""
    text = iso[:-1] if iso.endswith(("Z", "z")) else iso
    return text.replace("T", " ", 1)


def top_functions(volumes: list[tuple[str, int]], limit: int) -> tuple[list[str], list[str]]:
    """The functions to draw as their own series, and the others, both sorted by name.

    The ``limit`` functions with the largest volume (ties by name) are drawn; when only one
    would be left over it is drawn too, as "others" of one function says less than its name.

    Args:
        volumes: ``(function, volume)`` pairs, e.g. events or messages per function.
        limit: Most functions drawn as their own series.
    """
    ranked = [name for name, _ in sorted(volumes, key=lambda item: (-item[1], item[0]))]
    if len(ranked) <= limit + 1:
        return sorted(ranked), []
    return sorted(ranked[:limit]), sorted(ranked[limit:])


def others_name(others: list[str]) -> str:
    """The legend name of the series that adds up the functions not drawn on their own."""
    return f"others ({len(others)} functions)"


def histogram_bars(
    histograms: list[tuple[str, dict[str, int]]], *, x_noun: str, y_noun: str, limit: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """One bar trace per function over the union of their histogram buckets, in bucket order.

    Returns the bucket keys in order (for the axis) and the traces. With more than ``limit``
    functions, the ``limit`` largest are drawn on their own and the rest are added up,
    bucket by bucket, into one grey "others" trace (the counts add exactly).

    Args:
        histograms: ``(function, histogram)`` pairs; empty histograms get no trace, and the
            colours follow the position among the non-empty ones.
        x_noun: What a bucket counts (``attempts``), for the hover text.
        y_noun: What the bars count (``events``), for the hover text.
        limit: Most functions drawn as their own trace.
    """
    keys = sorted_counts({key: 0 for _, histogram in histograms for key in histogram})
    categories = [key for key, _ in keys]
    present = {f: h for f, h in histograms if h}
    shown, others = top_functions([(f, sum(h.values())) for f, h in present.items()], limit)
    series: list[tuple[str, dict[str, int], str]] = [
        (plot_text(function), present[function], series_colour(index))
        for index, function in enumerate(shown)
    ]
    if others:
        merged: dict[str, int] = {}
        for function in others:
            for key, count in present[function].items():
                merged[key] = merged.get(key, 0) + count
        series.append((others_name(others), merged, OTHERS_COLOUR))
    return categories, [
        {
            "type": "bar",
            "name": name,
            "x": categories,
            "y": [histogram.get(key, 0) for key in categories],
            "marker": {"color": colour},
            "hovertemplate": f"%{{x}} {x_noun}: %{{y}} {y_noun}<extra>%{{fullData.name}}</extra>",
        }
        for name, histogram, colour in series
    ]
