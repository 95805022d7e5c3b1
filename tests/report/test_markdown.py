"""The Markdown renderer: golden document, escaping of untrusted text, well-formed tables."""

from __future__ import annotations

import re

import msgspec
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
    # timeline (2 functions), functions, async stats, poison messages, chains, impact,
    # errors by type, affected, callers
    assert tables == 10


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


def _section(doc: str, title: str) -> str:
    """The text of the ``## title`` section, up to the next ``## `` heading."""
    start = doc.index(f"## {title}\n")
    end = doc.find("\n## ", start + 1)
    return doc[start : end if end != -1 else len(doc)]


def test_impact_window_per_function() -> None:
    section = _section(render_markdown(fixed_report()), "Impact window")
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]
    # one row per function with failures, in report order (by function), names escaped
    assert len(rows) == 3
    assert rows[0].startswith("| &lt;script&gt;alert(1)&lt;/script&gt; |")
    assert "2026-11-28T01:00:01.000000Z" in rows[1]
    assert "2026-11-28T01:07:00.000000Z" in rows[1]
    assert "6 min 59 s" in rows[1]  # the window: 01:00:01 to 01:07:00


def test_errors_by_type_per_function() -> None:
    section = _section(render_markdown(fixed_report()), "Errors by type")
    assert "&lt;b&gt;Evil\\|Type&lt;/b&gt;" in section
    assert "<b>" not in section
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]
    assert len(rows) == 7  # every (function, type) pair
    assert any("PoisonRecord" in row and "| 3 |" in row for row in rows)


def test_affected_ids_are_all_listed_in_a_details_block() -> None:
    report = fixed_report()
    section = _section(render_markdown(report), "Affected events")
    assert "<details>" in section
    assert "</details>" in section
    body = section[section.index("<details>") : section.index("</details>")]
    rows = [line for line in body.splitlines() if line.startswith("| ")][2:]
    assert len(rows) == len(report.affected) == 4
    assert "m-&lt;img src=x&gt;" in body
    assert "<img" not in body
    assert "shardId-000000000000" in body
    assert "4962" in body
    assert "req-in-flight" in body


def test_affected_list_is_complete_however_long() -> None:
    one = fixed_report().affected[1]
    many = [msgspec.structs.replace(one, request_id=f"req-{i:04d}") for i in range(500)]
    doc = render_markdown(replace(fixed_report(), affected=many))
    assert all(f"req-{i:04d}" in doc for i in range(500))


def test_empty_report_says_there_were_no_failures() -> None:
    doc = render_markdown(empty_report())
    assert "No failures." in _section(doc, "Impact window")
    assert "<details>" not in doc
