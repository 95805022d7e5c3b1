"""The shipped JSON Schema: valid draft 2020-12, accepts real reports, strict on core keys."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
from _fixed_report import empty_report, fixed_report

from tracelens.report.json_report import render_json
from tracelens.report.schema import report_schema

if TYPE_CHECKING:
    from tracelens.report.models import Report


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _doc(report: Report) -> dict[str, Any]:
    return json.loads(render_json(report))  # type: ignore[no-any-return]


def test_schema_is_draft_2020_12() -> None:
    assert report_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("make", [fixed_report, empty_report])
def test_fixed_reports_are_valid(validator: jsonschema.Draft202012Validator, make: Any) -> None:
    validator.validate(_doc(make()))


def test_dashboard_fixture_report_is_valid(
    validator: jsonschema.Draft202012Validator, dashboard_report: Report
) -> None:
    validator.validate(_doc(dashboard_report))


def _break(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target: Any = broken
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return broken


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("schema", "tracelens.report/2"),
        ("input", KeyError),
        ("input.documents", 1.5),
        ("input.start", "2026-11-28 01:00:00"),
        ("input.rejections.0.line", "17"),
        ("functions.0.modes.async", KeyError),
        ("functions.2.duration_ms.p50", 3.0),  # count 0: every value must be null
        ("functions.0.duration_ms.p50", None),  # count > 0: values are numbers
        ("async.fates", KeyError),
        ("async.attempts", {"-1": 1}),
        ("sqs.deliveries_histogram", {"0": 1}),  # a delivered message was delivered
        ("async.attempts", {"1": 0}),
        ("sqs.evidence", "guess"),
        ("streams.evidence", "links"),
        ("chains.0.kind", "sns"),
        ("chains.1.fate", "lost"),
        ("chains.0.first_start", None),
        ("findings.0.severity", "fatal"),
        ("findings.0.examples", ["a", "b", "c", "d", "e", "f"]),
    ],
)
def test_core_keys_are_strict(
    validator: jsonschema.Draft202012Validator, path: str, value: Any
) -> None:
    broken = _break(_doc(fixed_report()), path, value)
    assert not validator.is_valid(broken), path


def test_additional_keys_are_allowed(validator: jsonschema.Draft202012Validator) -> None:
    doc = _doc(fixed_report())
    doc["future_section"] = {"anything": [1, 2]}
    doc["functions"][0]["memory_mb"] = 128
    doc["async"]["outcomes"]["superseded"] = 0
    validator.validate(doc)


SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"


@pytest.mark.parametrize("bundle", sorted(p.name for p in SAMPLES.iterdir() if p.is_dir()))
def test_every_sample_report_is_valid(
    validator: jsonschema.Draft202012Validator, bundle: str
) -> None:
    # async_throttled_expiry has events that expired in the queue with no attempt: the
    # contract counts them under attempts "0".
    import tracelens

    path = SAMPLES / bundle
    side = tracelens.read_side_inputs([str(path)], config=[], dlq=[])
    results = tracelens.analyse(tracelens.read_traces([path]), side)
    validator.validate(_doc(tracelens.build_report(results, generated_by="tracelens test")))
