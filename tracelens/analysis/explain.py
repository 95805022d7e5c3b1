"""explain(): the story of one request id, SQS message id or trace id, in time order."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.pipeline import AnalysisResults, analyse
from tracelens.analysis.story_events import (
    StoryEvent,
    delivery_events,
    lone_invocation_events,
    request_events,
    segment_events,
    summary_event,
    unrun_events,
)
from tracelens.errors import SelectionError
from tracelens.model import schema as col
from tracelens.model.frames import TraceFrames
from tracelens.model.trace_ids import other_trace_id_form

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
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


def _candidates(frames: TraceFrames, key: str) -> pl.DataFrame:
    """The ids ``explain`` accepts that ``key`` may name, with their trace ids.

    An id matches in any case; at least ``MIN_PREFIX`` characters also match as its start.
    Columns ``key`` (the id as the traces spell it) and ``trace_id`` (text).
    """
    folded = key.lower()
    entities = frames.entities.lazy()
    links = frames.links.lazy()

    def text(frame: pl.LazyFrame, expr: pl.Expr) -> pl.LazyFrame:
        return frame.select(
            expr.cast(pl.String).alias("key"), pl.col(col.TRACE_ID).cast(pl.String)
        ).drop_nulls("key")

    lower = pl.col("key").str.to_lowercase()
    wanted = lower.str.starts_with(folded) if len(key) >= MIN_PREFIX else lower == folded
    # A trace id given in its other spelling (32 hex for 1-<8>-<24>, or the reverse).
    alternate = other_trace_id_form(key)
    if alternate is not None:
        wanted = wanted | (lower == alternate)
    parts = [
        text(entities, pl.col(col.REQUEST_ID)),
        text(entities, pl.col(col.MESSAGE_ID)),
        text(entities, pl.col(col.TRACE_ID)),
        text(entities, pl.col(col.ID)),
        text(entities, pl.format("{}/{}", col.SHARD_ID, col.SEQUENCE_NUMBER)),
        text(links, pl.col(col.LINKED_ID)),
        text(links, pl.col(col.ID)),
    ]
    return pl.concat(parts).filter(wanted).unique().collect()


def _resolve(ids: pl.Series, key: str, wanted: str) -> str:
    """The id among ``ids`` (the candidates of ``wanted``, see ``_candidates``) that ``key``
    names, or ``wanted`` when none does."""
    if ids.is_empty() or not wanted:
        return wanted
    if ids.is_in([wanted]).any():
        return wanted
    lower = ids.str.to_lowercase()
    alternate = other_trace_id_form(wanted)
    if alternate is not None and (lower == alternate).any():
        return str(ids.filter(lower == alternate)[0])
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
    return _resolve(_candidates(frames, wanted).get_column("key").unique(), key, wanted)


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
    return explain_partitions(lambda: iter([frames]), side, key).story


@dataclass(frozen=True, slots=True)
class Explained:
    """A story and how many traces were searched for it."""

    story: Story
    traces: int


def explain_partitions(
    partitions: Callable[[], Iterator[TraceFrames]], side: SideInputs, key: str
) -> Explained:
    """``explain`` over traces held one partition at a time (each a whole number of traces).

    ``partitions()`` is called twice: once to find the key, its traces and the end of the
    data, once to collect those traces (and the traces their SQS links reach); only they
    are analysed together, so memory holds one partition and the story's traces.

    ``key`` may also be ``annotation.KEY=VALUE``: the one trace with that annotation value
    (VALUE in quotes is text; else it matches as text, and as a number or boolean when it
    reads as one), told as that trace's story.

    Raises:
        SelectionError: ``key`` is a prefix of several ids, or an annotation value is in
            several traces.
    """
    wanted = key.strip()
    by_annotation = _ANNOTATION_KEY.fullmatch(wanted)
    if by_annotation is not None:
        return _explain_annotation(partitions, side, wanted, *by_annotation.groups())
    found: list[pl.DataFrame] = []
    links: list[pl.DataFrame] = []
    ends: list[datetime] = []
    traces = 0
    stats = None
    for frames in partitions():
        found.append(_candidates(frames, wanted))
        links.append(frames.links)
        end = frames.end
        ends += [end] if end is not None else []
        traces += frames.traces
        stats = frames.stats
    candidates = pl.concat(found) if found else pl.DataFrame(schema={"key": pl.String})
    resolved = _resolve(candidates.get_column("key").unique(), key, wanted)
    all_links = pl.concat(links, rechunk=False) if links else pl.DataFrame(schema=col.LINKS)
    keep = _story_traces(candidates, all_links, resolved)
    query = "" if key == resolved else key
    if not keep:
        return Explained(Story(key=resolved, found=False, subject="", query=query), traces)
    entities = [
        frames.entities.filter(pl.col(col.TRACE_ID).cast(pl.String).is_in(keep))
        for frames in partitions()
    ]
    subset = TraceFrames(
        entities=pl.concat(entities) if entities else pl.DataFrame(schema=col.ENTITIES),
        links=all_links.filter(pl.col(col.TRACE_ID).cast(pl.String).is_in(keep)),
        stats=stats if stats is not None else TraceFrames.empty().stats,
    )
    results = analyse(subset, side, data_end=max(ends) if ends else None)
    story = _story(results, side, resolved, subset.entities)
    return Explained(replace(story, query=query), traces)


_ANNOTATION_KEY = re.compile(r"annotation\.([A-Za-z0-9_]+)\s*=\s*(.*)", re.DOTALL)


def _explain_annotation(
    partitions: Callable[[], Iterator[TraceFrames]],
    side: SideInputs,
    key: str,
    name: str,
    text: str,
) -> Explained:
    """The story of the one trace where annotation ``name`` has the value ``text``."""
    from tracelens.analysis.filter_expr import Annotation, Compare, Expr, Or
    from tracelens.analysis.trace_filter import matching_trace_ids

    values: list[str | float | bool] = []
    if len(text) >= 2 and text[0] == text[-1] == '"':
        values.append(text[1:-1])
    else:
        values.append(text)
        if text.lower() in ("true", "false"):
            values.append(text.lower() == "true")
        else:
            with contextlib.suppress(ValueError):
                values.append(float(text))
    expr: Expr = Compare(Annotation(name), "=", values[0])
    for value in values[1:]:
        expr = Or(expr, Compare(Annotation(name), "=", value))
    matched: list[str] = []
    traces = 0
    for frames in partitions():
        traces += frames.traces
        matched.extend(matching_trace_ids(frames, expr))
    matched.sort()
    if len(matched) > 1:
        shown = ", ".join(matched[:_CANDIDATES])
        more = f" and {len(matched) - _CANDIDATES} more" if len(matched) > _CANDIDATES else ""
        raise SelectionError(
            f"{key!r} is in {len(matched)} traces: {shown}{more}; explain one trace id, or "
            f"list them with: tracelens find 'annotation.{name} = ...'"
        )
    if not matched:
        return Explained(Story(key=key, found=False, subject=""), traces)
    explained = explain_partitions(partitions, side, matched[0])
    return Explained(replace(explained.story, query=key), explained.traces)


def _story_traces(candidates: pl.DataFrame, links: pl.DataFrame, key: str) -> list[str]:
    """The traces that hold ``key``, and one hop across SQS trace links from them (so the
    consumer traces of a message come along), sorted."""
    traces = set(candidates.filter(pl.col("key") == key).get_column(col.TRACE_ID).to_list())
    if not traces:
        return []
    text = links.select(
        pl.col(col.TRACE_ID).cast(pl.String), pl.col(col.LINKED_TRACE_ID).cast(pl.String)
    )
    related = text.filter(
        pl.col(col.TRACE_ID).is_in(sorted(traces))
        | pl.col(col.LINKED_TRACE_ID).is_in(sorted(traces))
    )
    traces |= set(related.get_column(col.TRACE_ID).to_list())
    traces |= set(related.get_column(col.LINKED_TRACE_ID).drop_nulls().to_list())
    return sorted(traces)


def _story(results: AnalysisResults, side: SideInputs, key: str, entities: pl.DataFrame) -> Story:
    events: list[StoryEvent] = []
    messages = results.messages.filter(pl.col("message_id") == key)
    batches = results.batches.filter(pl.col(c.KEY) == key)
    if messages.height:
        subject = "SQS message"
        deliveries = results.sqs_deliveries.filter(pl.col("message_id") == key)
        events += delivery_events(deliveries, "delivery")
        for row in messages.iter_rows(named=True):
            events.append(summary_event(row, "message"))
        requests = set(deliveries.get_column(c.REQUEST).drop_nulls().to_list())
    elif batches.height:
        subject = "stream batch"
        deliveries = results.stream_deliveries.filter(pl.col(c.KEY) == key)
        events += delivery_events(deliveries.rename({"inv_error": "error"}), "delivery")
        for row in batches.iter_rows(named=True):
            events.append(summary_event(row, "batch"))
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
        events += request_events(results, side, requests)
        events += unrun_events(results, entities, requests)
        if subject == "trace":
            events += lone_invocation_events(results)
            events += segment_events(entities)
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
