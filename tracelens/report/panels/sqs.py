"""SQS panels: deliveries per message and the poison-message table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.report.panels._figure import (
    SEVERITY_COLOURS,
    FigureDict,
    base_layout,
    histogram_bars,
    plot_text,
    with_empty_note,
)

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.models import PoisonMessage
    from tracelens.report.panels._view import View

DELIVERIES_TITLE = "SQS deliveries per message (more than 1 = redelivered)"
POISON_TITLE = "SQS poison messages: failed every delivery, never succeeded"
DEFAULT_POISON_LIMIT = 50
#: How each poison-message fate reads in the table.
_FATE_TEXT = {
    "dlq": "moved to the DLQ",
    "retention_deleted": "deleted at retention",
    "in_queue": "still in the queue",
    "unknown": "unknown (no queue config)",
}

_POISON_HEADER = [
    "message id",
    "function",
    "deliveries",
    "first seen (UTC)",
    "last seen (UTC)",
    "last error",
    "fate",
]


def build_deliveries(view: View, spec: PanelSpec) -> FigureDict:
    """SQS messages by number of deliveries, stacked by function.

    Args:
        view: The view to show.
        spec: The panel's spec (title override).

    Returns:
        The figure dict.
    """
    categories, data = histogram_bars(
        [(d.function, d.deliveries_histogram) for d in view.details],
        x_noun="deliveries",
        y_noun="messages",
    )
    layout = base_layout(
        spec.title or DELIVERIES_TITLE,
        x_title="deliveries per message",
        y_title="SQS messages (log scale)",
    )
    layout["barmode"] = "stack"
    layout["xaxis"].update(
        {"type": "category", "categoryorder": "array", "categoryarray": categories}
    )
    # Most messages are delivered once; a log axis keeps the redelivered ones visible.
    layout["yaxis"].update({"type": "log", "dtick": 1})
    figure: FigureDict = {"data": data, "layout": layout}
    return figure if data else with_empty_note(figure, "No SQS messages in this view.")


def sorted_poison(poison: tuple[PoisonMessage, ...]) -> list[PoisonMessage]:
    """Poison messages, most deliveries first, then earliest, then by id and function."""
    return sorted(poison, key=lambda p: (-p.deliveries, p.first_seen, p.message_id, p.function))


def build_poison(view: View, spec: PanelSpec) -> FigureDict:
    """A table of the view's poison messages, escaped for plotly.

    Args:
        view: The view to show.
        spec: The panel's spec (title override, ``limit`` on rows).

    Returns:
        The figure dict.
    """
    poison = sorted_poison(view.poison)
    limit = spec.limit or DEFAULT_POISON_LIMIT
    shown = poison[:limit]
    columns: list[list[str]] = [[] for _ in _POISON_HEADER]
    for message in shown:
        columns[0].append(plot_text(message.message_id))
        columns[1].append(plot_text(message.function))
        columns[2].append(str(message.deliveries))
        columns[3].append(plot_text(message.first_seen))
        columns[4].append(plot_text(message.last_seen))
        columns[5].append(plot_text(message.last_error or "(none recorded)"))
        columns[6].append(plot_text(_FATE_TEXT.get(message.fate or "", "-")))
    if not shown:
        columns = [
            ["none"],
            ["-"],
            ["0"],
            ["-"],
            ["-"],
            ["No poison messages in this view."],
            ["-"],
        ]
    title = spec.title or POISON_TITLE
    if len(poison) > len(shown):
        title += f" (worst {len(shown)} of {len(poison)})"
    table = {
        "type": "table",
        "columnwidth": [230, 140, 80, 190, 190, 330, 170],
        "header": {
            "values": [f"<b>{name}</b>" for name in _POISON_HEADER],
            "fill": {"color": "#eaecee"},
            "align": "left",
        },
        "cells": {
            "values": columns,
            "align": "left",
            "height": 26,
            "font": {
                "color": [["#1c2833"] * len(columns[0])] * 2
                + [[SEVERITY_COLOURS["critical"]] * len(columns[0])]
                + [["#1c2833"] * len(columns[0])] * 4
            },
        },
    }
    layout = base_layout(title, height=min(130 + 30 * max(len(shown), 1), 800))
    layout["margin"] = {"l": 20, "r": 20, "t": 60, "b": 10}
    return {"data": [table], "layout": layout}
