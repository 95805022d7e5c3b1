"""The functions table panel: requests, invocations, cold starts, failures, durations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.report._format import duration
from tracelens.report.panels._figure import (
    PLAIN_TEXT,
    SEVERITY_COLOURS,
    breakable,
    table_figure,
)

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.panels._figure import FigureDict
    from tracelens.report.panels._view import View

TITLE = (
    "Per function: requests, invocations, cold starts, failures, throttles, duration and "
    "top callers"
)

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
    "top callers",
]


def build(view: View, spec: PanelSpec) -> FigureDict:
    """A table with one row per function (at most ``spec.limit``), sorted by name."""
    functions = sorted(view.functions, key=lambda f: f.name)
    if spec.limit is not None:
        functions = functions[: spec.limit]
    rows = [
        [
            breakable(f.name, 28),
            f"{f.requests:,d}",
            f"{f.invocations:,d}",
            f"{f.cold_starts:,d}",
            f"{f.failed_invocations:,d}",
            f"{f.failed_requests:,d}",
            f"{f.throttles:,d}",
            duration(f.duration_ms.p50),
            duration(f.duration_ms.p99),
            ", ".join(breakable(label, 30) for label in f.top_callers) or "-",
        ]
        for f in functions
    ]
    # Failures and throttles stand out when there are any.
    colours = [
        [
            *([PLAIN_TEXT] * 4),
            _stress(f.failed_invocations, "critical"),
            _stress(f.failed_requests, "critical"),
            _stress(f.throttles, "warning"),
            PLAIN_TEXT,
            PLAIN_TEXT,
            PLAIN_TEXT,
        ]
        for f in functions
    ]
    if not functions:
        rows = [["(no functions)", *(["-"] * (len(_HEADER) - 1))]]
        colours = [[PLAIN_TEXT] * len(_HEADER)]
    return table_figure(
        spec.title or TITLE,
        _HEADER,
        rows,
        colours=colours,
        widths=[220, 90, 100, 90, 130, 120, 90, 110, 110, 220],
        row_height=28,
        max_height=900,
        empty=not functions,
        align=["left", *(["right"] * (len(_HEADER) - 2)), "left"],
    )


def _stress(count: int, severity: str) -> str:
    """The text colour of a count: its severity's colour when there are any, else plain."""
    return SEVERITY_COLOURS[severity] if count else PLAIN_TEXT
