"""Finding rules of async events: lost, missing, unknown, exhausted, expired and waiting."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.async_config import partial_dumps
from tracelens.analysis.findings._rule import (
    MAX_EXAMPLES,
    Rule,
    advised,
    agree,
    grouped,
    no_config,
    sentence,
)
from tracelens.model.side import DEFAULT_MAXIMUM_EVENT_AGE_SECONDS
from tracelens.model.vocab import Severity

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracelens.analysis.findings._rule import FindingInputs, Row
    from tracelens.model.side import SideInputs

HIGH_DWELL_MS = 60_000.0  # async p99 dwell above this is a finding


def partial_notes(events: pl.LazyFrame, side: SideInputs) -> dict[str, str]:
    """Function -> "N of M messages" of the partial dump of its target, if any."""
    partial = partial_dumps(events, side)
    notes: dict[str, str] = {}
    for name, cfg in sorted(side.functions.items()):
        for target in cfg.failure_targets:
            if target in partial:
                held, total = partial[target]
                notes[name] = f"{held:,} of {total:,} messages"
                break
    return notes


def _events_with(column: str, value: str) -> Callable[[FindingInputs], pl.LazyFrame]:
    def plan(inputs: FindingInputs) -> pl.LazyFrame:
        return grouped(inputs.events.filter(pl.col(column) == value), pl.col(c.REQUEST))

    return plan


def _missing(*, in_partial: bool) -> Callable[[FindingInputs], pl.LazyFrame]:
    """Failed events not found in their target's dump.

    Functions whose target has only a partial dump: their events not found in it are a
    warning (ASYNC_EVENTS_NOT_IN_PARTIAL_DUMP), not the critical ASYNC_EVENTS_MISSING_FROM_DLQ.
    """

    def plan(inputs: FindingInputs) -> pl.LazyFrame:
        partial = pl.col(c.FUNCTION).cast(pl.String).is_in(sorted(inputs.partial_notes))
        missing = inputs.events.filter(pl.col(c.FATE) == "missing")
        return grouped(missing.filter(partial if in_partial else ~partial), pl.col(c.REQUEST))

    return plan


def _high_dwell(inputs: FindingInputs) -> pl.LazyFrame:
    from tracelens.analysis.stats import nearest_rank

    return (
        inputs.events.group_by(c.FUNCTION)
        .agg(
            nearest_rank(pl.col(c.DWELL_MS), 99).alias("p99"),
            (pl.col(c.DWELL_MS) > HIGH_DWELL_MS).sum().cast(pl.Int64).alias("count"),
            pl.col(c.REQUEST)
            .filter(pl.col(c.DWELL_MS) > HIGH_DWELL_MS)
            .sort()
            .head(MAX_EXAMPLES)
            .alias("examples"),
        )
        .filter(pl.col("p99") > HIGH_DWELL_MS)
    )


def _exhausted_advice(side: SideInputs, fn: str, _: Row | None = None) -> str:
    config = side.functions.get(fn)
    if config is None:
        return "fix the errors shown in the chains (" + no_config(fn, "settings") + ")"
    if config.failure_targets:
        return "fix the errors shown in the chains and replay them from " + " and ".join(
            config.failure_targets
        )
    return (
        f"fix the errors shown in the chains; {fn} has no DLQ or on-failure destination, so "
        "they were dropped"
    )


def _age_advice(side: SideInputs, fn: str, _: Row | None = None) -> str:
    config = side.functions.get(fn)
    if config is None:
        return (
            "give the function more concurrency, or raise MaximumEventAgeInSeconds if it is "
            f"below {DEFAULT_MAXIMUM_EVENT_AGE_SECONDS} s ({no_config(fn, 'settings')})"
        )
    if config.maximum_event_age_seconds >= DEFAULT_MAXIMUM_EVENT_AGE_SECONDS:
        return (
            "MaximumEventAgeInSeconds is already the maximum "
            f"({DEFAULT_MAXIMUM_EVENT_AGE_SECONDS} s): give the function more concurrency or "
            "reduce the event rate"
        )
    return (
        f"raise MaximumEventAgeInSeconds (now {config.maximum_event_age_seconds} s, at most "
        f"{DEFAULT_MAXIMUM_EVENT_AGE_SECONDS}) or the function's concurrency"
    )


def _not_in_partial_dump(inputs: FindingInputs, row: Row) -> str:
    fn = row[c.FUNCTION]
    note = inputs.partial_notes.get(fn)
    return (
        f"{row['count']} failed async {agree('{event|events} of', row['count'])} {fn} "
        f"{agree('{was|were}', row['count'])} not found in a partial dump ({note}); "
        "dump the whole queue (loop `receive-message` until it is empty, or `tracelens "
        "fetch --with-dlq`) to tell whether they are missing."
    )


def _high_dwell_message(_: FindingInputs, row: Row) -> str:
    seconds = (row.get("p99") or 0.0) / 1000.0
    return (
        f"Async events of {row[c.FUNCTION]} waited {seconds:.1f} s at p99 in Lambda's queue "
        "before running; give the function more concurrency (its reserved concurrency, or the "
        "account's) or reduce the event rate."
    )


ASYNC_RULES = (
    Rule(
        code="ASYNC_EVENTS_DROPPED",
        severity=Severity.CRITICAL,
        plan=_events_with(c.FATE, "dropped"),
        message=sentence(
            "{count} async {event|events} of {function} failed and {was|were} lost because it "
            "has no DLQ or "
            "on-failure destination; configure one so failed events are kept."
        ),
    ),
    Rule(
        code="ASYNC_EVENTS_MISSING_FROM_DLQ",
        severity=Severity.CRITICAL,
        plan=_missing(in_partial=False),
        message=sentence(
            "{count} failed async {event|events} of {function} {is|are} not in the supplied DLQ "
            "/ destination "
            "dump; check the target's permissions, encryption and retention."
        ),
    ),
    Rule(
        code="ASYNC_EVENTS_NOT_IN_PARTIAL_DUMP",
        severity=Severity.WARNING,
        plan=_missing(in_partial=True),
        message=_not_in_partial_dump,
    ),
    Rule(
        code="ASYNC_FATE_UNKNOWN",
        severity=Severity.WARNING,
        plan=_events_with(c.FATE, "unknown"),
        message=sentence(
            "{count} async {event|events} of {function} ended badly, fate unknown: supply "
            "`--config` (or "
            "`fetch --with-config`) to tell whether they went to a DLQ or were dropped."
        ),
    ),
    Rule(
        code="ASYNC_RETRIES_EXHAUSTED",
        severity=Severity.WARNING,
        plan=_events_with(c.OUTCOME, "retries_exhausted"),
        message=advised("async {event|events} of {fn} failed on every retry", _exhausted_advice),
    ),
    Rule(
        code="ASYNC_EVENT_AGE_EXCEEDED",
        severity=Severity.WARNING,
        plan=_events_with(c.OUTCOME, "event_age_exceeded"),
        message=advised(
            "async {event|events} of {fn} expired before {it|they} could succeed", _age_advice
        ),
    ),
    Rule(
        code="HIGH_DWELL",
        severity=Severity.WARNING,
        plan=_high_dwell,
        message=_high_dwell_message,
    ),
)
