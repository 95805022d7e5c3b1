"""sqs.fates, poison_messages[].fate and streams.fates in every format, from sample bundles."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from _render import terminal_text

from tracelens.analysis import analyse
from tracelens.ingest import read_traces
from tracelens.ingest.side import read_side_inputs
from tracelens.report.build import build_report
from tracelens.report.dashboard_spec import PanelSpec
from tracelens.report.json_report import render_json
from tracelens.report.markdown import render_markdown
from tracelens.report.models import Report, SqsFates, StreamFates
from tracelens.report.panels import sqs as sqs_panel
from tracelens.report.panels import streams as streams_panel
from tracelens.report.panels._view import build_views
from tracelens.report.schema import report_schema

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"


def _report(name: str, *, config: bool = True) -> Report:
    bundle = SAMPLES / name
    side = read_side_inputs([bundle] if config else [], config=None, dlq=[])
    return build_report(analyse(read_traces([bundle]), side), generated_by="tracelens test")


def _valid(report: Report) -> dict[str, object]:
    doc = json.loads(render_json(report))
    jsonschema.Draft202012Validator(report_schema()).validate(doc)
    return doc  # type: ignore[no-any-return]


def test_sqs_fates_in_the_report() -> None:
    report = _report("sqs_redrive_partial_batch")
    assert report.sqs.fates == SqsFates(dlq=2)
    assert [p.fate for p in report.sqs.poison_messages] == ["dlq", "dlq"]
    assert {c.fate for c in report.chains if c.kind == "sqs" and c.outcome == "poison"} == {"dlq"}
    doc = _valid(report)
    assert doc["sqs"]["fates"] == {"dlq": 2, "retention_deleted": 0, "in_queue": 0, "unknown": 0}  # type: ignore[index]
    assert "2 moved to the DLQ" in render_markdown(report)


def test_sqs_fates_without_config_are_unknown() -> None:
    report = _report("sqs_poison_no_redrive", config=False)
    assert report.sqs.fates == SqsFates(unknown=1)
    _valid(report)
    text = terminal_text(report, width=200)
    assert "no queue attributes in the config: supply --config" in text


def test_stream_fates_in_the_report() -> None:
    report = _report("kinesis_poison_no_bisect")
    assert report.streams.fates == StreamFates(sent=1)
    assert report.streams.still_retrying == 0
    (ended,) = [c for c in report.chains if c.kind == "stream" and c.fate]
    assert (ended.fate, ended.outcome, ended.attempts) == ("sent", "failed", 14)
    _valid(report)
    assert "1 sent to the on-failure destination" in terminal_text(report, width=200)


def test_stream_fates_without_config_give_the_reason() -> None:
    report = _report("kinesis_poison_bisect", config=False)
    assert report.streams.fates == StreamFates(unknown=1)
    assert report.streams.fate_unknown_reasons == [
        "no stream event source mapping for clickstream-processor in the config: cannot tell "
        "whether its retries or record age ran out (supply --config)"
    ]
    _valid(report)
    assert "Fate unknown: no stream event source mapping" in render_markdown(report)


@pytest.mark.parametrize("name", ["kinesis_poison_no_bisect", "sqs_poison_no_redrive"])
def test_panels_show_the_fates(name: str) -> None:
    report = _report(name)
    view = build_views(report)[0]
    spec = PanelSpec(panel="x")
    if name.startswith("kinesis"):
        title = streams_panel.build(view, spec)["layout"]["title"]["text"]
        assert "1 sent to the on-failure destination" in title
    else:
        table = sqs_panel.build_poison(view, spec)["data"][0]
        assert table["cells"]["values"][-1] == ["still in the queue"]
