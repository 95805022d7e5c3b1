"""explain(): the story of one request id, SQS message id or trace id, in time order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from tracelens.analysis import _columns as c
from tracelens.analysis.pipeline import AnalysisResults, analyse_with_end
from tracelens.model import schema as col
from tracelens.model.frames import TraceFrames

if TYPE_CHECKING:
    from datetime import datetime

    from tracelens.model.side import SideInputs

# Order of events that share a timestamp.
_ORDER = {
    "enqueue": 0,
    "dwell": 1,
    "wait": 2,
    "attempt": 3,
    "invocation": 3,
    "delivery": 3,
    "outcome": 4,
    "fate": 5,
    "dlq": 6,
}


@dataclass(frozen=True, slots=True)
class StoryEvent:
    """One thing that happened to the explained key.

    ``kind`` is one of enqueue, dwell, attempt, wait, invocation, delivery, outcome, fate,
    dlq. ``text`` and ``error`` come from traces and dumps: untrusted, escape before display.
    """

    time: datetime | None
    kind: str
    function: str | None
    text: str
    duration_ms: float | None = None
    error: str | None = None
    trace_id: str | None = None


@dataclass(frozen=True, slots=True)
class Story:
    """The time-ordered story of one key; ``found`` is false when nothing matched it."""

    key: str
    found: bool
    subject: str  # "async event", "request", "SQS message", "stream batch", "trace" or ""
    trace_ids: tuple[str, ...] = ()
    events: tuple[StoryEvent, ...] = ()


def explain(frames: TraceFrames, side: SideInputs, key: str) -> Story:
    """Tell what happened to one request id, SQS message id, stream batch key or trace id.

    Args:
        frames: Normalised traces.
        side: Config and DLQ / destination dumps (for fates and DLQ records).
        key: A Lambda request id, an SQS message id, a stream batch key
            (``shard/sequence``) or an X-Ray trace id.

    Returns:
        The story; ``story.found`` is false when the key matches nothing.
    """
    entities = frames.entities
    hits = entities.filter(
        (pl.col(col.REQUEST_ID) == key)
        | (pl.col(col.MESSAGE_ID) == key)
        | (pl.col(col.TRACE_ID) == key)
        | (pl.col(col.ID) == key)
        | (pl.format("{}/{}", col.SHARD_ID, col.SEQUENCE_NUMBER) == key)
    ).get_column(col.TRACE_ID)
    link_hits = frames.links.filter(
        (pl.col(col.LINKED_ID) == key) | (pl.col(col.ID) == key)
    ).get_column(col.TRACE_ID)
    traces = set(hits.to_list()) | set(link_hits.to_list())
    if not traces:
        return Story(key=key, found=False, subject="")
    # One hop across SQS trace links, so the consumer traces of a message come along.
    related = frames.links.filter(
        pl.col(col.TRACE_ID).is_in(sorted(traces))
        | pl.col(col.LINKED_TRACE_ID).is_in(sorted(traces))
    )
    traces |= set(related.get_column(col.TRACE_ID).to_list())
    traces |= set(related.get_column(col.LINKED_TRACE_ID).drop_nulls().to_list())
    keep = sorted(traces)
    subset = TraceFrames(
        entities=entities.filter(pl.col(col.TRACE_ID).is_in(keep)),
        links=frames.links.filter(pl.col(col.TRACE_ID).is_in(keep)),
        stats=frames.stats,
    )
    results = analyse_with_end(subset, side, data_end=frames.end)
    return _story(results, side, key)


def _story(results: AnalysisResults, side: SideInputs, key: str) -> Story:
    events: list[StoryEvent] = []
    messages = results.messages.filter(pl.col("message_id") == key)
    batches = results.batches.filter(pl.col(c.KEY) == key)
    if messages.height:
        subject = "SQS message"
        deliveries = results.sqs_deliveries.filter(pl.col("message_id") == key)
        events += _deliveries(deliveries, "delivery")
        for row in messages.iter_rows(named=True):
            events.append(_summary(row, "message"))
        requests = set(deliveries.get_column(c.REQUEST).drop_nulls().to_list())
    elif batches.height:
        subject = "stream batch"
        deliveries = results.stream_deliveries.filter(pl.col(c.KEY) == key)
        events += _deliveries(deliveries.rename({"inv_error": "error"}), "delivery")
        for row in batches.iter_rows(named=True):
            events.append(_summary(row, "batch"))
        requests = set(deliveries.get_column(c.REQUEST).drop_nulls().to_list())
    else:
        by_request = results.requests.filter(pl.col(c.REQUEST) == key)
        if by_request.height:
            requests = {key}
            is_async = results.events.filter(pl.col(c.REQUEST) == key).height > 0
            subject = "async event" if is_async else "request"
        else:
            requests = set(results.requests.get_column(c.REQUEST).to_list())
            subject = "trace"
        events += _requests(results, side, requests)
    if not events:
        return Story(key=key, found=False, subject="")
    trace_ids = {e.trace_id for e in events if e.trace_id}
    trace_ids |= set(
        results.requests.filter(pl.col(c.REQUEST).is_in(sorted(requests)))
        .get_column(col.TRACE_ID)
        .to_list()
    )
    ordered = sorted(
        events,
        key=lambda e: (
            e.time is None,
            e.time.isoformat() if e.time else "",
            _ORDER.get(e.kind, 9),
            e.text,
        ),
    )
    return Story(
        key=key,
        found=True,
        subject=subject,
        trace_ids=tuple(sorted(trace_ids)),
        events=tuple(ordered),
    )


def _summary(row: dict[str, Any], what: str) -> StoryEvent:
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


def _deliveries(deliveries: pl.DataFrame, kind: str) -> list[StoryEvent]:
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
        state = "failed" if row[c.FAILED] else "in progress" if row[col.IN_PROGRESS] else "ok"
        out.append(
            StoryEvent(
                time=row[col.START],
                kind=kind,
                function=row[c.FUNCTION],
                text=f"{kind} {number} ({state}{extra}), request {row[c.REQUEST]}",
                duration_ms=_ms(row[col.START], row[col.END]),
                error=row.get("error") if row[c.FAILED] else None,
                trace_id=row[col.TRACE_ID],
            )
        )
        previous_end = row[col.END]
    return out


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() * 1000.0


def _requests(results: AnalysisResults, side: SideInputs, requests: set[str]) -> list[StoryEvent]:
    keys = sorted(requests)
    out: list[StoryEvent] = []
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
    for ev in async_events.iter_rows(named=True):
        request, fn = ev[c.REQUEST], ev[c.FUNCTION]
        out.append(
            StoryEvent(
                time=ev[c.ENQUEUED],
                kind="enqueue",
                function=fn,
                text=f"async event {request} accepted (202) and queued",
                trace_id=ev[col.TRACE_ID],
            )
        )
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
        units = results.units.filter(pl.col(c.REQUEST) == request).sort(c.N)
        for delay in results.retry_delays.filter(pl.col(c.REQUEST) == request).iter_rows(
            named=True
        ):
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
            state = "failed" if unit[c.FAILED] else "in progress" if unit[col.IN_PROGRESS] else "ok"
            out.append(
                StoryEvent(
                    time=unit[col.START],
                    kind="attempt",
                    function=fn,
                    text=f"attempt {unit[c.N]} ({state})",
                    duration_ms=_ms(unit[col.START], unit[col.END]),
                    error=unit["error"],
                    trace_id=unit[col.TRACE_ID],
                )
            )
        last = ev[c.LAST_END]
        if last is None and units.height:
            last = units.get_column(col.START).max()
        out.append(
            StoryEvent(
                time=last or ev[c.ENQUEUED],
                kind="outcome",
                function=fn,
                text=f"outcome: {ev[c.OUTCOME]} after {ev[c.ATTEMPTS]} attempts "
                f"(MaximumRetryAttempts {ev['max_retry']})",
            )
        )
        if ev[c.FATE] is not None:
            out.append(
                StoryEvent(
                    time=last or ev[c.ENQUEUED],
                    kind="fate",
                    function=fn,
                    text=_fate_text(ev[c.FATE]),
                )
            )
        if request in dlq:
            dump, message = dlq[request]
            out.append(
                StoryEvent(
                    time=last or ev[c.ENQUEUED],
                    kind="dlq",
                    function=fn,
                    text=f"found in DLQ dump {dump.source} ({dump.queue_arn or 'queue unknown'}), "
                    f"ErrorCode {message.error_code}",
                    error=message.error_message,
                )
            )
        if request in records:
            dump, record = records[request]
            out.append(
                StoryEvent(
                    time=last or ev[c.ENQUEUED],
                    kind="dlq",
                    function=fn,
                    text=f"on-failure record in {dump.source}: condition {record.condition}, "
                    f"approximateInvokeCount {record.approximate_invoke_count}",
                )
            )
    plain = results.requests.filter(
        pl.col(c.REQUEST).is_in(keys)
        & ~pl.col(c.REQUEST).is_in(async_events.get_column(c.REQUEST).to_list())
    )
    invocations = results.invocations.join(plain.select(c.REQUEST), on=c.REQUEST, how="semi")
    for inv in invocations.sort(col.START, c.INVOCATION, nulls_last=True).iter_rows(named=True):
        state = "failed" if inv[c.FAILED] else "in progress" if inv[col.IN_PROGRESS] else "ok"
        cold = ", cold start" if inv[c.COLD] else ""
        out.append(
            StoryEvent(
                time=inv[col.START],
                kind="invocation",
                function=inv[c.FUNCTION],
                text=f"invocation of request {inv[c.REQUEST]} ({state}{cold})",
                duration_ms=inv[c.DURATION_MS],
                error=inv["inv_error"],
                trace_id=inv[col.TRACE_ID],
            )
        )
    return out


def _fate_text(fate: str) -> str:
    return {
        "sent": "fate: sent to the DLQ / on-failure destination",
        "missing": "fate: MISSING from the supplied DLQ / destination dump",
        "dropped": "fate: DROPPED (no DLQ or on-failure destination configured)",
        "unknown": "fate: unknown (no config for this function)",
    }.get(fate, f"fate: {fate}")
