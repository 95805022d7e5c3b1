"""The terminal renderer: golden output at width 100, literal untrusted text, ordering."""

from __future__ import annotations

import pytest
from _fixed_report import (
    MARKUP_FUNCTION,
    SCRIPT_FUNCTION,
    check_golden,
    empty_report,
    fixed_report,
    replace,
)
from _render import terminal_text

from tracelens.report._format import worst_chains
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
