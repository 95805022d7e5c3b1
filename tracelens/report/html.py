"""The HTML renderer: one self-contained, offline dashboard file with plotly.js embedded."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from typing import TYPE_CHECKING

from tracelens.report.panels import WIDE_PANELS, build_panel, build_views, has_data

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import DashboardSpec, PanelSpec
    from tracelens.report.models import Report

#: Id of the ``<script type="application/json">`` block holding every figure.
DATA_ID = "tracelens-data"
#: Id of the function filter ``<select>``.
FILTER_ID = "tracelens-function"

#: plotly.js config shared by every panel: no logo, no links out, no MathJax typesetting.
PLOT_CONFIG: dict[str, object] = {
    "displaylogo": False,
    "responsive": True,
    "showLink": False,
    "showSendToCloud": False,
    "showEditInChartStudio": False,
    "typesetMath": False,
    "modeBarButtonsToRemove": ["sendDataToCloud"],
}

_APP_JS = """(function () {
  "use strict";
  var payload = JSON.parse(document.getElementById("%(data_id)s").textContent);
  var select = document.getElementById("%(filter_id)s");
  var status = document.getElementById("tracelens-status");
  var nothing = document.getElementById("tracelens-nothing");
  var current = 0;
  function section(panel) {
    return document.getElementById(panel.id).parentNode;
  }
  // A plotly table scrolls inside a fixed height; grow (or shrink) it until every row shows.
  // Rows are measured as plotly draws them, so a few rounds may be needed.
  function fitTable(panel, round) {
    var div = document.getElementById(panel.id);
    var view = div.querySelector(".table-control-view");
    var state = view && view.__data__ && view.__data__.scrollbarState;
    if (!state || typeof state.totalHeight !== "number" || round > 12) {
      return Promise.resolve();
    }
    var extra = state.totalHeight - state.scrollableAreaHeight;
    if (extra <= 0 && extra > -8) {
      return Promise.resolve();
    }
    var height = Math.ceil(div._fullLayout.height + extra + 2);
    return Plotly.relayout(div, {height: height}).then(function () {
      return fitTable(panel, round + 1);
    });
  }
  function fitTables() {
    return Promise.all(payload.panels.map(function (panel) {
      return section(panel).hidden ? null : fitTable(panel, 0);
    }));
  }
  function show(viewIndex) {
    var label = payload.views[viewIndex].label;
    var shown = 0;
    current = viewIndex;
    status.textContent = "Showing: " + label;
    // Hide the panels with nothing to show in this view before drawing the others, so each
    // is drawn at the width it is shown at.
    payload.panels.forEach(function (panel) {
      var empty = panel.empty[viewIndex];
      section(panel).hidden = empty;
      shown += empty ? 0 : 1;
    });
    nothing.hidden = shown > 0;
    return Promise.all(payload.panels.map(function (panel) {
      var div = document.getElementById(panel.id);
      if (panel.empty[viewIndex]) {
        Plotly.purge(div);
        return null;
      }
      var figure = panel.figures[viewIndex];
      return Plotly.react(div, figure.data, figure.layout, payload.config);
    })).then(fitTables);
  }
  function render(viewIndex) {
    document.body.setAttribute("data-rendered", "false");
    show(viewIndex).then(function () {
      document.body.setAttribute("data-rendered", "true");
    });
  }
  select.addEventListener("change", function () {
    render(Number(select.value));
  });
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { render(current); }, 250);
  });
  render(Number(select.value));
})();
"""

_CSS = """
body { margin: 0; min-width: 1280px; background: #f4f6f6; color: #1c2833;
       font-family: "DejaVu Sans", Arial, sans-serif; }
