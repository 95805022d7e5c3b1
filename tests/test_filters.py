"""--function / --since / --until that match nothing fail loudly; --fail-on names what crossed.

Each test here was written before the fix and seen failing: the filters used to pass silently
(exit 0, "No findings") and --fail-on exited 1 without saying why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cli_helpers import one_line_error, run_cli

if TYPE_CHECKING:
    from click.testing import Result

ROOT = Path(__file__).resolve().parent.parent
STORM = ROOT / "sample_traces" / "async_retry_storm"
FN = "invoice-renderer"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FN}"
# async_retry_storm's service segments start between these two times.
FIRST = "2026-11-27T09:00:00.251092Z"
LAST = "2026-11-27T09:09:56.531713Z"


def _functions(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [f["name"] for f in json.loads(result.stdout)["functions"]]


# --- --function --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["analyze", "dashboard"])
def test_unknown_function_names_the_functions_present(command: str, tmp_path: Path) -> None:
    extra = ["-o", tmp_path / "d.html"] if command == "dashboard" else []
    line = one_line_error(
        run_cli(command, STORM, "--function", "invoice-render", *extra),
        "invoice-render",
        f"did you mean '{FN}'",
    )
    assert "functions in the traces" in line
    assert not (tmp_path / "d.html").exists()


def test_unknown_function_without_a_close_match_still_lists_the_functions() -> None:
    line = one_line_error(run_cli("analyze", STORM, "--function", "nosuch"), "nosuch", FN)
    assert "did you mean" not in line


@pytest.mark.parametrize("given", ["INVOICE-RENDERER", "Invoice-Renderer", ARN, f"{ARN}:live"])
def test_wrong_case_and_arns_select_the_function(given: str) -> None:
    assert _functions(run_cli("analyze", STORM, "--function", given, "--format", "json")) == [FN]


def test_arn_of_another_account_is_not_this_function() -> None:
    other = ARN.replace("123456789012", "999999999999")
    one_line_error(run_cli("analyze", STORM, "--function", other), other, ARN)


def _service(name: str, n: int) -> str:
    return json.dumps(
        {
            "name": name,
            "id": f"{n:016x}",
            "trace_id": f"1-6b094690-{n:024x}",
            "start_time": 1795770000.0 + n,
            "end_time": 1795770000.5 + n,
            "origin": "AWS::Lambda",
            "aws": {"request_id": f"req-{n}"},
            "http": {"response": {"status": 200}},
        }
    )


def test_a_name_matching_two_functions_in_different_case_is_ambiguous(tmp_path: Path) -> None:
    path = tmp_path / "t.ndjson"
    path.write_text(_service("Orders", 1) + "\n" + _service("orders", 2) + "\n")
    one_line_error(run_cli("analyze", path, "--function", "ORDERS"), "'Orders'", "'orders'")
    # the exact spelling still selects exactly one of them
    assert _functions(run_cli("analyze", path, "--function", "orders", "--format", "json")) == [
        "orders"
    ]


# --- --since / --until -------------------------------------------------------------------------


@pytest.mark.parametrize("until", ["2026-11-27T09:05:00Z", "2026-11-27T09:00:00Z"])
def test_since_not_before_until(until: str) -> None:
    one_line_error(
        run_cli("analyze", STORM, "--since", "2026-11-27T09:05:00Z", "--until", until),
        "--since",
        "--until",
    )


@pytest.mark.parametrize(
    "window",
    [
        ["--since", "2026-11-28T00:00:00Z"],
        ["--until", "2026-11-27T08:00:00Z"],
        ["--since", "2026-11-27T09:03:00.000001Z", "--until", "2026-11-27T09:03:00.000002Z"],
    ],
)
def test_window_without_requests_gives_the_data_span(window: list[str]) -> None:
    one_line_error(run_cli("analyze", STORM, *window), "no Lambda request", FIRST, LAST)


def test_window_inside_the_data_still_works() -> None:
    result = run_cli(
        "analyze",
        STORM,
        "--since",
        "2026-11-27T09:00:00Z",
        "--until",
        "2026-11-27T09:01:00Z",
        "--format",
        "json",
    )
    doc = json.loads(result.stdout)
    assert 0 < doc["functions"][0]["requests"] < 150


# --- --fail-on ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bundle", "threshold", "crossing"),
    [
        ("async_retry_storm", "warning", {"warning"}),
        ("async_dropped", "critical", {"critical"}),
        ("async_dropped", "warning", {"critical", "warning"}),
    ],
)
def test_fail_on_names_the_findings_that_crossed(
    tmp_path: Path, bundle: str, threshold: str, crossing: set[str]
) -> None:
    out = tmp_path / "r.json"
    result = run_cli(
        "analyze",
        ROOT / "sample_traces" / bundle,
        "--fail-on",
        threshold,
        "--format",
        "json",
        "-o",
        out,
    )
    assert result.exit_code == 1
    doc = json.loads(out.read_text())  # the report is still written
    crossed = [f for f in doc["findings"] if f["severity"] in crossing]
    assert crossed
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith(f"fail-on {threshold}: {len(crossed)} finding")
    for finding in crossed:
        assert f"{finding['code']} {finding['function']} ({finding['count']})" in line
    # only the findings that crossed, not the info ones
    assert "COLD_STARTS" not in line


def test_fail_on_not_crossed_is_silent() -> None:
    result = run_cli("analyze", ROOT / "sample_traces" / "healthy_api", "--fail-on", "critical")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


def test_fail_on_line_stays_one_line_with_a_hostile_name() -> None:
    from tracelens.commands.analyze import fail_on_line
    from tracelens.report.models import Finding

    hostile = Finding(
        severity="critical", code="X", function="a\n\x1b[31mb", count=2, message="", examples=[]
    )
    plain = Finding(severity="warning", code="Y", function=None, count=1, message="", examples=[])
    line = fail_on_line("warning", [hostile, plain])
    assert "\n" not in line
    assert "\x1b" not in line
    assert line == "fail-on warning: 2 findings at warning or worse: X 'a\\n\\x1b[31mb' (2), Y (1)"
