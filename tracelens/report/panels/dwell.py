"""Dwell panels: how long async events waited in Lambda's queue, as distribution and over time."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tracelens.report.panels._figure import (
    DEFAULT_FUNCTIONS,
    OTHERS_COLOUR,
    base_layout,
    figure_or_note,
    format_ms,
    others_name,
    plot_text,
    plot_time,
    series_colour,
    stacked_layout,
    top_functions,
)

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.models import FunctionDetail
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


def _split(
    details: list[FunctionDetail], spec: PanelSpec
) -> tuple[list[FunctionDetail], list[FunctionDetail]]:
    """The details of the functions drawn on their own (most async events) and of the rest."""
    shown, others = top_functions(
        [(d.function, d.events) for d in details], spec.limit or DEFAULT_FUNCTIONS
    )
    by_name = {d.function: d for d in details}
    return [by_name[name] for name in shown], [by_name[name] for name in others]


def build_histogram(view: View, spec: PanelSpec) -> FigureDict:
    """Events per 1-2-5 log bucket of dwell time, stacked by function.

    At most ``spec.limit`` functions (default ``DEFAULT_FUNCTIONS``), those with the most
    async events, get their own bars; the others are added up into one grey series.
    """
    bounds = sorted({float(key) for detail in view.details for key in detail.dwell_histogram_ms})
    labels = [format_ms(bound) for bound in bounds]
    ranges = [bucket_label(bound) for bound in bounds]
    shown, others = _split([d for d in view.details if d.dwell_histogram_ms], spec)
    series: list[tuple[str, dict[float, int], str]] = [
        (
            plot_text(detail.function),
            {float(key): count for key, count in detail.dwell_histogram_ms.items()},
            series_colour(index),
        )
        for index, detail in enumerate(shown)
    ]
    if others:
        merged: dict[float, int] = {}
        for detail in others:
            for key, count in detail.dwell_histogram_ms.items():
                merged[float(key)] = merged.get(float(key), 0) + count
        series.append((others_name([d.function for d in others]), merged, OTHERS_COLOUR))
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": name,
            "x": labels,
            "y": [by_bound.get(bound, 0) for bound in bounds],
            "customdata": ranges,
            "marker": {"color": colour},
            "hovertemplate": "%{customdata}: %{y} events<extra>%{fullData.name}</extra>",
        }
        for name, by_bound, colour in series
    ]
    layout = stacked_layout(
        spec.title or HISTOGRAM_TITLE,
        labels,
        x_title="dwell time, lower bound of 1-2-5 log bucket (ms / s / min)",
        y_title="async events",
    )
    return figure_or_note(data, layout, _NO_DWELL)


def build_ecdf(view: View, spec: PanelSpec) -> FigureDict:
    """The share of events that waited at most x, one line per function, log x axis.

    Built from each function's nearest-rank quantiles p0..p100, so each step is 1 %. At
    most ``spec.limit`` functions (default ``DEFAULT_FUNCTIONS``), those with the most async
    events, get a line: quantiles cannot be added up, so the title says how many are left out.
    """
    data: list[dict[str, Any]] = []
    shown, others = _split([d for d in view.details if d.dwell_quantiles_ms], spec)
    for index, detail in enumerate(shown):
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
    title = spec.title or ECDF_TITLE
    if others:
        title += f"<br><sub>{_left_out(shown, others)}</sub>"
    layout = base_layout(
        title,
        x_title="dwell time, ms (log scale)",
        y_title="async events waiting at most x, %",
    )
    layout["xaxis"]["type"] = "log"
    layout["yaxis"]["range"] = [0, 101]
    return figure_or_note(data, layout, _NO_DWELL)


def _left_out(shown: list[FunctionDetail], others: list[FunctionDetail]) -> str:
    """What a percentile panel leaves out: ``top 8 of 20 functions by async events; ...``."""
    events = sum(d.events for d in others)
    return (
        f"the {len(shown)} of {len(shown) + len(others)} functions with the most async events; "
        f"{len(others)} others ({events:,d} events) not drawn"
    )


def build_over_time(view: View, spec: PanelSpec) -> FigureDict:
    """Dwell p50/p90/p99 per time bucket (one function) or p99 per function (all functions).

    Over all functions, at most ``spec.limit`` functions (default ``DEFAULT_FUNCTIONS``),
    those with the most async events, get their own p99 line; one grey line shows, per
    bucket, the highest p99 among the others (p99s cannot be added up; their maximum is
    exact and is the one that matters).
    """
    data: list[dict[str, Any]] = []
    details, others = _split([d for d in view.details if d.dwell_over_time], spec)
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
    if others:
        highest: dict[str, tuple[float, int]] = {}
        for detail in others:
            for point in detail.dwell_over_time:
                if point.p99 is None:
                    continue
                top, count = highest.get(point.start, (point.p99, 0))
                highest[point.start] = (max(top, point.p99), count + point.count)
        starts = sorted(highest)
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"highest p99 of the {others_name([d.function for d in others])}",
                "x": [plot_time(start) for start in starts],
                "y": [highest[start][0] for start in starts],
                "customdata": [highest[start][1] for start in starts],
                "line": {"color": OTHERS_COLOUR, "dash": "solid"},
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
