"""Round trip on both trace forms: `analyze` of a run written as aws/spans events (what
Transaction Search stores) gives the report of the same run written as X-Ray documents, and
both agree with truth.json; a bundle with both forms is one set of traces, nothing counted
twice.

Each scenario runs once (the session cache of ``builtin_result``) and each form is written
and analysed once per module (a module-scoped fixture), whatever the number of tests.

The reports are compared whole except for three fields of the ``input`` section, which
describe the files rather than the traces:

- ``input.files``: the paths read (``traces.ndjson`` vs ``spans.ndjson``);
- ``input.documents``: lines read; one per X-Ray document, one per span (a span per
  entity, nested subsegments included, and the in-progress snapshots);
- ``input.duplicates``: the snapshots (and in ``both`` every X-Ray document, whose entities
  the spans read before it already gave) are dropped as duplicates; the count is checked on
  its own.

Everything else, the rest of ``input`` (traces, time span, rejections, config, dumps,
notes) included, must be equal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.emulator.conftest import BUILTINS, builtin_result
from tests.emulator.oracle import analyse_bundle, compare
from tests.emulator.test_roundtrip import DWELL_ENDS_LAST, FLAG_SCENARIO, SEED
from tracelens.emulator import run_scenario, write_bundle
from tracelens.emulator.bundle import TRACE_FORMATS
from tracelens.emulator.scenario import parse_scenario
from tracelens.model import bundle as layout

if TYPE_CHECKING:
    from tracelens.emulator import EmulationResult

#: ``input`` fields that depend on the form of the files, not on the traces (see above).
FILE_FIELDS = ("files", "documents", "duplicates")

#: Scenarios beyond the built-ins: every failure flag with and without a cause on every
#: path (the flags and status codes are what the span form changes most), and an async
#: event whose ``Dwell Time`` ends after every document (the data end from subsegments).
NAMED: dict[str, dict[str, Any]] = {"flags": FLAG_SCENARIO, "dwell_ends_last": DWELL_ENDS_LAST}


@dataclass(frozen=True)
class Forms:
    """One run written in each form, the files' line counts and each form's report."""

    name: str
    result: EmulationResult
    reports: dict[str, dict[str, Any]]
    spans: int  # lines of spans.ndjson
    snapshots: int  # in-progress snapshots among them


def _without_file_fields(report: dict[str, Any]) -> dict[str, Any]:
    out = dict(report)
    out["input"] = {k: v for k, v in report["input"].items() if k not in FILE_FIELDS}
    return out


def _result(name: str) -> EmulationResult:
    if name in NAMED:
        return run_scenario(parse_scenario(NAMED[name], f"<{name}>"), seed=SEED)
    return builtin_result(name, SEED)  # shared with test_roundtrip when run in one session


@pytest.fixture(scope="module", params=[*BUILTINS, *NAMED])
def forms(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Forms:
    name: str = request.param
    result = _result(name)
    root = tmp_path_factory.mktemp(name)
    reports = {}
    for trace_format in TRACE_FORMATS:
        write_bundle(result, root / trace_format, trace_format=trace_format)
        reports[trace_format] = analyse_bundle(root / trace_format)
    lines = layout.spans_path(root / "spans").read_text(encoding="utf-8").splitlines()
    snapshots = sum("endTimeUnixNano" not in span for span in (json.loads(line) for line in lines))
    return Forms(name, result, reports, len(lines), snapshots)


def _differences(want: Any, got: Any, path: str = "") -> list[str]:
    """Every path where two decoded reports differ (first 20 are shown on failure)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}.{k}: only in X-Ray form" for k in want.keys() - got.keys()]
        out += [f"{path}.{k}: only in span form" for k in got.keys() - want.keys()]
        for key in sorted(want.keys() & got.keys()):
            out += _differences(want[key], got[key], f"{path}.{key}")
        return out
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        out = []
        for index, (a, b) in enumerate(zip(want, got, strict=True)):
            out += _differences(a, b, f"{path}[{index}]")
        return out
    return [] if want == got else [f"{path}: X-Ray {want!r}, spans {got!r}"]


def test_the_spans_give_the_report_of_the_xray_documents(forms: Forms) -> None:
    want = _without_file_fields(forms.reports["xray"])
    got = _without_file_fields(forms.reports["spans"])
    problems = _differences(want, got)
    assert not problems, "\n".join(problems[:20])


def test_the_spans_report_agrees_with_truth(forms: Forms) -> None:
    problems = compare(forms.result.truth, forms.reports["spans"])
    assert not problems, problems.text()


def test_both_forms_are_one_set_of_traces(forms: Forms) -> None:
    want = _without_file_fields(forms.reports["xray"])
    got = _without_file_fields(forms.reports["both"])
    problems = _differences(want, got)
    assert not problems, "\n".join(problems[:20])


def test_only_the_repeated_entities_are_duplicates(forms: Forms) -> None:
    inputs = {name: report["input"] for name, report in forms.reports.items()}
    assert forms.snapshots > 0 or not forms.result.lines
    assert inputs["xray"]["duplicates"] == 0
    # each snapshot repeats its complete service segment
    assert inputs["spans"]["duplicates"] == forms.snapshots
    # With both forms spans.ndjson is read first (files in name order) and the first complete
    # copy wins: every X-Ray document repeats entities the spans gave, and is dropped whole.
    assert inputs["both"]["duplicates"] == len(forms.result.lines) + forms.snapshots
    assert inputs["spans"]["documents"] == forms.spans
    assert inputs["both"]["documents"] == forms.spans + len(forms.result.lines)
    for name, section in inputs.items():
        assert section["rejected"] == 0, (name, section["rejections"][:3])
