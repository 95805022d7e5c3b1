"""The cross-trace analyses: from the facts of every partition (``facts``) and the side
inputs to AnalysisResults (``analyse_facts``); ``analyse`` for frames held in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import async_events as async_mod
from tracelens.analysis import callers as callers_mod
from tracelens.analysis import columns as c
from tracelens.analysis import sqs as sqs_mod
from tracelens.analysis import streams as streams_mod
from tracelens.analysis import sync as sync_mod
from tracelens.analysis.async_config import comparable_request_ids, config_frame
from tracelens.analysis.chains import chains as build_chains
from tracelens.analysis.details import DetailFrames, bucket_seconds, details
from tracelens.analysis.facts import Facts, partition_facts
from tracelens.analysis.findings import FindingRow, findings
from tracelens.analysis.functions import function_summary, request_modes
from tracelens.analysis.requests import request_outcomes, requests
from tracelens.analysis.retry_window import retry_delays
from tracelens.analysis.selection import select
from tracelens.analysis.timeline import Timeline, timeline
from tracelens.model import schema as col

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from tracelens.model.frames import IngestStats, TraceFrames
    from tracelens.model.side import Acquisition, SideInputs
    from tracelens.model.vocab import SqsEvidence, StreamEvidence


@dataclass(frozen=True, slots=True)
class AnalysisResults:
    """Everything ``build_report`` and ``explain`` need, as eager polars frames and values."""

    stats: IngestStats
    traces: int
    start: datetime | None
    end: datetime | None
    has_config: bool
    dlq_dumps: int
    functions: pl.DataFrame  # function_summary
    requests: pl.DataFrame
    invocations: pl.DataFrame
    events: pl.DataFrame  # one row per async event
    units: pl.DataFrame  # one row per async attempt
    retry_delays: pl.DataFrame
    messages: pl.DataFrame  # one row per (function, SQS message)
    sqs_deliveries: pl.DataFrame
    sqs_evidence: SqsEvidence
    batches: pl.DataFrame  # one row per stream batch
    stream_deliveries: pl.DataFrame
    stream_evidence: StreamEvidence
    chains: pl.DataFrame
    findings: list[FindingRow]
    details: DetailFrames
    sync: sync_mod.SyncTotals  # the report's sync section (D3, D4)
    sync_requests: pl.DataFrame  # one row per sync request (analysis.sync.sync_requests)
    sync_calls: pl.DataFrame  # one row per logical sync call (analysis.sync.logical_calls)
    timeline: Timeline  # per function and time bucket (analysis.timeline)
    side_notes: tuple[str, ...] = ()  # SideInputs.notes: how side inputs were read
    acquisition: Acquisition | None = None  # SideInputs.acquisition: a bundle's source.json
    #: one row per (function, path, caller) (analysis.callers.caller_summary)
    callers: pl.DataFrame = field(default_factory=pl.DataFrame)
    #: the caller of every request (analysis.callers.attribute)
    request_callers: pl.DataFrame = field(default_factory=pl.DataFrame)


def analyse(
    frames: TraceFrames,
    side: SideInputs,
    *,
    functions: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    data_end: datetime | None = None,
) -> AnalysisResults:
    """Analyse normalised traces held in memory: their facts as one partition, then
    ``analyse_facts`` (the engine does the same per partition of a larger input).

    Args:
        frames: Normalised traces.
        side: Config and DLQ / destination dumps.
        functions: Restrict everything to these functions (empty: all): names in any case
            when unique, or function ARNs with or without qualifier.
        since: Keep requests whose service segment starts at or after this time.
        until: Keep requests whose service segment starts before this time.
        data_end: When the data ends, when ``frames`` are a subset of it; default: their end.

    Returns:
        The analysis results.

    Raises:
        SelectionError: see ``analyse_facts``.
    """
    facts = partition_facts(frames.entities, frames.links)
    return analyse_facts(
        facts,
        side,
        stats=frames.stats,
        functions=functions,
        since=since,
        until=until,
        data_end=data_end,
    )


def _window(names: Sequence[str], since: datetime | None, until: datetime | None) -> pl.Expr:
    keep = pl.lit(True)
    if names:
        keep &= pl.col(c.FUNCTION).is_in(sorted(set(names)))
    if since is not None:
        keep &= pl.col(col.START) >= pl.lit(since, dtype=col.TIME)
    if until is not None:
        keep &= pl.col(col.START) < pl.lit(until, dtype=col.TIME)
    return keep


def _names(frame: pl.DataFrame) -> list[str]:
    """The distinct function names in a frame's ``function`` column, sorted."""
    return sorted(str(n) for n in frame.get_column(c.FUNCTION).unique().drop_nulls())


