"""Sparklines of the text timeline: blanks for nothing, heights relative to the largest,
runs of buckets merged (summed, or their largest for p99) so a spike is never lost."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tests.report._fixed_report import fixed_report
from tracelens.report.terminal import render_terminal
from tracelens.report.timeline_text import sparkline, width_text


@pytest.mark.parametrize(
    ("values", "width", "peak", "expected"),
    [
        ([0, 0, 0], 10, False, "   "),
        ([None, None], 10, True, "  "),
        ([1, 0, 8], 10, False, "▁ █"),
        ([1, 2, 3, 4, 5, 6, 7, 8], 8, False, "▁▂▃▄▅▆▇█"),
        # The smallest non-zero value still shows, however large the largest.
        ([1, 0, 1000], 10, False, "▁ █"),
        # Two buckets per mark: summed ...
        ([1, 1, 0, 4, 0, 0], 3, False, "▄█ "),
        # ... or, for p99, their largest.
        ([10.0, None, None, None, 5.0, 20.0], 3, True, "▄ █"),
        # Five buckets in two marks: three, then the last two.
        ([1, 1, 1, 1, 1], 2, False, "█▆"),
    ],
)
def test_sparkline(values: list[float | None], width: int, peak: bool, expected: str) -> None:
    assert sparkline(values, width, peak=peak) == expected


def test_sparkline_never_wider_than_asked() -> None:
    for width in range(1, 30):
        assert len(sparkline(list(range(121)), width)) <= width


@pytest.mark.parametrize(
    ("seconds", "text"), [(1, "1 s"), (90, "90 s"), (120, "2 min"), (7200, "2 h"), (86400, "1 d")]
)
def test_width_text(seconds: int, text: str) -> None:
    assert width_text(seconds) == text


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_timeline_lines_fit_the_terminal(columns: int) -> None:
    out = io.StringIO()
    render_terminal(fixed_report(), console=Console(file=out, width=columns, color_system=None))
    text = out.getvalue()
    section = text[text.index("Timeline") : text.index("Functions (")]
    assert all(len(line) <= columns for line in section.splitlines())
    assert "requests" in section
    assert "ended badly" in section
