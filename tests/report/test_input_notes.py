"""``input.notes``: how side inputs were read, in every format, escaped (issue 10)."""

from __future__ import annotations

import json

import jsonschema
from _fixed_report import fixed_report, replace
from _render import terminal_text

from tracelens.report.dashboard_spec import load_dashboard_spec
from tracelens.report.html import render_html
from tracelens.report.json_report import render_json
from tracelens.report.markdown import render_markdown
from tracelens.report.models import InputSection, Report
from tracelens.report.schema import report_schema

NOTES = [
    "dlq/x.json has no QueueArn; taken as the only configured DLQ arn:aws:sqs:us-east-1:1:q",
    "dlq/[red]y[/] <b>z</b>.json: 2 of 2 messages have no RequestID message attribute",
]


def _with_notes() -> Report:
    report = fixed_report()
    return replace(report, input=replace(report.input, notes=NOTES))


def test_notes_default_to_empty() -> None:
    fields = {f: getattr(fixed_report().input, f) for f in InputSection.__struct_fields__}
    fields.pop("notes")
    assert InputSection(**fields).notes == []


def test_json_carries_notes_and_the_schema_accepts_them() -> None:
    doc = json.loads(render_json(_with_notes()))
    assert doc["input"]["notes"] == NOTES
    jsonschema.Draft202012Validator(report_schema()).validate(doc)
    doc["input"]["notes"] = [1]
    assert not jsonschema.Draft202012Validator(report_schema()).is_valid(doc)


def test_terminal_shows_notes_literally() -> None:
    out = terminal_text(_with_notes(), width=200)
    assert f"note: {NOTES[0]}" in out
    assert f"note: {NOTES[1]}" in out


def test_markdown_escapes_notes() -> None:
    doc = render_markdown(_with_notes())
    assert "- Note: dlq/x.json has no QueueArn; taken as the only configured DLQ" in doc
    assert "\\[red\\]y\\[/\\] &lt;b&gt;z&lt;/b&gt;.json" in doc
    assert "<b>" not in doc


def test_dashboard_escapes_notes() -> None:
    page = render_html(_with_notes(), spec=load_dashboard_spec("incident"))
    assert "dlq/x.json has no QueueArn; taken as the only configured DLQ" in page
    assert "dlq/[red]y[/] &lt;b&gt;z&lt;/b&gt;.json" in page
    assert "<b>z</b>" not in page


def test_acquisition_is_stated_in_every_format_and_checked_by_the_schema() -> None:
    # input.acquisition (issue 14): how fetch found the traces, from the bundle's source.json
    report = fixed_report()
    acquisition = report.input.acquisition
    assert acquisition is not None
    note = acquisition.note
    assert "only the 1% of traces" in note
    doc = json.loads(render_json(report))
    assert doc["input"]["acquisition"]["summary_indexing_percent"] == 1.0
    jsonschema.Draft202012Validator(report_schema()).validate(doc)
    doc["input"]["acquisition"]["summary_indexing_percent"] = 101
    assert not jsonschema.Draft202012Validator(report_schema()).is_valid(doc)
    assert "acquisition: CloudWatch Transaction Search" in terminal_text(report, width=400)
    assert f"- Acquisition: {note}" in render_markdown(report)
    page = render_html(report, spec=load_dashboard_spec("incident"))
    assert "Acquisition: CloudWatch Transaction Search" in page
    without = replace(report, input=replace(report.input, acquisition=None))
    assert json.loads(render_json(without))["input"]["acquisition"] is None
    assert "Acquisition" not in render_markdown(without)
