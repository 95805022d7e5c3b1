"""The findings panel: what a person should act on, most severe first, with example ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.model.vocab import Severity
from tracelens.report.panels._figure import (
    SEVERITY_COLOURS,
    FigureDict,
    base_layout,
    plot_text,
)

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.models import Finding
    from tracelens.report.panels._view import View

TITLE = "Findings, most severe first, with example request, message or trace ids"

_HEADER = ["severity", "code", "function", "count", "what to do", "examples"]


def sorted_findings(findings: tuple[Finding, ...]) -> list[Finding]:
    """Findings by severity (critical, warning, info), then code, function and message."""
    return sorted(
        findings,
        key=lambda f: (Severity(f.severity).rank, f.code, f.function or "", f.message),
    )


def build(view: View, spec: PanelSpec) -> FigureDict:
    """A table of the view's findings; trace-derived text is escaped for plotly.

    Args:
        view: The view to show.
        spec: The panel's spec (title override, ``limit`` on rows).

    Returns:
        The figure dict.
    """
    findings = sorted_findings(view.findings)
    if spec.limit is not None:
        findings = findings[: spec.limit]
    columns: list[list[str]] = [[] for _ in _HEADER]
    fills: list[str] = []
    for finding in findings:
        columns[0].append(plot_text(finding.severity))
        columns[1].append(plot_text(finding.code))
        columns[2].append(plot_text(finding.function or "(all)"))
        columns[3].append(str(finding.count))
        columns[4].append(plot_text(finding.message))
        columns[5].append("<br>".join(plot_text(example) for example in finding.examples[:5]))
        fills.append(SEVERITY_COLOURS.get(finding.severity, SEVERITY_COLOURS["neutral"]))
    if not findings:
        columns = [["none"], ["-"], ["-"], ["0"], ["Nothing to act on in this view."], ["-"]]
        fills = [SEVERITY_COLOURS["ok"]]
    table = {
        "type": "table",
        "columnwidth": [70, 170, 120, 50, 380, 230],
        "header": {
            "values": [f"<b>{name}</b>" for name in _HEADER],
            "fill": {"color": "#eaecee"},
            "align": "left",
        },
        "cells": {
            "values": columns,
            "align": "left",
            "fill": {"color": [fills, *(["#ffffff"] * len(fills) for _ in _HEADER[1:])]},
            "font": {
                "color": [
                    ["#ffffff"] * len(fills),
                    *(["#1c2833"] * len(fills) for _ in _HEADER[1:]),
                ]
            },
            "height": 26,
        },
    }
    rows = max(len(findings), 1)
    layout = base_layout(spec.title or TITLE, height=min(130 + 48 * rows, 900))
    layout["margin"] = {"l": 20, "r": 20, "t": 60, "b": 10}
    return {"data": [table], "layout": layout}