def analyse_facts(
    facts: Facts,
    side: SideInputs,
    *,
    stats: IngestStats,
    functions: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    data_end: datetime | None = None,
) -> AnalysisResults:
    """The cross-trace analyses and the results, from the facts of every partition.

    Args:
        facts: ``merge_facts`` of every partition's ``partition_facts``.
        side: Config and DLQ / destination dumps.
        stats: What ingest read.
        functions: Restrict everything to these functions (see ``analyse``).
        since: Keep requests whose service segment starts at or after this time.
        until: Keep requests whose service segment starts before this time.
        data_end: When the data ends, when the facts are of a subset of it (``explain``);
            default: the end of the facts.

    Raises:
        SelectionError: A name matches no function in the traces (names match exactly, in
            any case when unique, or as a function ARN), ``since`` is not before ``until``,
            or the selection holds no Lambda request (see ``analysis.selection``).
    """
    names = select(facts, functions=functions, since=since, until=until)
    data_end = facts.end if data_end is None else data_end
    window = _window(names, since, until)
    base = _base(facts, window)
    async_ = _async_part(base, side, data_end)
    sqs = _sqs_part(base, side, data_end)
    streams = _stream_part(base, side, data_end, async_, sqs)
    request_facts = _request_facts(base, facts, window, async_, sqs, streams)
    summary_df, chains_df = pl.collect_all(
        [
            function_summary(
                base.reqs.lazy(), base.invs_l, request_facts.modes, request_facts.outcomes.lazy()
            ),
            build_chains(
                async_.events.lazy(),
                async_.units.lazy(),
                async_.delays.lazy(),
                sqs.messages.lazy(),
                sqs.deliveries.lazy(),
                streams.batches.lazy(),
                streams.deliveries.lazy(),
            ),
        ]
    )
    requests_df = base.reqs.join(
        request_facts.outcomes.drop(c.FUNCTION), on=c.REQUEST, how="left", maintain_order="left"
    )
    request_callers, callers_df = _callers(base, facts, side, async_, sqs, streams, request_facts)
    return AnalysisResults(
        stats=stats,
        traces=facts.traces,
        start=facts.start,
        end=facts.end,
        has_config=side.has_config,
        dlq_dumps=len(side.dumps),
        functions=summary_df,
        requests=requests_df,
        invocations=base.invs,
        events=async_.events,
        units=async_.units,
        retry_delays=async_.delays,
        messages=sqs.messages,
        sqs_deliveries=sqs.deliveries,
        sqs_evidence=sqs.evidence,
        batches=streams.batches,
        stream_deliveries=streams.deliveries,
        stream_evidence=streams.evidence,
        chains=chains_df,
        findings=findings(
            events=async_.events.lazy(),
            messages=sqs.messages.lazy(),
            batches=streams.batches.lazy(),
            invocations=base.invs_l,
            side=side,
            stats=stats,
            sync=request_facts.sync,
        ),
        details=details(
            async_.events.lazy(),
            sqs.messages.lazy(),
            streams.batches.lazy(),
            width=_bucket_width(facts, async_.events, streams.batches),
        ),
        sync=sync_mod.totals(request_facts.sync.requests, request_facts.sync.calls),
        sync_requests=request_facts.sync.requests,
        sync_calls=request_facts.sync.calls,
        timeline=timeline(
            functions=summary_df.get_column(c.FUNCTION).cast(pl.String).to_list(),
            requests=requests_df.lazy(),
            invocations=base.invs_l,
            events=async_.events.lazy(),
            sqs_deliveries=sqs.deliveries.lazy(),
            stream_deliveries=streams.deliveries.lazy(),
            start=facts.start,
            end=facts.end,
        ),
        side_notes=side.notes,
        acquisition=side.acquisition,
        callers=callers_df,
        request_callers=request_callers,
    )


