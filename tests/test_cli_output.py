"""Output a person can read: bare ``tracelens`` prints its help, ``-o`` picks the format
from the file's extension (``--format`` wins), and progress on stderr only at a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import one_line_error, run_cli

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
