"""The findings rule table: one rule per code, each with its own severity and message."""

from __future__ import annotations

import re
from collections import defaultdict

import msgspec
import polars as pl
import pytest

from tracelens.analysis.findings import RULES
from tracelens.analysis.findings._rule import FindingInputs, Rule, agree
from tracelens.model.frames import IngestStats
from tracelens.model.side import SideInputs
from tracelens.model.vocab import Severity, severity_rank
from tracelens.report.models import Finding


def test_every_code_is_one_rule() -> None:
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes))
    assert all(code.isupper() and " " not in code for code in codes)


def test_severity_rank_puts_the_most_urgent_first() -> None:
    ranked = sorted(["info", "critical", "warning"], key=severity_rank)
    assert ranked == ["critical", "warning", "info"]
    assert severity_rank("poison") > Severity.INFO.rank


@pytest.mark.parametrize("severity", list(Severity))
def test_severity_is_its_plain_string_on_the_wire(severity: Severity) -> None:
    finding = Finding(severity=severity, code="X", function=None, count=1, message="m", examples=[])
    encoded = msgspec.json.encode(finding)
    assert f'"severity":"{severity.value}"'.encode() in encoded
    assert msgspec.json.decode(encoded, type=Finding).severity is severity


def _inputs() -> FindingInputs:
    empty = pl.LazyFrame()
    return FindingInputs(
        events=empty,
        messages=empty,
        batches=empty,
        invocations=empty,
        side=SideInputs(),
        stats=IngestStats(),
        sync=None,
        partial_notes={},
    )


def _row(count: int) -> dict[str, object]:
    """A row with every column a rule's message reads (one of each fate, no config)."""
    row: dict[str, object] = defaultdict(int)
    row.update(
        {"function": "fn", "count": count, "total": 3, "examples": [], "fate_discarded": count}
    )
    row.update({"severity": "warning", "reason": "no mapping", "destination": None})
    return row


#: A count of 1 followed by a plural noun, e.g. "1 async events" or "1 SQS messages".
_ONE_PLURAL = re.compile(
    r"\b1 (?:failed )?(?:async |synchronous |SQS |stream |Lambda |input )?"
    r"(?:events|messages|batches|requests|calls|invocations|lines|dumps)\b"
)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.code)
def test_a_finding_of_one_is_singular(rule: Rule) -> None:
    one = rule.message(_inputs(), _row(1))
    assert not _ONE_PLURAL.search(one), one
    assert " 1 of them " not in one
    two = rule.message(_inputs(), _row(2))
    assert "{" not in one + two, one + two


@pytest.mark.parametrize(
    ("template", "count", "text"),
    [
        ("{count} async {event|events} {was|were} lost", 1, "{count} async event was lost"),
        ("{count} async {event|events} {was|were} lost", 0, "{count} async events were lost"),
        ("{count} async {event|events} {was|were} lost", 7, "{count} async events were lost"),
    ],
)
def test_agree(template: str, count: int, text: str) -> None:
    assert agree(template, count) == text
