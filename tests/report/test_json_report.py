"""The JSON renderer: the contract's keys, sorted, indented, byte-identical, lossless."""

from __future__ import annotations

import json

import msgspec
from _fixed_report import check_golden, empty_report, fixed_report

from tracelens.report.json_report import render_json
from tracelens.report.models import Report


def test_fixed_report_matches_golden() -> None:
    check_golden("fixed_report.json", render_json(fixed_report()).decode("utf-8"))


def test_same_report_gives_identical_bytes() -> None:
    assert render_json(fixed_report()) == render_json(fixed_report())


def test_keys_are_sorted_at_every_level() -> None:
    def check(value: object) -> None:
        if isinstance(value, dict):
            assert list(value) == sorted(value)
            for child in value.values():
                check(child)
        elif isinstance(value, list):
            for child in value:
                check(child)

    check(json.loads(render_json(fixed_report())))


def test_two_space_indent_and_trailing_newline() -> None:
    text = render_json(empty_report()).decode("utf-8")
    assert text.endswith("}\n")
    assert not text.endswith("\n\n")
    assert text.splitlines()[1].startswith('  "affected": [')


def test_async_attribute_is_written_as_async() -> None:
    doc = json.loads(render_json(fixed_report()))
    assert "async_" not in doc
    assert doc["async"]["events"] == 180
    assert doc["functions"][1]["modes"]["async"] == 180


def test_round_trip_is_lossless() -> None:
    report = fixed_report()
    assert msgspec.json.decode(render_json(report), type=Report) == report


def test_untrusted_text_survives_as_data() -> None:
    doc = json.loads(render_json(fixed_report()))
    assert doc["functions"][0]["name"] == "<script>alert(1)</script>"
    assert doc["functions"][1]["name"] == "[bold]x[/]"
