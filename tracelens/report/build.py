"""AnalysisResults -> Report: fill every key of the tracelens.report/1 contract."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

import msgspec
import polars as pl

from tracelens.analysis import callers as callers_mod
from tracelens.analysis import columns as c
from tracelens.analysis import impact as impact_mod
from tracelens.analysis.affected import affected as affected_frame
from tracelens.analysis.functions import MODE
from tracelens.analysis.summary import summarise
from tracelens.model import schema as col
from tracelens.model.trace_ids import HEX_TRACE_ID
from tracelens.report._format import caller_label
from tracelens.report.console_links import console_prefix, regions_by_function
from tracelens.report.models import (
    SCHEMA,
    AcquisitionOut,
    AffectedEvent,
    AsyncFates,
    AsyncOutcomes,
    AsyncSection,
    CallerSummary,
    Chain,
    ErrorTypeCount,
    Finding,
    FunctionDetail,
    FunctionImpact,
    FunctionSummary,
    FunctionTimeline,
    InputSection,
    PoisonMessage,
    RejectionOut,
    Report,
    ShardPoint,
    SqsFates,
    SqsSection,
    StreamsSection,
    SyncSection,
    TimePoint,
)
from tracelens.report.models import Timeline as TimelineSection

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tracelens.analysis import AnalysisResults
    from tracelens.analysis.summary import FunctionDetails, SqsTotals
    from tracelens.analysis.timeline import Timeline
    from tracelens.model.side import Acquisition

StructT = TypeVar("StructT", bound=msgspec.Struct)


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with microseconds and a ``Z`` (``2026-11-28T01:02:03.456789Z``)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def _iso(value: datetime) -> str:
    text = iso(value)
    assert text is not None
    return text


def compact_number(value: float) -> str:
    """A histogram key written compactly: ``0.5``, ``1``, ``2000``, ``1000000``."""
    return format(Decimal(repr(round(value, 6))).normalize(), "f")


def _shaped(totals: object, struct: type[StructT]) -> StructT:
    """A contract struct from analysis totals whose attributes bear the struct's field names.

    Nested totals (statistic blocks, count dicts) become the nested structs the same way.
    """
    return msgspec.convert(totals, struct, from_attributes=True)


def _acquisition(acquisition: Acquisition | None) -> AcquisitionOut | None:
    """The report's ``input.acquisition``: the bundle's source.json and a sentence on it."""
    if acquisition is None:
        return None
    return AcquisitionOut(
        path=acquisition.path,
        segment_destination=acquisition.segment_destination,
        segment_destination_status=acquisition.segment_destination_status,
        summary_indexing_percent=acquisition.summary_indexing_percent,
        note=acquisition_note(acquisition),
    )


def acquisition_note(acquisition: Acquisition) -> str:
    """How the traces were found and what GetTraceSummaries saw, in plain words.

    Args:
        acquisition: A bundle's source.json.

    Returns:
        One or two sentences.
    """
    destination = acquisition.segment_destination
    status = acquisition.segment_destination_status
    where = (
        f"segment destination {destination}{f', {status}' if status else ''}"
        if destination
        else "segment destination unknown"
    )
    if acquisition.path == "xray":
        text = f"Traces found with GetTraceSummaries and read with BatchGetTraces ({where})."
    else:
        read = (
            "the traces read with StartTraceRetrieval"
            if acquisition.path == "transaction-search-xray"
            else "their span events read from aws/spans"
        )
        text = (
            f"CloudWatch Transaction Search ({where}): BatchGetTraces cannot see these "
            "traces, so their ids were found with Logs Insights over aws/spans and "
            f"{read}."
        )
    percent = acquisition.summary_indexing_percent
    if percent is not None:
        text += (
            f" GetTraceSummaries sees only the {compact_number(percent)}% of traces indexed "
            "as trace summaries (the indexing rule's sampling)."
        )
    elif destination == "CloudWatchLogs":
        text += " The share of traces indexed as trace summaries is unknown."
    return text


def build_report(results: AnalysisResults, *, generated_by: str) -> Report:
    """Build the report from analysis results.

    Args:
        results: What ``analyse`` returned.
        generated_by: ``"tracelens <version>"``.

    Returns:
        The report; every list is sorted deterministically.
    """
    stats = results.stats
    summary = summarise(results)
    callers = _callers(results.callers)
    top = _top_callers(callers)
    return Report(
        schema=SCHEMA,
        generated_by=generated_by,
        input=InputSection(
            files=sorted(stats.files),
            documents=stats.documents,
            duplicates=stats.duplicates,
            rejected=stats.rejected,
            rejections=[
                RejectionOut(file=r.file, line=r.line, reason=r.reason)
                for r in stats.rejections[:100]
            ],
            traces=results.traces,
            start=iso(results.start),
            end=iso(results.end),
            config=results.has_config,
            dlq_dumps=results.dlq_dumps,
            notes=list(results.side_notes),
            acquisition=_acquisition(results.acquisition),
        ),
        functions=[
            msgspec.structs.replace(_shaped(f, FunctionSummary), top_callers=top.get(f.name, []))
            for f in summary.functions
        ],
        sync=_shaped(results.sync, SyncSection),
        async_=_shaped(summary.async_, AsyncSection),
        sqs=_sqs_section(summary.sqs),
        streams=_shaped(summary.streams, StreamsSection),
        chains=_chains(
            results.chains, regions_by_function((f.name, f.arn) for f in summary.functions)
        ),
        findings=[_shaped(f, Finding) for f in results.findings],
        details=[_detail(d) for d in summary.details],
        bucket_seconds=results.details.bucket_seconds,
        timeline=_timeline(results.timeline),
        affected=_affected(results),
        impact=_impact(results),
        callers=callers,
    )


def _callers(frame: pl.DataFrame) -> list[CallerSummary]:
    """``callers[]`` from ``analysis.callers.caller_summary`` (already sorted)."""
    if frame.is_empty():
        return []
    out = []
    for row in frame.iter_rows(named=True):
        dwell = row[callers_mod.DWELL_P99_MS]
        out.append(
            CallerSummary(
                function=row[c.FUNCTION],
                path=row[MODE],
                kind=row[callers_mod.CALLER_KIND],
                name=row[callers_mod.CALLER_NAME],
                arn=row[callers_mod.CALLER_ARN],
                reason=row[callers_mod.CALLER_REASON],
                candidates=list(row[callers_mod.CANDIDATES] or []),
                requests=row[c.REQUESTS],
                failed=row[c.FAILED],
                throttled=row[c.THROTTLED],
                dwell_p99_ms=None if dwell is None else round(dwell, 3),
                outcomes={o[c.OUTCOME]: o[c.COUNT] for o in row[callers_mod.OUTCOMES]},
                fates={f[c.FATE]: f[c.COUNT] for f in row[callers_mod.FATES]},
            )
        )
    return out


def _top_callers(callers: list[CallerSummary], limit: int = 3) -> dict[str, list[str]]:
    """Each function's callers with the most requests (``callers`` is sorted that way)."""
    top: dict[str, list[str]] = {}
    for caller in callers:
        labels = top.setdefault(caller.function, [])
        label = caller_label(caller)
        if len(labels) < limit and label not in labels:
            labels.append(label)
    return top


