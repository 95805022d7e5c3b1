"""The Markdown renderer: golden document, escaping of untrusted text, well-formed tables."""

from __future__ import annotations

import re

import pytest
from _fixed_report import check_golden, empty_report, fixed_report, replace

from tracelens.report.markdown import escape, render_markdown
from tracelens.report.models import Finding


def test_fixed_report_matches_golden() -> None:
    check_golden("fixed_report.md", render_markdown(fixed_report()))


def test_empty_report_matches_golden() -> None:
    check_golden("empty_report.md", render_markdown(empty_report()))


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("[bold]x[/]", "\\[bold\\]x\\[/\\]"),
        ("a|b", "a\\|b"),
        ("`code` *b* _i_", "\\`code\\` \\*b\\* \\_i\\_"),
        ("&lt;", "&amp;lt;"),
        ("back\\slash", "back\\\\slash"),
        ("two\nlines", "two lines"),
        ("# heading", "\\# heading"),
    ],
)
def test_escape(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


def test_no_raw_html_or_markup_from_traces() -> None:
    doc = render_markdown(fixed_report())
    assert "<script>" not in doc
    assert "<img" not in doc
    assert "[bold]" not in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc


def _cells(row: str) -> list[str]:
    # split on pipes that are not escaped
    return re.split(r"(?<!\\)\|", row.strip())[1:-1]


def test_table_rows_have_as_many_cells_as_the_header() -> None:
    lines = render_markdown(fixed_report()).splitlines()
    tables = 0
    for i, line in enumerate(lines):
        if line.startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("| ---"):
            tables += 1
            width = len(_cells(line))
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                assert len(_cells(lines[j])) == width, lines[j]
                j += 1
    assert tables == 4  # functions, async stats, poison messages, chains


def test_findings_are_listed_with_examples_most_severe_first() -> None:
    report = fixed_report()
    doc = render_markdown(replace(report, findings=list(reversed(report.findings))))
    assert doc.index("**CRITICAL**") < doc.index("**WARNING**") < doc.index("**INFO**")
    assert "Examples: req-dropped, req-b, req-c" in doc


def test_hostile_finding_code_is_escaped() -> None:
    report = replace(
        empty_report(),
        findings=[
            Finding(
                severity="warning", code="`<b>`", function=None, count=1, message="m", examples=[]
            )
        ],
    )
    doc = render_markdown(report)
    assert "<b>" not in doc
    assert "\\`&lt;b&gt;\\`" in doc


def test_a_repeated_chain_error_is_shown_once_with_a_count() -> None:
    md = render_markdown(fixed_report())
    row = next(line for line in md.splitlines() if "| req-dropped |" in line)
    assert "KeyError: 'a' (2 times)<br>ValueError" in row
    assert row.count("KeyError: 'a'") == 1


def test_counts_are_singular_or_plural() -> None:
    md = render_markdown(fixed_report())
    assert "1 client retry, 1 duplicate execution" in md
    assert "file(s)" not in md
