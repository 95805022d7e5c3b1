"""Round trip: `tracelens analyze` on each bundle recovers truth.json's totals key by key.

Needs the analyser (tracelens.ingest.read_traces, tracelens.ingest.side.read_side_inputs,
tracelens.analysis.analyse, tracelens.report.build.build_report); these tests fail until
those exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from tests.emulator.conftest import BUILTINS
from tracelens.emulator import load_scenario, run_scenario, write_bundle

if TYPE_CHECKING:
    from pathlib import Path


def _report(bundle: Path) -> dict[str, Any]:
    from tracelens.analysis import analyse
    from tracelens.ingest import read_traces
    from tracelens.ingest.side import read_side_inputs
    from tracelens.report.build import build_report

    frames = read_traces([bundle])
    side = read_side_inputs([bundle], config=None, dlq=())
    report = build_report(analyse(frames, side), generated_by="tracelens test")
    decoded: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(report))
    return decoded


def _compare(truth: dict[str, Any], report: dict[str, Any]) -> list[str]:
    problems = []
    for section in ("async", "sqs", "streams"):
        for key, want in truth.get(section, {}).items():
            got = report[section][key]
            if key == "poison_messages":
                got = len(got)
            if isinstance(want, dict):
                got = {k: v for k, v in got.items() if v or k in want}
            if got != want:
                problems.append(f"{section}.{key}: truth {want!r}, report {got!r}")
    by_name = {f["name"]: f for f in report["functions"]}
    for name, want in truth.get("functions", {}).items():
        assert name in by_name, f"function {name} missing from report"
        for key, value in want.items():
            if by_name[name][key] != value:
                problems.append(
                    f"functions.{name}.{key}: truth {value}, report {by_name[name][key]}"
                )
    return problems


@pytest.mark.parametrize("name", BUILTINS)
def test_analyze_recovers_truth(name: str, tmp_path: Path) -> None:
    result = run_scenario(load_scenario(name), seed=3)
    write_bundle(result, tmp_path)
    problems = _compare(result.truth["totals"], _report(tmp_path))
    assert not problems, "\n".join(problems)


def test_analyze_recovers_truth_on_random_scenarios(tmp_path: Path) -> None:
    import tracelens.analysis
    import tracelens.report.build

    assert hasattr(tracelens.analysis, "analyse")
    from hypothesis import assume, given, settings
    from hypothesis import strategies as st

    from tests.emulator.test_random_scenarios import scenarios
    from tracelens.emulator.scenario import parse_scenario

    @settings(max_examples=10, deadline=None)
    @given(scenarios(), st.integers(0, 1000))
    def check(data: dict[str, Any], seed: int) -> None:
        result = run_scenario(parse_scenario(data, "<hypothesis>"), seed=seed)
        assume(result.lines)  # a scenario whose callers send nothing has no traces to analyse
        out = tmp_path / f"b{seed}"
        write_bundle(result, out)
        problems = _compare(result.truth["totals"], _report(out))
        assert not problems, "\n".join(problems)

    check()
