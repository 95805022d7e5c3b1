"""Affected events and impact (analysis.affected, analysis.impact) on hand-built traces."""

from __future__ import annotations

import polars as pl
import pytest

from tests.analysis.conftest import TraceBuilder, at, trace_id
from tracelens.analysis import analyse
from tracelens.analysis.affected import affected
from tracelens.analysis.impact import NO_TYPE, errors_by_type, exception_type, failures
from tracelens.model.side import SideInputs


def _affected(builder: TraceBuilder) -> list[dict[str, object]]:
    r = analyse(builder.frames(), SideInputs())
    frame = affected(
        r.events,
        r.units,
        r.messages,
        r.sqs_deliveries,
        r.batches,
        r.stream_deliveries,
        message_ids=r.sqs_evidence == "annotations",
    )
    return frame.to_dicts()


def test_link_evidence_gives_no_message_id(builder: TraceBuilder) -> None:
    # GIVEN two deliveries linked to one producer segment 40 s apart, both failing
    producer_trace = trace_id(200)
    producer = builder.row(trace_id=producer_trace, kind="segment", top=True, name="producer")
    for n in (1, 2):
        t = trace_id(200 + n)
        svc = builder.service("consumer", t, n * 40, n * 40 + 1, request_id=f"req-{n}")
        builder.function("consumer", t, svc, n * 40 + 0.1, n * 40 + 0.9, error=True, cause="B: x")
        builder.link(t, svc, linked_trace=producer_trace, linked_id=producer)
    # WHEN
    (row,) = _affected(builder)
    # THEN the producer segment id is the chain key, never written as a message id
    assert row["key"] == producer
    assert row["message_id"] is None
    assert (row["path"], row["outcome"], row["attempts"]) == ("sqs", "poison", 2)
    assert row["request_id"] == "req-2"  # the last delivery
    assert row["last_error"] == "B: x"


def test_stream_batch_from_traces_has_no_shard(builder: TraceBuilder) -> None:
    t = trace_id(500)
    for n in range(2):
        svc = builder.service("stream-fn", t, n * 10, n * 10 + 1, request_id=f"k-{n}")
        builder.function("stream-fn", t, svc, n * 10 + 0.1, n * 10 + 0.9, error=True)
    (row,) = _affected(builder)
    assert (row["path"], row["key"], row["shard_id"], row["sequence_number"]) == (
        "stream",
        t,
        None,
        None,
    )
    assert row["request_id"] == "k-1"


def test_stream_sequence_number_split_from_the_key(builder: TraceBuilder) -> None:
    for n in (1, 2):
        t = trace_id(400 + n)
        svc = builder.service("stream-fn", t, n * 10, n * 10 + 1, request_id=f"k-{n}")
        fid = builder.function("stream-fn", t, svc, n * 10 + 0.1, n * 10 + 0.9, error=True)
        for seq in ("100", "0099"):
            builder.record(t, fid, source="aws:kinesis", shard="shard/with/slash", seq=seq)
    (row,) = _affected(builder)
    assert (row["shard_id"], row["sequence_number"]) == ("shard/with/slash", "99")
    assert row["trace_ids"] == [trace_id(401), trace_id(402)]


def test_good_events_are_not_affected(builder: TraceBuilder) -> None:
    builder.async_event("fn", trace_id(1), "ok", 0, [(0.1, 0.2, False)])
    builder.async_event("fn", trace_id(2), "retried", 0, [(0.1, 0.2, True), (60, 60.2, False)])
    builder.async_event("fn", trace_id(3), "open", 100, [(100.1, None, False)], in_progress=True)
    rows = _affected(builder)
    assert [(r["request_id"], r["outcome"], r["last_time"]) for r in rows] == [
        ("open", "in_progress", None)
    ]


def test_sorted_by_first_time_then_path(builder: TraceBuilder) -> None:
    builder.async_event("fn", trace_id(1), "late", 50, [(50.1, None, False)], in_progress=True)
    builder.async_event("fn", trace_id(2), "early", 5, [(5.1, None, False)], in_progress=True)
    rows = _affected(builder)
    assert [r["request_id"] for r in rows] == ["early", "late"]
    assert rows[0]["first_time"] == at(5)


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        ("TemplateError: template 'x' not found", "TemplateError"),
        ("std::runtime_error: boom", "std::runtime_error"),
        ("Runtime.ExitError: exit status 1", "Runtime.ExitError"),
        ("KeyError", "KeyError"),
        ("Throttled", "Throttled"),
        ("Error (no cause recorded)", "Error (no cause recorded)"),
        ("Task timed out after 3.00 seconds", NO_TYPE),
        ("a message: with a colon", NO_TYPE),
    ],
)
def test_exception_type(cause: str, expected: str) -> None:
    frame = pl.DataFrame({"cause": [cause]})
    assert frame.select(exception_type(pl.col("cause"))).item() == expected


def test_partial_batch_record_failures_count_once_each(builder: TraceBuilder) -> None:
    # GIVEN an invocation that succeeded but reported two of three records failed, and one
    # failed invocation whose two records failed with it
    t1, t2 = trace_id(601), trace_id(602)
    svc = builder.service("consumer", t1, 0, 1, request_id="r1")
    fid = builder.function("consumer", t1, svc, 0.1, 0.9)
    for mid, failed in (("m1", True), ("m2", True), ("m3", False)):
        builder.record(
            t1,
            fid,
            source="aws:sqs",
            message_id=mid,
            error=failed,
            cause="Declined: no" if failed else None,
        )
    svc = builder.service("consumer", t2, 5, 6, request_id="r2")
    fid = builder.function("consumer", t2, svc, 5.1, 5.9, error=True, cause="Crash: all")
    for mid in ("m4", "m5"):
        builder.record(t2, fid, source="aws:sqs", message_id=mid, error=True, cause="Crash: all")
    r = analyse(builder.frames(), SideInputs())
    # WHEN
    table = errors_by_type(failures(r.requests, r.invocations, r.sqs_deliveries))
    # THEN the failed invocation counts once, and each failed record of the good one once
    assert table.rows() == [("consumer", "Declined", 2), ("consumer", "Crash", 1)]
