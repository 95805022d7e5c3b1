"""The headline panel: the few numbers that say how bad the incident was, by severity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracelens.report.panels._figure import SEVERITY_COLOURS, base_layout

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.panels._figure import FigureDict
    from tracelens.report.panels._view import View

TITLE = (
    "Headline: async events, retries, DLQ, drops, poison messages, p99 dwell, "
    "failed and throttled requests"
)

#: Async p99 dwell above this is a warning (the contract's HIGH_DWELL default, 60 s).
HIGH_DWELL_MS = 60_000.0


def headline_numbers(view: View) -> list[tuple[str, float, str, str]]:
    """The headline numbers of a view as (label, value, unit suffix, severity).

    Args:
        view: The view to summarise.

    Returns:
        One tuple per number, in display order; severity is a key of ``SEVERITY_COLOURS``.
    """
    h = view.headline
    numbers: list[tuple[str, float, str, str]] = [
        ("async events", float(h.events), "", "neutral"),
        (
            "succeeded after retry",
            float(h.succeeded_after_retry),
            "",
            "info" if h.succeeded_after_retry else "ok",
        ),
        ("sent to DLQ", float(h.sent_to_dlq), "", "warning" if h.sent_to_dlq else "ok"),
    ]
    if h.missing_from_dlq:
        numbers.append(("missing from DLQ", float(h.missing_from_dlq), "", "critical"))
    numbers.append(("dropped", float(h.dropped), "", "critical" if h.dropped else "ok"))
    if h.fate_unknown:
        numbers.append(
            ("ended badly, fate unknown (supply --config)", float(h.fate_unknown), "", "warning")
        )
    numbers.append(
        ("poison messages", float(h.poison_messages), "", "critical" if h.poison_messages else "ok")
    )
    # Without dwell data there is no number to show (a 0.0 s would read as "no waiting").
    if h.p99_dwell_ms is not None:
        severity = "warning" if h.p99_dwell_ms > HIGH_DWELL_MS else "ok"
        numbers.append(("p99 dwell", h.p99_dwell_ms / 1000.0, " s", severity))
    # Requests of every invoke path that failed or were throttled (shown only when some
    # were, as "missing from DLQ" is): a sync incident must not look green.
    if h.failed_requests:
        numbers.append(("failed requests", float(h.failed_requests), "", "critical"))
    if h.throttled_requests:
        numbers.append(("throttled requests", float(h.throttled_requests), "", "warning"))
    return numbers


def build(view: View, spec: PanelSpec) -> FigureDict:
    """One plotly indicator per headline number, coloured by severity."""
    numbers = headline_numbers(view)
    data: list[dict[str, Any]] = []
    for column, (label, value, suffix, severity) in enumerate(numbers):
        colour = SEVERITY_COLOURS[severity]
        data.append(
            {
                "type": "indicator",
                "mode": "number",
                "value": value,
                "title": {"text": label, "font": {"size": 13, "color": colour}},
                "number": {
                    "font": {"size": 34, "color": colour},
                    "suffix": suffix,
                    "valueformat": ",.1f" if suffix else ",d",
                },
                "domain": {"row": 0, "column": column},
            }
        )
    layout = base_layout(spec.title or TITLE, height=200, tight=True)
    layout["grid"] = {"rows": 1, "columns": len(numbers), "pattern": "independent"}
    return {"data": data, "layout": layout}