def _callers(
    base: _Base,
    facts: Facts,
    side: SideInputs,
    async_: _AsyncPart,
    sqs: _SqsPart,
    streams: _StreamPart,
    request_facts: _RequestFacts,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The caller of every request, and the per-caller summary."""
    # The repeated text (function, path, caller, reason) is kept as categorical: one copy of
    # each reason instead of one per request.
    repeated = (
        c.FUNCTION,
        callers_mod.MODE_COLUMN,
        callers_mod.CALLER_KIND,
        callers_mod.CALLER_NAME,
        callers_mod.CALLER_ARN,
        callers_mod.CALLER_REASON,
    )
    kept = (
        callers_mod.attribute(
            base.reqs_l,
            request_facts.modes,
            facts.callers.lazy(),
            callers_mod.record_sources(base.entities, base.invs_l),
            callers_mod.mapping_frame(side),
            has_config=side.has_config,
        )
        .sort(c.FUNCTION, c.REQUEST)
        .with_columns(pl.col(name).cast(pl.Categorical) for name in repeated)
        .collect()
    )
    summary = callers_mod.caller_summary(
        kept.lazy(),
        request_facts.outcomes.lazy(),
        async_.events.lazy(),
        sqs.deliveries.lazy(),
        sqs.messages.lazy(),
        streams.deliveries.lazy(),
        streams.batches.lazy(),
    ).collect()
    return kept, summary


@dataclass(frozen=True, slots=True)
class _Base:
    """The building blocks every later step reads: entities, requests and invocations."""

    entities: pl.LazyFrame  # the dwell and record rows (Facts.entities)
    links: pl.LazyFrame
    services: pl.LazyFrame
    attempts: pl.LazyFrame
    reqs: pl.DataFrame  # requests in the window
    invs: pl.DataFrame  # their invocations, and invocations without a request in the window

    @property
    def reqs_l(self) -> pl.LazyFrame:
        return self.reqs.lazy()

    @property
    def invs_l(self) -> pl.LazyFrame:
        return self.invs.lazy()


def _base(facts: Facts, window: pl.Expr) -> _Base:
    """The requests and invocations kept by the window, and the facts they come from."""
    services = facts.services.lazy()
    reqs_lazy = requests(services).filter(window)
    kept = reqs_lazy.select(c.REQUEST).with_columns(kept=pl.lit(True))
    invs_lazy = (
        facts.invocations.lazy()
        .join(kept, on=c.REQUEST, how="left")
        .filter(pl.col("kept").fill_null(False) | (pl.col(c.REQUEST).is_null() & window))
        .drop("kept")
    )
    reqs, invs = pl.collect_all([reqs_lazy, invs_lazy])
    return _Base(
        entities=facts.entities.lazy(),
        links=facts.links.lazy(),
        services=services,
        attempts=facts.attempts.lazy(),
        reqs=reqs,
        invs=invs,
    )


@dataclass(frozen=True, slots=True)
class _AsyncPart:
    events: pl.DataFrame
    units: pl.DataFrame
    delays: pl.DataFrame


def _async_part(base: _Base, side: SideInputs, data_end: datetime | None) -> _AsyncPart:
    """Async events, their attempts and the retry delays between them."""
    events_l, units_l = async_mod.async_events(
        base.reqs_l,
        base.entities,
        base.services,
        base.attempts,
        base.invs_l,
        config=config_frame(side),
        dumped_ids=comparable_request_ids(side),
        data_end=data_end,
    )
    events, units = pl.collect_all([events_l, units_l])
    delays = retry_delays(units.lazy(), events.lazy()).collect()
    return _AsyncPart(events=events, units=units, delays=delays)


@dataclass(frozen=True, slots=True)
class _SqsPart:
    deliveries: pl.DataFrame
    evidence: SqsEvidence
    messages: pl.DataFrame
    requests: pl.DataFrame  # requests on the SQS path


def _sqs_part(base: _Base, side: SideInputs, data_end: datetime | None) -> _SqsPart:
    """SQS deliveries (by annotations, else by links), messages with fates, SQS requests."""
    deliveries = sqs_mod.annotated_deliveries(base.entities, base.invs_l).collect()
    evidence: SqsEvidence = "annotations"
    if deliveries.is_empty():
        linked = sqs_mod.linked_deliveries(base.links, base.services, base.invs_l).collect()
        consumers = _names(linked)
        deliveries = sqs_mod.separate_sends(linked, sqs_mod.visibility_timeouts(side, consumers))
        evidence = "links" if deliveries.height else "none"
    messages = sqs_mod.with_fates(
        sqs_mod.messages(deliveries.lazy()),
        side,
        _names(deliveries),
        data_end=data_end,
    ).collect()
    # Requests on the SQS path by their links, with or without a function segment.
    link_requests = sqs_mod.linked_requests(base.links, base.services, base.invs_l).collect()
    sqs_requests = pl.concat([deliveries.select(c.REQUEST).drop_nulls(), link_requests]).unique()
    return _SqsPart(
        deliveries=deliveries, evidence=evidence, messages=messages, requests=sqs_requests
    )


@dataclass(frozen=True, slots=True)
class _StreamPart:
    deliveries: pl.DataFrame
    evidence: StreamEvidence
    batches: pl.DataFrame


def _stream_part(
    base: _Base,
    side: SideInputs,
    data_end: datetime | None,
    async_: _AsyncPart,
    sqs: _SqsPart,
) -> _StreamPart:
    """Stream deliveries (by annotations, else by traces) and batches with fates."""
    deliveries = streams_mod.annotated_deliveries(base.entities, base.invs_l).collect()
    evidence: StreamEvidence = "annotations"
    if deliveries.is_empty():
        excluded = pl.concat(
            [async_.events.lazy().select(c.REQUEST), sqs.requests.lazy().select(c.REQUEST)]
        ).drop_nulls()
        deliveries = streams_mod.traced_deliveries(
            base.reqs_l, base.invs_l, excluded=excluded, stream_functions=side.stream_functions()
        ).collect()
        evidence = "traces" if deliveries.height else "none"
    batches = streams_mod.with_fates(
        streams_mod.batches(deliveries.lazy()), side, data_end=data_end
    ).collect()
    return _StreamPart(deliveries=deliveries, evidence=evidence, batches=batches)


@dataclass(frozen=True, slots=True)
class _RequestFacts:
    modes: pl.LazyFrame  # invoke path per request
    outcomes: pl.DataFrame  # throttled / failed per request (D1, D2)
    sync: sync_mod.SyncFrames  # sync requests, logical calls, LAMBDA_NOT_REACHED calls (D3)


def _request_facts(
    base: _Base,
    facts: Facts,
    window: pl.Expr,
    async_: _AsyncPart,
    sqs: _SqsPart,
    streams: _StreamPart,
) -> _RequestFacts:
    """Invoke path, throttled / failed per request, and the sync requests and calls."""
    modes = request_modes(
        base.reqs_l,
        async_requests=async_.events.lazy().select(c.REQUEST),
        sqs_requests=sqs.requests.lazy(),
        stream_requests=streams.deliveries.lazy().select(c.REQUEST).drop_nulls(),
    )
    # Throttled / failed per request (D1, D2) and the sync requests (D3): computed once,
    # read by the summary, the sync section and the findings.
    modes_df, outcomes_df = pl.collect_all(
        [modes, request_outcomes(base.reqs_l, base.attempts, base.invs_l, async_.events.lazy())]
    )
    sync_reqs, not_reached = pl.collect_all(
        [
            sync_mod.sync_requests(base.reqs_l, modes_df.lazy(), outcomes_df.lazy(), base.invs_l),
            sync_mod.lambda_not_reached(facts.not_reached.lazy(), base.services).filter(window),
        ]
    )
    sync_calls = sync_mod.logical_calls(sync_reqs.lazy()).collect()
    return _RequestFacts(
        modes=modes_df.lazy(),
        outcomes=outcomes_df,
        sync=sync_mod.SyncFrames(requests=sync_reqs, calls=sync_calls, not_reached=not_reached),
    )


def _bucket_width(facts: Facts, events: pl.DataFrame, batches: pl.DataFrame) -> int:
    """Time bucket width over the enqueue times of events and first starts of batches."""
    times = pl.concat(
        [
            events.select(pl.col(c.ENQUEUED).alias(col.START)),
            batches.select(pl.col(c.FIRST_START).alias(col.START)),
        ]
    ).get_column(col.START)
    first, last = times.min(), times.max()
    return bucket_seconds(
        first if first is not None else facts.start,  # type: ignore[arg-type]
        last if last is not None else facts.end,  # type: ignore[arg-type]
    )