def _timeline(timeline: Timeline) -> TimelineSection:
    """Each function's series as lists, one value per bucket (the frame is dense, sorted)."""
    series = timeline.frame.drop(c.BUCKET).group_by(c.FUNCTION, maintain_order=True).agg(pl.all())
    return TimelineSection(
        bucket_seconds=timeline.width,
        start=iso(timeline.start),
        buckets=timeline.buckets,
        functions=[FunctionTimeline(**row) for row in series.iter_rows(named=True)],
    )


def _sqs_section(s: SqsTotals) -> SqsSection:
    return SqsSection(
        messages=s.messages,
        deliveries=s.deliveries,
        redelivered_messages=s.redelivered_messages,
        max_deliveries=s.max_deliveries,
        max_receive_count=s.max_receive_count,
        deliveries_histogram=s.deliveries_histogram,
        poison_messages=[
            PoisonMessage(
                message_id=p.message_id,
                function=p.function,
                deliveries=p.deliveries,
                first_seen=_iso(p.first_seen),
                last_seen=_iso(p.last_seen),
                last_error=p.last_error,
                fate=p.fate,
            )
            for p in s.poison_messages
        ],
        evidence=s.evidence,
        fates=SqsFates(**s.fates),
    )


#: ``iso`` as a polars format (the year is always four digits, as ``isoformat`` writes it).
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"


