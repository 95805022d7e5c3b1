"""The streams panel: retried Kinesis / DynamoDB stream batches per shard over time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracelens.report.panels._figure import (
    base_layout,
    figure_or_note,
    plot_text,
    plot_time,
    series_colour,
)

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.panels._figure import FigureDict
    from tracelens.report.panels._view import View

TITLE = "Retried stream batches per shard over time (a retried batch blocks its shard)"


def build(view: View, spec: PanelSpec) -> FigureDict:
    """Retried batches per time bucket, one bar series per (function, shard)."""
    series: dict[tuple[str, str], list[tuple[str, int, int]]] = {}
    for detail in view.details:
        for point in detail.stream_batches:
            series.setdefault((detail.function, point.shard_id), []).append(
                (point.start, point.retried, point.batches)
            )
    data: list[dict[str, Any]] = []
    for index, ((function, shard), points) in enumerate(sorted(series.items())):
        points.sort()
        name = shard if not view.is_all else f"{function} / {shard}"
        data.append(
            {
                "type": "bar",
                "name": plot_text(name),
                "x": [plot_time(start) for start, _, _ in points],
                "y": [retried for _, retried, _ in points],
                "customdata": [batches for _, _, batches in points],
                "marker": {"color": series_colour(index)},
                "hovertemplate": (
                    "%{x}: %{y} retried of %{customdata} batches<extra>%{fullData.name}</extra>"
                ),
            }
        )
    title = spec.title or f"{TITLE}, {view.bucket_seconds} s buckets"
    fates = {"sent": 0, "discarded": 0, "unknown": 0}
    for chain in view.chains:
        if chain.kind == "stream" and chain.fate in fates:
            fates[chain.fate] += 1
    if any(fates.values()):
        title += (
            f"<br><sub>failed batches: {fates['sent']} sent to the on-failure destination, "
            f"{fates['discarded']} discarded, {fates['unknown']} fate unknown</sub>"
        )
        if fates["unknown"]:
            title += "".join(
                f"<br><sub>fate unknown: {plot_text(reason)}</sub>"
                for reason in view.stream_unknown_reasons
            )
    layout = base_layout(
        title,
        x_title="batch start time (UTC)",
        y_title="retried batches",
    )
    layout["barmode"] = "stack"
    layout["xaxis"]["type"] = "date"
    return figure_or_note(data, layout, "No stream batches in this view.")
