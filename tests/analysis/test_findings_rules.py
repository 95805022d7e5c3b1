"""The findings rule table: one rule per code, each with its own severity and message."""

from __future__ import annotations

import msgspec
import pytest

from tracelens.analysis.findings import RULES
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
