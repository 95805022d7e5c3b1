"""What the side inputs say about async events: retry policy, failure targets, their dumps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import columns as c
from tracelens.model import schema as col
from tracelens.model.vocab import BAD_OUTCOMES

if TYPE_CHECKING:
    from tracelens.model.side import SideInputs

# Columns of ``config_frame``, joined onto the async events by function.
CONFIGURED = "configured"
#: MaximumRetryAttempts (from the config; ``retry_window`` infers it where there is none).
MAX_RETRY = "max_retry"
MAX_AGE = "max_age_s"
HAS_TARGET = "has_target"
TARGET_DUMPED = "target_dumped"
TARGET_UNCOMPARABLE = "target_uncomparable"


def config_frame(side: SideInputs) -> pl.DataFrame:
    """One row per configured function: retry policy and failure targets.

    ``target_dumped`` is true when a comparable dump of one of its targets was supplied (a
    dump belongs to the target whose ARN equals its ``QueueArn``); ``target_uncomparable``
    when only dumps without request ids (``SideDump.comparable`` false) were supplied for them.
    """
    dumped = {d.queue_arn for d in side.dumps if d.queue_arn and d.comparable}
    uncomparable = {d.queue_arn for d in side.dumps if d.queue_arn and not d.comparable}
    rows = [
        {
            c.FUNCTION: name,
            CONFIGURED: True,
            MAX_RETRY: cfg.maximum_retry_attempts,
            MAX_AGE: cfg.maximum_event_age_seconds,
            HAS_TARGET: bool(cfg.failure_targets),
            TARGET_DUMPED: any(t in dumped for t in cfg.failure_targets),
            TARGET_UNCOMPARABLE: any(t in uncomparable for t in cfg.failure_targets),
        }
        for name, cfg in sorted(side.functions.items())
    ]
    return pl.DataFrame(
        rows,
        schema={
            c.FUNCTION: col.ENTITIES[col.NAME],  # joined with names read from the traces
            CONFIGURED: pl.Boolean,
            MAX_RETRY: pl.Int64,
            MAX_AGE: pl.Int64,
            HAS_TARGET: pl.Boolean,
            TARGET_DUMPED: pl.Boolean,
            TARGET_UNCOMPARABLE: pl.Boolean,
        },
    )


def comparable_request_ids(side: SideInputs) -> frozenset[str]:
    """Request ids of every dump they can be checked against (``SideDump.comparable``)."""
    return frozenset().union(*(d.request_ids for d in side.dumps if d.comparable))


def partial_dumps(events: pl.LazyFrame, side: SideInputs) -> dict[str, tuple[int, int]]:
    """Targets whose comparable dumps are partial: queue ARN -> (messages held, M).

    A dump is partial (report-contract amendment "Fate evidence") when the queue held more
    messages when it was dumped (``expected_messages``, recorded by ``fetch --with-dlq``), or
    when it holds exactly 1 or exactly 10 messages (what one ``receive-message`` call returns
    by default and at most) and fewer than the events that ended badly and should be in it.
    M is the recorded queue depth if known, else the number of those events. Several dumps
    of one target are added up.
    """
    held: dict[str, int] = {}
    recorded: dict[str, int] = {}
    for dump in side.dumps:
        if not dump.comparable or not dump.queue_arn:
            continue
        # ``messages`` counts what the file holds; never fewer than the request ids read.
        count = max(dump.messages, len(dump.request_ids))
        held[dump.queue_arn] = held.get(dump.queue_arn, 0) + count
        if dump.expected_messages is not None:
            recorded[dump.queue_arn] = max(recorded.get(dump.queue_arn, 0), dump.expected_messages)
    if not held:
        return {}
    bad = dict(
        events.filter(pl.col(c.OUTCOME).is_in(BAD_OUTCOMES))
        .group_by(pl.col(c.FUNCTION).cast(pl.String))
        .len()
        .collect()
        .iter_rows()
    )
    should_hold = dict.fromkeys(held, 0)
    for name, cfg in side.functions.items():
        for target in set(cfg.failure_targets) & held.keys():
            should_hold[target] += int(bad.get(name, 0))
    partial: dict[str, tuple[int, int]] = {}
    for arn, messages in sorted(held.items()):
        depth = recorded.get(arn)
        if depth is not None and depth > messages:
            partial[arn] = (messages, depth)
        elif messages in (1, 10) and messages < should_hold[arn]:
            partial[arn] = (messages, should_hold[arn])
    return partial
