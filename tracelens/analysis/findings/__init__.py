"""Findings: what a person should act on, one actionable sentence each.

Every finding is one ``Rule`` (code, severity, the plan of the rows it fires on, and its
message) in ``RULES``: adding a finding is adding a rule to one of the tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.findings._async import ASYNC_RULES, HIGH_DWELL_MS, partial_notes
from tracelens.analysis.findings._input import INPUT_RULES
from tracelens.analysis.findings._poll import POLL_RULES
from tracelens.analysis.findings._rule import (
    MAX_EXAMPLES,
    FindingInputs,
    FindingRow,
    Rule,
)
from tracelens.analysis.findings._sync import SYNC_RULES, SYNC_THROTTLED_CRITICAL

if TYPE_CHECKING:
    from tracelens.analysis.sync import SyncFrames
    from tracelens.model.frames import IngestStats
    from tracelens.model.side import SideInputs

__all__ = [
    "HIGH_DWELL_MS",
    "MAX_EXAMPLES",
    "RULES",
    "SYNC_THROTTLED_CRITICAL",
    "FindingRow",
    "Rule",
    "findings",
]

#: Every finding rule; each code appears once.
RULES: tuple[Rule, ...] = (*ASYNC_RULES, *POLL_RULES, *SYNC_RULES, *INPUT_RULES)


def findings(
    *,
    events: pl.LazyFrame,
    messages: pl.LazyFrame,
    batches: pl.LazyFrame,
    invocations: pl.LazyFrame,
    side: SideInputs,
    stats: IngestStats,
    sync: SyncFrames | None = None,
) -> list[FindingRow]:
    """Every finding, sorted by severity, then code, then function.

    Args:
        events: Async events.
        messages: SQS messages.
        batches: Stream batches.
        invocations: Invocations (for cold starts).
        side: Side inputs (queue redrive policies).
        stats: Ingest counts (rejections).
        sync: Sync requests, logical calls and unreached Lambda calls (``analysis.sync``).

    Returns:
        The findings.
    """
    inputs = FindingInputs(
        events=events,
        messages=messages,
        batches=batches,
        invocations=invocations,
        side=side,
        stats=stats,
        sync=sync,
        partial_notes=partial_notes(events, side),
    )
    planned = [(rule, plan) for rule in RULES if (plan := rule.plan(inputs)) is not None]
    frames = pl.collect_all([plan for _, plan in planned])
    rows: list[FindingRow] = []
    for (rule, _), frame in zip(planned, frames, strict=True):
        order = [k for k in (c.FUNCTION, c.CALLER) if k in frame.columns]
        for row in frame.sort(order, nulls_last=True).iter_rows(named=True):
            count = int(row["count"])
            if count == 0:
                continue
            rows.append(
                FindingRow(
                    severity=rule.severity_of(inputs, row),
                    code=rule.code,
                    function=row[c.FUNCTION],
                    count=count,
                    message=rule.message(inputs, row),
                    examples=tuple(row["examples"]),
                )
            )
    return sorted(rows, key=lambda f: (f.severity.rank, f.code, f.function or ""))
