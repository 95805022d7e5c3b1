"""explain(): the story of one request id, SQS message id or trace id, in time order."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.pipeline import AnalysisResults, analyse_with_end
from tracelens.errors import SelectionError
from tracelens.model import schema as col
from tracelens.model.frames import TraceFrames

if TYPE_CHECKING:
    from datetime import datetime

    from tracelens.model.side import SideInputs
    from tracelens.model.vocab import StoryKind

#: The shortest key matched as a prefix of a longer id.
MIN_PREFIX = 8
#: How many candidates an ambiguous prefix lists.
_CANDIDATES = 5
#: What ``explain`` searches, for messages.
SEARCHED = (
    "request ids, SQS message ids, stream batch keys (shard/sequence), trace ids and segment ids"
)

# Order of events that share a timestamp.
_ORDER: dict[StoryKind, int] = {
    "segment": 0,
    "enqueue": 0,
    "request": 1,
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


@dataclass(frozen=True, slots=True)
class Story:
    """The time-ordered story of one key; ``found`` is false when nothing matched it.

    ``key`` is the id as the traces spell it; ``query`` is what was asked for (a prefix or a
    different case of ``key``; empty when it was ``key`` itself).
    """

    key: str
    found: bool
    subject: str  # "async event", "request", "SQS message", "stream batch", "trace" or ""
    trace_ids: tuple[str, ...] = ()
    events: tuple[StoryEvent, ...] = ()
    query: str = ""


def _searchable(frames: TraceFrames) -> pl.Series:
    """Every distinct id ``explain`` accepts, as text."""
    entities = frames.entities.lazy()
    links = frames.links.lazy()

    def text(frame: pl.LazyFrame, expr: pl.Expr) -> pl.LazyFrame:
        return frame.select(expr.cast(pl.String).alias("key")).drop_nulls()

    parts = [
        text(entities, pl.col(col.REQUEST_ID)),
        text(entities, pl.col(col.MESSAGE_ID)),
        text(entities, pl.col(col.TRACE_ID)),
        text(entities, pl.col(col.ID)),
        text(entities, pl.format("{}/{}", col.SHARD_ID, col.SEQUENCE_NUMBER)),
        text(links, pl.col(col.LINKED_ID)),
        text(links, pl.col(col.ID)),
    ]
    return pl.concat(parts).unique().collect().get_column("key")


def resolve_key(frames: TraceFrames, key: str) -> str:
    """The id ``key`` names: itself, the same id in another case, or a unique prefix.

    A key of at least ``MIN_PREFIX`` characters that is no whole id is matched, in any
    case, as the start of the ids ``explain`` searches.

    Args:
        frames: Normalised traces.
        key: What the user typed.

    Returns:
        The id as the traces spell it, or ``key`` unchanged when nothing matches.

    Raises:
        SelectionError: ``key`` is the prefix (or another case) of several ids.
    """
    wanted = key.strip()
    ids = _searchable(frames)
    if ids.is_empty() or not wanted:
        return wanted
    if ids.is_in([wanted]).any():
        return wanted
    lower = ids.str.to_lowercase()
    folded = wanted.lower()
    same = ids.filter(lower == folded)
    if same.len() == 0 and len(wanted) >= MIN_PREFIX:
        same = ids.filter(lower.str.starts_with(folded))
    matches = sorted(same.to_list())
    if len(matches) == 1:
        return str(matches[0])
    if len(matches) > 1:
        shown = ", ".join(matches[:_CANDIDATES])
        more = f", ... ({len(matches) - _CANDIDATES} more)" if len(matches) > _CANDIDATES else ""
        raise SelectionError(
            f"{key!r} matches {len(matches)} ids: {shown}{more}; give more characters"
        )
    return wanted


def explain(frames: TraceFrames, side: SideInputs, key: str) -> Story:
    """Tell what happened to one request id, SQS message id, stream batch key or trace id.

    Every trace id of the traces is found, whatever it holds (only a caller's segment, only
    an inferred segment, only a function or a service segment), and so is every request id
    ``analyse`` counts. Ids match in any case and by a unique prefix of at least
    ``MIN_PREFIX`` characters (``resolve_key``).

    Args:
        frames: Normalised traces.
        side: Config and DLQ / destination dumps (for fates and DLQ records).
        key: A Lambda request id, an SQS message id, a stream batch key
            (``shard/sequence``), an X-Ray trace id or a segment id, or a prefix of one.

    Returns:
        The story; ``story.found`` is false when the key matches nothing.

    Raises:
        SelectionError: ``key`` is a prefix of several ids.
    """
    query = key
    key = resolve_key(frames, key)
    story = _explain(frames, side, key)
    return replace(story, query="" if query == key else query)


def _explain(frames: TraceFrames, side: SideInputs, key: str) -> Story:
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
    return _story(results, side, key, subset.entities)


def _story(results: AnalysisResults, side: SideInputs, key: str, entities: pl.DataFrame) -> Story:
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
        events += _unrun(results, entities, requests)
        if subject == "trace":
            events += _lone_invocations(results)
            events += _segments(entities)
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


def _deliveries(deliveries: pl.DataFrame, kind: StoryKind) -> list[StoryEvent]:
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
                    text=_fate_text(ev[c.FATE]) + _EVIDENCE.get(ev.get(c.FATE_EVIDENCE) or "", ""),
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


def _unrun(
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
    out = []
    for row in rows.iter_rows(named=True):
        out.append(
            StoryEvent(
                time=row[col.START],
                kind="request",
                function=_text(row[c.FUNCTION]),
                text=f"request {row[c.REQUEST]} to Lambda ({_flags(row)}); no invocation "
                "recorded: the function did not run for it, or ran untraced",
                duration_ms=_ms(row[col.START], row[col.END]),
                error=row[col.CAUSE],
                trace_id=_text(row[col.TRACE_ID]),
            )
        )
    return out


def _lone_invocations(results: AnalysisResults) -> list[StoryEvent]:
    """Function segments with no Lambda service segment in the traces."""
    lone = results.invocations.filter(pl.col(c.REQUEST).is_null())
    out = []
    for inv in lone.sort(col.START, c.INVOCATION, nulls_last=True).iter_rows(named=True):
        state = "failed" if inv[c.FAILED] else "in progress" if inv[col.IN_PROGRESS] else "ok"
        cold = ", cold start" if inv[c.COLD] else ""
        out.append(
            StoryEvent(
                time=inv[col.START],
                kind="invocation",
                function=_text(inv[c.FUNCTION]),
                text=f"invocation {inv[c.INVOCATION]} ({state}{cold}); the trace holds no "
                "Lambda service segment for it, so its request id is unknown",
                duration_ms=inv[c.DURATION_MS],
                error=inv["inv_error"],
                trace_id=_text(inv[col.TRACE_ID]),
            )
        )
    return out


def _segments(entities: pl.DataFrame) -> list[StoryEvent]:
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
        out.append(
            StoryEvent(
                time=row[col.START],
                kind="segment",
                function=function,
                text=text,
                duration_ms=_ms(row[col.START], row[col.END]),
                error=row[col.CAUSE],
                trace_id=_text(row[col.TRACE_ID]),
            )
        )
    return out


def _text(value: object) -> str | None:
    return None if value is None else str(value)


#: How a fate is known (``fate_evidence``), appended to the fate line.
_EVIDENCE = {
    "dump": " (checked in the dump)",
    "config": " (per the config; not checked against a dump)",
    "none": " (not checked: supply `--config` and a dump with request ids)",
}


def _fate_text(fate: str) -> str:
    return {
        "sent": "fate: sent to the DLQ / on-failure destination",
        "missing": "fate: MISSING from the supplied DLQ / destination dump",
        "dropped": "fate: DROPPED (no DLQ or on-failure destination configured)",
        "unknown": "fate: unknown (no config for this function)",
    }.get(fate, f"fate: {fate}")
