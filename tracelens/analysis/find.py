"""``find``: the traces a filter expression matches, each with its requests, outcomes and fates.

Matching runs one partition at a time (``trace_filter``), so memory holds one partition; the
requests, outcomes and fates of the matching traces come from the full analysis of the input
(the same numbers ``analyze`` reports), because an SQS message or a retried event can span
traces that the expression does not match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.filter_expr import Expr, annotation_keys
from tracelens.analysis.trace_filter import match_and_keys
from tracelens.model import schema as col

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tracelens.analysis.pipeline import AnalysisResults
    from tracelens.model.frames import TraceFrames


@dataclass(frozen=True, slots=True)
class Matches:
    """What one pass over the partitions found."""

    trace_ids: tuple[str, ...]  # sorted
    traces: int  # traces searched
    starts: dict[str, datetime]  # first start of each matching trace
    durations: dict[str, float | None]  # seconds; None while in progress
    missing_keys: tuple[str, ...]  # annotation keys of the expression no document has


@dataclass(frozen=True, slots=True)
class FoundTrace:
    """One matching trace."""

    trace_id: str
    start: datetime | None
    duration_s: float | None  # None: some entity still in progress
    requests: int  # Lambda requests (service segments) in the trace
    request_ids: tuple[str, ...]  # their request ids, sorted
    functions: tuple[str, ...]  # sorted
    outcomes: tuple[str, ...]  # "outcome ×N", sorted by outcome
    fates: tuple[str, ...]  # "fate ×N", sorted by fate


def match_partitions(partitions: Callable[[], Iterable[TraceFrames]], expr: Expr) -> Matches:
    """The traces ``expr`` matches, one partition at a time."""
    wanted = set(annotation_keys(expr))
    seen: set[str] = set()
    ids: list[str] = []
    starts: dict[str, datetime] = {}
    durations: dict[str, float | None] = {}
    traces = 0
    for frames in partitions():
        entities = frames.entities
        traces += entities.get_column(col.TRACE_ID).n_unique() if entities.height else 0
        found, keys = match_and_keys(entities, expr)
        seen |= keys & wanted
        if not found:
            continue
        ids.extend(found)
        spans = (
            entities.filter(pl.col(col.TRACE_ID).cast(pl.String).is_in(found))
            .group_by(pl.col(col.TRACE_ID).cast(pl.String))
            .agg(
                start=pl.col(col.START).min(),
                end=pl.col(col.END).max(),
                partial=pl.col(col.IN_PROGRESS).any(),
            )
        )
        for trace_id, start, end, partial in spans.iter_rows():
            starts[trace_id] = start
            durations[trace_id] = None if partial or end is None else (end - start).total_seconds()
    return Matches(
        trace_ids=tuple(sorted(ids)),
        traces=traces,
        starts=starts,
        durations=durations,
        missing_keys=tuple(sorted(wanted - seen)),
    )


def found_traces(matches: Matches, results: AnalysisResults | None) -> list[FoundTrace]:
    """One row per matching trace, ordered by start then trace id."""
    per_trace = _per_trace(matches.trace_ids, results)
    rows = [
        FoundTrace(
            trace_id=trace_id,
            start=matches.starts.get(trace_id),
            duration_s=matches.durations.get(trace_id),
            requests=summary.requests,
            request_ids=summary.request_ids,
            functions=summary.functions,
            outcomes=summary.outcomes,
            fates=summary.fates,
        )
        for trace_id in matches.trace_ids
        for summary in (per_trace.get(trace_id, _EMPTY),)
    ]
    return sorted(rows, key=lambda r: (r.start is None, r.start or _EPOCH, r.trace_id))


_EPOCH = datetime.fromtimestamp(0).astimezone()


@dataclass(frozen=True, slots=True)
class _Summary:
    requests: int = 0
    request_ids: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    fates: tuple[str, ...] = ()


_EMPTY = _Summary()


def _counted(values: list[str]) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return tuple(f"{name} ×{n}" if n > 1 else name for name, n in sorted(counts.items()))


def _per_trace(trace_ids: tuple[str, ...], results: AnalysisResults | None) -> dict[str, _Summary]:
    if results is None or not trace_ids:
        return {}
    wanted = pl.Series(list(trace_ids), dtype=pl.String)
    trace = pl.col(col.TRACE_ID).cast(pl.String)
    requests = results.requests.filter(trace.is_in(wanted.to_list()))
    # Outcomes: the async event, SQS message or stream batch each request belonged to, else
    # the request's own result (a sync or unclassified request).
    outcomes: list[tuple[str, str, str | None]] = []  # (trace, outcome, fate)
    covered: set[tuple[str, str]] = set()
    events = results.events.filter(trace.is_in(wanted.to_list()))
    for trace_id, request, outcome, fate in events.select(
        trace, c.REQUEST, c.OUTCOME, c.FATE
    ).iter_rows():
        outcomes.append((trace_id, f"async {outcome}", fate))
        covered.add((trace_id, request))
    for frame, label in ((results.messages, "sqs"), (results.batches, "stream")):
        exploded = (
            frame.select(c.OUTCOME, c.FATE, pl.col(c.TRACE_IDS).alias(col.TRACE_ID))
            .explode(col.TRACE_ID)
            .filter(trace.is_in(wanted.to_list()))
            .unique(maintain_order=True)
        )
        for outcome, fate, trace_id in exploded.select(c.OUTCOME, c.FATE, trace).iter_rows():
            outcomes.append((str(trace_id), f"{label} {outcome}", fate))
            covered.add((str(trace_id), "*"))
    out: dict[str, _Summary] = {}
    by_trace: dict[str, list[tuple[str, bool, bool, bool, str]]] = {}
    for row in requests.select(
        trace,
        pl.col(c.FUNCTION).cast(pl.String),
        col.IN_PROGRESS,
        c.FAILED,
        c.THROTTLED,
        c.REQUEST,
    ).iter_rows():
        by_trace.setdefault(row[0], []).append(row[1:])
    for trace_id in trace_ids:
        rows = by_trace.get(trace_id, [])
        mine = [(o, f) for t, o, f in outcomes if t == trace_id]
        if (trace_id, "*") not in covered:
            for _, in_progress, failed, throttled, request in rows:
                if (trace_id, request) in covered:
                    continue
                state = (
                    "in_progress"
                    if in_progress
                    else "throttled"
                    if throttled
                    else "failed"
                    if failed
                    else "succeeded"
                )
                mine.append((f"request {state}", None))
        out[trace_id] = _Summary(
            requests=len(rows),
            request_ids=tuple(sorted(r[4] for r in rows)),
            functions=tuple(sorted({r[0] for r in rows})),
            outcomes=_counted([o for o, _ in mine]),
            fates=_counted([f for _, f in mine if f is not None]),
        )
    return out
