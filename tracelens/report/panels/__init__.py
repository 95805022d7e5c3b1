"""Dashboard panels: one figure builder per panel name, each a pure function of a View.

Every builder is a ``PanelBuilder``: it takes the ``View`` to show (what the function filter
selects) and the panel's ``PanelSpec`` (a ``title`` there replaces the panel's default; the
table and chain panels also read ``limit``, the chain panel ``kinds``) and returns the figure
as plain data, ``{"data": [...], "layout": {...}}``. A panel with nothing to show in a view
still returns a figure, with a note that says so, marked empty (``has_data`` is False): the
page hides it in that view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.report.panels import (
    chains,
    dwell,
    findings,
    flow,
    functions,
    headline,
    sqs,
    streams,
    timeline,
)
from tracelens.report.panels._figure import FigureDict, has_data, place_title, plot_text
from tracelens.report.panels._view import ALL_FUNCTIONS, View, build_views

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracelens.report.dashboard_spec import PanelSpec

    PanelBuilder = Callable[[View, PanelSpec], FigureDict]

#: The figure builder of every panel name (the names of ``dashboard_spec.PANEL_NAMES``).
BUILDERS: dict[str, PanelBuilder] = {
    "attempts": flow.build_attempts,
    "chains": chains.build,
    "dwell_ecdf": dwell.build_ecdf,
    "dwell_histogram": dwell.build_histogram,
    "dwell_over_time": dwell.build_over_time,
    "fate_flow": flow.build_flow,
    "findings": findings.build,
    "functions_table": functions.build,
    "headline": headline.build,
    "sqs_deliveries": sqs.build_deliveries,
    "sqs_poison": sqs.build_poison,
    "stream_batches": streams.build,
    "timeline": timeline.build,
}


#: Panels that read better across the whole page width.
WIDE_PANELS = frozenset(
    {"headline", "timeline", "findings", "fate_flow", "chains", "sqs_poison", "functions_table"}
)

#: Most characters in one line of a panel title, for wide and for half-width panels.
TITLE_WIDTH = {True: 110, False: 62}


def build_panel(view: View, spec: PanelSpec) -> FigureDict:
    """Build the figure dict of one panel for one view.

    The title is wrapped to the panel's width and placed below plotly's mode bar.

    Args:
        view: What the function filter selects.
        spec: The panel to build.

    Returns:
        A plotly figure as plain data (``{"data": [...], "layout": {...}}``).
    """
    figure = BUILDERS[spec.panel](view, spec)
    place_title(figure, TITLE_WIDTH[spec.panel in WIDE_PANELS])
    return figure


__all__ = [
    "ALL_FUNCTIONS",
    "BUILDERS",
    "TITLE_WIDTH",
    "WIDE_PANELS",
    "FigureDict",
    "View",
    "build_panel",
    "build_views",
    "has_data",
    "plot_text",
]
