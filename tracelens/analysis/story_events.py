"""The events of an explained key's story: one builder per kind of thing that happened to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from tracelens.analysis import columns as c
from tracelens.model import schema as col

if TYPE_CHECKING:
    from datetime import datetime

    from tracelens.analysis.pipeline import AnalysisResults
    from tracelens.model.side import DestinationRecord, DlqMessage, SideDump, SideInputs
    from tracelens.model.vocab import StoryKind

#: How a fate is known (``fate_evidence``), appended to the fate line.
_EVIDENCE = {
    "dump": " (checked in the dump)",
    "config": " (per the config; not checked against a dump)",
    "none": " (not checked: supply `--config` and a dump with request ids)",
}

_FATES = {
    "sent": "fate: sent to the DLQ / on-failure destination",
    "missing": "fate: MISSING from the supplied DLQ / destination dump",
    "dropped": "fate: DROPPED (no DLQ or on-failure destination configured)",
    "unknown": "fate: unknown (no config for this function)",
}


@dataclass(frozen=True, slots=True)
class StoryEvent:
    """One thing that happened to the explained key.

    ``kind`` is one of segment (a caller's or an inferred segment), request (a Lambda request
    with no recorded invocation), enqueue, dwell, attempt, wait, invocation, delivery, outcome,
    fate, dlq. ``text`` and ``error`` come from traces and dumps: untrusted, escape before
    display.
    """

    time: datetime | None
    kind: StoryKind
    function: str | None
    text: str
    duration_ms: float | None = None
    error: str | None = None
    trace_id: str | None = None


def summary_event(row: dict[str, Any], what: str) -> StoryEvent:
    """The outcome line of an SQS message or a stream batch (``what``)."""
    fate = f"; fate {row[c.FATE]}" if row.get(c.FATE) else ""
    if row.get(c.FATE_REASON):
        fate += f" ({row[c.FATE_REASON]})"
    return StoryEvent(
        time=row[c.LAST_END] or row[c.FIRST_START],
        kind="outcome",
        function=row[c.FUNCTION],
        text=f"{what} {row[c.OUTCOME]} after {row[c.ATTEMPTS]} deliveries "
        f"({row[c.FAILURES]} failed){fate}",
        error=row[c.LAST_ERROR],
    )


def delivery_events(deliveries: pl.DataFrame, kind: StoryKind) -> list[StoryEvent]:
    """Each delivery of a message or batch, and the wait before it."""
    out = []
    ordered = deliveries.sort(col.START, c.INVOCATION, nulls_last=True)
    previous_end: datetime | None = None
    for number, row in enumerate(ordered.iter_rows(named=True), start=1):
        if previous_end is not None and row[col.START] is not None:
            out.append(
                StoryEvent(
                    time=previous_end,
                    kind="wait",
                    function=row[c.FUNCTION],
                    text=f"waited before delivery {number}",
                    duration_ms=_ms(previous_end, row[col.START]),
                )
            )
        receive = row.get(col.RECEIVE_COUNT)
        extra = f", receive count {receive}" if receive is not None else ""
        out.append(
            StoryEvent(
                time=row[col.START],
                kind=kind,
                function=row[c.FUNCTION],
                text=f"{kind} {number} ({_state(row)}{extra}), request {row[c.REQUEST]}",
                duration_ms=_ms(row[col.START], row[col.END]),
                error=row.get("error") if row[c.FAILED] else None,
                trace_id=row[col.TRACE_ID],
            )
        )
        previous_end = row[col.END]
    return out


def request_events(
    results: AnalysisResults, side: SideInputs, requests: set[str]
) -> list[StoryEvent]:
    """The async events among ``requests`` step by step, and the invocations of the others."""
    keys = sorted(requests)
    dlq = {
        m.request_id: (d, m) for d in side.dumps for m in d.dlq_messages if m.request_id in requests
    }
    records = {
        r.request_id: (d, r)
        for d in side.dumps
        for r in d.destination_records
        if r.request_id in requests
    }
    async_events = results.events.filter(pl.col(c.REQUEST).is_in(keys))
    out: list[StoryEvent] = []
    for ev in async_events.iter_rows(named=True):
        request = ev[c.REQUEST]
        units = results.units.filter(pl.col(c.REQUEST) == request).sort(c.N)
        delays = results.retry_delays.filter(pl.col(c.REQUEST) == request)
        out += _async_event(ev, units, delays)
        out += _end_of_event(ev, units, dlq.get(request), records.get(request))
    plain = results.requests.filter(
        pl.col(c.REQUEST).is_in(keys)
        & ~pl.col(c.REQUEST).is_in(async_events.get_column(c.REQUEST).to_list())
    )
    invocations = results.invocations.join(plain.select(c.REQUEST), on=c.REQUEST, how="semi")
    for inv in invocations.sort(col.START, c.INVOCATION, nulls_last=True).iter_rows(named=True):
        out.append(_invocation(inv, f"invocation of request {inv[c.REQUEST]}", ""))
    return out


def _async_event(ev: dict[str, Any], units: pl.DataFrame, delays: pl.DataFrame) -> list[StoryEvent]:
    """One async event until its end: queued, its dwell, its retry waits and attempts."""
    request, fn = ev[c.REQUEST], ev[c.FUNCTION]
    out = [
        StoryEvent(
            time=ev[c.ENQUEUED],
            kind="enqueue",
            function=fn,
            text=f"async event {request} accepted (202) and queued",
            trace_id=ev[col.TRACE_ID],
        )
    ]
    if ev[c.DWELL_MS] is not None:
        out.append(
            StoryEvent(
                time=ev[c.DWELL_START] or ev[c.ENQUEUED],
                kind="dwell",
                function=fn,
                text="waited in Lambda's internal queue",
                duration_ms=ev[c.DWELL_MS],
                trace_id=ev[col.TRACE_ID],
            )
        )
    for delay in delays.iter_rows(named=True):
        out.append(
            StoryEvent(
                time=delay["wait_start"],
                kind="wait",
                function=fn,
                text=f"retry wait before attempt {delay[c.N]}",
                duration_ms=delay[c.DELAY_MS],
            )
        )
    for unit in units.iter_rows(named=True):
        out.append(
            StoryEvent(
                time=unit[col.START],
                kind="attempt",
                function=fn,
                text=f"attempt {unit[c.N]} ({_state(unit)})",
                duration_ms=_ms(unit[col.START], unit[col.END]),
                error=unit["error"],
                trace_id=unit[col.TRACE_ID],
            )
        )
    return out


def _end_of_event(
    ev: dict[str, Any],
    units: pl.DataFrame,
    dlq: tuple[SideDump, DlqMessage] | None,
    record: tuple[SideDump, DestinationRecord] | None,
) -> list[StoryEvent]:
    """How an async event ended: its outcome, its fate and where the dumps hold it."""
    last = ev[c.LAST_END]
    if last is None and units.height:
        last = units.get_column(col.START).max()

    def ended(kind: StoryKind, text: str, error: str | None = None) -> StoryEvent:
        return StoryEvent(
            time=last or ev[c.ENQUEUED], kind=kind, function=ev[c.FUNCTION], text=text, error=error
        )

    out = [
        ended(
            "outcome",
            f"outcome: {ev[c.OUTCOME]} after {ev[c.ATTEMPTS]} attempts "
            f"(MaximumRetryAttempts {ev['max_retry']})",
        )
    ]
    if ev[c.FATE] is not None:
        fate = _FATES.get(ev[c.FATE], f"fate: {ev[c.FATE]}")
        out.append(ended("fate", fate + _EVIDENCE.get(ev.get(c.FATE_EVIDENCE) or "", "")))
    if dlq is not None:
        dump, message = dlq
        text = (
            f"found in DLQ dump {dump.source} ({dump.queue_arn or 'queue unknown'}), "
            f"ErrorCode {message.error_code}"
        )
        out.append(ended("dlq", text, message.error_message))
    if record is not None:
        dump, found = record
        text = (
            f"on-failure record in {dump.source}: condition {found.condition}, "
            f"approximateInvokeCount {found.approximate_invoke_count}"
        )
        out.append(ended("dlq", text))
    return out


def _invocation(inv: dict[str, Any], head: str, tail: str) -> StoryEvent:
    """An invocation: ``head`` (state, cold start) ``tail``."""
    cold = ", cold start" if inv[c.COLD] else ""
    return StoryEvent(
        time=inv[col.START],
        kind="invocation",
        function=_text(inv[c.FUNCTION]),
        text=f"{head} ({_state(inv)}{cold}){tail}",
        duration_ms=inv[c.DURATION_MS],
        error=inv["inv_error"],
        trace_id=_text(inv[col.TRACE_ID]),
    )


def unrun_events(
    results: AnalysisResults, entities: pl.DataFrame, requests: set[str]
) -> list[StoryEvent]:
    """Lambda requests with no attempt or invocation recorded (e.g. a throttled sync call)."""
    covered = set(results.events.get_column(c.REQUEST).to_list())
    covered |= set(results.invocations.get_column(c.REQUEST).drop_nulls().to_list())
    lonely = sorted(requests - covered)
    if not lonely:
        return []
    flags = (
        entities.filter(pl.col(col.KIND) == col.KIND_SERVICE)
        .with_columns(pl.coalesce(col.REQUEST_ID, col.ID).alias(c.REQUEST))
        .filter(pl.col(c.REQUEST).is_in(lonely))
        .sort(col.START, col.ID, nulls_last=True)
        .group_by(c.REQUEST, maintain_order=True)
        .agg(
            pl.col(col.THROTTLE).any(),
            pl.col(col.FAULT).any(),
            pl.col(col.ERROR).any(),
            pl.col(col.CAUSE).drop_nulls().first(),
        )
    )
    rows = (
        results.requests.filter(pl.col(c.REQUEST).is_in(lonely))
        .join(flags, on=c.REQUEST, how="left")
        .sort(col.START, c.REQUEST, nulls_last=True)
    )
    return [
        _traced(
            row,
            "request",
            _text(row[c.FUNCTION]),
            f"request {row[c.REQUEST]} to Lambda ({_flags(row)}); no invocation "
            "recorded: the function did not run for it, or ran untraced",
        )
        for row in rows.iter_rows(named=True)
    ]


def lone_invocation_events(results: AnalysisResults) -> list[StoryEvent]:
    """Function segments with no Lambda service segment in the traces."""
    lone = results.invocations.filter(pl.col(c.REQUEST).is_null())
    return [
        _invocation(
            inv,
            f"invocation {inv[c.INVOCATION]}",
            "; the trace holds no Lambda service segment for it, so its request id is unknown",
        )
        for inv in lone.sort(col.START, c.INVOCATION, nulls_last=True).iter_rows(named=True)
    ]


def segment_events(entities: pl.DataFrame) -> list[StoryEvent]:
    """Callers' segments and the segments X-Ray inferred from their calls to Lambda."""
    rows = entities.filter(
        pl.col(col.TOP) & pl.col(col.KIND).is_in([col.KIND_SEGMENT, col.KIND_INFERRED])
    ).sort(col.START, col.ID, nulls_last=True)
    served = set(
        entities.filter(pl.col(col.KIND) == col.KIND_SERVICE)
        .get_column(col.TRACE_ID)
        .cast(pl.String)
        .to_list()
    )
    out = []
    for row in rows.iter_rows(named=True):
        name = _text(row[col.NAME]) or "?"
        origin = _text(row[col.ORIGIN])
        if row[col.KIND] == col.KIND_INFERRED:
            function = name if origin == "AWS::Lambda" else None
            unserved = (
                "; Lambda recorded no request in this trace"
                if function is not None and str(row[col.TRACE_ID]) not in served
                else ""
            )
            text = (
                f"call to {name} as the caller saw it ({origin or 'inferred'} segment X-Ray "
                f"built from the caller's subsegment; {_flags(row)}){unserved}"
            )
        else:
            function = None
            text = f"segment {name} ({origin or 'no origin'}; {_flags(row)})"
        out.append(_traced(row, "segment", function, text))
    return out


