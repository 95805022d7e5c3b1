"""analyse(): run every analysis over TraceFrames and side inputs into AnalysisResults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import _columns as c
from tracelens.analysis import async_events as async_mod
from tracelens.analysis import sqs as sqs_mod
from tracelens.analysis import streams as streams_mod
from tracelens.analysis import sync as sync_mod
from tracelens.analysis._expr import as_text
from tracelens.analysis.chains import chains as build_chains
from tracelens.analysis.details import DetailFrames, bucket_seconds, details
from tracelens.analysis.findings import FindingRow, findings
from tracelens.analysis.functions import function_summary, request_modes
from tracelens.analysis.invocations import attempt_rows, invocations
from tracelens.analysis.requests import request_outcomes, requests, service_segments
from tracelens.analysis.selection import select
from tracelens.model import schema as col

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from tracelens.model.frames import IngestStats, TraceFrames
    from tracelens.model.side import SideInputs
    from tracelens.model.vocab import SqsEvidence, StreamEvidence

# Entity columns the analyses join and group on as they are: categorical (see ``as_text``).
_CATEGORICAL = (col.TRACE_ID, col.KIND, col.NAME, col.ARN)


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
    side_notes: tuple[str, ...] = ()  # SideInputs.notes: how side inputs were read


def analyse(
    frames: TraceFrames,
    side: SideInputs,
    *,
    functions: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> AnalysisResults:
    """Analyse normalised traces: requests, async events, SQS messages, stream batches.

    Args:
        frames: Normalised traces.
        side: Config and DLQ / destination dumps.
        functions: Restrict everything to these functions (empty: all): names in any case
            when unique, or function ARNs with or without qualifier.
        since: Keep requests whose service segment starts at or after this time.
        until: Keep requests whose service segment starts before this time.

    Returns:
        The analysis results.

    Raises:
        SelectionError: A name matches no function in the traces (names match exactly, in
            any case when unique, or as a function ARN), ``since`` is not before ``until``,
            or the selection holds no Lambda request (see ``analysis.selection``).
    """
    names = select(frames, functions=functions, since=since, until=until)
    return analyse_with_end(
        frames, side, functions=names, since=since, until=until, data_end=frames.end
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


def analyse_with_end(
    frames: TraceFrames,
    side: SideInputs,
    *,
    functions: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    data_end: datetime | None,
) -> AnalysisResults:
    """``analyse`` with an explicit "when the data ends" (for analysing a subset of frames)."""
    entities = as_text(frames.entities.lazy(), keep=_CATEGORICAL)
    links = as_text(frames.links.lazy())
    window = _window(functions, since, until)
    # Materialise the small building blocks once: every later plan reuses them.
    services_df, attempts_df = pl.collect_all(
        [service_segments(entities), attempt_rows(entities, service_segments(entities))]
    )
    services, attempts = services_df.lazy(), attempts_df.lazy()
    reqs_lazy = requests(services).filter(window)
    invs_lazy = invocations(entities, services, attempts)
    kept = reqs_lazy.select(c.REQUEST).with_columns(kept=pl.lit(True))
    invs_lazy = sqs_mod.with_error_columns(
        invs_lazy.join(kept, on=c.REQUEST, how="left")
        .filter(pl.col("kept").fill_null(False) | (pl.col(c.REQUEST).is_null() & window))
        .drop("kept")
    )
    reqs, invs = pl.collect_all([reqs_lazy, invs_lazy])
    reqs_l, invs_l = reqs.lazy(), invs.lazy()

    dumped = async_mod.comparable_request_ids(side)
    events_l, units_l = async_mod.async_events(
        reqs_l,
        entities,
        services,
        attempts,
        invs_l,
        config=async_mod.config_frame(side),
        dumped_ids=dumped,
        data_end=data_end,
    )
    events, units = pl.collect_all([events_l, units_l])
    delays = async_mod.retry_delays(units.lazy(), events.lazy()).collect()

    sqs_deliveries = sqs_mod.annotated_deliveries(entities, invs_l).collect()
    sqs_evidence: SqsEvidence = "annotations"
    if sqs_deliveries.is_empty():
        linked = sqs_mod.linked_deliveries(links, services, invs_l).collect()
        consumers = _names(linked)
        sqs_deliveries = sqs_mod.separate_sends(
            linked, sqs_mod.visibility_timeouts(side, consumers)
        )
        sqs_evidence = "links" if sqs_deliveries.height else "none"
    messages = sqs_mod.with_fates(
        sqs_mod.messages(sqs_deliveries.lazy()),
        side,
        _names(sqs_deliveries),
        data_end=data_end,
    ).collect()
    # Requests on the SQS path by their links, with or without a function segment.
    link_requests = sqs_mod.linked_requests(links, services, invs_l).collect()
    sqs_requests = pl.concat(
        [sqs_deliveries.select(c.REQUEST).drop_nulls(), link_requests]
    ).unique()

    stream_deliveries = streams_mod.annotated_deliveries(entities, invs_l).collect()
    stream_evidence: StreamEvidence = "annotations"
    if stream_deliveries.is_empty():
        excluded = pl.concat(
            [events.lazy().select(c.REQUEST), sqs_requests.lazy().select(c.REQUEST)]
        ).drop_nulls()
        stream_deliveries = streams_mod.traced_deliveries(
            reqs_l, invs_l, excluded=excluded, stream_functions=side.stream_functions()
        ).collect()
        stream_evidence = "traces" if stream_deliveries.height else "none"
    batches = streams_mod.with_fates(
        streams_mod.batches(stream_deliveries.lazy()), side, data_end=data_end
    ).collect()

    modes = request_modes(
        reqs_l,
        async_requests=events.lazy().select(c.REQUEST),
        sqs_requests=sqs_requests.lazy(),
        stream_requests=stream_deliveries.lazy().select(c.REQUEST).drop_nulls(),
    )
    # Throttled / failed per request (D1, D2) and the sync requests (D3): computed once,
    # read by the summary, the sync section and the findings.
    modes_df, outcomes_df = pl.collect_all(
        [modes, request_outcomes(reqs_l, attempts, invs_l, events.lazy())]
    )
    modes, outcomes = modes_df.lazy(), outcomes_df.lazy()
    sync_reqs, not_reached = pl.collect_all(
        [
            sync_mod.sync_requests(reqs_l, modes, outcomes, invs_l),
            sync_mod.lambda_not_reached(entities, services).filter(window),
        ]
    )
    sync_calls = sync_mod.logical_calls(sync_reqs.lazy()).collect()
    summary = function_summary(reqs_l, invs_l, modes, outcomes)
    chain_plan = build_chains(
        events.lazy(),
        units.lazy(),
        delays.lazy(),
        messages.lazy(),
        sqs_deliveries.lazy(),
        batches.lazy(),
        stream_deliveries.lazy(),
    )
    summary_df, chains_df = pl.collect_all([summary, chain_plan])

    times = pl.concat(
        [
            events.select(pl.col(c.ENQUEUED).alias(col.START)),
            batches.select(pl.col(c.FIRST_START).alias(col.START)),
        ]
    ).get_column(col.START)
    first, last = times.min(), times.max()
    width = bucket_seconds(
        first if first is not None else frames.start,  # type: ignore[arg-type]
        last if last is not None else frames.end,  # type: ignore[arg-type]
    )
    return AnalysisResults(
        stats=frames.stats,
        traces=frames.traces,
        start=frames.start,
        end=frames.end,
        has_config=side.has_config,
        dlq_dumps=len(side.dumps),
        functions=summary_df,
        requests=reqs.join(
            outcomes_df.drop(c.FUNCTION), on=c.REQUEST, how="left", maintain_order="left"
        ),
        invocations=invs,
        events=events,
        units=units,
        retry_delays=delays,
        messages=messages,
        sqs_deliveries=sqs_deliveries,
        sqs_evidence=sqs_evidence,
        batches=batches,
        stream_deliveries=stream_deliveries,
        stream_evidence=stream_evidence,
        chains=chains_df,
        findings=findings(
            events=events.lazy(),
            messages=messages.lazy(),
            batches=batches.lazy(),
            invocations=invs_l,
            side=side,
            stats=frames.stats,
            sync=sync_mod.SyncFrames(requests=sync_reqs, calls=sync_calls, not_reached=not_reached),
        ),
        details=details(events.lazy(), messages.lazy(), batches.lazy(), width=width),
        sync=sync_mod.totals(sync_reqs, sync_calls),
        sync_requests=sync_reqs,
        sync_calls=sync_calls,
        side_notes=side.notes,
    )
