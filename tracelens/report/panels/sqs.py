"""SQS panels: deliveries per message and the poison-message table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.report.panels._figure import (
    DEFAULT_FUNCTIONS,
    PLAIN_TEXT,
    SEVERITY_COLOURS,
    breakable,
    figure_or_note,
    histogram_bars,
    plot_text,
    stacked_layout,
    table_figure,
)

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.models import PoisonMessage
    from tracelens.report.panels._figure import FigureDict
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
    """SQS messages by number of deliveries, one bar per function side by side (log axis).

    At most ``spec.limit`` functions (default ``DEFAULT_FUNCTIONS``) by messages get their
    own bars; the rest are added up as "others".
    """
    categories, data = histogram_bars(
        [(d.function, d.deliveries_histogram) for d in view.details],
        x_noun="deliveries",
        y_noun="messages",
        limit=spec.limit or DEFAULT_FUNCTIONS,
    )
    layout = stacked_layout(
        spec.title or DELIVERIES_TITLE,
        categories,
        x_title="deliveries per message",
        y_title="SQS messages (log scale)",
    )
    # Most messages are delivered once; a log axis keeps the redelivered ones visible. Bars
    # stacked on a log axis would misstate every part but the lowest: side by side instead.
    layout["yaxis"].update({"type": "log", "dtick": 1})
    layout["barmode"] = "group"
    return figure_or_note(data, layout, "No SQS messages in this view.")


def sorted_poison(poison: tuple[PoisonMessage, ...]) -> list[PoisonMessage]:
    """Poison messages, most deliveries first, then earliest, then by id and function."""
    return sorted(poison, key=lambda p: (-p.deliveries, p.first_seen, p.message_id, p.function))


def build_poison(view: View, spec: PanelSpec) -> FigureDict:
    """A table of the view's worst poison messages, escaped for plotly.

    Shows at most ``spec.limit`` rows (default ``DEFAULT_POISON_LIMIT``).
    """
    poison = sorted_poison(view.poison)
    shown = poison[: spec.limit or DEFAULT_POISON_LIMIT]
    rows = [
        [
            breakable(message.message_id),
            breakable(message.function, 18),
            str(message.deliveries),
            _two_lines(message.first_seen),
            _two_lines(message.last_seen),
            plot_text(message.last_error or "(none recorded)"),
            plot_text(_FATE_TEXT.get(message.fate or "", "-")),
        ]
        for message in shown
    ]
    if not shown:
        rows = [["none", "-", "0", "-", "-", "No poison messages in this view.", "-"]]
    title = spec.title or POISON_TITLE
    if len(poison) > len(shown):
        title += f" (worst {len(shown)} of {len(poison)})"
    # Every poison message failed every delivery: the deliveries column is red.
    colours = [PLAIN_TEXT, PLAIN_TEXT, SEVERITY_COLOURS["critical"], *([PLAIN_TEXT] * 4)]
    return table_figure(
        title,
        _POISON_HEADER,
        rows,
        colours=[colours for _ in rows],
        widths=[290, 150, 80, 140, 140, 300, 140],
        row_height=30,
        max_height=800,
        empty=not shown,
    )


def _two_lines(iso: str) -> str:
    """A contract time as its date over its time of day, so the column can be narrow."""
    date, _, time = iso.partition("T")
    return f"{plot_text(date)}<br>{plot_text(time)}" if time else plot_text(iso)