def _iso_expr(column: str | pl.Expr) -> pl.Expr:
    """``iso`` of a UTC datetime column, computed in polars (null stays null)."""
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.dt.strftime(_ISO_FORMAT)


def _trace_urls(frame: pl.DataFrame, regions: Mapping[str, str]) -> pl.Expr:
    """Each chain's console URLs, one per trace id, or [] when its function has no region.

    The functions are grouped by region, so the expression has one branch per region. Trace
    ids are percent-encoded: the few that need it (none that ingest accepted) are looked up.
    """
    empty = pl.lit([], dtype=pl.List(pl.String))
    if not regions or frame.is_empty():
        return empty
    ids = pl.col(c.TRACE_IDS).cast(pl.List(pl.String)).fill_null([])
    unsafe = (
        frame.select(ids.explode().drop_nulls().unique())
        .filter(~pl.col(c.TRACE_IDS).str.contains(r"^[A-Za-z0-9-]*$"))
        .to_series()
        .to_list()
    )
    element = pl.element()
    if unsafe:
        element = element.replace({i: quote(i, safe="") for i in unsafe})
    by_region: dict[str, list[str]] = {}
    for function, region in sorted(regions.items()):
        by_region.setdefault(region, []).append(function)
    urls = empty
    for region, functions in sorted(by_region.items()):
        of_region = ids.list.eval(pl.lit(console_prefix(region)) + element)
        when = pl.col(c.FUNCTION).cast(pl.String).is_in(functions)
        urls = pl.when(when).then(of_region).otherwise(urls)
    # A trace id kept as 32 hex (a span's id without a time prefix) has no X-Ray console
    # view to link: such a chain gets no links at all (the list stays aligned with the ids).
    unlinkable = ids.list.eval(pl.element().str.contains(f"^{HEX_TRACE_ID.pattern}$")).list.any()
    return pl.when(unlinkable).then(empty).otherwise(urls)


def _chains(frame: pl.DataFrame, regions: Mapping[str, str] | None = None) -> list[Chain]:
    """Chain structs from the chains frame, converted column-wise and in one msgspec call.

    Times are formatted by polars, and polars writes the rows as JSON that msgspec decodes
    straight into structs: no Python object is made per row or step on the way (there can be
    tens of thousands of chains). Floats survive exactly (both sides use shortest round-trip
    text). ``regions`` (function to region, from the function ARNs) gives ``trace_urls``.
    """
    step = pl.element()
    rows = frame.select(
        pl.col(c.CHAIN_KIND).alias("kind"),
        pl.col(c.KEY).alias("key"),
        pl.col(c.FUNCTION).alias("function"),
        pl.col(c.TRACE_IDS).fill_null([]).alias("trace_ids"),
        _trace_urls(frame, regions or {}).alias("trace_urls"),
        pl.col(c.ATTEMPTS).alias("attempts"),
        pl.col(c.OUTCOME).alias("outcome"),
        pl.col(c.FATE).alias("fate"),
        pl.col(c.FATE_EVIDENCE).alias("fate_evidence"),
        pl.col(c.DWELL_MS).alias("dwell_ms"),
        _iso_expr(c.FIRST_START).alias("first_start"),
        _iso_expr(c.LAST_END).alias("last_end"),
        pl.col(c.ERRORS).fill_null([]).alias("errors"),
        pl.col(c.STEPS)
        .fill_null([])
        .list.eval(
            pl.struct(
                step.struct.field(c.STEP_KIND).alias("kind"),
                _iso_expr(step.struct.field(col.START)).alias("start"),
                _iso_expr(step.struct.field(col.END)).alias("end"),
                step.struct.field(c.ERROR).alias("error"),
                step.struct.field(col.TRACE_ID).alias("trace_id"),
            ).filter(step.struct.field(col.START).is_not_null())
        )
        .alias("steps"),
    ).write_json()
    return msgspec.json.decode(rows, type=list[Chain])


