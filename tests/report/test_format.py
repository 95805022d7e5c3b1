"""The shared formatting helpers: one duration format, plurals, repeated errors, layout."""

from __future__ import annotations

import pytest

from tracelens.report._format import duration, plural, repeated


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
