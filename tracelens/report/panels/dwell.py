"""Dwell panels: how long async events waited in Lambda's queue, as distribution and over time."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tracelens.report.panels._figure import (
    base_layout,
    figure_or_note,
    format_ms,
    plot_text,
    plot_time,
    series_colour,
    stacked_layout,
)

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.panels._figure import FigureDict
    from tracelens.report.panels._view import View

HISTOGRAM_TITLE = "Dwell time in Lambda's async queue: events per log-scale bucket"
ECDF_TITLE = "Dwell time in Lambda's async queue: share of events waiting at most x (ECDF)"
OVER_TIME_TITLE = "Dwell time percentiles of async events, by enqueue time"

_NO_DWELL = "No async events with a dwell time in this view."


def bucket_label(lower_ms: float) -> str:
    """The label of a 1-2-5 log bucket from its lower bound (``"1 s–2 s"``)."""
    upper = next_bucket(lower_ms)
    if upper is None:
        return f"≥ {format_ms(lower_ms)}"
    return f"{format_ms(lower_ms)}–{format_ms(upper)}"


def next_bucket(lower_ms: float) -> float | None:
    """The upper bound of the 1-2-5 bucket starting at ``lower_ms``, if it is one."""
    if lower_ms <= 0:
        return None
    exponent = math.floor(math.log10(lower_ms))
    mantissa = round(lower_ms / 10**exponent, 6)
    steps = {1.0: 2.0, 2.0: 5.0, 5.0: 10.0}
    if mantissa not in steps:
        return None
    return float(steps[mantissa] * 10**exponent)


def build_histogram(view: View, spec: PanelSpec) -> FigureDict:
    """Events per 1-2-5 log bucket of dwell time, stacked by function."""
    bounds = sorted({float(key) for detail in view.details for key in detail.dwell_histogram_ms})
    labels = [format_ms(bound) for bound in bounds]
    ranges = [bucket_label(bound) for bound in bounds]
    data: list[dict[str, Any]] = []
    for index, detail in enumerate(d for d in view.details if d.dwell_histogram_ms):
        by_bound = {float(key): count for key, count in detail.dwell_histogram_ms.items()}
        data.append(
            {
                "type": "bar",
                "name": plot_text(detail.function),
                "x": labels,
                "y": [by_bound.get(bound, 0) for bound in bounds],
                "customdata": ranges,
                "marker": {"color": series_colour(index)},
                "hovertemplate": "%{customdata}: %{y} events<extra>%{fullData.name}</extra>",
            }
        )
    layout = stacked_layout(
        spec.title or HISTOGRAM_TITLE,
        labels,
        x_title="dwell time, lower bound of 1-2-5 log bucket (ms / s / min)",
        y_title="async events",
    )
    return figure_or_note(data, layout, _NO_DWELL)


def build_ecdf(view: View, spec: PanelSpec) -> FigureDict:
    """The share of events that waited at most x, one line per function, log x axis.

    Built from each function's nearest-rank quantiles p0..p100, so each step is 1 %.
    """
    data: list[dict[str, Any]] = []
    for index, detail in enumerate(d for d in view.details if d.dwell_quantiles_ms):
        quantiles = detail.dwell_quantiles_ms
        step = 100.0 / (len(quantiles) - 1) if len(quantiles) > 1 else 100.0
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv", "color": series_colour(index)},
                "name": plot_text(detail.function),
                # Quantiles are already sorted; a log axis cannot show 0 ms, so clamp
                # to 1 microsecond rather than drop the point.
                "x": [max(value, 0.001) for value in quantiles],
                "y": [round(i * step, 6) for i in range(len(quantiles))],
                "hovertemplate": "%{y:.0f}% waited ≤ %{x:,.1f} ms<extra>%{fullData.name}</extra>",
            }
        )
    layout = base_layout(
        spec.title or ECDF_TITLE,
        x_title="dwell time, ms (log scale)",
        y_title="async events waiting at most x, %",
    )
    layout["xaxis"]["type"] = "log"
    layout["yaxis"]["range"] = [0, 101]
    return figure_or_note(data, layout, _NO_DWELL)


def build_over_time(view: View, spec: PanelSpec) -> FigureDict:
    """Dwell p50/p90/p99 per time bucket (one function) or p99 per function (all functions)."""
    data: list[dict[str, Any]] = []
    details = [d for d in view.details if d.dwell_over_time]
    percentiles = ("p99",) if view.is_all else ("p50", "p90", "p99")
    dashes = {"p50": "dot", "p90": "dash", "p99": "solid"}
    for index, detail in enumerate(details):
        points = sorted(detail.dwell_over_time, key=lambda p: p.start)
        for name in percentiles:
            values = [getattr(point, name) for point in points]
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": plot_text(f"{detail.function} {name}"),
                    "x": [plot_time(point.start) for point in points],
                    "y": values,
                    "customdata": [point.count for point in points],
                    "line": {
                        "color": series_colour(index if view.is_all else len(data)),
                        "dash": dashes[name],
                    },
                    "hovertemplate": (
                        "%{x}: %{y:,.1f} ms (%{customdata} events)<extra>%{fullData.name}</extra>"
                    ),
                }
            )
    which = "p99 per function" if view.is_all else "p50, p90 and p99"
    layout = base_layout(
        spec.title or f"{OVER_TIME_TITLE} ({which}, {view.bucket_seconds} s buckets)",
        x_title="enqueue time (UTC)",
        y_title="dwell time, ms (log scale)",
    )
    layout["xaxis"]["type"] = "date"
    layout["yaxis"]["type"] = "log"
    return figure_or_note(data, layout, _NO_DWELL)
