"""The terminal renderer: golden output at width 100, literal untrusted text, ordering."""

from __future__ import annotations

import pytest
from _fixed_report import (
    LONG_ARN,
    LONG_FUNCTION,
    LONG_KEY,
    MARKUP_FUNCTION,
    SCRIPT_FUNCTION,
    check_golden,
    empty_report,
    fixed_report,
    long_names_report,
    replace,
)
from _render import terminal_text

from tracelens.report._format import worst_chains
from tracelens.report.json_report import render_json
from tracelens.report.models import Chain, Finding
from tracelens.report.terminal import WORST_CHAINS


def test_fixed_report_matches_golden() -> None:
    check_golden("fixed_report.txt", terminal_text(fixed_report()))


def test_empty_report_matches_golden() -> None:
    check_golden("empty_report.txt", terminal_text(empty_report()))


def test_markup_and_html_in_names_appear_literally() -> None:
    out = terminal_text(fixed_report(), width=200)
    rows = [line for line in out.splitlines() if "async 180" in line or "sync 3" in line]
    assert any(line.strip().startswith(MARKUP_FUNCTION + " ") for line in rows)
    assert any(line.strip().startswith(SCRIPT_FUNCTION + " ") for line in rows)
    assert "extra/[red]odd[/] name.json" in out


def test_markup_in_a_narrow_unwrapped_place_is_literal() -> None:
    hostile = replace(
        empty_report(),
        findings=[
            Finding(
                severity="info",
                code="X",
                function="[bold]x[/]",
                count=1,
                message="[link=http://evil]click[/link] <script>alert(1)</script>",
                examples=["[/]"],
            )
        ],
    )
    out = terminal_text(hostile, width=200)
    assert "[bold]x[/]" in out
    assert "[link=http://evil]click[/link] <script>alert(1)</script>" in out
    assert "e.g. [/]" in out


def test_findings_come_first_and_most_severe_first() -> None:
    report = fixed_report()
    shuffled = replace(report, findings=list(reversed(report.findings)))
    out = terminal_text(shuffled)
    assert out.index("Findings") < out.index("Functions") < out.index("Async events")
    assert out.index("CRITICAL") < out.index("WARNING") < out.index("INFO")


def test_rejections_show_file_line_and_reason() -> None:
    out = terminal_text(fixed_report())
    assert "bundle/traces.ndjson:17: segment document has no 'trace_id'" in out
    assert "... and 2 more" in out


def _chain(key: str, *, attempts: int, outcome: str, fate: str | None, start: str) -> Chain:
    return Chain(
        kind="async",
        key=key,
        function="f",
        trace_ids=[],
        attempts=attempts,
        outcome=outcome,
        fate=fate,
        dwell_ms=None,
        first_start=start,
        last_end=None,
        errors=[],
    )


def test_worst_chains_puts_lost_events_first_and_caps_at_ten() -> None:
    chains = [
        _chain(
            f"ok-{i:02d}",
            attempts=2,
            outcome="succeeded_after_retry",
            fate=None,
            start=f"2026-11-28T01:00:{i:02d}.000000Z",
        )
        for i in range(12)
    ]
    chains.append(
        _chain(
            "lost",
            attempts=3,
            outcome="retries_exhausted",
            fate="dropped",
            start="2026-11-28T02:00:00.000000Z",
        )
    )
    chains.append(
        _chain(
            "sent",
            attempts=3,
            outcome="retries_exhausted",
            fate="sent",
            start="2026-11-28T02:00:00.000000Z",
        )
    )
    worst = worst_chains(chains, WORST_CHAINS)
    assert len(worst) == 10
    assert [c.key for c in worst[:3]] == ["lost", "sent", "ok-00"]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_long_names_at_width_match_golden(width: int) -> None:
    check_golden(f"long_names_{width}.txt", terminal_text(long_names_report(), width=width))


@pytest.mark.parametrize("width", [60, 80, 90, 100, 120])
def test_lines_fit_the_width_and_ids_are_never_cut(width: int) -> None:
    out = terminal_text(long_names_report(), width=width)
    whole = {LONG_KEY, LONG_ARN + ".", LONG_FUNCTION}
    for line in out.splitlines():
        if len(line.rstrip()) > width:
            # Only an id (or a name inside prose) wider than the line may pass the width,
            # whole, on a line of its own (after the block's gutter word, e.g. "stream").
            assert line.split()[-1] in whole, line
            assert len(line.split()) <= 2, line
    assert LONG_KEY in out
    assert LONG_ARN in out
    assert "…" not in LONG_FUNCTION


@pytest.mark.parametrize("width", [60, 80])
def test_narrow_tables_become_key_value_blocks(width: int) -> None:
    out = terminal_text(long_names_report(), width=width)
    assert "FailReq" not in out  # no table header
    assert "  requests: 12,345 · invocations: 23,456" in out
    assert "  count: 180 · min: 5.0 ms" in out


@pytest.mark.parametrize("width", [100, 120])
def test_wide_terminals_keep_the_tables(width: int) -> None:
    out = terminal_text(long_names_report(), width=width)
    assert "FailReq" in out
    assert "count" in out
    assert "mean" in out


def test_long_names_are_shortened_in_the_middle_with_the_full_name_in_json() -> None:
    out = terminal_text(long_names_report(), width=100)
    table_row = next(line for line in out.splitlines() if "12,345" in line)
    name = table_row.split()[0]
    assert "…" in name
    head, tail = name.split("…")
    assert LONG_FUNCTION.startswith(head)
    assert LONG_FUNCTION.endswith(tail)
    assert LONG_FUNCTION.encode() in render_json(long_names_report())


@pytest.mark.parametrize("width", [60, 80])
def test_no_word_is_split_across_lines(width: int) -> None:
    out = terminal_text(long_names_report(), width=width)
    text = "\n".join(line.strip() for line in out.splitlines())
    for word in ("invocations", "destination", "stream-processor", LONG_KEY, LONG_ARN):
        for cut in range(1, len(word)):
            assert f"{word[:cut]}\n{word[cut:]}" not in text, word


def test_repeated_errors_are_shown_once_with_a_count() -> None:
    out = terminal_text(long_names_report(), width=120)
    assert "error: TimeoutError: downstream timed out after 3 s (3 times)" in out
    assert out.count("TimeoutError: downstream timed out after 3 s") == 1
    assert "error: KeyError: 'customer'\n" in out


def test_singular_and_plural_counts() -> None:
    out = terminal_text(fixed_report(), width=120)
    assert "1 client retry · 1 duplicate execution" in out
    assert "1 retried batch" in out
    assert "1 client retries" not in out
