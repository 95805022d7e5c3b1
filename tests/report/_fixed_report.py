"""A small, fixed Report covering every section, for the renderer golden tests.

Hostile strings (rich markup, HTML, Markdown table syntax) sit in every untrusted field, so
the golden files show them literally.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from tracelens.report.models import (
    SCHEMA,
    AcquisitionOut,
    AffectedEvent,
    AsyncFates,
    AsyncFatesEvidence,
    AsyncOutcomes,
    AsyncSection,
    CallerSummary,
    Chain,
    ChainStep,
    ErrorTypeCount,
    Finding,
    FunctionImpact,
    FunctionSummary,
    FunctionTimeline,
    InputSection,
    Modes,
    PoisonMessage,
    RejectionOut,
    Report,
    SqsFates,
    SqsSection,
    Stats,
    StreamFates,
    StreamsSection,
    SyncSection,
    Timeline,
)

GOLDEN = Path(__file__).parent / "golden"

MARKUP_FUNCTION = "[bold]x[/]"
SCRIPT_FUNCTION = "<script>alert(1)</script>"
TABLE_ERROR = "ValueError: bad | pipe *star* _under_ `tick` [link](http://x)"

EMPTY_STATS = Stats(count=0, min=None, p50=None, p90=None, p99=None, max=None, mean=None)


def _stats(
    count: int, low: float, p50: float, p90: float, p99: float, high: float, mean: float
) -> Stats:
    return Stats(count=count, min=low, p50=p50, p90=p90, p99=p99, max=high, mean=mean)


def fixed_report() -> Report:
    """Every section filled, hostile text included."""
    return Report(
        schema=SCHEMA,
        generated_by="tracelens 0.0.0-test",
        input=InputSection(
            files=["bundle/traces.ndjson", "extra/[red]odd[/] name.json"],
            documents=1234,
            duplicates=3,
            rejected=7,
            rejections=[
                RejectionOut(
                    file="bundle/traces.ndjson",
                    line=17,
                    reason="segment document has no 'trace_id'",
                ),
                RejectionOut(
                    file="extra/[red]odd[/] name.json", line=None, reason="empty file <b>"
                ),
                RejectionOut(file="bundle/traces.ndjson", line=40, reason="invalid JSON"),
                RejectionOut(file="bundle/traces.ndjson", line=41, reason="invalid JSON"),
                RejectionOut(file="bundle/traces.ndjson", line=42, reason="invalid JSON"),
                RejectionOut(file="bundle/traces.ndjson", line=43, reason="invalid JSON"),
                RejectionOut(file="bundle/traces.ndjson", line=44, reason="invalid JSON"),
            ],
            traces=210,
            start="2026-11-28T01:00:00.000000Z",
            end="2026-11-28T01:30:00.123456Z",
            config=True,
            dlq_dumps=1,
            notes=[
                "dlq/[red]x[/] <b>.json has no QueueArn; taken as the only configured DLQ "
                "arn:aws:sqs:us-east-1:123456789012:orders-dlq",
            ],
            acquisition=AcquisitionOut(
                path="transaction-search-xray",
                segment_destination="CloudWatchLogs",
                segment_destination_status="ACTIVE",
                summary_indexing_percent=1.0,
                note=(
                    "CloudWatch Transaction Search (segment destination CloudWatchLogs, "
                    "ACTIVE): BatchGetTraces cannot see these traces, so their ids were found "
                    "with Logs Insights over aws/spans and the traces "
                    "read with StartTraceRetrieval. GetTraceSummaries sees only the 1% of "
                    "traces indexed as trace summaries (the indexing rule's sampling)."
                ),
            ),
        ),
        functions=[
            FunctionSummary(
                name=SCRIPT_FUNCTION,
                arn=None,
                requests=3,
                invocations=4,
                cold_starts=1,
                failed_invocations=2,
                failed_requests=2,
                throttles=1,
                modes=Modes(sync=3, async_=0, sqs=0, stream=0, unknown=0),
                duration_ms=_stats(4, 12.5, 20.0, 31.0, 31.0, 31.0, 22.125),
                top_callers=["api_gateway <b>shop</b>|api/prod"],
            ),
            FunctionSummary(
                name=MARKUP_FUNCTION,
                arn="arn:aws:lambda:us-east-1:123456789012:function:x",
                requests=200,
                invocations=260,
                cold_starts=5,
                failed_invocations=70,
                failed_requests=15,
                throttles=2,
                modes=Modes(sync=0, async_=180, sqs=20, stream=0, unknown=0),
                duration_ms=_stats(260, 3.25, 48.0, 910.5, 2999.0, 3000.0, 201.75),
                top_callers=["sns [red]orders[/]", "unknown", "sqs"],
            ),
            FunctionSummary(
                name="stream-processor",
                arn=None,
                requests=10,
                invocations=12,
                cold_starts=1,
                failed_invocations=2,
                failed_requests=1,
                throttles=0,
                modes=Modes(sync=0, async_=0, sqs=0, stream=10, unknown=0),
                duration_ms=EMPTY_STATS,
            ),
        ],
        sync=SyncSection(
            requests=3, succeeded=1, failed=2, throttled=1, client_retries=1, duplicate_executions=1
        ),
        async_=AsyncSection(
            events=180,
            dwell_ms=_stats(180, 5.0, 40.0, 950.0, 125000.0, 7300000.0, 60123.456),
            attempts={"1": 150, "2": 18, "3": 12},
            retry_delay_ms=_stats(42, 58000.0, 61000.0, 119000.0, 121000.0, 122500.0, 80000.0),
            outcomes=AsyncOutcomes(
                succeeded=150,
                succeeded_after_retry=16,
                retries_exhausted=12,
                event_age_exceeded=1,
                in_progress=1,
            ),
            fates=AsyncFates(sent=8, missing=2, dropped=3, unknown=0),
            fates_evidence=AsyncFatesEvidence(dump=10, config=3, none=0),
        ),
        sqs=SqsSection(
            messages=20,
            deliveries=27,
            redelivered_messages=3,
            max_deliveries=4,
            max_receive_count=5,
            deliveries_histogram={"1": 17, "2": 2, "4": 1},
            poison_messages=[
                PoisonMessage(
                    message_id="m-<img src=x>",
                    function=MARKUP_FUNCTION,
                    deliveries=4,
                    first_seen="2026-11-28T01:01:00.000000Z",
                    last_seen="2026-11-28T01:03:00.500000Z",
                    last_error=TABLE_ERROR,
                    fate="in_queue",
                ),
            ],
            evidence="annotations",
            fates=SqsFates(in_queue=1),
        ),
        streams=StreamsSection(
            batches=10,
            retried_batches=1,
            max_attempts=3,
            evidence="annotations",
            fates=StreamFates(discarded=1, unknown=1),
            still_retrying=1,
            fate_unknown_reasons=[
                f"no stream event source mapping for {SCRIPT_FUNCTION} *in* the config"
            ],
        ),
        chains=[
            Chain(
                kind="async",
                key="req-ok-retry",
                function=MARKUP_FUNCTION,
                trace_ids=["1-6747c1a0-000000000000000000000001"],
                trace_urls=[
                    "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
                    "#xray:traces/1-6747c1a0-000000000000000000000001"
                ],
                attempts=2,
                outcome="succeeded_after_retry",
                fate=None,
                dwell_ms=12.0,
                first_start="2026-11-28T01:00:01.000000Z",
                last_end="2026-11-28T01:01:02.000000Z",
                errors=["Timeout: first try"],
            ),
            Chain(
                kind="async",
                key="req-dropped",
                function=MARKUP_FUNCTION,
                trace_ids=["1-6747c1a0-000000000000000000000002"],
                trace_urls=[
                    "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
                    "#xray:traces/1-6747c1a0-000000000000000000000002"
                ],
                attempts=3,
                outcome="retries_exhausted",
                fate="dropped",
                fate_evidence="config",
                dwell_ms=30.5,
                first_start="2026-11-28T01:05:00.000000Z",
                last_end="2026-11-28T01:08:00.000000Z",
                errors=["KeyError: 'a'", "KeyError: 'a'", TABLE_ERROR],
                steps=[
                    ChainStep(
                        kind="dwell",
                        start="2026-11-28T01:05:00.000000Z",
                        end="2026-11-28T01:05:00.030500Z",
                        error=None,
                        trace_id=None,
                    )
                ],
            ),
            Chain(
                kind="sqs",
                key="m-<img src=x>",
                function=MARKUP_FUNCTION,
                trace_ids=[],
                attempts=4,
                outcome="poison",
                fate="in_queue",
                dwell_ms=None,
                first_start="2026-11-28T01:01:00.000000Z",
                last_end=None,
                errors=[],
            ),
            Chain(
                kind="stream",
                key="shardId-000000000000/4962",
                function="stream-processor",
                trace_ids=["1-6747c1a0-000000000000000000000003"],
                attempts=3,
                outcome="failed",
                fate="discarded",
                dwell_ms=None,
                first_start="2026-11-28T01:10:00.000000Z",
                last_end="2026-11-28T01:10:09.000000Z",
                errors=["PoisonRecord: boom"],
            ),
        ],
        findings=[
            Finding(
                severity="critical",
                code="ASYNC_EVENTS_DROPPED",
                function=MARKUP_FUNCTION,
                count=3,
                message="3 async events were dropped after their retries: "
                "configure a DLQ or an on-failure destination.",
                examples=["req-dropped", "req-b", "req-c"],
            ),
            Finding(
                severity="warning",
                code="SYNC_THROTTLED",
                function=SCRIPT_FUNCTION,
                count=1,
                message="1 of 3 synchronous requests were throttled (429); raise "
                "the reserved concurrency.",
                examples=["r-3"],
            ),
            Finding(
                severity="warning",
                code="INPUT_REJECTED",
                function=None,
                count=7,
                message="7 lines could not be read; see the input section.",
                examples=[],
            ),
            Finding(
                severity="info",
                code="COLD_STARTS",
                function=SCRIPT_FUNCTION,
                count=1,
                message="1 cold start <b>noted</b>.",
                examples=["r-1"],
            ),
        ],
        affected=[
            AffectedEvent(
                function=MARKUP_FUNCTION,
                path="sqs",
                caller="sqs <b>orders</b>",
                request_id="r-sqs-4",
                message_id="m-<img src=x>",
                shard_id=None,
                sequence_number=None,
                outcome="poison",
                fate="in_queue",
                fate_evidence=None,
                first_time="2026-11-28T01:01:00.000000Z",
                last_time=None,
                attempts=4,
                last_error=None,
                trace_ids=[],
            ),
            AffectedEvent(
                function=MARKUP_FUNCTION,
                path="async",
                request_id="req-dropped",
                message_id=None,
                shard_id=None,
                sequence_number=None,
                outcome="retries_exhausted",
                fate="dropped",
                fate_evidence="config",
                first_time="2026-11-28T01:05:00.000000Z",
                last_time="2026-11-28T01:08:00.000000Z",
                attempts=3,
                last_error=TABLE_ERROR,
                trace_ids=["1-6747c1a0-000000000000000000000002"],
            ),
            AffectedEvent(
                function=SCRIPT_FUNCTION,
                path="async",
                request_id="req-in-flight",
                message_id=None,
                shard_id=None,
                sequence_number=None,
                outcome="in_progress",
                fate=None,
                fate_evidence=None,
                first_time="2026-11-28T01:09:00.000000Z",
                last_time=None,
                attempts=1,
                last_error=None,
                trace_ids=["1-6747c1a0-000000000000000000000004"],
            ),
            AffectedEvent(
                function="stream-processor",
                path="stream",
                request_id="r-stream-3",
                message_id=None,
                shard_id="shardId-000000000000",
                sequence_number="4962",
                outcome="failed",
                fate="discarded",
                fate_evidence=None,
                first_time="2026-11-28T01:10:00.000000Z",
                last_time="2026-11-28T01:10:09.000000Z",
                attempts=3,
                last_error="PoisonRecord: boom",
                trace_ids=[
                    "1-6747c1a0-000000000000000000000003",
                    "1-6747c1a0-000000000000000000000005",
                ],
            ),
        ],
        impact=[
            FunctionImpact(
                function=SCRIPT_FUNCTION,
                failures=2,
                first_failure="2026-11-28T01:00:30.000000Z",
                last_failure="2026-11-28T01:00:30.000000Z",
                errors_by_type=[
                    ErrorTypeCount(type="<b>Evil|Type</b>", count=1),
                    ErrorTypeCount(type="Throttled", count=1),
                ],
            ),
            FunctionImpact(
                function=MARKUP_FUNCTION,
                failures=7,
                first_failure="2026-11-28T01:00:01.000000Z",
                last_failure="2026-11-28T01:07:00.000000Z",
                errors_by_type=[
                    ErrorTypeCount(type="KeyError", count=2),
                    ErrorTypeCount(type="PaymentDeclined", count=2),
                    ErrorTypeCount(type="Timeout", count=2),
                    ErrorTypeCount(type="ValueError", count=1),
                ],
            ),
            FunctionImpact(
                function="stream-processor",
                failures=3,
                first_failure="2026-11-28T01:10:00.000000Z",
                last_failure="2026-11-28T01:10:06.000000Z",
                errors_by_type=[ErrorTypeCount(type="PoisonRecord", count=3)],
            ),
        ],
        callers=[
            CallerSummary(
                function=SCRIPT_FUNCTION,
                path="sync",
                kind="api_gateway",
                name="<b>shop</b>|api/prod",
                arn="arn:aws:apigateway:us-east-1::/restapis/shop/stages/prod",
                requests=3,
                failed=2,
                throttled=1,
            ),
            CallerSummary(
                function=MARKUP_FUNCTION,
                path="async",
                kind="sns",
                name="[red]orders[/]",
                arn="arn:aws:sns:us-east-1:123456789012:[red]orders[/]",
                requests=150,
                failed=10,
                throttled=2,
                dwell_p99_ms=61234.5,
                outcomes={"retries_exhausted": 10, "succeeded": 140},
                fates={"dropped": 4, "sent": 6},
            ),
            CallerSummary(
                function=MARKUP_FUNCTION,
                path="async",
                kind="unknown",
                name=None,
                arn=None,
                reason="async invoke without a caller segment",
                requests=30,
                failed=3,
                throttled=0,
                dwell_p99_ms=80.0,
                outcomes={"retries_exhausted": 3, "succeeded": 27},
                fates={"missing": 3},
            ),
            CallerSummary(
                function=MARKUP_FUNCTION,
                path="sqs",
                kind="sqs",
                name=None,
                arn=None,
                reason="several event source mappings of this function could have sent it",
                candidates=[
                    "arn:aws:sqs:us-east-1:123456789012:a",
                    "arn:aws:sqs:us-east-1:123456789012:<b>b</b>",
                ],
                requests=20,
                failed=2,
                throttled=0,
                outcomes={"poison": 1, "succeeded": 18},
                fates={"dlq": 1},
            ),
        ],
        timeline=Timeline(
            bucket_seconds=60,
            start="2026-11-28T01:00:00.000000Z",
            buckets=6,
            functions=[
                FunctionTimeline(
                    function=MARKUP_FUNCTION,
                    requests=[3, 0, 12, 40, 7, 1],
                    failed=[0, 0, 2, 30, 1, 0],
                    throttled=[0, 0, 0, 0, 0, 0],
                    cold_starts=[1, 0, 0, 2, 0, 0],
                    dwell_p99_ms=[12.5, None, 80.0, 61234.5, 900.0, 15.0],
                    ended_badly=[0, 0, 0, 3, 1, 0],
                    sqs_redeliveries=[0, 0, 0, 0, 0, 0],
                    stream_retries=[0, 0, 0, 0, 0, 0],
                ),
                FunctionTimeline(
                    function=SCRIPT_FUNCTION,
                    requests=[0, 1, 0, 0, 0, 0],
                    failed=[0, 0, 0, 0, 0, 0],
                    throttled=[0, 1, 0, 0, 0, 0],
                    cold_starts=[0, 0, 0, 0, 0, 0],
                    dwell_p99_ms=[None, None, None, None, None, None],
                    ended_badly=[0, 0, 0, 0, 0, 0],
                    sqs_redeliveries=[0, 1, 0, 0, 0, 0],
                    stream_retries=[0, 0, 0, 0, 0, 0],
                ),
            ],
        ),
    )


def empty_report() -> Report:
    """A report of input with nothing in it."""
    return Report(
        schema=SCHEMA,
        generated_by="tracelens 0.0.0-test",
        input=InputSection(
            files=["empty.json"],
            documents=0,
            duplicates=0,
            rejected=1,
            rejections=[RejectionOut(file="empty.json", line=None, reason="empty file")],
            traces=0,
            start=None,
            end=None,
            config=False,
            dlq_dumps=0,
        ),
        functions=[],
        async_=AsyncSection(
            events=0,
            dwell_ms=EMPTY_STATS,
            attempts={},
            retry_delay_ms=EMPTY_STATS,
            outcomes=AsyncOutcomes(
                succeeded=0,
                succeeded_after_retry=0,
                retries_exhausted=0,
                event_age_exceeded=0,
                in_progress=0,
            ),
            fates=AsyncFates(sent=0, missing=0, dropped=0, unknown=0),
        ),
        sqs=SqsSection(
            messages=0,
            deliveries=0,
            redelivered_messages=0,
            max_deliveries=0,
            max_receive_count=None,
            deliveries_histogram={},
            poison_messages=[],
            evidence="none",
        ),
        streams=StreamsSection(batches=0, retried_batches=0, max_attempts=0, evidence="none"),
        chains=[],
        findings=[],
    )


def replace(report: Report, **changes: object) -> Report:
    """A copy of ``report`` with top-level fields changed."""
    return msgspec.structs.replace(report, **changes)


def check_golden(name: str, actual: str) -> None:
    """Compare ``actual`` with ``golden/<name>``; rewrite it when TRACELENS_UPDATE_GOLDEN=1."""
    path = GOLDEN / name
    if os.environ.get("TRACELENS_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (
        f"{name} changed; if intended, rerun with TRACELENS_UPDATE_GOLDEN=1 and review the diff"
    )


#: A function name longer than any narrow terminal line (shortened in the middle there).
LONG_FUNCTION = "orders-platform-production-eu-west-1-invoice-renderer-for-enterprise-customers-v2"
#: A Kinesis batch key (shard id / 56-digit sequence number): an id, never cut.
LONG_KEY = "shardId-000000000003/49590338271490256608559692538361571095921575989136588898"
#: An ARN in a finding message: never cut either.
LONG_ARN = "arn:aws:sqs:eu-west-1:123456789012:orders-platform-production-invoice-renderer-dlq.fifo"


def long_names_report() -> Report:
    """The fixed report plus a function with a very long name, a long batch key and an ARN
    in a finding: what the width goldens (60, 80 and 120 columns) are made of."""
    report = fixed_report()
    long_function = FunctionSummary(
        name=LONG_FUNCTION,
        arn=f"arn:aws:lambda:eu-west-1:123456789012:function:{LONG_FUNCTION}",
        requests=12_345,
        invocations=23_456,
        cold_starts=12,
        failed_invocations=1_001,
        failed_requests=1,
        throttles=0,
        modes=Modes(sync=1, async_=12_000, sqs=0, stream=344, unknown=0),
        duration_ms=_stats(23_456, 1.5, 950.0, 61_000.0, 3_725_000.0, 3_725_000.0, 1234.5),
    )
    chain = Chain(
        kind="stream",
        key=LONG_KEY,
        function=LONG_FUNCTION,
        trace_ids=["1-6747c1a0-000000000000000000000009"],
        attempts=4,
        outcome="failed",
        fate="sent",
        fate_evidence="config",
        dwell_ms=None,
        first_start="2026-11-28T01:20:00.000000Z",
        last_end="2026-11-28T01:21:00.000000Z",
        errors=["TimeoutError: downstream timed out after 3 s"] * 3 + ["KeyError: 'customer'"],
    )
    finding = Finding(
        severity="warning",
        code="ASYNC_RETRIES_EXHAUSTED",
        function=LONG_FUNCTION,
        count=1,
        message=f"1 async event of {LONG_FUNCTION} failed on every retry; replay it from "
        f"{LONG_ARN}.",
        examples=[LONG_KEY],
    )
    return replace(
        report,
        functions=[*report.functions, long_function],
        chains=[*report.chains, chain],
        findings=[*report.findings, finding],
    )
