"""Who called: every Lambda request attributed to its caller, as far as traces and config tell.

Three sources, in this order (README "Who called"):

1. The service segment's ``parent_id`` (per trace, ``parent_callers``): the caller's AWS SDK
   ``Lambda`` Invoke subsegment (a ``call`` row) inside the caller's document, or the caller's
   own segment. The document's origin names the kind: ``AWS::ApiGateway::Stage`` is
   ``api_gateway`` (the stage, with its ARN), ``AWS::SNS`` ``sns``, ``AWS::Events``
   ``eventbridge``; any other document that made an Invoke call is an ``sdk`` client (a
   function, by its function name, or an application, by its segment name).
2. For SQS and stream requests (no parent: pollers start a new trace), the event source
   mappings of the function in the config; stream record annotations (``event_source``) tell
   Kinesis from DynamoDB. Several candidate mappings and nothing to choose: the kind without a
   name, the reason and the candidate ARNs (no config, or no mapping: the reason).
3. Otherwise the caller left nothing in X-Ray: ``unknown`` with the reason. The one exception
   is Lambda@Edge, whose replicas are named ``us-east-1.<function>``: ``cloudfront``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.functions import MODE
from tracelens.analysis.stats import nearest_rank
from tracelens.model import schema as col

if TYPE_CHECKING:
    from tracelens.model.side import SideInputs

MODE_COLUMN = MODE  # the invoke path column of ``attribute`` and ``caller_summary``
CALLER_KIND = "caller_kind"  # api_gateway, sns, ..., sqs, kinesis, dynamodb, or unknown
CALLER_NAME = "caller_name"  # stage, topic, bus, queue, stream, function or client name
CALLER_ARN = "caller_arn"  # the caller's ARN where the data gives it
CALLER_REASON = "caller_reason"  # why the caller is unknown (or only partly known)
CANDIDATES = "candidates"  # event source ARNs that could have sent it (ambiguous mapping)
DWELL_P99_MS = "dwell_p99_ms"  # async: p99 of the dwell of the caller's events
OUTCOMES = "outcomes"  # list of struct {outcome, count}
FATES = "fates"  # list of struct {fate, count}

UNKNOWN: Final = "unknown"
#: Documents whose origin names the caller kind (xray-lambda-shapes.md §1.1, §4.1).
ORIGIN_KINDS: Final = {
    "AWS::ApiGateway::Stage": "api_gateway",
    "AWS::SNS": "sns",
    "AWS::Events": "eventbridge",
}
#: Lambda@Edge replicas are named after the region the function was created in (us-east-1).
EDGE_PREFIX: Final = "us-east-1."
_STREAM_SOURCES: Final = {"aws:kinesis": "kinesis", "aws:dynamodb": "dynamodb"}

REASON_MISSING_PARENT: Final = (
    "the caller's document (the service segment's parent) is not in the input"
)
REASON_UNTRACED_ASYNC: Final = (
    "async invoke without a caller segment: S3, SES, CloudFormation, CloudWatch Logs, "
    "CodeCommit and Config are not in X-Ray, nor SNS, EventBridge or an SDK client "
    "that is not traced"
)
REASON_UNTRACED_SYNC: Final = (
    "invoke without a caller segment: ALB, Cognito, Lex, Alexa, Kinesis Data Firehose and "
    "SDK clients that are not traced are not in X-Ray"
)
REASON_NO_CONFIG: Final = (
    "no config read: the event source mapping (config.json) names the queue or stream"
)
REASON_NO_MAPPING: Final = "no event source mapping of this function in the config"
REASON_AMBIGUOUS: Final = (
    "several event source mappings of this function could have sent it and no record "
    "annotation names its source"
)


def _unknown_origin(origin: pl.Expr) -> pl.Expr:
    return pl.format("the caller segment's origin {} is not a caller tracelens knows", origin)


def parent_callers(entities: pl.LazyFrame, services: pl.LazyFrame) -> pl.LazyFrame:
    """The caller of every service segment parent, within one partition (whole traces).

    Args:
        entities: Entity rows of a whole number of traces (``as_text``, names as text or
            categorical).
        services: Their service segment rows (``requests.service_segments``).

    Returns:
        One row per distinct (trace_id, parent_id) of a service segment: caller_kind,
        caller_name, caller_arn, caller_reason (null when the caller is known).
    """
    parents = (
        services.filter(pl.col(col.PARENT_ID).is_not_null())
        .select(col.TRACE_ID, col.PARENT_ID)
        .unique(maintain_order=True)
    )
    fields = (col.KIND, col.NAME, col.ORIGIN, col.ARN)
    # Only the parents' rows and their documents are read (semi joins first, text after).
    rows = (
        entities.filter(pl.col(col.TOP) | (pl.col(col.KIND) == col.KIND_CALL))
        .select(col.TRACE_ID, pl.col(col.ID).alias(col.PARENT_ID), col.DOC_ID, *fields)
        .join(parents, on=[col.TRACE_ID, col.PARENT_ID], how="semi")
        .unique(subset=[col.TRACE_ID, col.PARENT_ID], keep="first", maintain_order=True)
        .with_columns(pl.col(f).cast(pl.String) for f in fields)
    )
    docs = (
        entities.filter(pl.col(col.TOP))
        .select(col.TRACE_ID, pl.col(col.ID).alias(col.DOC_ID), *fields)
        .join(rows.select(col.TRACE_ID, col.DOC_ID), on=[col.TRACE_ID, col.DOC_ID], how="semi")
        .unique(subset=[col.TRACE_ID, col.DOC_ID], keep="first", maintain_order=True)
        .select(
            col.TRACE_ID,
            col.DOC_ID,
            *[pl.col(f).cast(pl.String).alias(f"doc_{f}") for f in fields],
        )
    )
    joined = parents.join(rows, on=[col.TRACE_ID, col.PARENT_ID], how="left").join(
        docs, on=[col.TRACE_ID, col.DOC_ID], how="left"
    )
    is_call = pl.col(col.KIND) == col.KIND_CALL
    # A call row stands for its document; any other parent is the caller's own segment.
    origin = pl.when(is_call).then(pl.col(f"doc_{col.ORIGIN}")).otherwise(pl.col(col.ORIGIN))
    name = pl.when(is_call).then(pl.col(f"doc_{col.NAME}")).otherwise(pl.col(col.NAME))
    arn = pl.when(is_call).then(pl.col(f"doc_{col.ARN}")).otherwise(pl.col(col.ARN))
    by_origin = origin.replace_strict(ORIGIN_KINDS, default=None, return_dtype=pl.String)
    missing = pl.col(col.KIND).is_null()
    kind = (
        pl.when(missing)
        .then(pl.lit(UNKNOWN))
        .when(by_origin.is_not_null())
        .then(by_origin)
        .when(is_call)
        .then(pl.lit("sdk"))
        .otherwise(pl.lit(UNKNOWN))
    )
    reason = (
        pl.when(missing)
        .then(pl.lit(REASON_MISSING_PARENT))
        .when(by_origin.is_null() & ~is_call)
        .then(_unknown_origin(origin.fill_null("(none)")))
    )
    return joined.select(
        col.TRACE_ID,
        col.PARENT_ID,
        kind.alias(CALLER_KIND),
        name.alias(CALLER_NAME),
        arn.alias(CALLER_ARN),
        reason.alias(CALLER_REASON),
    )


def source_name(arn: str) -> str:
    """The queue, stream or table name in an SQS, Kinesis or DynamoDB stream ARN."""
    resource = arn.split(":", 5)[-1]
    if resource.startswith("stream/"):  # Kinesis: stream/NAME
        return resource.removeprefix("stream/")
    if resource.startswith("table/"):  # DynamoDB: table/NAME/stream/LABEL
        return resource.split("/")[1]
    return resource


def _source_kind(arn: str) -> str | None:
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    return {"sqs": "sqs", "kinesis": "kinesis", "dynamodb": "dynamodb"}.get(service)


def mapping_frame(side: SideInputs) -> pl.DataFrame:
    """function, source_kind, caller_arn of every event source mapping in the config."""
    rows = sorted(
        {
            (name, kind, m.event_source_arn)
            for m in side.mappings
            if (name := m.function_name) and (kind := _source_kind(m.event_source_arn))
        }
    )
    return pl.DataFrame(
        rows,
        schema={c.FUNCTION: pl.String, "source_kind": pl.String, CALLER_ARN: pl.String},
        orient="row",
    )


def record_sources(entities: pl.LazyFrame, invocations: pl.LazyFrame) -> pl.LazyFrame:
    """The stream kind (kinesis / dynamodb) the record annotations of each request name.

    Returns:
        request, source_kind (null when its records name both or neither).
    """
    records = entities.filter(pl.col(col.KIND) == col.KIND_RECORD).select(
        pl.col(col.DOC_ID).alias(c.INVOCATION),
        pl.col(col.EVENT_SOURCE)
        .cast(pl.String)
        .replace_strict(_STREAM_SOURCES, default=None, return_dtype=pl.String)
        .alias("source_kind"),
    )
    return (
        records.drop_nulls("source_kind")
        .join(invocations.select(c.INVOCATION, c.REQUEST).drop_nulls(), on=c.INVOCATION)
        .group_by(c.REQUEST)
        .agg(pl.col("source_kind").unique())
        .select(
            c.REQUEST,
            pl.when(pl.col("source_kind").list.len() == 1)
            .then(pl.col("source_kind").list.first())
            .alias("source_kind"),
        )
    )


def attribute(
    requests: pl.LazyFrame,
    modes: pl.LazyFrame,
    parents: pl.LazyFrame,
    sources: pl.LazyFrame,
    mappings: pl.DataFrame,
    *,
    has_config: bool,
) -> pl.LazyFrame:
    """The caller of every request.

    Args:
        requests: ``requests.requests`` rows (request, function, trace_id, parent_id).
        modes: ``functions.request_modes`` output.
        parents: ``parent_callers`` of every partition.
        sources: ``record_sources`` output.
        mappings: ``mapping_frame`` output.
        has_config: whether a config.json was read.

    Returns:
        request, function, mode, caller_kind, caller_name, caller_arn, caller_reason,
        candidates (list of event source ARNs; empty unless the mapping is ambiguous).
    """
    base = (
        requests.select(c.REQUEST, pl.col(c.FUNCTION).cast(pl.String), col.TRACE_ID, col.PARENT_ID)
        .join(modes.select(c.REQUEST, MODE), on=c.REQUEST, how="left")
        .join(parents, on=[col.TRACE_ID, col.PARENT_ID], how="left")
        .join(sources, on=c.REQUEST, how="left")
    )
    mode = pl.col(MODE)
    # The kind of event source a poll request came from: sqs, the stream kind its records
    # name, else null (either stream kind).
    wanted = (
        pl.when(mode == "sqs")
        .then(pl.lit("sqs"))
        .when(mode == "stream")
        .then(pl.col("source_kind"))
        .alias("wanted")
    )
    base = base.with_columns(wanted)
    is_polled = (mode.is_in(["sqs", "stream"]) & pl.col(col.PARENT_ID).is_null()).fill_null(False)
    polled = base.filter(is_polled)
    keys = polled.select(c.FUNCTION, MODE, "wanted").unique()
    candidates = (
        keys.join(mappings.lazy(), on=c.FUNCTION, how="inner")
        .filter(
            pl.when(pl.col("wanted").is_not_null())
            .then(pl.col("source_kind") == pl.col("wanted"))
            .otherwise(pl.col("source_kind").is_in(["kinesis", "dynamodb"]))
        )
        .group_by(c.FUNCTION, MODE, "wanted")
        .agg(
            pl.col(CALLER_ARN).sort().alias(CANDIDATES),
            pl.col("source_kind").unique().sort().alias("candidate_kinds"),
        )
    )
    polled_rows = polled.join(
        candidates, on=[c.FUNCTION, MODE, "wanted"], how="left", nulls_equal=True
    ).with_columns(pl.col(CANDIDATES).fill_null(pl.lit([], dtype=pl.List(pl.String))))
    n = pl.col(CANDIDATES).list.len()
    single = n == 1
    one_kind = pl.col("candidate_kinds").list.len() == 1
    poll_kind = (
        pl.when(single | (one_kind & (n > 1)))
        .then(pl.col("candidate_kinds").list.first())
        .otherwise(pl.col("wanted"))
        .fill_null(pl.lit(UNKNOWN))
    )
    no_mapping = REASON_NO_MAPPING if has_config else REASON_NO_CONFIG
    polled_rows = polled_rows.select(
        c.REQUEST,
        c.FUNCTION,
        MODE,
        poll_kind.alias(CALLER_KIND),
        pl.when(single)
        .then(pl.col(CANDIDATES).list.first().map_elements(source_name, return_dtype=pl.String))
        .alias(CALLER_NAME),
        pl.when(single).then(pl.col(CANDIDATES).list.first()).alias(CALLER_ARN),
        pl.when(n == 0)
        .then(pl.lit(no_mapping))
        .when(n > 1)
        .then(pl.lit(REASON_AMBIGUOUS))
        .alias(CALLER_REASON),
        pl.when(n > 1)
        .then(pl.col(CANDIDATES))
        .otherwise(pl.lit([], dtype=pl.List(pl.String)))
        .alias(CANDIDATES),
    )
    # Everything else: the parent's caller, else Lambda@Edge, else unknown with the reason.
    edge = pl.col(c.FUNCTION).cast(pl.String).str.starts_with(EDGE_PREFIX)
    traced = pl.col(col.PARENT_ID).is_not_null()
    untraced_reason = pl.when(mode == "async").then(pl.lit(REASON_UNTRACED_ASYNC))
    rest = base.filter(~is_polled).select(
        c.REQUEST,
        c.FUNCTION,
        MODE,
        pl.when(traced)
        .then(pl.col(CALLER_KIND).fill_null(UNKNOWN))
        .when(edge)
        .then(pl.lit("cloudfront"))
        .otherwise(pl.lit(UNKNOWN))
        .alias(CALLER_KIND),
        pl.when(traced).then(pl.col(CALLER_NAME)).alias(CALLER_NAME),
        pl.when(traced).then(pl.col(CALLER_ARN)).alias(CALLER_ARN),
        pl.when(traced)
        .then(pl.col(CALLER_REASON))
        .when(edge)
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(untraced_reason.otherwise(pl.lit(REASON_UNTRACED_SYNC)))
        .alias(CALLER_REASON),
        pl.lit([], dtype=pl.List(pl.String)).alias(CANDIDATES),
    )
    return pl.concat([polled_rows, rest], how="vertical_relaxed")


#: The grouping keys of one caller row, in sort order after ``function``.
GROUP = (c.FUNCTION, MODE, CALLER_KIND, CALLER_NAME, CALLER_ARN, CALLER_REASON)


GID = "caller_group"  # a caller group's row in ``caller_summary``


def _counted(frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """Per caller group (``GID``): a sorted list of {column, count} structs."""
    return (
        frame.drop_nulls(column)
        .group_by(GID, column)
        .agg(pl.len().cast(pl.Int64).alias(c.COUNT))
        .sort(column)
        .group_by(GID, maintain_order=True)
        .agg(pl.struct(pl.col(column), pl.col(c.COUNT)).alias(f"{column}s"))
    )


def caller_summary(
    attributed: pl.LazyFrame,
    outcomes: pl.LazyFrame,
    events: pl.LazyFrame,
    sqs_deliveries: pl.LazyFrame,
    messages: pl.LazyFrame,
    stream_deliveries: pl.LazyFrame,
    batches: pl.LazyFrame,
) -> pl.LazyFrame:
    """One row per (function, path, caller): requests, failed, throttled, async dwell p99, and
    the outcomes and fates of the chains (async events, SQS messages, stream batches) the
    caller started.

    Sorted by function, requests (most first), then caller kind, name, ARN and reason.
    """
    # Each caller group gets a small integer id, so the per-request joins and group-bys below
    # work on it instead of six text columns (the reasons are long, and repeat per request).
    # Sorted as text; joined on the columns as they come (categorical in the pipeline).
    groups = (
        attributed.select(*GROUP)
        .unique()
        .with_columns(pl.col(name).cast(pl.String).alias(f"_{name}") for name in GROUP)
        .sort([f"_{name}" for name in GROUP], nulls_last=True)
        .drop(f"_{name}" for name in GROUP)
        .with_row_index(GID)
    )
    ids = attributed.select(c.REQUEST, CANDIDATES, *GROUP).join(
        groups, on=list(GROUP), how="left", nulls_equal=True
    )
    keyed = ids.select(c.REQUEST, GID)
    reqs = keyed.join(outcomes.select(c.REQUEST, c.FAILED, c.THROTTLED), on=c.REQUEST, how="left")
    base = reqs.group_by(GID).agg(
        pl.len().cast(pl.Int64).alias(c.REQUESTS),
        pl.col(c.FAILED).fill_null(False).sum().cast(pl.Int64).alias(c.FAILED),
        pl.col(c.THROTTLED).fill_null(False).sum().cast(pl.Int64).alias(c.THROTTLED),
    )
    # The union of the candidates of the group's requests (they share them in practice).
    candidates = (
        ids.select(GID, CANDIDATES)
        .explode(CANDIDATES)
        .group_by(GID)
        .agg(pl.col(CANDIDATES).drop_nulls().unique().sort())
    )
    # Each chain is attributed to the caller of its first request.
    async_chains = events.select(c.REQUEST, c.OUTCOME, c.FATE, c.DWELL_MS)
    sqs_chains = (
        sqs_deliveries.select(c.FUNCTION, c.MESSAGE_ID, c.REQUEST, col.START)
        .drop_nulls(c.REQUEST)
        .sort(col.START, c.REQUEST)
        .unique(subset=[c.FUNCTION, c.MESSAGE_ID], keep="first", maintain_order=True)
        .join(
            messages.select(c.FUNCTION, c.MESSAGE_ID, c.OUTCOME, c.FATE),
            on=[c.FUNCTION, c.MESSAGE_ID],
        )
        .select(c.REQUEST, c.OUTCOME, c.FATE)
    )
    stream_chains = (
        stream_deliveries.select(c.FUNCTION, c.KEY, c.REQUEST, col.START)
        .drop_nulls(c.REQUEST)
        .sort(col.START, c.REQUEST)
        .unique(subset=[c.FUNCTION, c.KEY], keep="first", maintain_order=True)
        .join(batches.select(c.FUNCTION, c.KEY, c.OUTCOME, c.FATE), on=[c.FUNCTION, c.KEY])
        .select(c.REQUEST, c.OUTCOME, c.FATE)
    )
    chains = pl.concat(
        [async_chains.drop(c.DWELL_MS), sqs_chains, stream_chains], how="vertical_relaxed"
    ).join(keyed, on=c.REQUEST, how="inner")
    dwell = (
        async_chains.join(keyed, on=c.REQUEST, how="inner")
        .group_by(GID)
        .agg(nearest_rank(pl.col(c.DWELL_MS), 99).alias(DWELL_P99_MS))
    )
    empty_outcomes = pl.lit([], dtype=pl.List(pl.Struct({c.OUTCOME: pl.String, c.COUNT: pl.Int64})))
    empty_fates = pl.lit([], dtype=pl.List(pl.Struct({c.FATE: pl.String, c.COUNT: pl.Int64})))
    return (
        groups.join(base, on=GID, how="inner")
        .join(candidates, on=GID, how="left")
        .join(dwell, on=GID, how="left")
        .join(_counted(chains, c.OUTCOME), on=GID, how="left")
        .join(_counted(chains, c.FATE), on=GID, how="left")
        .drop(GID)
        .with_columns(pl.col(name).cast(pl.String) for name in GROUP)
        .with_columns(
            pl.col(OUTCOMES).fill_null(empty_outcomes),
            pl.col(FATES).fill_null(empty_fates),
        )
        .sort(
            [c.FUNCTION, c.REQUESTS, CALLER_KIND, CALLER_NAME, CALLER_ARN, CALLER_REASON, MODE],
            descending=[False, True, False, False, False, False, False],
            nulls_last=True,
        )
    )
