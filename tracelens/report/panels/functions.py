"""The functions table panel: requests, invocations, cold starts, failures, durations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.report.panels._figure import (
    SEVERITY_COLOURS,
    FigureDict,
    base_layout,
    format_ms,
    plot_text,
)

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.panels._view import View

TITLE = "Per function: requests, invocations, cold starts, failures, throttles and duration (ms)"

_PLAIN = "#1c2833"

_HEADER = [
    "function",
    "requests",
    "invocations",
    "cold starts",
    "failed invocations",
    "failed requests",
    "throttles",
    "p50 duration",
    "p99 duration",
]


def build(view: View, spec: PanelSpec) -> FigureDict:
    """A table with one row per function, sorted by name.

    Args:
        view: The view to show.
        spec: The panel's spec (title override, ``limit`` on rows).

    Returns:
        The figure dict.
    """
    functions = sorted(view.functions, key=lambda f: f.name)
    if spec.limit is not None:
        functions = functions[: spec.limit]
    columns: list[list[str]] = [[] for _ in _HEADER]
    failed_colours: list[str] = []
    request_colours: list[str] = []
    throttle_colours: list[str] = []
    for f in functions:
        row = [
            plot_text(f.name),
            f"{f.requests:,d}",
            f"{f.invocations:,d}",
            f"{f.cold_starts:,d}",
            f"{f.failed_invocations:,d}",
            f"{f.failed_requests:,d}",
            f"{f.throttles:,d}",
            format_ms(f.duration_ms.p50),
            format_ms(f.duration_ms.p99),
        ]
        for column, value in zip(columns, row, strict=True):
            column.append(value)
        failed_colours.append(SEVERITY_COLOURS["critical"] if f.failed_invocations else _PLAIN)
        request_colours.append(SEVERITY_COLOURS["critical"] if f.failed_requests else _PLAIN)
        throttle_colours.append(SEVERITY_COLOURS["warning"] if f.throttles else _PLAIN)
    if not functions:
        columns = [["(no functions)"], *(["-"] for _ in _HEADER[1:])]
        failed_colours = request_colours = throttle_colours = [_PLAIN]
    plain = [_PLAIN] * len(failed_colours)
    table = {
        "type": "table",
        "columnwidth": [220, 90, 100, 90, 130, 120, 90, 110, 110],
        "header": {
            "values": [f"<b>{name}</b>" for name in _HEADER],
            "fill": {"color": "#eaecee"},
            "align": ["left", *(["right"] * (len(_HEADER) - 1))],
        },
        "cells": {
            "values": columns,
            "align": ["left", *(["right"] * (len(_HEADER) - 1))],
            "height": 26,
            "font": {
                "color": [
                    plain,
                    plain,
                    plain,
                    plain,
                    failed_colours,
                    request_colours,
                    throttle_colours,
                    plain,
                    plain,
                ]
            },
        },
    }
    layout = base_layout(spec.title or TITLE, height=min(130 + 28 * max(len(functions), 1), 900))
    layout["margin"] = {"l": 20, "r": 20, "t": 60, "b": 10}
    return {"data": [table], "layout": layout}