def _affected(results: AnalysisResults) -> list[AffectedEvent]:
    """The affected events, converted column-wise like the chains (there can be many)."""
    frame = affected_frame(
        results.events,
        results.units,
        results.messages,
        results.sqs_deliveries,
        results.batches,
        results.stream_deliveries,
        message_ids=results.sqs_evidence == "annotations",
    )
    frame = _with_caller(frame, results.request_callers)
    rows = frame.select(
        pl.exclude(c.KEY, "first_time", "last_time"),
        _iso_expr("first_time"),
        _iso_expr("last_time"),
    ).write_json()
    return msgspec.json.decode(rows, type=list[AffectedEvent])


def _with_caller(frame: pl.DataFrame, request_callers: pl.DataFrame) -> pl.DataFrame:
    """``caller`` of each affected row: ``kind name`` of its request's caller (``callers``)."""
    if request_callers.is_empty():
        return frame
    name = pl.col(callers_mod.CALLER_NAME)
    labels = request_callers.select(
        pl.col(c.REQUEST).alias("request_id"),
        pl.when(name.is_not_null())
        .then(pl.format("{} {}", callers_mod.CALLER_KIND, name))
        .otherwise(pl.col(callers_mod.CALLER_KIND))
        .alias("_caller"),
    ).unique(subset="request_id", keep="first", maintain_order=True)
    columns = frame.columns
    joined = frame.join(labels, on="request_id", how="left", maintain_order="left")
    return joined.with_columns(pl.col("_caller").alias("caller")).select(*columns, "caller")


def _impact(results: AnalysisResults) -> list[FunctionImpact]:
    """Per function with failures: its impact window and errors by exception type."""
    failed = impact_mod.failures(results.requests, results.invocations, results.sqs_deliveries)
    types: dict[str, list[ErrorTypeCount]] = {}
    for function, error_type, count in impact_mod.errors_by_type(failed).iter_rows():
        types.setdefault(function, []).append(ErrorTypeCount(type=error_type, count=count))
    return [
        FunctionImpact(
            function=function,
            failures=failures,
            first_failure=_iso(first),
            last_failure=_iso(last),
            errors_by_type=types.get(function, []),
        )
        for function, failures, first, last in impact_mod.impact_windows(failed).iter_rows()
    ]


def _detail(d: FunctionDetails) -> FunctionDetail:
    return FunctionDetail(
        function=d.function,
        events=d.events,
        dwell_quantiles_ms=d.dwell_quantiles_ms,
        dwell_histogram_ms={compact_number(bucket): n for bucket, n in d.dwell_histogram_ms},
        dwell_over_time=[
            TimePoint(start=_iso(t.start), count=t.count, p50=t.p50, p90=t.p90, p99=t.p99)
            for t in d.dwell_over_time
        ],
        attempts=d.attempts,
        attempts_by_outcome=d.attempts_by_outcome,
        outcomes=AsyncOutcomes(**d.outcomes),
        fates=AsyncFates(**d.fates),
        deliveries_histogram=d.deliveries_histogram,
        poison_messages=d.poison_messages,
        stream_batches=[
            ShardPoint(
                shard_id=b.shard_id, start=_iso(b.start), batches=b.batches, retried=b.retried
            )
            for b in d.stream_batches
        ],
    )
