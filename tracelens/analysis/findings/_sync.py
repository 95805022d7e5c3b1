"""Finding rules of sync requests and invocations: throttles, failures, duplicates, cold starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.findings._rule import MAX_EXAMPLES, Rule, agree, grouped, sentence
from tracelens.model.vocab import Severity

if TYPE_CHECKING:
    from tracelens.analysis.findings._rule import FindingInputs, Row

SYNC_THROTTLED_CRITICAL = 0.10  # share of a function's sync requests throttled: critical


def _throttles(inputs: FindingInputs) -> pl.LazyFrame | None:
    if inputs.sync is None:
        return None
    request, throttled = pl.col(c.REQUEST), pl.col(c.THROTTLED)
    share = pl.col("count") / pl.col("total")
    return (
        inputs.sync.requests.lazy()
        .group_by(c.FUNCTION)
        .agg(
            throttled.sum().cast(pl.Int64).alias("count"),
            pl.len().cast(pl.Int64).alias("total"),
            request.filter(throttled).sort().head(MAX_EXAMPLES).alias("examples"),
        )
        .with_columns(
            pl.when(share >= SYNC_THROTTLED_CRITICAL)
            .then(pl.lit(Severity.CRITICAL.value))
            .otherwise(pl.lit(Severity.WARNING.value))
            .alias("severity")
        )
    )


def _failures(inputs: FindingInputs) -> pl.LazyFrame | None:
    if inputs.sync is None:
        return None
    requests = inputs.sync.requests.lazy()
    return grouped(requests.filter(pl.col(c.FAILED) & ~pl.col(c.THROTTLED)), pl.col(c.REQUEST))


def _duplicates(inputs: FindingInputs) -> pl.LazyFrame | None:
    from tracelens.analysis.sync import EXECUTIONS, REQUESTS

    if inputs.sync is None:
        return None
    return (
        inputs.sync.calls.lazy()
        .filter(pl.col(EXECUTIONS) > 1)
        .group_by(c.FUNCTION)
        .agg(
            pl.len().cast(pl.Int64).alias("count"),
            pl.col(REQUESTS)
            .list.explode(keep_nulls=False, empty_as_null=False)
            .sort()
            .head(MAX_EXAMPLES)
            .alias("examples"),
        )
    )


def _not_reached(inputs: FindingInputs) -> pl.LazyFrame | None:
    if inputs.sync is None:
        return None
    return (
        inputs.sync.not_reached.lazy()
        .group_by(c.FUNCTION, c.CALLER)
        .agg(
            pl.len().cast(pl.Int64).alias("count"),
            pl.col("trace_id").cast(pl.String).unique().sort().head(MAX_EXAMPLES).alias("examples"),
        )
    )


def _cold_starts(inputs: FindingInputs) -> pl.LazyFrame:
    return grouped(inputs.invocations.filter(pl.col(c.COLD)), pl.coalesce(c.REQUEST, "trace_id"))


def _without_request(inputs: FindingInputs) -> pl.LazyFrame:
    """Invocations whose request is not in the data: no Lambda service segment (or
    ``<fn>/LambdaService`` span) is their parent."""
    return grouped(
        inputs.invocations.filter(pl.col(c.REQUEST).is_null()),
        pl.col("trace_id").cast(pl.String).unique(),
    )


def _not_reached_message(_: FindingInputs, row: Row) -> str:
    fn = row[c.FUNCTION]
    caller = row.get(c.CALLER) or "an unidentified caller"
    target = f" to {fn}" if fn else ""
    return (
        f"{row['count']} Lambda {agree('{call|calls}', row['count'])} from {caller}{target} "
        f"failed and Lambda recorded no request for {agree('{it|them}', row['count'])}; "
        "check the caller's invoke permission, the function name or alias it calls and the "
        "Lambda service health."
    )


SYNC_RULES = (
    Rule(
        code="SYNC_THROTTLED",
        # critical when at least SYNC_THROTTLED_CRITICAL of the function's requests were
        # throttled (decided in the plan)
        severity=lambda _, row: Severity(row["severity"]),
        plan=_throttles,
        message=sentence(
            "{count} of {total} synchronous requests to {function} were throttled (429) and "
            "failed for their callers; raise the function's reserved concurrency or the "
            "account's concurrency quota, or slow the callers down."
        ),
    ),
    Rule(
        code="SYNC_FAILURES",
        severity=Severity.WARNING,
        plan=_failures,
        message=sentence(
            "{count} synchronous {request|requests} to {function} failed with a Lambda service "
            "error or "
            "a function error; fix the errors that `tracelens explain` shows for the examples."
        ),
    ),
    Rule(
        code="SYNC_DUPLICATE_EXECUTIONS",
        severity=Severity.WARNING,
        plan=_duplicates,
        message=sentence(
            "{count} synchronous {call|calls} ran {function} more than once because the client "
            "re-sent a request the function had already run (e.g. after a read timeout); make "
            "the handler idempotent or raise the client's read timeout above the function's "
            "duration."
        ),
    ),
    Rule(
        code="LAMBDA_NOT_REACHED",
        severity=Severity.CRITICAL,
        plan=_not_reached,
        message=_not_reached_message,
    ),
    Rule(
        code="INVOCATIONS_WITHOUT_REQUEST",
        severity=Severity.WARNING,
        plan=_without_request,
        message=sentence(
            "{count} {invocation|invocations} of {function} {has|have} no Lambda service "
            "segment (or <function>/LambdaService span) in the data, so {it is|they are} not "
            "counted as requests and {its|their} invoke path, async queue time and retries are "
            "unknown; OpenTelemetry SDK spans alone show only the inside of an invocation: turn "
            "on active tracing (TracingConfig Mode=Active) so Lambda records its own segments "
            "(with Transaction Search, in aws/spans), or fetch the traces whole."
        ),
    ),
    Rule(
        code="COLD_STARTS",
        severity=Severity.INFO,
        plan=_cold_starts,
        message=sentence(
            "{count} {invocation|invocations} of {function} {was a cold start|were cold starts}; "
            "consider provisioned "
            "concurrency if their latency matters."
        ),
    ),
)
