"""tracelens: what happened to AWS Lambda events between the caller and the function.

The public API is ``__all__``. Names are loaded on first use (PEP 562), so ``import
tracelens`` stays light: it imports neither polars nor rich, and never boto3, plotly or
aws_xray_sdk. Example::

    from pathlib import Path

    import tracelens

    bundle = Path("sample_traces/async_retry_storm")
    frames = tracelens.read_traces([bundle])
    side = tracelens.read_side_inputs([bundle], config=None, dlq=[])
    report = tracelens.build_report(tracelens.analyse(frames, side), generated_by="me")
    print(tracelens.render_json(report).decode())
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from tracelens._version import __version__
from tracelens.errors import TracelensError

if _typing.TYPE_CHECKING:
    from tracelens.analysis import AnalysisResults, Story, analyse, explain
    from tracelens.ingest.files import read_traces
    from tracelens.ingest.side import read_side_inputs
    from tracelens.model.frames import TraceFrames
    from tracelens.model.side import SideInputs
    from tracelens.report.build import build_report
    from tracelens.report.dashboard_spec import DashboardSpec, load_dashboard_spec
    from tracelens.report.html import render_html
    from tracelens.report.json_report import render_json
    from tracelens.report.markdown import render_markdown
    from tracelens.report.models import Report
    from tracelens.report.schema import report_schema
    from tracelens.report.story import render_story
    from tracelens.report.terminal import render_terminal

# public name -> the module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    "AnalysisResults": "tracelens.analysis",
    "DashboardSpec": "tracelens.report.dashboard_spec",
    "Report": "tracelens.report.models",
    "SideInputs": "tracelens.model.side",
    "Story": "tracelens.analysis",
    "TraceFrames": "tracelens.model.frames",
    "analyse": "tracelens.analysis",
    "build_report": "tracelens.report.build",
    "explain": "tracelens.analysis",
    "load_dashboard_spec": "tracelens.report.dashboard_spec",
    "read_side_inputs": "tracelens.ingest.side",
    "read_traces": "tracelens.ingest.files",
    "render_html": "tracelens.report.html",
    "render_json": "tracelens.report.json_report",
    "render_markdown": "tracelens.report.markdown",
    "render_story": "tracelens.report.story",
    "render_terminal": "tracelens.report.terminal",
    "report_schema": "tracelens.report.schema",
}


def __getattr__(name: str) -> _typing.Any:
    """Import a public name from its module on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tracelens' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Module attributes, lazy public names included."""
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AnalysisResults",
    "DashboardSpec",
    "Report",
    "SideInputs",
    "Story",
    "TraceFrames",
    "TracelensError",
    "__version__",
    "analyse",
    "build_report",
    "explain",
    "load_dashboard_spec",
    "read_side_inputs",
    "read_traces",
    "render_html",
    "render_json",
    "render_markdown",
    "render_story",
    "render_terminal",
    "report_schema",
]
