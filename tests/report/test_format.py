"""The shared formatting helpers: one duration format, plurals, repeated errors, layout."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from rich.cells import cell_len

from tracelens.report._format import duration, plural, repeated
from tracelens.report._layout import flow, shorten_middle

if TYPE_CHECKING:
    from rich.text import Text


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "-"),
        (0.0, "0.0 ms"),
        (0.25, "0.2 ms"),
        (78.5, "78.5 ms"),
        (999.9, "999.9 ms"),
        (999.96, "1.0 s"),  # rounds up into seconds, never "1000.0 ms"
        (1000.0, "1.0 s"),
        (1234.0, "1.2 s"),
        (1500.0, "1.5 s"),
        (59_940.0, "59.9 s"),
        (59_960.0, "1 min 00 s"),  # never "60.0 s"
        (60_000.0, "1 min 00 s"),
        (61_000.0, "1 min 01 s"),
        (123_400.0, "2 min 03 s"),
        (3_599_400.0, "59 min 59 s"),
        (3_599_600.0, "1 h 00 min"),  # never "59 min 60 s"
        (3_720_000.0, "1 h 02 min"),
        (7_300_000.0, "2 h 02 min"),
        (90_000_000.0, "25 h 00 min"),
        (-1500.0, "-1.5 s"),
    ],
)
def test_duration(ms: float | None, text: str) -> None:
    assert duration(ms) == text


@pytest.mark.parametrize(
    ("count", "noun", "text"),
    [
        (0, "function", "0 functions"),
        (1, "function", "1 function"),
        (2, "function", "2 functions"),
        (1, "attempt", "1 attempt"),
        (2, "attempt", "2 attempts"),
        (1, "batch", "1 batch"),
        (3, "batch", "3 batches"),
        (1, "client retry", "1 client retry"),
        (2, "client retry", "2 client retries"),
        (1, "redelivered message", "1 redelivered message"),
        (1_234, "document", "1,234 documents"),
        (1, "day", "1 day"),
        (2, "day", "2 days"),
        (2, "box", "2 boxes"),
    ],
)
def test_plural(count: int, noun: str, text: str) -> None:
    assert plural(count, noun) == text


def test_plural_with_an_irregular_form() -> None:
    assert plural(1, "was", "were") == "1 was"
    assert plural(4, "was", "were") == "4 were"


def test_repeated_errors_are_counted_in_order_of_first_appearance() -> None:
    errors = ["KeyError: 'a'", "Timeout", "KeyError: 'a'", "KeyError: 'a'", "ValueError"]
    assert repeated(errors) == [("KeyError: 'a'", 3), ("Timeout", 1), ("ValueError", 1)]
    assert repeated([]) == []


@pytest.mark.parametrize(
    ("name", "width", "text"),
    [
        ("invoice-renderer", 16, "invoice-renderer"),
        ("invoice-renderer", 40, "invoice-renderer"),
        ("invoice-renderer", 9, "invo…erer"),
        ("invoice-renderer", 10, "invoi…erer"),
        ("abc", 1, "…"),
        ("日本語の関数名", 7, "日…数名"),  # wide characters count two cells
    ],
)
def test_shorten_middle(name: str, width: int, text: str) -> None:
    assert shorten_middle(name, width) == text
    assert cell_len(text) <= max(width, 1)


def _plain(lines: list[Text]) -> list[str]:
    return [line.plain for line in lines]


def test_flow_packs_whole_pieces_and_hangs_continuations() -> None:
    pieces = ["3 functions", "213 requests", "74 failed invocations"]
    assert _plain(flow(pieces, 40)) == ["3 functions · 213 requests", "  74 failed invocations"]
    assert _plain(flow(pieces, 80)) == ["3 functions · 213 requests · 74 failed invocations"]


def test_flow_never_cuts_a_word_wider_than_the_line() -> None:
    arn = "arn:aws:sqs:us-east-1:123456789012:orders-dlq"
    lines = _plain(flow([f"replay them from {arn} now"], 20))
    assert lines == ["replay them from", f"  {arn}", "  now"]


def test_a_list_broken_across_lines_keeps_its_commas() -> None:
    lines = _plain(flow(["e.g. aaaa", "bbbb", "cccc"], 16, sep=", ", hang=""))
    assert lines == ["e.g. aaaa, bbbb,", "cccc"]
