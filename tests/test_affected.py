"""``analyze --affected FILE``: the events to replay, as CSV or JSON, checked against truth."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import one_line_error, run_cli

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"

COLUMNS = [
    "function",
    "path",
    "caller",
    "request_id",
    "message_id",
    "shard_id",
    "sequence_number",
    "outcome",
    "fate",
    "fate_evidence",
    "first_time",
    "last_time",
    "attempts",
    "last_error",
    "trace_ids",
]


def _iso(epoch: float) -> str:
    """A truth.json epoch time as the report writes it (microseconds, ``Z``)."""
    moment = datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def _truth(bundle: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / bundle / "truth.json").read_text())
    return data


def _json_rows(bundle: str, tmp_path: Path) -> list[dict[str, Any]]:
    target = tmp_path / f"{bundle}.json"
    result = run_cli("analyze", SAMPLES / bundle, "--format", "json", "--affected", target)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(target.read_text(encoding="utf-8"))
    return rows


def _csv_rows(bundle: str, tmp_path: Path) -> tuple[list[str], list[dict[str, str]]]:
    target = tmp_path / f"{bundle}.csv"
    result = run_cli("analyze", SAMPLES / bundle, "--format", "json", "--affected", target)
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"), newline=""))
    return list(reader.fieldnames or []), list(reader)


def _near(a: str | None, b: str) -> bool:
    """Two ISO times within 2 microseconds (float seconds in truth.json round either way)."""
    assert a is not None
    parse = datetime.fromisoformat
    return abs((parse(a.rstrip("Z")) - parse(b.rstrip("Z"))).total_seconds()) <= 2e-6


def test_async_row_matches_truth(tmp_path: Path) -> None:
    # GIVEN an event that exhausted its retries and went to the DLQ (hand-checked in truth.json)
    truth = _truth("async_retry_storm")
    event = next(
        e
        for e in truth["async_events"]
        if e["request_id"] == "b5050d2e-0666-41d5-be3e-2b1a04306e75"
    )
    # WHEN the affected ids are written as JSON
    rows = _json_rows("async_retry_storm", tmp_path)
    # THEN every event that ended badly is there, and this one is exactly as truth has it
    bad = {e["request_id"] for e in truth["async_events"] if e["ended_badly"]}
    assert {r["request_id"] for r in rows} == bad
    assert len(rows) == 11
    row = next(r for r in rows if r["request_id"] == event["request_id"])
    assert list(row) == COLUMNS
    assert row["function"] == "invoice-renderer"
    assert row["path"] == "async"
    assert row["caller"] == "sdk billing-batch"  # its SDK client's segment
    assert row["message_id"] is None
    assert row["shard_id"] is None
    assert row["sequence_number"] is None
    assert row["outcome"] == "retries_exhausted"
    assert row["fate"] == "sent"
    assert row["fate_evidence"] == "dump"
    assert row["attempts"] == 3
    assert row["last_error"] == "TemplateError: template 'invoice.html' not found"
    assert row["trace_ids"] == ["1-6b0946a9-58f2c0c3837e88c488747111"]
    assert _near(row["first_time"], _iso(event["enqueued"]))
    assert _near(row["last_time"], _iso(event["ended"]))


def test_sqs_row_matches_truth(tmp_path: Path) -> None:
    # GIVEN the poison message of a queue without a redrive policy (30 failed deliveries)
    truth = _truth("sqs_poison_no_redrive")
    message = next(m for m in truth["sqs_messages"] if m["poison"])
    log = message["delivery_log"]
    # WHEN written as CSV
    header, rows = _csv_rows("sqs_poison_no_redrive", tmp_path)
    # THEN it is the one row, with its message id, still in the queue, the last error
    assert header == COLUMNS
    assert len(rows) == 1
    row = rows[0]
    assert row["message_id"] == "ffd3ee75-fd80-4550-8ff9-f0822795dbbd" == message["message_id"]
    assert row["function"] == "order-consumer"
    assert row["path"] == "sqs"
    assert row["caller"] == "sqs orders"  # the event source mapping's queue
    assert row["request_id"] == log[-1]["request_id"]  # the last delivery's request
    assert row["shard_id"] == row["sequence_number"] == ""
    assert row["outcome"] == "poison"
    assert row["fate"] == "in_queue"
    assert row["fate_evidence"] == ""
    assert row["attempts"] == "30"
    assert row["last_error"] == "json.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"
    assert _near(row["first_time"], _iso(log[0]["start"]))
    assert _near(row["last_time"], _iso(log[-1]["end"]))
    assert len(row["trace_ids"].split(" ")) >= 1
    assert all(t.startswith("1-") for t in row["trace_ids"].split(" "))


def test_stream_row_matches_truth(tmp_path: Path) -> None:
    # GIVEN a Kinesis batch that failed 14 times until its records were too old
    truth = _truth("kinesis_poison_no_bisect")
    batch = next(
        b for b in truth["stream_batches"] if b["attempts"] and b["outcome"] != "succeeded"
    )
    # WHEN written as JSON
    rows = _json_rows("kinesis_poison_no_bisect", tmp_path)
    # THEN shard and sequence number are split out of the batch key
    assert len(rows) == 1
    row = rows[0]
    assert row["path"] == "stream"
    assert row["function"] == "clickstream-processor"
    assert row["shard_id"] == "shardId-000000000000" == batch["shard_id"]
    assert row["sequence_number"] == batch["first_sequence_number"]
    assert row["message_id"] is None
    assert row["outcome"] == "failed"
    assert row["fate"] == "sent"
    assert row["attempts"] == 14 == len(batch["attempts"])
    assert row["last_error"] == "KeyError: 'user_id'"
    assert _near(row["first_time"], _iso(batch["attempts"][0]["invocation_start"]))
    # last_time is the end of the last invocation (function segment), which ends just before
    # the request truth.json times (the service segment's end)
    last = datetime.fromisoformat(row["last_time"].rstrip("Z")).replace(tzinfo=UTC)
    lag = batch["attempts"][-1]["end"] - last.timestamp()
    assert 0 <= lag < 0.005


def test_healthy_bundle_writes_an_empty_list(tmp_path: Path) -> None:
    target = tmp_path / "a.csv"
    result = run_cli("analyze", SAMPLES / "healthy_api", "--affected", target)
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == ",".join(COLUMNS) + "\n"
    assert f"affected: 0 events written to {target}" in result.stderr


def test_stderr_names_the_count_and_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    result = run_cli("analyze", SAMPLES / "async_dropped", "--affected", target)
    assert result.exit_code == 0, result.output
    assert f"affected: 12 events written to {target}" in result.stderr.splitlines()


@pytest.mark.parametrize("bundle", ["async_retry_storm", "sqs_redrive_partial_batch"])
@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_deterministic_and_sorted(bundle: str, suffix: str, tmp_path: Path) -> None:
    first, second = tmp_path / f"1{suffix}", tmp_path / f"2{suffix}"
    for target in (first, second):
        assert run_cli("analyze", SAMPLES / bundle, "--affected", target).exit_code == 0
    data = first.read_bytes()
    assert data == second.read_bytes()
    assert b"\r" not in data
    assert data.endswith(b"\n")
    rows = (
        json.loads(data)
        if suffix == ".json"
        else list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    )
    assert rows
    keys = [(r["first_time"], r["path"]) for r in rows]
    assert keys == sorted(keys)


def test_csv_and_json_hold_the_same_rows(tmp_path: Path) -> None:
    as_json = _json_rows("sqs_redrive_partial_batch", tmp_path)
    _, as_csv = _csv_rows("sqs_redrive_partial_batch", tmp_path)
    assert len(as_json) == len(as_csv) == 2  # the two poison messages moved to the DLQ
    for j, c in zip(as_json, as_csv, strict=True):
        assert c["trace_ids"] == " ".join(j["trace_ids"])
        assert c["attempts"] == str(j["attempts"])
        assert c["message_id"] == j["message_id"]
        assert j["fate"] == "dlq"
    truth = _truth("sqs_redrive_partial_batch")
    redriven = {d["key"] for d in truth["target_deliveries"]}
    assert {r["message_id"] for r in as_json} == redriven


def test_unknown_extension_exits_2_naming_the_accepted_ones(tmp_path: Path) -> None:
    result = run_cli("analyze", SAMPLES / "async_dropped", "--affected", tmp_path / "affected.txt")
    one_line_error(result, "--affected", ".csv", ".json")


def test_missing_directory_exits_2_before_the_analysis(tmp_path: Path) -> None:
    # The input does not exist either: the --affected error comes first, so the check runs
    # before any input is read.
    target = tmp_path / "no" / "such" / "dir" / "a.csv"
    result = run_cli("analyze", tmp_path / "missing-input.ndjson", "--affected", target)
    one_line_error(result, "--affected", str(target.parent))


def test_directory_target_exits_2(tmp_path: Path) -> None:
    folder = tmp_path / "out.json"
    folder.mkdir()
    result = run_cli("analyze", tmp_path / "missing-input.ndjson", "--affected", folder)
    one_line_error(result, "--affected", "directory")


def test_unwritable_directory_exits_2_before_the_analysis(tmp_path: Path) -> None:
    # A directory this process cannot write to: a mode 0500 one (not for root, who writes
    # anywhere), else a read-only mount such as /proc/sys.
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        candidates = [locked, Path("/proc/sys")]
        unwritable = next((d for d in candidates if d.is_dir() and not os.access(d, os.W_OK)), None)
        if unwritable is None:
            pytest.skip("no directory this process cannot write to")
        result = run_cli(
            "analyze", tmp_path / "missing-input.ndjson", "--affected", unwritable / "a.json"
        )
        one_line_error(result, "--affected", "not writable")
    finally:
        locked.chmod(0o700)


def test_parent_that_is_a_file_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = run_cli("analyze", tmp_path / "missing-input.ndjson", "--affected", blocker / "a.csv")
    one_line_error(result, "--affected", "not a directory")


def test_event_awaiting_its_retry_is_affected_though_not_a_chain(tmp_path: Path) -> None:
    # GIVEN one async event whose only attempt failed, and data that ends 30 s later, inside
    # the retry window (built from the storm's request b5050d2e without attempts 2 and 3)
    lines = (SAMPLES / "async_retry_storm" / "traces.ndjson").read_text().splitlines()
    caller, service, first = (json.loads(lines[i]) for i in (18, 19, 20))
    assert service["aws"]["request_id"] == "b5050d2e-0666-41d5-be3e-2b1a04306e75"
    service["subsegments"] = service["subsegments"][:2]  # Dwell Time, Attempt #1
    tick = {
        "id": "00000000000000aa",
        "name": "clock",
        "start_time": first["end_time"] + 29,
        "end_time": first["end_time"] + 30,
        "trace_id": "1-6b0946aa-000000000000000000000001",
    }
    traces = tmp_path / "t.ndjson"
    traces.write_text(
        "".join(json.dumps(d) + "\n" for d in (caller, service, first, tick)), encoding="utf-8"
    )
    target = tmp_path / "a.json"
    # WHEN analysed
    result = run_cli("analyze", traces, "--format", "json", "--affected", target)
    # THEN the event is in progress: no chain (one attempt) but an affected row
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["async"]["outcomes"]["in_progress"] == 1
    assert report["chains"] == []
    rows = json.loads(target.read_text(encoding="utf-8"))
    assert [(r["request_id"], r["outcome"], r["attempts"], r["fate"]) for r in rows] == [
        ("b5050d2e-0666-41d5-be3e-2b1a04306e75", "in_progress", 1, None)
    ]
    assert rows[0]["last_error"] == "TemplateError: template 'invoice.html' not found"


@pytest.mark.parametrize(
    ("bundle", "function", "failures", "types"),
    [
        # 97 failed invocations (truth totals), all the same template error
        ("async_retry_storm", "invoice-renderer", 97, {"TemplateError": 97}),
        # no invocation failed: the records failed in a partial batch response
        ("sqs_redrive_partial_batch", "payment-consumer", None, {"PaymentDeclined": None}),
        ("kinesis_poison_no_bisect", "clickstream-processor", 14, {"KeyError": 14}),
    ],
)
def test_impact_matches_truth(
    bundle: str, function: str, failures: int | None, types: dict[str, int | None]
) -> None:
    truth = _truth(bundle)
    result = run_cli("analyze", SAMPLES / bundle, "--format", "json")
    report = json.loads(result.stdout)
    (impact,) = report["impact"]
    if failures is None:  # every failed SQS delivery in truth
        failures = sum(m["failed_deliveries"] for m in truth["sqs_messages"])
        types = dict.fromkeys(types, failures)
    assert impact["function"] == function
    assert impact["failures"] == failures
    assert {e["type"]: e["count"] for e in impact["errors_by_type"]} == types
    starts = [
        a.get("invocation_start", a["start"])
        for group in ("async_events", "stream_batches")
        for item in truth[group]
        for a in item["attempts"]
        if a["error"]
    ] + [d["start"] for m in truth["sqs_messages"] for d in m["delivery_log"] if d["error"]]
    # a failure starts when its invocation (function segment) starts: for async attempts a few
    # milliseconds after the attempt truth.json times
    for got, want in (
        (impact["first_failure"], min(starts)),
        (impact["last_failure"], max(starts)),
    ):
        moment = datetime.fromisoformat(got.rstrip("Z")).replace(tzinfo=UTC).timestamp()
        assert 0 <= moment - want < 0.05 or _near(got, _iso(want))


def test_same_file_as_the_report_exits_2(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    result = run_cli(
        "analyze", tmp_path / "missing-input.ndjson", "-o", target, "--affected", target
    )
    one_line_error(result, "--affected", "-o")


def test_report_output_is_unchanged_by_affected(tmp_path: Path) -> None:
    plain = run_cli("analyze", SAMPLES / "async_sns_dlq", "--format", "json")
    with_file = run_cli(
        "analyze", SAMPLES / "async_sns_dlq", "--format", "json", "--affected", tmp_path / "a.csv"
    )
    assert plain.exit_code == with_file.exit_code == 0
    assert plain.stdout == with_file.stdout
