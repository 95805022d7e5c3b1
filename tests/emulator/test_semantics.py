"""Lambda semantics the emulator must honour, checked on the documents it writes."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from tests.emulator.conftest import builtin_result
from tracelens.emulator import EmulationResult, load_scenario


def _walk(entity: dict[str, Any]) -> list[dict[str, Any]]:
    out = [entity]
    for sub in entity.get("subsegments", ()):
        out.extend(_walk(sub))
    return out


def _attempts(result: EmulationResult) -> dict[str, list[dict[str, Any]]]:
    """Attempt subsegments of each async service segment, by request id, in start order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in result.documents:
        if (
            doc.get("origin") == "AWS::Lambda"
            and doc.get("http", {}).get("response", {}).get("status") == 202
        ):
            subs = [s for s in doc.get("subsegments", ()) if s["name"].startswith("Attempt #")]
            out[doc["aws"]["request_id"]] = sorted(subs, key=lambda s: s["start_time"])
    return out


def test_async_attempts_never_exceed_max_retry_attempts_plus_one(builtin: EmulationResult) -> None:
    limits = {
        name: spec.max_retry_attempts + 1
        for name, spec in load_scenario(builtin.scenario).functions.items()
    }
    names = {
        d["aws"]["request_id"]: d["name"]
        for d in builtin.documents
        if d.get("origin") == "AWS::Lambda"
    }
    for request_id, attempts in _attempts(builtin).items():
        assert len(attempts) <= limits[names[request_id]]


def test_function_error_retries_wait_about_one_then_two_minutes() -> None:
    result = builtin_result("async_retry_storm")
    first, second = [], []
    for attempts in _attempts(result).values():
        if len(attempts) >= 2:
            first.append(attempts[1]["start_time"] - attempts[0]["end_time"])
        if len(attempts) >= 3:
            second.append(attempts[2]["start_time"] - attempts[1]["end_time"])
    assert first
    assert second
    assert all(60 <= gap <= 62 for gap in first), first
    assert all(120 <= gap <= 122 for gap in second), second


def test_every_attempt_has_one_function_segment_in_the_same_trace() -> None:
    result = builtin_result("async_retry_storm")
    fn_parents = {
        d["parent_id"]: d for d in result.documents if d.get("origin") == "AWS::Lambda::Function"
    }
    for doc in result.documents:
        if doc.get("origin") == "AWS::Lambda" and "subsegments" in doc:
            for sub in doc["subsegments"]:
                if sub["name"].startswith("Attempt #"):
                    assert fn_parents[sub["id"]]["trace_id"] == doc["trace_id"]


def _sqs_receive_counts(result: EmulationResult) -> dict[str, list[int]]:
    counts: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for doc in result.documents:
        for e in _walk(doc):
            ann = e.get("annotations", {})
            if ann.get("event_source") == "aws:sqs":
                counts[ann["message_id"]].append((e["start_time"], ann["receive_count"]))
    return {k: [c for _, c in sorted(v)] for k, v in counts.items()}


def test_sqs_receive_counts_stop_at_max_receive_count_with_redrive() -> None:
    result = builtin_result("sqs_redrive_partial_batch")
    limit = load_scenario("sqs_redrive_partial_batch").queues["payments"].max_receive_count
    counts = _sqs_receive_counts(result)
    assert max(max(c) for c in counts.values()) == limit
    dlq = result.dlq["payments-dlq"]["Messages"]
    poison = [m for m in result.truth["sqs_messages"] if m["poison"]]
    assert len(dlq) == len(poison) == 2
    for m in poison:
        assert counts[m["message_id"]] == list(range(1, limit + 1))


def test_sqs_receive_counts_keep_growing_without_redrive() -> None:
    result = builtin_result("sqs_poison_no_redrive")
    queue = load_scenario("sqs_poison_no_redrive").queues["orders"]
    counts = _sqs_receive_counts(result)
    longest = max(counts.values(), key=len)
    assert longest == list(range(1, len(longest) + 1))
    # redelivered every visibility timeout until the retention period deletes it
    expected = queue.retention_s // queue.visibility_timeout_s
    assert expected - 2 <= len(longest) <= expected
    assert result.dlq == {}


def _check_shard_order(result: EmulationResult) -> int:
    invocations: list[tuple[float, str, list[int], bool]] = []
    for doc in result.documents:
        if doc.get("origin") != "AWS::Lambda::Function":
            continue
        recs = [e for e in _walk(doc) if "shard_id" in e.get("annotations", {})]
        if recs:
            shard = recs[0]["annotations"]["shard_id"]
            seqs = [int(e["annotations"]["sequence_number"]) for e in recs]
            invocations.append((doc["start_time"], shard, seqs, bool(doc.get("error"))))
    invocations.sort()
    discarded_ranges = []
    for dump in result.dlq.values():
        for msg in dump["Messages"]:
            body = json.loads(msg["Body"])
            info = body.get("KinesisBatchInfo") or body.get("DDBStreamBatchInfo")
            if info:
                discarded_ranges.append(
                    (
                        info["shardId"],
                        int(info["startSequenceNumber"]),
                        int(info["endSequenceNumber"]),
                    )
                )
    done: dict[str, set[int]] = defaultdict(set)
    seen: dict[str, set[int]] = defaultdict(set)
    checked = 0
    for _, shard, seqs, failed in invocations:
        for s in seen[shard]:
            if s < min(seqs) and s not in done[shard]:
                assert any(sh == shard and lo <= s <= hi for sh, lo, hi in discarded_ranges), (
                    f"shard {shard} moved past failing record {s}"
                )
                checked += 1
        seen[shard].update(seqs)
        if not failed:
            done[shard].update(seqs)
    return checked


def test_stream_shard_makes_no_progress_past_a_failing_batch() -> None:
    for name in ("kinesis_poison_bisect", "kinesis_poison_no_bisect", "dynamodb_streams"):
        _check_shard_order(builtin_result(name))
    # the poison record really blocked the shard and was then discarded by age
    blocked = builtin_result("kinesis_poison_no_bisect")
    assert _check_shard_order(blocked) > 0
    batch = max(blocked.truth["stream_batches"], key=lambda b: len(b["attempts"]))
    assert batch["outcome"] == "RecordAgeExceeded"
    assert batch["attempts"][-1]["start"] - batch["attempts"][0]["start"] <= 300 + 31


def test_bisect_isolates_the_poison_record() -> None:
    result = builtin_result("kinesis_poison_bisect")
    exhausted = [
        b for b in result.truth["stream_batches"] if b["outcome"] == "RetryAttemptsExhausted"
    ]
    assert len(exhausted) == 1
    assert exhausted[0]["records"] == 1
    assert len(exhausted[0]["attempts"]) == 3  # MaximumRetryAttempts 2 + 1
