"""config.json and DLQ / destination dumps."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.conftest import SHARED
from tracelens.errors import SideInputError
from tracelens.ingest.side import read_side_inputs

if TYPE_CHECKING:
    from pathlib import Path

REAL = SHARED / "real_traces" / "localstack"  # ../shared next to the repository root
DLQ = "arn:aws:sqs:us-east-1:123456789012:fn-dlq"
DEST = "arn:aws:sqs:us-east-1:123456789012:fn-failures"


def _write(path: Path, obj: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


CONFIG = {
    "functions": {
        "fn": {
            "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
            "DeadLetterConfig": {"TargetArn": DLQ},
            "EventInvokeConfig": {
                "MaximumRetryAttempts": 1,
                "DestinationConfig": {"OnFailure": {}, "OnSuccess": {"Destination": "arn:x"}},
            },
        },
        "other": {"EventInvokeConfig": {"DestinationConfig": {"OnFailure": {"Destination": DEST}}}},
    },
    "queues": {
        "arn:q": {
            "QueueUrl": "https://q",
            "Attributes": {
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": "arn:d", "maxReceiveCount": "5"}
                ),
                "VisibilityTimeout": "30",
            },
        },
        "arn:plain": {"Attributes": {}},
    },
    "EventSourceMappings": [
        {"EventSourceArn": "arn:q", "FunctionArn": "arn:aws:lambda:us-east-1:1:function:fn:live"},
        {
            "EventSourceArn": "arn:aws:kinesis:us-east-1:1:stream/s",
            "FunctionArn": "arn:aws:lambda:us-east-1:1:function:other",
        },
    ],
}


def test_bundle_config(tmp_path: Path) -> None:
    _write(tmp_path / "config.json", CONFIG)
    side = read_side_inputs([tmp_path], config=None, dlq=())
    fn = side.functions["fn"]
    assert (fn.maximum_retry_attempts, fn.maximum_event_age_seconds) == (1, 21600)
    assert (fn.dlq_arn, fn.on_failure_arn) == (DLQ, None)  # OnFailure {} and OnSuccess ignored
    other = side.functions["other"]
    assert (other.maximum_retry_attempts, other.failure_targets) == (2, (DEST,))
    assert side.queues["arn:q"].redrive_policy is not None
    assert side.queues["arn:q"].redrive_policy.max_receive_count == 5
    assert side.queues["arn:plain"].redrive_policy is None
    assert side.queue_for("fn") is side.queues["arn:q"]
    assert side.stream_functions() == frozenset({"other"})
    assert side.has_config


def test_real_dlq_recording_with_arn_prefix(tmp_path: Path) -> None:
    # GIVEN LocalStack's recording of Lambda's DLQ message (Body decoded by the snapshot)
    data = json.loads((REAL / "test_lambda_destinations.snapshot.json").read_text())
    key = next(k for k in data if k.endswith("TestLambdaDLQ::test_dead_letter_queue"))
    dump = _write(tmp_path / "dump.json", data[key]["recorded-content"]["receive_result"])
    # WHEN
    side = read_side_inputs([], config=None, dlq=[f"{DLQ}={dump}"])
    # THEN
    (d,) = side.dumps
    assert d.queue_arn == DLQ
    (m,) = d.dlq_messages
    assert (m.request_id, m.error_code, m.error_message) == (
        "<request-id:1>",
        "200",
        "Test exception (this is intentional)",
    )


def test_real_destination_records(tmp_path: Path) -> None:
    data = json.loads((REAL / "test_lambda_destinations.snapshot.json").read_text())
    key = next(k for k in data if k.endswith("TestLambdaDestinationSqs::test_retries"))
    dump = data[key]["recorded-content"]["queue_destination_payload"]
    # A real receive-message output has Body as a JSON string.
    for message in dump["Messages"]:
        message["Body"] = json.dumps(message["Body"])
    dump["QueueArn"] = DEST
    side = read_side_inputs([], config=None, dlq=[str(_write(tmp_path / "d.json", dump))])
    (record,) = side.dumps[0].destination_records
    assert (record.request_id, record.condition, record.approximate_invoke_count) == (
        "<uuid:1>",
        "RetriesExhausted",
        3,
    )
    assert record.destination_arn == DEST
    assert side.dumps[0].request_ids == frozenset({"<uuid:1>"})


def test_ndjson_bare_records_and_stream_records(tmp_path: Path) -> None:
    lines = [
        {"requestContext": {"requestId": "a", "condition": "RetriesExhausted"}},
        {
            "requestContext": {"requestId": "b", "condition": "RetryAttemptsExhausted"},
            "KinesisBatchInfo": {"shardId": "shardId-0"},
        },
    ]
    path = tmp_path / "records.ndjson"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    side = read_side_inputs([], config=None, dlq=[str(path)])
    records = side.dumps[0].destination_records
    assert [(r.request_id, r.batch_info) for r in records] == [("a", False), ("b", True)]


def test_empty_receive_output_is_an_empty_dump(tmp_path: Path) -> None:
    (tmp_path / "dlq").mkdir()
    (tmp_path / "dlq" / "q.json").write_text("")
    side = read_side_inputs([tmp_path], config=None, dlq=())
    assert side.dumps[0].request_ids == frozenset()
    assert not side.has_config


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "record 1 has no requestContext"),
        ('{"Messages": 3}', "'Messages' must be a list"),
        ('{"hello": 1}', "not a DLQ dump"),
    ],
)
def test_bad_dump_is_one_clear_line(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SideInputError) as info:
        read_side_inputs([], config=None, dlq=[str(path)])
    message = str(info.value)
    assert needle in message
    assert str(path) in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"functions": []}, "'functions' must be a JSON object"),
        (
            {"functions": {"f": {"EventInvokeConfig": {"MaximumRetryAttempts": "x"}}}},
            "MaximumRetryAttempts must be a number",
        ),
        ({"queues": {"q": {"Attributes": {"RedrivePolicy": "{oops"}}}}, "RedrivePolicy"),
        ({"EventSourceMappings": [{"BatchSize": 1}]}, "has no EventSourceArn"),
    ],
)
def test_bad_config(tmp_path: Path, config: object, needle: str) -> None:
    path = _write(tmp_path / "c.json", config)
    with pytest.raises(SideInputError, match=r"c\.json") as info:
        read_side_inputs([], config=path, dlq=())
    assert needle in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SideInputError, match="not found"):
        read_side_inputs([], config=tmp_path / "nope.json", dlq=())
