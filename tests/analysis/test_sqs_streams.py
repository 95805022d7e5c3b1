"""SQS messages (annotations and links) and stream batches (annotations and traces)."""

from __future__ import annotations

import polars as pl

from tests.analysis.conftest import TraceBuilder, trace_id
from tracelens.analysis import analyse
from tracelens.model.side import (
    EventSourceMapping,
    QueueConfig,
    RedrivePolicy,
    SideInputs,
)

QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders"
CONSUMER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:consumer"


def _delivery(b: TraceBuilder, n: int, messages: list[tuple[str, bool, int]], start: float) -> str:
    t = trace_id(100 + n)
    svc = b.service("consumer", t, start, start + 1, request_id=f"req-{n}")
    fid = b.function(
        "consumer", t, svc, start + 0.1, start + 0.9, error=any(failed for _, failed, _ in messages)
    )
    for message_id, failed, receive in messages:
        b.record(
            t,
            fid,
            source="aws:sqs",
            message_id=message_id,
            receive_count=receive,
            error=failed,
            cause="KeyError: 'sku'" if failed else None,
            start=start + 0.2,
        )
    return fid


def _side(redrive: bool) -> SideInputs:
    policy = (
        RedrivePolicy(dead_letter_target_arn="arn:dlq", max_receive_count=3) if redrive else None
    )
    return SideInputs(
        queues={QUEUE: QueueConfig(arn=QUEUE, redrive_policy=policy)},
        mappings=(EventSourceMapping(event_source_arn=QUEUE, function_arn=CONSUMER_ARN),),
        config_files=("c.json",),
    )


def test_redelivery_and_poison_from_annotations(builder: TraceBuilder) -> None:
    # GIVEN m1 fails twice then succeeds; m2 fails three times; m3 succeeds once
    _delivery(builder, 1, [("m1", True, 1), ("m2", True, 1), ("m3", False, 1)], 0)
    _delivery(builder, 2, [("m1", True, 2), ("m2", True, 2)], 40)
    _delivery(builder, 3, [("m1", False, 3), ("m2", True, 3)], 80)
    # WHEN
    results = analyse(builder.frames(), _side(redrive=False))
    # THEN
    msgs = {r["message_id"]: r for r in results.messages.to_dicts()}
    assert results.sqs_evidence == "annotations"
    assert {k: v["attempts"] for k, v in msgs.items()} == {"m1": 3, "m2": 3, "m3": 1}
    assert msgs["m2"]["poison"]
    assert not msgs["m1"]["poison"]
    assert msgs["m1"]["outcome"] == "succeeded_after_retry"
    assert msgs["m2"]["last_error"] == "KeyError: 'sku'"
    poison = [f for f in results.findings if f.code == "SQS_POISON_MESSAGE"]
    assert [(f.severity, f.examples) for f in poison] == [("critical", ("m2",))]
    assert results.functions.row(0, named=True)["mode_sqs"] == 3
    assert sorted(results.chains.get_column("key").to_list()) == ["m1", "m2"]


def test_poison_is_a_warning_with_a_redrive_policy(builder: TraceBuilder) -> None:
    _delivery(builder, 1, [("m2", True, 1)], 0)
    _delivery(builder, 2, [("m2", True, 2)], 40)
    results = analyse(builder.frames(), _side(redrive=True))
    assert [f.severity for f in results.findings if f.code == "SQS_POISON_MESSAGE"] == ["warning"]


def test_messages_inferred_from_links(builder: TraceBuilder) -> None:
    # GIVEN two consumer invocations linked to the same producer segment, one failing
    producer_trace = trace_id(200)
    producer = builder.row(trace_id=producer_trace, kind="segment", top=True, name="producer")
    for n, failed in ((1, True), (2, False)):
        t = trace_id(200 + n)
        svc = builder.service("consumer", t, n * 40, n * 40 + 1, request_id=f"req-{n}")
        builder.function(
            "consumer",
            t,
            svc,
            n * 40 + 0.1,
            n * 40 + 0.9,
            error=failed,
            cause="Boom: x" if failed else None,
        )
        builder.link(t, svc, linked_trace=producer_trace, linked_id=producer)
    # WHEN
    results = analyse(builder.frames(), SideInputs())
    # THEN
    assert results.sqs_evidence == "links"
    row = results.messages.row(0, named=True)
    assert (row["message_id"], row["attempts"], row["failures"]) == (producer, 2, 1)
    assert results.functions.row(0, named=True)["mode_sqs"] == 2


def test_no_sqs_evidence(builder: TraceBuilder) -> None:
    svc = builder.service("fn", trace_id(300), 0, 1, request_id="r")
    builder.function("fn", trace_id(300), svc, 0.1, 0.9)
    results = analyse(builder.frames(), SideInputs())
    assert (results.sqs_evidence, results.stream_evidence) == ("none", "none")
    assert results.functions.row(0, named=True)["mode_unknown"] == 1


def test_kinesis_batch_retried_via_annotations_across_traces(builder: TraceBuilder) -> None:
    # GIVEN the same batch (lowest sequence 0099 < 100 as integers) retried in a new trace
    for n, failed in ((1, True), (2, False)):
        t = trace_id(400 + n)
        svc = builder.service("stream-fn", t, n * 10, n * 10 + 1, request_id=f"k-{n}")
        fid = builder.function("stream-fn", t, svc, n * 10 + 0.1, n * 10 + 0.9, error=failed)
        for seq in ("100", "0099", "101"):
            builder.record(t, fid, source="aws:kinesis", shard="shardId-1", seq=seq)
    # WHEN
    results = analyse(builder.frames(), SideInputs())
    # THEN
    assert results.stream_evidence == "annotations"
    batch = results.batches.row(0, named=True)
    assert (batch["key"], batch["attempts"], batch["retried"]) == ("shardId-1/99", 2, True)
    assert results.functions.row(0, named=True)["mode_stream"] == 2
    assert [f.code for f in results.findings if f.code == "STREAM_BATCH_RETRIED"]


def test_kinesis_batch_retried_via_repeated_root_segments(builder: TraceBuilder) -> None:
    t = trace_id(500)
    for n in range(3):
        svc = builder.service("stream-fn", t, n * 10, n * 10 + 1, request_id=f"k-{n}")
        builder.function("stream-fn", t, svc, n * 10 + 0.1, n * 10 + 0.9, error=n < 2)
    results = analyse(builder.frames(), SideInputs())
    assert results.stream_evidence == "traces"
    batch = results.batches.row(0, named=True)
    assert (batch["key"], batch["attempts"], batch["outcome"]) == (t, 3, "succeeded_after_retry")


def test_cold_starts_finding(builder: TraceBuilder) -> None:
    for n in range(2):
        svc = builder.service("fn", trace_id(600 + n), n, n + 1, request_id=f"c-{n}")
        builder.function("fn", trace_id(600 + n), svc, n + 0.1, n + 0.9, cold=n == 0)
    results = analyse(builder.frames(), SideInputs())
    cold = [f for f in results.findings if f.code == "COLD_STARTS"]
    assert [(f.count, f.examples, f.severity) for f in cold] == [(1, ("c-0",), "info")]
    assert results.invocations.filter(pl.col("cold")).height == 1
