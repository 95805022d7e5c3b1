"""Fates of poll-based failures (SQS poison messages, stream batches), config-aware advice,
and SQS evidence from trace links."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.analysis.conftest import TraceBuilder, at, trace_id
from tracelens.analysis import AnalysisResults, analyse
from tracelens.analysis.findings._async import _age_advice
from tracelens.ingest import read_traces
from tracelens.ingest.side import read_side_inputs
from tracelens.model.side import (
    EventSourceMapping,
    FunctionConfig,
    QueueConfig,
    RedrivePolicy,
    SideInputs,
)

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders"
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
TABLE_STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-11-01T00:00:00.000"
FAILURES = "arn:aws:sqs:us-east-1:123456789012:clicks-failures"
FN_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


# --- helpers -------------------------------------------------------------------------------


def _sample(name: str) -> tuple[AnalysisResults, SideInputs]:
    bundle = SAMPLES / name
    side = read_side_inputs([bundle], config=None, dlq=[])
    return analyse(read_traces([bundle]), side), side


def _end_of_data(b: TraceBuilder, seconds: float) -> None:
    """Another segment that makes the data run until ``seconds``."""
    b.row(
        trace_id=trace_id(9999),
        kind="segment",
        top=True,
        name="other",
        start=at(seconds - 1),
        end=at(seconds),
    )


def _stream_side(
    *,
    retries: int | None = None,
    age: int | None = None,
    on_failure: str | None = FAILURES,
    bisect: bool = False,
    response_types: tuple[str, ...] = (),
    source: str = STREAM,
    parallelization: int = 1,
) -> SideInputs:
    return SideInputs(
        mappings=(
            EventSourceMapping(
                event_source_arn=source,
                function_arn=FN_ARN.format("stream-fn"),
                maximum_retry_attempts=retries,
                maximum_record_age_seconds=age,
                on_failure_arn=on_failure,
                bisect_batch_on_function_error=bisect,
                function_response_types=response_types,
                parallelization_factor=parallelization,
            ),
        ),
        config_files=("c.json",),
    )


def _batch(
    b: TraceBuilder,
    attempts: list[tuple[float, bool, int]],
    *,
    shard: str = "shardId-1",
    first_seq: int = 100,
    source: str = "aws:kinesis",
) -> None:
    """One stream batch: (start, failed, records) per attempt, each in its own trace."""
    for n, (start, failed, records) in enumerate(attempts):
        t = trace_id(700 + n + first_seq)
        svc = b.service("stream-fn", t, start, start + 1, request_id=f"k-{first_seq}-{n}")
        fid = b.function(
            "stream-fn", t, svc, start + 0.1, start + 0.9, error=failed, cause="KeyError: 'x'"
        )
        for seq in range(first_seq, first_seq + records):
            b.record(t, fid, source=source, shard=shard, seq=str(seq))


def _batch_row(results: AnalysisResults) -> dict[str, Any]:
    assert results.batches.height == 1
    return results.batches.row(0, named=True)


def _codes(results: AnalysisResults, code: str) -> list[Any]:
    return [f for f in results.findings if f.code == code]


# --- 1. advice never asks for a setting that is already set --------------------------------


def test_stream_retry_advice_does_not_ask_for_bisect_when_it_is_set(
    builder: TraceBuilder,
) -> None:
    _batch(builder, [(0, True, 4), (2, False, 2)])
    results = analyse(builder.frames(), _stream_side(bisect=True, retries=2))
    (finding,) = _codes(results, "STREAM_BATCH_RETRIED")
    assert "enable BisectBatchOnFunctionError" not in finding.message
    assert "BisectBatchOnFunctionError is on" in finding.message


def test_stream_retry_advice_asks_for_bisect_when_it_is_not_set(builder: TraceBuilder) -> None:
    _batch(builder, [(0, True, 4), (2, False, 4)])
    results = analyse(builder.frames(), _stream_side(retries=2))
    (finding,) = _codes(results, "STREAM_BATCH_RETRIED")
    assert "enable BisectBatchOnFunctionError or ReportBatchItemFailures" in finding.message


def test_stream_retry_advice_without_config_does_not_claim_settings(
    builder: TraceBuilder,
) -> None:
    _batch(builder, [(0, True, 4), (2, False, 4)])
    results = analyse(builder.frames(), SideInputs())
    (finding,) = _codes(results, "STREAM_BATCH_RETRIED")
    assert "no stream event source mapping for stream-fn" in finding.message


def test_kinesis_poison_bisect_advice_respects_the_config() -> None:
    results, _ = _sample("kinesis_poison_bisect")
    for finding in results.findings:
        assert "enable BisectBatchOnFunctionError" not in finding.message, finding
        assert "add an on-failure destination" not in finding.message.lower(), finding


def test_sqs_redelivery_advice_respects_report_batch_item_failures(
    builder: TraceBuilder,
) -> None:
    # m1 fails once; m2, in the same batch, did not fail but came back with it
    for n, start in enumerate((0.0, 40.0)):
        t = trace_id(800 + n)
        svc = builder.service("consumer", t, start, start + 1, request_id=f"q-{n}")
        fid = builder.function("consumer", t, svc, start + 0.1, start + 0.9, error=n == 0)
        builder.record(t, fid, source="aws:sqs", message_id="m1", receive_count=n + 1, error=n == 0)
        builder.record(t, fid, source="aws:sqs", message_id="m2", receive_count=n + 1)
    mapping = EventSourceMapping(
        event_source_arn=QUEUE,
        function_arn=FN_ARN.format("consumer"),
        function_response_types=("ReportBatchItemFailures",),
    )
    side = SideInputs(
        queues={QUEUE: QueueConfig(arn=QUEUE, visibility_timeout_seconds=30)},
        mappings=(mapping,),
        config_files=("c.json",),
    )
    (finding,) = _codes(analyse(builder.frames(), side), "SQS_REDELIVERY")
    assert "enable ReportBatchItemFailures" not in finding.message
    without = dataclasses.replace(
        side, mappings=(dataclasses.replace(mapping, function_response_types=()),)
    )
    (finding,) = _codes(analyse(builder.frames(), without), "SQS_REDELIVERY")
    assert "1 of them without a failed delivery of their own" in finding.message
    assert "enable ReportBatchItemFailures" in finding.message


def test_sqs_redelivery_after_own_failures_does_not_ask_for_batch_settings() -> None:
    results, _ = _sample("sqs_poison_no_redrive")
    (finding,) = _codes(results, "SQS_REDELIVERY")
    assert "ReportBatchItemFailures" not in finding.message
    assert "failed delivery of its own" in finding.message


def test_async_retry_advice_respects_the_config(builder: TraceBuilder) -> None:
    # an event that exhausted its retries on a function without any DLQ
    builder.async_event("worn", trace_id(901), "r-worn", 0, [(1, 2, True)])
    _end_of_data(builder, 600)
    side = SideInputs(
        functions={"worn": FunctionConfig(name="worn", maximum_retry_attempts=0)},
        config_files=("c.json",),
    )
    (worn,) = _codes(analyse(builder.frames(), side), "ASYNC_RETRIES_EXHAUSTED")
    assert "replay them from" not in worn.message
    assert "no DLQ or on-failure destination" in worn.message


def test_async_age_advice_respects_the_config() -> None:
    # (the outcome itself is the async analysis' business; here only the sentence)
    def side(age: int | None) -> SideInputs:
        if age is None:
            return SideInputs()
        config = FunctionConfig(name="fn", maximum_event_age_seconds=age)
        return SideInputs(functions={"fn": config}, config_files=("c.json",))

    assert "raise MaximumEventAgeInSeconds" not in _age_advice(side(21600), "fn")
    assert "already the maximum" in _age_advice(side(21600), "fn")
    assert "raise MaximumEventAgeInSeconds (now 120 s" in _age_advice(side(120), "fn")
    assert "if it is below 21600 s" in _age_advice(side(None), "fn")


# --- 2. streams.fates ----------------------------------------------------------------------


def test_stream_batch_exhausted_with_destination_is_sent(builder: TraceBuilder) -> None:
    _batch(builder, [(0, True, 3), (2, True, 3), (5, True, 3)])
    results = analyse(builder.frames(), _stream_side(retries=2))
    row = _batch_row(results)
    assert (row["ended_by"], row["fate"]) == ("retries", "sent")
    (finding,) = _codes(results, "STREAM_RECORDS_DISCARDED")
    assert finding.severity == "warning"
    assert "clicks-failures" in finding.message


def test_stream_batch_exhausted_without_destination_is_discarded(builder: TraceBuilder) -> None:
    _batch(builder, [(0, True, 3), (2, True, 3)])
    results = analyse(builder.frames(), _stream_side(retries=1, on_failure=None))
    row = _batch_row(results)
    assert (row["ended_by"], row["fate"]) == ("retries", "discarded")
    (finding,) = _codes(results, "STREAM_RECORDS_DISCARDED")
    assert (finding.severity, finding.count) == ("critical", 1)
    assert "DestinationConfig.OnFailure" in finding.message
    assert finding.examples == ("shardId-1/100",)


def test_stream_batch_without_mapping_config_has_unknown_fate(builder: TraceBuilder) -> None:
    _batch(builder, [(0, True, 3), (2, True, 3)])
    results = analyse(builder.frames(), SideInputs())
    row = _batch_row(results)
    assert row["fate"] == "unknown"
    assert "event source mapping for stream-fn" in row["fate_reason"]
    (finding,) = _codes(results, "STREAM_RECORDS_DISCARDED")
    assert finding.severity == "warning"


def test_stream_batch_within_its_limits_is_still_retrying(builder: TraceBuilder) -> None:
    # infinite retries, records kept 300 s: the data ends 100 s after the first attempt
    _batch(builder, [(0, True, 3), (2, True, 3), (6, True, 3)])
    _end_of_data(builder, 100)
    results = analyse(builder.frames(), _stream_side(retries=-1, age=300))
    row = _batch_row(results)
    assert (row["ended_by"], row["fate"], row["outcome"]) == (None, None, "in_progress")
    assert not _codes(results, "STREAM_RECORDS_DISCARDED")


def test_stream_batch_past_its_record_age_ended(builder: TraceBuilder) -> None:
    _batch(builder, [(0, True, 3), (2, True, 3), (6, True, 3)])
    _end_of_data(builder, 400)
    results = analyse(builder.frames(), _stream_side(retries=-1, age=300))
    row = _batch_row(results)
    assert (row["ended_by"], row["fate"], row["outcome"]) == ("record_age", "sent", "failed")


def test_bisected_splits_do_not_count_as_retries(builder: TraceBuilder) -> None:
    # 4 records fail, then 2, then 1: splits, not retries; MaximumRetryAttempts 2 is not used up
    _batch(builder, [(0, True, 4), (2, True, 2), (4, True, 1)])
    results = analyse(builder.frames(), _stream_side(retries=2, bisect=True))
    assert _batch_row(results)["fate"] is None
    builder2 = TraceBuilder()
    _batch(builder2, [(0, True, 4), (2, True, 2), (4, True, 1), (6, True, 1), (9, True, 1)])
    row = _batch_row(analyse(builder2.frames(), _stream_side(retries=2, bisect=True)))
    assert (row["ended_by"], row["fate"]) == ("retries", "sent")


def _rows(results: AnalysisResults) -> dict[str, dict[str, Any]]:
    return {r["key"].split("/")[-1]: r for r in results.batches.iter_rows(named=True)}


@pytest.mark.parametrize(("parallelization", "ended"), [(1, True), (2, False)])
def test_a_failed_batch_the_shard_read_past_ended_by_its_record_age(
    builder: TraceBuilder, parallelization: int, ended: bool
) -> None:
    # Retries left (3), age limit 300 s not passed as the data shows it; then the shard's
    # next batch starts: one batch at a time, that means Lambda gave this one up.
    _batch(builder, [(0, True, 1), (2, True, 1)], first_seq=100)
    _batch(builder, [(10, False, 1)], first_seq=200)
    results = analyse(
        builder.frames(), _stream_side(retries=3, age=300, parallelization=parallelization)
    )
    row = _rows(results)["100"]
    expected = ("record_age", "sent", "failed") if ended else (None, None, "in_progress")
    assert (row["ended_by"], row["fate"], row["outcome"]) == expected


def test_the_second_half_of_a_split_ends_the_first_at_any_parallelization(
    builder: TraceBuilder,
) -> None:
    # Records 100 and 101 fail together, 100 alone fails, then 101 starts on its own.
    _batch(builder, [(0, True, 2), (2, True, 1)], first_seq=100)
    _batch(builder, [(10, False, 1)], first_seq=101)
    side = _stream_side(retries=3, age=300, bisect=True, parallelization=10)
    row = _rows(analyse(builder.frames(), side))["100"]
    assert (row["ended_by"], row["fate"], row["outcome"]) == ("record_age", "sent", "failed")


def test_a_batch_still_retrying_when_the_next_starts_earlier_is_not_ended(
    builder: TraceBuilder,
) -> None:
    # The next batch started before this one's last delivery ended: no evidence it ended.
    _batch(builder, [(0, True, 1), (20, True, 1)], first_seq=100)
    _batch(builder, [(10, False, 1)], first_seq=200)
    row = _rows(analyse(builder.frames(), _stream_side(retries=3, age=300)))["100"]
    assert (row["ended_by"], row["outcome"]) == (None, "in_progress")


def test_dynamodb_batch_with_infinite_limits_ends_at_the_24h_retention(
    builder: TraceBuilder,
) -> None:
    _batch(builder, [(0, True, 1), (2, True, 1)], source="aws:dynamodb")
    _end_of_data(builder, 25 * 3600)
    side = _stream_side(retries=-1, age=-1, on_failure=None, source=TABLE_STREAM)
    row = _batch_row(analyse(builder.frames(), side))
    assert (row["ended_by"], row["fate"]) == ("retention", "discarded")


def test_kinesis_batch_past_24h_with_unknown_retention_is_unknown(builder: TraceBuilder) -> None:
    _batch(builder, [(0, True, 1), (2, True, 1)])
    _end_of_data(builder, 25 * 3600)
    row = _batch_row(analyse(builder.frames(), _stream_side(retries=-1, age=-1)))
    assert row["fate"] == "unknown"
    assert "retention" in row["fate_reason"]


@pytest.mark.parametrize(
    ("sample", "fates"),
    [
        ("kinesis_poison_bisect", {"sent": 1}),
        ("kinesis_poison_no_bisect", {"sent": 1}),
        ("dynamodb_streams", {}),
    ],
)
def test_stream_fates_of_the_samples(sample: str, fates: dict[str, int]) -> None:
    results, _ = _sample(sample)
    got = results.batches.filter(pl.col("fate").is_not_null()).get_column("fate").value_counts()
    assert {r["fate"]: r["count"] for r in got.to_dicts()} == fates


def test_kinesis_no_bisect_ended_by_record_age() -> None:
    results, _ = _sample("kinesis_poison_no_bisect")
    ended = results.batches.filter(pl.col("fate").is_not_null()).row(0, named=True)
    assert (ended["ended_by"], ended["attempts"]) == ("record_age", 14)


# --- 3. sqs.fates --------------------------------------------------------------------------


def _poison(b: TraceBuilder, deliveries: int, *, every: float = 40.0) -> None:
    for n in range(deliveries):
        start = n * every
        t = trace_id(1000 + n)
        svc = b.service("consumer", t, start, start + 1, request_id=f"p-{n}")
        fid = b.function("consumer", t, svc, start + 0.1, start + 0.9, error=True)
        b.record(t, fid, source="aws:sqs", message_id="m9", receive_count=n + 1, error=True)


def _queue_side(
    *, redrive: int | None = None, retention: int | None = None, vt: int | None = None
) -> SideInputs:
    policy = (
        None
        if redrive is None
        else RedrivePolicy(dead_letter_target_arn=QUEUE + "-dlq", max_receive_count=redrive)
    )
    queue = QueueConfig(
        arn=QUEUE,
        redrive_policy=policy,
        message_retention_seconds=retention,
        visibility_timeout_seconds=vt,
    )
    return SideInputs(
        queues={QUEUE: queue},
        mappings=(
            EventSourceMapping(event_source_arn=QUEUE, function_arn=FN_ARN.format("consumer")),
        ),
        config_files=("c.json",),
    )


def _message_fate(results: AnalysisResults) -> str | None:
    rows = results.messages.filter(pl.col("poison"))
    assert rows.height == 1
    return rows.row(0, named=True)["fate"]


def test_poison_message_reaching_max_receive_count_moves_to_the_dlq(builder: TraceBuilder) -> None:
    _poison(builder, 3)
    assert _message_fate(analyse(builder.frames(), _queue_side(redrive=3))) == "dlq"


def test_poison_message_below_max_receive_count_is_still_in_the_queue(
    builder: TraceBuilder,
) -> None:
    _poison(builder, 2)
    assert _message_fate(analyse(builder.frames(), _queue_side(redrive=5))) == "in_queue"


def test_poison_message_past_retention_without_redrive_is_deleted(builder: TraceBuilder) -> None:
    _poison(builder, 3)
    _end_of_data(builder, 200)
    results = analyse(builder.frames(), _queue_side(retention=120))
    assert _message_fate(results) == "retention_deleted"
    (finding,) = _codes(results, "SQS_POISON_MESSAGE")
    assert finding.severity == "critical"
    assert "RedrivePolicy" in finding.message


def test_poison_message_uses_the_default_retention(builder: TraceBuilder) -> None:
    _poison(builder, 3)
    _end_of_data(builder, 345_000)
    assert _message_fate(analyse(builder.frames(), _queue_side())) == "in_queue"
    _end_of_data(builder, 345_700)
    assert _message_fate(analyse(builder.frames(), _queue_side())) == "retention_deleted"


def test_poison_message_without_queue_config_has_unknown_fate(builder: TraceBuilder) -> None:
    _poison(builder, 3)
    results = analyse(builder.frames(), SideInputs())
    assert _message_fate(results) == "unknown"
    (finding,) = _codes(results, "SQS_POISON_MESSAGE")
    assert "--config" in finding.message


@pytest.mark.parametrize(
    ("sample", "fates"),
    [
        ("sqs_redrive_partial_batch", {"dlq": 2}),
        # the data ends 30 s before the 900 s retention deletes the message
        ("sqs_poison_no_redrive", {"in_queue": 1}),
        ("sqs_fifo_blocked_group", {"dlq": 1}),
    ],
)
def test_sqs_fates_of_the_samples(sample: str, fates: dict[str, int]) -> None:
    results, _ = _sample(sample)
    got = results.messages.filter(pl.col("poison")).get_column("fate").value_counts()
    assert {r["fate"]: r["count"] for r in got.to_dicts()} == fates


def test_sqs_poison_advice_names_the_dlq_when_redrive_is_set() -> None:
    results, _ = _sample("sqs_redrive_partial_batch")
    (finding,) = _codes(results, "SQS_POISON_MESSAGE")
    assert "add a RedrivePolicy" not in finding.message
    assert "payments-dlq" in finding.message


# --- 4. SQS evidence from trace links ------------------------------------------------------


def _linked(b: TraceBuilder, starts: list[float], *, function: bool = True) -> str:
    producer_trace = trace_id(2000)
    producer = b.row(trace_id=producer_trace, kind="segment", top=True, name="producer")
    for n, start in enumerate(starts):
        t = trace_id(2001 + n)
        svc = b.service("consumer", t, start, start + 1, request_id=f"l-{n}")
        if function:
            b.function("consumer", t, svc, start + 0.1, start + 0.9, error=n == 0)
        b.link(t, svc, linked_trace=producer_trace, linked_id=producer)
    return producer


def test_consumer_link_without_function_segment_makes_the_request_sqs(
    builder: TraceBuilder,
) -> None:
    _linked(builder, [0.0], function=False)
    results = analyse(builder.frames(), SideInputs())
    fn = results.functions.row(0, named=True)
    assert (fn["mode_sqs"], fn["mode_unknown"]) == (1, 0)


def test_links_to_one_producer_close_together_are_different_messages(
    builder: TraceBuilder,
) -> None:
    # three invocations within a second: one batch send fanned out, not redeliveries
    _linked(builder, [0.0, 0.3, 0.6])
    results = analyse(builder.frames(), SideInputs())
    assert results.sqs_evidence == "links"
    assert results.messages.height == 3
    assert results.messages.get_column("attempts").to_list() == [1, 1, 1]
    assert not _codes(results, "SQS_REDELIVERY")


def test_links_to_one_producer_a_visibility_timeout_apart_are_a_redelivery(
    builder: TraceBuilder,
) -> None:
    producer = _linked(builder, [0.0, 40.0])
    results = analyse(builder.frames(), SideInputs())
    row = results.messages.row(0, named=True)
    assert (results.messages.height, row["message_id"], row["attempts"]) == (1, producer, 2)


def test_link_redelivery_uses_the_configured_visibility_timeout(builder: TraceBuilder) -> None:
    _linked(builder, [0.0, 40.0])
    results = analyse(builder.frames(), _queue_side(vt=60))
    assert results.messages.height == 2


def test_link_fan_out_then_a_redelivery_of_the_failed_message(builder: TraceBuilder) -> None:
    # three messages of one send at once (the first fails), then the failed one comes back
    producer = _linked(builder, [0.0, 0.2, 0.4, 45.0])
    results = analyse(builder.frames(), SideInputs())
    attempts = dict(results.messages.select("message_id", "attempts").iter_rows())
    assert attempts == {producer: 2, f"{producer}#2": 1, f"{producer}#3": 1}
    (finding,) = _codes(results, "SQS_REDELIVERY")
    assert finding.count == 1
