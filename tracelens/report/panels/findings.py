"""The findings panel: what a person should act on, most severe first, with example ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.model.vocab import Severity
from tracelens.report.panels._figure import (
    PLAIN_TEXT,
    SEVERITY_COLOURS,
    breakable,
    plot_text,
    table_figure,
)

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.models import Finding
    from tracelens.report.panels._figure import FigureDict
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
    """A table of the view's findings (at most ``spec.limit``), trace text escaped for plotly."""
    findings = sorted_findings(view.findings)
    if spec.limit is not None:
        findings = findings[: spec.limit]
    rows = [
        [
            plot_text(finding.severity),
            plot_text(finding.code),
            breakable(finding.function or "(all)", 16),
            str(finding.count),
            plot_text(finding.message),
            "<br>".join(breakable(example) for example in finding.examples[:5]),
        ]
        for finding in findings
    ]
    badges = [SEVERITY_COLOURS.get(f.severity, SEVERITY_COLOURS["neutral"]) for f in findings]
    if not findings:
        rows = [["none", "-", "-", "0", "Nothing to act on in this view.", "-"]]
        badges = [SEVERITY_COLOURS["ok"]]
    # The severity cell is a white word on its severity's colour.
    return table_figure(
        spec.title or TITLE,
        _HEADER,
        rows,
        colours=[["#ffffff", *([PLAIN_TEXT] * (len(_HEADER) - 1))] for _ in rows],
        fills=[[badge, *(["#ffffff"] * (len(_HEADER) - 1))] for badge in badges],
        widths=[70, 190, 120, 50, 360, 260],
        row_height=48,
        max_height=900,
    )
