"""Output a person can read: bare ``tracelens`` prints its help, ``-o`` picks the format
from the file's extension (``--format`` wins), and progress on stderr only at a terminal."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import click
import pytest
from cli_helpers import one_line_error, run_cli
from click.testing import CliRunner
from rich.console import Console

from tracelens.cli import main
from tracelens.commands import analyze as analyze_command
from tracelens.commands import convert as convert_command
from tracelens.commands import dashboard as dashboard_command
from tracelens.commands.progress import Progress, for_stderr

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "sample_traces" / "async_retry_storm"
STORY_KEY = "b5050d2e-0666-41d5-be3e-2b1a04306e75"


def test_bare_tracelens_prints_its_help_and_exits_0() -> None:
    result = run_cli()
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert "analyze" in result.stdout
    assert result.stderr == ""


def _kind(text: str) -> str:
    """What a written report is, by its first characters."""
    if text.startswith("{"):
        json.loads(text)
        return "json"
    if text.startswith("# "):
        return "markdown"
    if text.lstrip().lower().startswith("<!doctype html"):
        return "html"
    assert text.startswith("tracelens report"), text[:80]
    return "text"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("report.md", "markdown"),
        ("report.markdown", "markdown"),
        ("report.json", "json"),
        ("REPORT.JSON", "json"),
        ("report.html", "html"),
        ("report.txt", "text"),
        ("report.out", "text"),
        ("report", "text"),
    ],
)
def test_analyze_output_format_follows_the_extension(tmp_path: Path, name: str, kind: str) -> None:
    out = tmp_path / name
    result = run_cli("analyze", BUNDLE, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert _kind(out.read_text(encoding="utf-8")) == kind


@pytest.mark.parametrize(("name", "fmt"), [("report.md", "json"), ("report.json", "text")])
def test_format_wins_over_the_extension(tmp_path: Path, name: str, fmt: str) -> None:
    out = tmp_path / name
    result = run_cli("analyze", BUNDLE, "--format", fmt, "-o", out)
    assert result.exit_code == 0, result.output
    assert _kind(out.read_text(encoding="utf-8")) == fmt


def test_stdout_is_text_by_default() -> None:
    result = run_cli("analyze", BUNDLE)
    assert result.exit_code == 0, result.output
    assert _kind(result.stdout) == "text"


@pytest.mark.parametrize(
    ("name", "marker"),
    [
        ("story.md", f"# Story of async event {STORY_KEY}"),
        ("story.json", '"schema": "tracelens.story/1"'),
        ("story.txt", f"Story of async event {STORY_KEY}"),
    ],
)
def test_explain_writes_to_a_file_in_the_extension_s_format(
    tmp_path: Path, name: str, marker: str
) -> None:
    out = tmp_path / name
    result = run_cli("explain", STORY_KEY[:8], BUNDLE, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert marker in out.read_text(encoding="utf-8")


def test_explain_to_html_is_a_one_line_error(tmp_path: Path) -> None:
    one_line_error(
        run_cli("explain", STORY_KEY[:8], BUNDLE, "-o", tmp_path / "story.html"),
        "story.html",
        "--format",
    )


# --- progress on stderr ---------------------------------------------------------------------


def _terminal() -> tuple[Console, io.StringIO]:
    """A console that takes itself for a terminal (the seam ``Progress`` offers tests)."""
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120, color_system=None), out


def test_progress_shows_stages_bytes_and_documents_at_a_terminal(tmp_path: Path) -> None:
    # GIVEN a terminal and no delay
    console, out = _terminal()
    # WHEN analyze writes a report to a file
    analyze_command.run(
        [str(BUNDLE)],
        fmt=None,
        output=tmp_path / "r.json",
        config=(),
        dlq=(),
        functions=(),
        since=None,
        until=None,
        fail_on=None,
        progress=Progress(console, delay=0),
    )
    # THEN the last progress line says what each stage did
    final = out.getvalue().replace("\x1b[?25h", "").rstrip().splitlines()[-1].split("\x1b[2K")[-1]
    size = sum(f.stat().st_size for f in BUNDLE.glob("*.ndjson"))
    assert f"read {size / 1000:.1f} kB in 1 file, 538 documents (" in final
    assert "· analysed (" in final
    assert "· wrote r.json (" in final


def test_progress_waits_a_second_before_showing_anything(tmp_path: Path) -> None:
    console, out = _terminal()
    with Progress(console, delay=1.0) as progress, progress.stage("reading") as stage:
        stage.done("read")
    assert out.getvalue() == ""


def test_progress_of_convert_and_dashboard(tmp_path: Path) -> None:
    console, out = _terminal()
    convert_command.run(
        [str(BUNDLE)], output=tmp_path / "ds", overwrite=False, progress=Progress(console, delay=0)
    )
    assert "read " in out.getvalue()
    assert "wrote 1 partition (" in out.getvalue()
    console, out = _terminal()
    dashboard_command.run(
        [str(tmp_path / "ds")],
        output=tmp_path / "d.html",
        dashboard_name="incident",
        config=(),
        dlq=(),
        functions=(),
        progress=Progress(console, delay=0),
    )
    # The bytes of a dataset are its own, not those of the files it was converted from.
    size = sum(f.stat().st_size for f in (tmp_path / "ds").rglob("*") if f.is_file())
    assert f"read {size / 1000:.1f} kB in 1 file, 538 documents (" in out.getvalue()
    assert "wrote d.html (" in out.getvalue()


def test_a_failing_stage_says_it_stopped() -> None:
    console, out = _terminal()
    with (
        pytest.raises(RuntimeError),
        Progress(console, delay=0) as progress,
        progress.stage("reading"),
    ):
        raise RuntimeError
    assert "reading stopped (" in out.getvalue()


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", BUNDLE, "-o", "r.md"],
        ["dashboard", BUNDLE, "-o", "d.html"],
        ["convert", BUNDLE, "-o", "ds"],
        ["emulate", "async_retry_storm", "-o", "bundle"],
    ],
)
@pytest.mark.parametrize("quiet", [[], ["--quiet"]])
def test_nothing_but_the_result_line_on_stderr_when_it_is_not_a_terminal(
    tmp_path: Path, args: list[str | Path], quiet: list[str]
) -> None:
    # FORCE_COLOR makes rich take a pipe for a terminal: progress still stays off.
    argv = [
        str(a)
        if a == BUNDLE or not str(a).startswith(("r.", "d.", "ds", "bundle"))
        else str(tmp_path / str(a))
        for a in args
    ]
    result = CliRunner(env={"FORCE_COLOR": "1"}).invoke(main, [*argv, *quiet])
    assert result.exit_code == 0, result.output
    assert all(line.startswith("wrote ") for line in result.stderr.splitlines()), result.stderr


def test_quiet_or_not_a_terminal_means_no_progress() -> None:
    assert not for_stderr(quiet=True).enabled
    assert not for_stderr(quiet=False).enabled  # pytest's stderr is not a terminal


def test_lines_written_to_stderr_meanwhile_are_printed_above_the_progress_line() -> None:
    console, out = _terminal()
    before = sys.stderr
    with Progress(console, delay=0) as progress, progress.stage("emulating") as stage:
        click.echo("wrote bundle/", err=True)
        stage.done("emulated")
    assert sys.stderr is before
    text = out.getvalue()
    assert "wrote bundle/\n" in text
    assert text.index("wrote bundle/\n") < text.index("emulated (")


def test_a_pipe_gets_the_text_report_at_100_columns_unless_columns_says_otherwise() -> None:
    piped = CliRunner().invoke(main, ["analyze", str(BUNDLE)])
    assert piped.exit_code == 0, piped.output
    assert max(len(line) for line in piped.stdout.splitlines()) == 100
    assert "FailReq" in piped.stdout  # the functions table fits
    narrow = CliRunner(env={"COLUMNS": "60"}).invoke(main, ["analyze", str(BUNDLE)])
    assert narrow.exit_code == 0, narrow.output
    assert "  requests: 150 · invocations: 238 · cold starts: 3" in narrow.stdout
    wide = [line for line in narrow.stdout.splitlines() if len(line.rstrip()) > 60]
    assert wide == ["         arn:aws:sqs:us-east-1:123456789012:invoice-renderer-dlq."]  # whole
