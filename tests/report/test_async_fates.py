"""Async fates in every format: how each fate is known, and what to do when it is not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema
import pytest
from _render import terminal_text

import tracelens
from tracelens.model.side import SideInputs
from tracelens.report.dashboard_spec import PanelSpec
from tracelens.report.markdown import render_markdown
from tracelens.report.panels import build_panel, build_views
from tracelens.report.schema import report_schema

if TYPE_CHECKING:
    from tracelens.report.models import Report

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
UNKNOWN = "ended badly, fate unknown: supply `--config` (or `fetch --with-config`)"


def _report(paths: list[Path], *, config: Path | None = None, bundle: bool = False) -> Report:
    frames = tracelens.read_traces([str(p) for p in paths])
    side = (
        tracelens.read_side_inputs(paths, config=config, dlq=[])
        if bundle or config is not None
        else SideInputs()
    )
    results = tracelens.analyse(frames, side)
    return tracelens.build_report(results, generated_by="tracelens test")


def _json(report: Report) -> dict[str, object]:
    from tracelens.report.json_report import render_json

    data = json.loads(render_json(report))
    assert isinstance(data, dict)
    return data


def test_sent_checked_in_a_dump() -> None:
    # GIVEN the retry-storm bundle with its config and its DLQ dump
    report = _report([SAMPLES / "async_retry_storm"], bundle=True)
    # THEN
    data = _json(report)
    assert data["async"]["fates_evidence"] == {"dump": 11, "config": 0, "none": 0}  # type: ignore[index]
    bad = [c for c in report.chains if c.fate is not None]
    assert {(c.fate, c.fate_evidence) for c in bad} == {("sent", "dump")}
    assert "11 sent (checked in DLQ dump)" in terminal_text(report, width=200)
    assert "11 sent (checked in DLQ dump)" in render_markdown(report)


def test_sent_per_config_only() -> None:
    # GIVEN its traces and config, but no dump
    bundle = SAMPLES / "async_retry_storm"
    report = _report([bundle / "traces.ndjson"], config=bundle / "config.json")
    data = _json(report)
    assert data["async"]["fates_evidence"] == {"dump": 0, "config": 11, "none": 0}  # type: ignore[index]
    assert "11 sent (config names a DLQ; not checked)" in terminal_text(report, width=200)
    assert "11 sent (config names a DLQ; not checked)" in render_markdown(report)


def test_without_config_says_how_to_learn_the_fate() -> None:
    # GIVEN async_dropped's traces without its config
    report = _report([SAMPLES / "async_dropped" / "traces.ndjson"])
    # THEN every format says the events ended badly and how to learn their fate
    data = _json(report)
    jsonschema.Draft202012Validator(report_schema()).validate(data)
    assert data["async"]["outcomes"]["in_progress"] == 0  # type: ignore[index]
    assert data["async"]["fates"]["unknown"] == 12  # type: ignore[index]
    assert data["async"]["fates_evidence"] == {"dump": 0, "config": 0, "none": 12}  # type: ignore[index]
    assert f"12 {UNKNOWN}" in terminal_text(report, width=200)
    assert f"12 {UNKNOWN}" in render_markdown(report)
    codes = {f["code"]: f for f in data["findings"]}  # type: ignore[union-attr]
    assert codes["ASYNC_FATE_UNKNOWN"]["severity"] == "warning"
    view = build_views(report)[0]
    figure = json.dumps(build_panel(view, PanelSpec(panel="fate_flow")))
    assert "ended badly, fate unknown: supply --config (or fetch --with-config)" in figure
    headline = json.dumps(build_panel(view, PanelSpec(panel="headline")))
    assert "ended badly, fate unknown (supply --config)" in headline


@pytest.mark.parametrize("bundle", ["async_retry_storm", "async_throttled_expiry"])
def test_dashboard_flow_says_how_sent_is_known(bundle: str) -> None:
    report = _report([SAMPLES / bundle], bundle=True)
    view = build_views(report)[0]
    figure = json.dumps(build_panel(view, PanelSpec(panel="fate_flow")))
    assert "checked in DLQ dump" in figure
