"""The command line: help with examples, one-line errors with exit 2, --fail-on, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pytest
from click.testing import CliRunner

import tracelens
from tracelens.cli import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, TracelensGroup, main
from tracelens.errors import NoUsableInput

if TYPE_CHECKING:
    from click.testing import Result

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
RANK = {"info": 0, "warning": 1, "critical": 2}


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_one_line_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


# --- help ---------------------------------------------------------------------------------


def test_group_help_lists_the_commands() -> None:
    result = _run("--help")
    assert result.exit_code == 0
    assert "analyze" in result.output
    assert "explain" in result.output


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_has_help_with_an_example(name: str) -> None:
    result = _run(name, "--help")
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    # the \b paragraph keeps each example on its own line
    assert f"\n      tracelens {name} " in result.output


def test_version() -> None:
    result = _run("--version")
    assert result.exit_code == 0
    assert tracelens.__version__ in result.output


# --- bad input and usage: one line, exit 2 ---------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    _assert_one_line_error(_run("analyze", tmp_path / "nope.json"), "nope.json")


def test_glob_that_matches_nothing_reaches_ingest() -> None:
    # click must not reject a glob as a path: ingest expands it and says what is wrong
    _assert_one_line_error(_run("analyze", "no-such-dir/*.ndjson.gz"), "no-such-dir/*.ndjson.gz")


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    _assert_one_line_error(_run("analyze", empty), "empty.json")


def test_binary_garbage(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b'\xff\xfe\x00garbage\n{"a": [\n')
    _assert_one_line_error(_run("analyze", junk), "junk.bin")


def test_localstack_payloads_are_not_traces(real_traces: Path) -> None:
    path = real_traces / "localstack" / "test_lambda_integration_sqs.snapshot.json"
    _assert_one_line_error(_run("analyze", path), "not an X-Ray segment document")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["analyze"], "Missing argument"),
        (["analyze", "x", "--since", "yesterday"], "ISO-8601"),
        (["analyze", "x", "--until", "2026-13-01"], "ISO-8601"),
        (["analyze", "x", "--format", "yaml"], "--format"),
        (["analyze", "x", "--fail-on", "info"], "--fail-on"),
        (["analyze", "x", "--bogus"], "--bogus"),
        (["--bogus"], "--bogus"),
        (["frobnicate"], "frobnicate"),
        (["explain"], "Missing argument"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], needle: str) -> None:
    _assert_one_line_error(_run(*args), needle)


def test_no_traceback_from_the_real_process(tmp_path: Path) -> None:
    empty = tmp_path / "empty.ndjson"
    empty.write_bytes(b"")
    proc = subprocess.run(
        [sys.executable, "-m", "tracelens", "analyze", str(empty)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: ")


# --- the one error-handling place, with test commands ------------------------------------


def _group_raising(exc: BaseException) -> click.Group:
    @click.group(cls=TracelensGroup)
    def group() -> None:
        """Test group."""

    @group.command()
    def boom() -> None:
        """Raise."""
        raise exc

    return group


@pytest.mark.parametrize(
    ("exc", "code", "stderr"),
    [
        (
            NoUsableInput("traces.ndjson: nothing usable\nsecond line"),
            2,
            "error: traces.ndjson: nothing usable second line\n",
        ),
        (KeyboardInterrupt(), EXIT_INTERRUPTED, "\n"),
        (BrokenPipeError(), EXIT_BROKEN_PIPE, ""),
        (
            ValueError("bug"),
            2,
            "error: internal error (ValueError: bug); rerun with "
            "TRACELENS_DEBUG=1 for a traceback and please report it\n",
        ),
    ],
)
def test_failures_map_to_exit_codes(exc: BaseException, code: int, stderr: str) -> None:
    result = CliRunner().invoke(_group_raising(exc), ["boom"])
    assert result.exit_code == code
    assert result.stderr == stderr
    assert result.stdout == ""


# --- end to end (needs the analysis pipeline) ------------------------------------------------


@pytest.fixture
def pipeline() -> None:
    """Skip until the analysis, report building and story modules exist."""
    pytest.importorskip("tracelens.report.build")
    pytest.importorskip("tracelens.report.story")
    analysis = pytest.importorskip("tracelens.analysis")
    for name in ("analyse", "explain", "AnalysisResults", "Story"):
        if not hasattr(analysis, name):
            pytest.skip(f"tracelens.analysis.{name} does not exist yet")


def _json_report(*args: str | Path) -> dict[str, Any]:
    result = _run("analyze", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    import jsonschema

    jsonschema.validate(doc, tracelens.report_schema())
    return doc


def _totals(doc: dict[str, Any]) -> tuple[int, int, int]:
    fns = doc["functions"]
    return (
        sum(f["requests"] for f in fns),
        sum(f["invocations"] for f in fns),
        sum(f["cold_starts"] for f in fns),
    )


@pytest.mark.usefixtures("pipeline")
def test_real_trace_with_links_is_one_cold_request(real_traces: Path) -> None:
    doc = _json_report(real_traces / "aws-iatk" / "traceWithLinks01.json")
    assert _totals(doc) == (1, 1, 1)
    assert doc["input"]["rejected"] == 0


@pytest.mark.usefixtures("pipeline")
def test_step_functions_trace_has_no_lambda_requests(real_traces: Path) -> None:
    doc = _json_report(real_traces / "aws-iatk" / "trace01.json")
    assert _totals(doc)[0] == 0


@pytest.mark.usefixtures("pipeline")
def test_localstack_file_among_traces_is_a_counted_rejection(real_traces: Path) -> None:
    localstack = real_traces / "localstack" / "test_lambda_destinations.snapshot.json"
    doc = _json_report(real_traces / "aws-iatk" / "traceWithLinks01.json", localstack)
    assert doc["input"]["rejected"] >= 1
    assert any(
        r["file"].endswith("test_lambda_destinations.snapshot.json")
        for r in doc["input"]["rejections"]
    )


@pytest.mark.usefixtures("pipeline")
@pytest.mark.parametrize("bundle", ["async_dropped", "healthy_api"])
@pytest.mark.parametrize("threshold", ["critical", "warning"])
def test_fail_on_follows_the_findings(bundle: str, threshold: str) -> None:
    doc = _json_report(SAMPLES / bundle)
    crossed = any(RANK[f["severity"]] >= RANK[threshold] for f in doc["findings"])
    result = _run("analyze", SAMPLES / bundle, "--format", "json", "--fail-on", threshold)
    assert result.exit_code == (1 if crossed else 0), result.stderr
    assert json.loads(result.stdout)["findings"] == doc["findings"]  # the report is still written


@pytest.mark.usefixtures("pipeline")
def test_fail_on_critical_trips_on_dropped_events() -> None:
    truth = json.loads((SAMPLES / "async_dropped" / "truth.json").read_text())
    assert truth["totals"]["async"]["fates"]["dropped"] > 0
    result = _run("analyze", SAMPLES / "async_dropped", "--fail-on", "critical")
    assert result.exit_code == 1
    assert "ASYNC_EVENTS_DROPPED" in result.stdout


@pytest.mark.usefixtures("pipeline")
@pytest.mark.parametrize(
    ("fmt", "marker"),
    [
        ("text", "Findings"),
        ("markdown", "# Lambda incident report"),
        ("json", '"schema": "tracelens.report/1"'),
    ],
)
def test_output_file(tmp_path: Path, fmt: str, marker: str) -> None:
    out = tmp_path / f"report.{fmt}"
    result = _run("analyze", SAMPLES / "async_retry_storm", "--format", fmt, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert marker in out.read_text(encoding="utf-8")


@pytest.mark.usefixtures("pipeline")
def test_output_to_missing_directory_is_one_line(tmp_path: Path, real_traces: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "r.json"
    _assert_one_line_error(
        _run("analyze", real_traces / "aws-iatk" / "traceWithLinks01.json", "-o", out),
        "cannot write",
    )


@pytest.mark.usefixtures("pipeline")
def test_explain_unknown_key_is_one_line() -> None:
    _assert_one_line_error(
        _run("explain", "no-such-request", SAMPLES / "async_retry_storm"), "no-such-request"
    )


@pytest.mark.usefixtures("pipeline")
def test_explain_a_trace_id() -> None:
    doc = _json_report(SAMPLES / "async_retry_storm")
    chain = next(c for c in doc["chains"] if c["kind"] == "async" and c["trace_ids"])
    result = _run("explain", chain["key"], SAMPLES / "async_retry_storm")
    assert result.exit_code == 0, result.output
    assert chain["trace_ids"][0] in result.stdout
