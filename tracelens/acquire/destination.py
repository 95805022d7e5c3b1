"""Where X-Ray stores the account's spans (GetTraceSegmentDestination) and how much of them it
indexes as trace summaries (GetIndexingRules).

With Transaction Search on, the destination is ``CloudWatchLogs`` with status ``ACTIVE``: the
spans live in the ``aws/spans`` log group, ``BatchGetTraces`` cannot find them and
``GetTraceSummaries`` sees only the indexed share (1 % by default, per AWS's
"Enable Transaction Search" documentation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracelens.errors import SourceUnavailable

if TYPE_CHECKING:
    from tracelens.acquire.xray_calls import XRayCalls

#: The destination values of the X-Ray model (``TraceSegmentDestination``).
DESTINATIONS = frozenset({"XRay", "CloudWatchLogs"})
#: The status values of the X-Ray model (``TraceSegmentDestinationStatus``).
STATUSES = frozenset({"PENDING", "ACTIVE"})
#: Error codes meaning "the caller may not make this call".
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
#: Error codes (or HTTP statuses) meaning "this endpoint does not know the operation".
UNKNOWN_CODES = frozenset(
    {"UnknownOperationException", "InvalidAction", "NotImplemented", "UnrecognizedClientException"}
)
#: Indexing rules per GetIndexingRules response, per the model (``IndexingRuleList`` 1-10).
MAX_INDEXING_RULES = 10


@dataclass(frozen=True, slots=True)
class SegmentDestination:
    """The answer of GetTraceSegmentDestination, or why there is none.

    Attributes:
        destination: ``XRay`` or ``CloudWatchLogs``; None when the call failed.
        status: ``PENDING`` or ``ACTIVE``; None when the call failed or AWS left it out.
        note: Why the destination is unknown (refused, unknown operation), else None.
    """

    destination: str | None
    status: str | None
    note: str | None = None

    @property
    def transaction_search(self) -> bool:
        """Transaction Search is on: spans go to CloudWatch Logs and that is active."""
        return self.destination == "CloudWatchLogs" and self.status == "ACTIVE"


@dataclass(frozen=True, slots=True)
class IndexingRule:
    """One probabilistic indexing rule, its percentages checked against 0-100.

    Attributes:
        name: The rule name (``Default`` for the account's default rule).
        modified_at: When it last changed (ISO-8601 UTC), or None.
        desired_percent: ``DesiredSamplingPercentage``; None when absent or out of range.
        actual_percent: ``ActualSamplingPercentage``; None when absent or out of range.
    """

    name: str
    modified_at: str | None
    desired_percent: float | None
    actual_percent: float | None


@dataclass(frozen=True, slots=True)
class IndexingRules:
    """What GetIndexingRules returned.

    Attributes:
        rules: The rules, sorted by name.
        notes: Values rejected and why, or why the call gave nothing.
    """

    rules: tuple[IndexingRule, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def summary_percent(self) -> float | None:
        """The share of traces indexed as summaries: the ``Default`` rule (or the only rule),
        its actual percentage if AWS gave one, else the desired one; None if unknown."""
        rule = next((r for r in self.rules if r.name == "Default"), None)
        if rule is None and len(self.rules) == 1:
            rule = self.rules[0]
        if rule is None:
            return None
        return rule.actual_percent if rule.actual_percent is not None else rule.desired_percent


def error_code(exc: BaseException) -> tuple[str, int]:
    """(AWS error code, HTTP status) of the botocore error behind a ``SourceUnavailable``.

    Args:
        exc: A ``SourceUnavailable`` raised ``from`` a botocore ``ClientError`` (or anything).

    Returns:
        The code and status; ``("", 0)`` when there is no ``ClientError`` behind it.
    """
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    if not isinstance(response, dict):
        return "", 0
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def is_denied(exc: BaseException) -> bool:
    """Whether the failure is an access denial (a missing IAM permission)."""
    code, status = error_code(exc)
    return code in DENIED_CODES or (status == 403 and code not in UNKNOWN_CODES)


def read_segment_destination(calls: XRayCalls) -> SegmentDestination:
    """Ask X-Ray where segments go; a refused or unknown call gives a destination of None.

    Args:
        calls: The X-Ray calls of the fetch (throttles are retried there).

    Returns:
        The destination, or None with the reason in ``note``.
    """
    try:
        response = calls.call("get_trace_segment_destination")
    except SourceUnavailable as exc:
        code, status = error_code(exc)
        if is_denied(exc):
            why = (
                f"was refused ({code or status}: the caller lacks xray:GetTraceSegmentDestination)"
            )
        elif code in UNKNOWN_CODES or status in (404, 405, 501):
            shown = code if code.isalpha() else f"HTTP {status}"
            why = f"is not known to this endpoint ({shown})"
        else:
            return SegmentDestination(None, None, str(exc))
        return SegmentDestination(None, None, f"GetTraceSegmentDestination {why}")
    destination = response.get("Destination")
    status_value = response.get("Status")
    notes: list[str] = []
    if destination not in DESTINATIONS:
        notes.append(f"unexpected Destination {destination!r}")
        destination = None
    if status_value is not None and status_value not in STATUSES:
        notes.append(f"unexpected Status {status_value!r}")
        status_value = None
    return SegmentDestination(
        destination if isinstance(destination, str) else None,
        status_value if isinstance(status_value, str) else None,
        "GetTraceSegmentDestination: " + "; ".join(notes) if notes else None,
    )


def read_indexing_rules(calls: XRayCalls) -> IndexingRules:
    """Read every indexing rule (paged by NextToken), checking the model's types and ranges.

    Args:
        calls: The X-Ray calls of the fetch.

    Returns:
        The valid rules and a note per value dropped; a refused call gives no rules and a note.
    """
    rules: list[IndexingRule] = []
    notes: list[str] = []
    token: str | None = None
    seen_tokens: set[str] = set()
    while True:
        kwargs: dict[str, Any] = {"NextToken": token} if token else {}
        try:
            response = calls.call("get_indexing_rules", **kwargs)
        except SourceUnavailable as exc:
            if is_denied(exc):
                notes.append(
                    "GetIndexingRules refused (the caller lacks xray:GetIndexingRules): "
                    "the indexed share of trace summaries is unknown"
                )
            else:
                notes.append(f"GetIndexingRules gave nothing: {exc}")
            break
        raw = response.get("IndexingRules")
        if not isinstance(raw, list):
            raw = []
        if len(raw) > MAX_INDEXING_RULES:
            notes.append(
                f"GetIndexingRules returned {len(raw)} rules in one page; the model allows "
                f"at most {MAX_INDEXING_RULES} (all kept)"
            )
        for item in raw:
            rule = _indexing_rule(item, notes)
            if rule is not None:
                rules.append(rule)
        token = response.get("NextToken")
        if not isinstance(token, str) or not token or token in seen_tokens:
            break
        seen_tokens.add(token)
    return IndexingRules(tuple(sorted(rules, key=lambda r: r.name)), tuple(notes))


def _indexing_rule(item: Any, notes: list[str]) -> IndexingRule | None:
    """One rule of the response, or None (with a note) when it is not a valid rule."""
    if not isinstance(item, dict) or not isinstance(item.get("Name"), str) or not item["Name"]:
        notes.append(f"GetIndexingRules: a rule without a name was ignored: {item!r:.120}")
        return None
    name: str = item["Name"]
    modified = item.get("ModifiedAt")
    modified_at = modified.isoformat() if isinstance(modified, datetime) else None
    value = item.get("Rule")
    probabilistic = value.get("Probabilistic") if isinstance(value, dict) else None
    if not isinstance(probabilistic, dict):
        notes.append(f"indexing rule {name!r} is not probabilistic; its percentage is unknown")
        return IndexingRule(name, modified_at, None, None)
    desired = _percent(name, "DesiredSamplingPercentage", probabilistic, notes)
    actual = _percent(name, "ActualSamplingPercentage", probabilistic, notes)
    return IndexingRule(name, modified_at, desired, actual)


def _percent(name: str, key: str, value: dict[str, Any], notes: list[str]) -> float | None:
    """A sampling percentage in [0, 100], or None with a note when absent or invalid."""
    raw = value.get(key)
    if raw is None:
        if key == "DesiredSamplingPercentage":  # required by the model
            notes.append(f"indexing rule {name!r} has no {key} (required by the model)")
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        notes.append(f"indexing rule {name!r}: {key} {raw!r} is not a number; ignored")
        return None
    if not 0 <= raw <= 100:
        notes.append(f"indexing rule {name!r}: {key} {raw!r} is outside 0-100; ignored")
        return None
    return float(raw)


__all__ = [
    "IndexingRule",
    "IndexingRules",
    "SegmentDestination",
    "error_code",
    "is_denied",
    "read_indexing_rules",
    "read_segment_destination",
]