def _traced(row: dict[str, Any], kind: StoryKind, function: str | None, text: str) -> StoryEvent:
    """An event of a request or segment row: its span, its cause and its trace."""
    return StoryEvent(
        time=row[col.START],
        kind=kind,
        function=function,
        text=text,
        duration_ms=_ms(row[col.START], row[col.END]),
        error=row[col.CAUSE],
        trace_id=_text(row[col.TRACE_ID]),
    )


def _flags(row: dict[str, Any]) -> str:
    status = row[col.HTTP_STATUS]
    parts = [f"HTTP {status}"] if status is not None else []
    throttled = bool(row.get(col.THROTTLE)) or status == 429
    parts += [
        flag
        for flag, on in (
            ("throttled", throttled),
            ("fault", bool(row.get(col.FAULT))),
            ("error", bool(row.get(col.ERROR)) and not throttled),
            ("in progress", bool(row.get(col.IN_PROGRESS))),
        )
        if on
    ]
    return ", ".join(parts) or "no status recorded"


def _state(row: dict[str, Any]) -> str:
    """failed, in progress or ok, from a row's ``failed`` and ``in_progress``."""
    return "failed" if row[c.FAILED] else "in progress" if row[col.IN_PROGRESS] else "ok"


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() * 1000.0


def _text(value: object) -> str | None:
    return None if value is None else str(value)