header { background: #1c2833; color: #fdfefe; padding: 14px 24px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 2px 0; font-size: 13px; color: #d5d8dc; }
header p.note { color: #f9e79f; }
.filter { margin-top: 8px; font-size: 14px; }
.filter select { font-size: 14px; margin-left: 6px; max-width: 480px; }
main { display: grid; grid-template-columns: 1fr; grid-auto-flow: row dense; gap: 14px;
       padding: 14px 24px; }
@media (min-width: 1400px) { main { grid-template-columns: 1fr 1fr; }
  .panel.wide { grid-column: 1 / -1; } }
.panel { background: #ffffff; border: 1px solid #d5d8dc; border-radius: 4px; padding: 4px; }
.status { font-size: 12px; color: #aeb6bf; }
.panel[hidden], .nothing[hidden] { display: none; }
.nothing { padding: 14px 24px; color: #4d5656; }
"""


#: Shown instead of the panels when none has anything to show in the chosen view.
_NOTHING = "No panel of this dashboard has data in this view."


def panel_div_ids(spec: DashboardSpec) -> list[str]:
    """Deterministic div ids of a spec's panels: ``panel-<name>``, ``panel-<name>-2``, ...

    Args:
        spec: The dashboard spec.

    Returns:
        One id per panel, in order.
    """
    seen: dict[str, int] = {}
    ids: list[str] = []
    for panel in spec.panels:
        seen[panel.panel] = seen.get(panel.panel, 0) + 1
        suffix = "" if seen[panel.panel] == 1 else f"-{seen[panel.panel]}"
        ids.append(f"panel-{panel.panel.replace('_', '-')}{suffix}")
    return ids


def json_for_script(value: object) -> str:
    """JSON that is safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` become ``\\u003c``, ``\\u003e`` and ``\\u0026`` (still the same
    JSON), so no data can close the script element or open a comment; non-finite floats
    become null, which JSON has no other way to write.

    Args:
        value: JSON-able data.

    Returns:
        The escaped JSON text.
    """
    text = json.dumps(_finite(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(value: object) -> object:
    """A copy of JSON-able data with NaN and infinities replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _script_hash(source: str) -> str:
    """The CSP source expression allowing exactly this inline script."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _plotly_js() -> str:
    """The plotly.js bundle shipped with the plotly package, safe to inline."""
    from plotly.offline import get_plotlyjs  # plotly is imported only when rendering

    # An inline script ends at the first "</script"; plotly.js should never contain one,
    # but "<\\/" means the same inside any JS string or regex, so this costs nothing.
    source: str = get_plotlyjs()
    return source.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def render_html(report: Report, *, spec: DashboardSpec) -> str:
    """Render a report as one self-contained, offline HTML dashboard.

    plotly.js is embedded once; every figure of every panel, for every choice of the
    function filter, is embedded as escaped JSON and drawn client-side. A Content Security
    Policy allows only these inline scripts and forbids every network request. All text
    from traces is escaped (``html.escape`` in the page, plotly-escaped in figures).

    Args:
        report: The report to show (already filtered by ``--function``, if given).
        spec: Which panels to show, in order.

    Returns:
        The HTML document.

    Example:
        >>> from tracelens.report.dashboard_spec import load_dashboard_spec
        >>> page = render_html(report, spec=load_dashboard_spec("incident"))  # doctest: +SKIP
    """
    views = build_views(report)
    div_ids = panel_div_ids(spec)
    panels = []
    for div_id, panel in zip(div_ids, spec.panels, strict=True):
        figures = [build_panel(view, panel) for view in views]
        panels.append(
            {
                "id": div_id,
                "panel": panel.panel,
                "figures": figures,
                # The views in which the panel has nothing to show: it is hidden there.
                "empty": [not has_data(figure) for figure in figures],
            }
        )
    payload = {
        "config": PLOT_CONFIG,
        "dashboard": spec.name,
        "panels": panels,
        "views": [{"key": view.key, "label": view.label} for view in views],
    }
    plotly_js = _plotly_js()
    app_js = _APP_JS % {"data_id": DATA_ID, "filter_id": FILTER_ID}
    csp = (
        "default-src 'none'; "
        f"script-src {_script_hash(plotly_js)} {_script_hash(app_js)}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
        "connect-src 'none'; form-action 'none'; base-uri 'none'"
    )
    options = "\n".join(
        f'<option value="{index}">{html.escape(view.label)}</option>'
        for index, view in enumerate(views)
    )
    sections = "\n".join(
        _section(div_id, panel) for div_id, panel in zip(div_ids, spec.panels, strict=True)
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{html.escape(report.generated_by)}">
<title>{html.escape(spec.title)}</title>
<style>{_CSS}</style>
</head>
<body data-dashboard="{html.escape(spec.name)}" data-rendered="false">
<header>
<h1>{html.escape(spec.title)}</h1>
<p>{html.escape(spec.description)}</p>
<p>{_input_line(report)}</p>
{_notes(report)}<div class="filter"><label for="{FILTER_ID}">Function</label>
<select id="{FILTER_ID}">
{options}
</select> <span class="status" id="tracelens-status"></span></div>
</header>
<p class="nothing" id="tracelens-nothing" hidden>{_NOTHING}</p>
<main>
{sections}
</main>
<script type="application/json" id="{DATA_ID}">{json_for_script(payload)}</script>
<script type="text/javascript">{plotly_js}</script>
<script type="text/javascript">{app_js}</script>
</body>
</html>
"""


def _section(div_id: str, panel: PanelSpec) -> str:
    """The page section holding one panel's plot container."""
    wide = " wide" if panel.panel in WIDE_PANELS else ""
    return (
        f'<section class="panel{wide}" data-panel="{html.escape(panel.panel)}">'
        f'<div id="{div_id}" class="plot"></div></section>'
    )


def _input_line(report: Report) -> str:
    """One escaped line saying what was read: tool, traces, time range and files."""
    source = report.input
    files = ", ".join(source.files[:3]) + (
        f" and {len(source.files) - 3} more" if len(source.files) > 3 else ""
    )
    span = f"{source.start} to {source.end}" if source.start and source.end else "no times"
    text = (
        f"{report.generated_by} · {source.traces:,d} traces, {source.documents:,d} documents "
        f"({source.rejected:,d} rejected) · {span} (UTC) · {files or 'no files'}"
    )
    return html.escape(text)


def _notes(report: Report) -> str:
    """One escaped paragraph on how fetch found the traces (if known), then one per note on
    how side inputs were read (none: nothing)."""
    acquisition = report.input.acquisition
    fetched = (
        f'<p class="note">Acquisition: {html.escape(acquisition.note)}</p>\n'
        if acquisition is not None
        else ""
    )
    return fetched + "".join(
        f'<p class="note">Note: {html.escape(note)}</p>\n' for note in report.input.notes
    )


__all__ = ["DATA_ID", "FILTER_ID", "PLOT_CONFIG", "json_for_script", "panel_div_ids", "render_html"]
