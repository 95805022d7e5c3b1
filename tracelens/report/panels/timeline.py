"""The timeline panel: what happened when, summed over the view's functions.

One line per series that is not zero throughout (requests, failed, throttled, cold starts,
async events that ended badly, SQS redeliveries, stream retries), one point per bucket of
the report's ``timeline``: the panel to look at first to see when an incident started.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tracelens.report.panels._figure import base_layout, figure_or_note, series_colour
from tracelens.report.timeline_text import SERIES, width_text

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.panels._figure import FigureDict
    from tracelens.report.panels._view import View

TITLE = "What happened when"
_NO_DATA = "No requests in the view's time window"


def build(view: View, spec: PanelSpec) -> FigureDict:
    """Every non-zero count series of the view's functions, summed per bucket."""
    timeline = view.timeline
    data: list[dict[str, Any]] = []
    if timeline.start is not None and view.timeline_functions:
        first = datetime.fromisoformat(timeline.start.replace("Z", "+00:00"))
        x = [
            (first + timedelta(seconds=i * timeline.bucket_seconds)).strftime("%Y-%m-%d %H:%M:%S")
            for i in range(timeline.buckets)
        ]
        for index, (key, label) in enumerate(s for s in SERIES if s[0] != "dwell_p99_ms"):
            totals = [
                sum(values)
                for values in zip(
                    *(getattr(fn, key) for fn in view.timeline_functions), strict=True
                )
            ]
            if key != "requests" and not any(totals):
                continue
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "line": {"shape": "hv", "color": series_colour(index)},
                    "name": label,
                    "x": x,
                    "y": totals,
                    "hovertemplate": f"%{{x}}: %{{y:,}} {label}<extra></extra>",
                }
            )
    layout = base_layout(
        spec.title or f"{TITLE} ({width_text(timeline.bucket_seconds)} buckets)",
        x_title="time (UTC)",
        y_title="per bucket",
    )
    layout["xaxis"]["type"] = "date"
    layout["yaxis"]["rangemode"] = "tozero"
    return figure_or_note(data, layout, _NO_DATA)
