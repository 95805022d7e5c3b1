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
        # (every rule is in test_config_file.py)
        ({"functions": []}, "functions: expected object, got []"),
        (
            {"functions": {"f": {"EventInvokeConfig": {"MaximumRetryAttempts": "x"}}}},
            'functions.f.EventInvokeConfig.MaximumRetryAttempts: expected int, got "x"',
        ),
        ({"queues": {"q": {"Attributes": {"RedrivePolicy": "{oops"}}}}, "RedrivePolicy"),
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


# --- dump size, comparability, recorded depth and the queue a dump belongs to (issue 10) -----

ONE_DLQ = {"functions": {"fn": {"DeadLetterConfig": {"TargetArn": DLQ}}}}


def _lambda_message(request_id: str) -> dict[str, object]:
    return {
        "MessageId": f"m-{request_id}",
        "Body": "{}",
        "MessageAttributes": {
            "RequestID": {"DataType": "String", "StringValue": request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": "boom"},
        },
    }


def test_dump_without_queue_arn_is_the_only_configured_target(tmp_path: Path) -> None:
    # GIVEN a bundle whose config names one DLQ and whose dump has no QueueArn
    _write(tmp_path / "config.json", ONE_DLQ)
    dump = _write(tmp_path / "dlq" / "x.json", {"Messages": [_lambda_message("r1")]})
    # WHEN
    side = read_side_inputs([tmp_path], config=None, dlq=())
    # THEN the dump belongs to that DLQ, and the report will say so
    (d,) = side.dumps
    assert d.queue_arn == DLQ
    assert side.notes == (f"{dump} has no QueueArn; taken as the only configured DLQ {DLQ}",)


def test_dump_without_queue_arn_and_two_targets_is_one_line(tmp_path: Path) -> None:
    _write(tmp_path / "config.json", CONFIG)  # a DLQ for fn, an on-failure for other
    dump = _write(tmp_path / "dlq" / "x.json", {"Messages": [_lambda_message("r1")]})
    with pytest.raises(SideInputError) as info:
        read_side_inputs([tmp_path], config=None, dlq=())
    assert str(info.value) == f"{dump} has no QueueArn; give it as --dlq ARN=FILE"


def test_dump_without_queue_arn_and_a_config_without_targets_is_one_line(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "c.json", {"functions": {"fn": {"Timeout": 3}}})
    dump = _write(tmp_path / "x.json", {"Messages": [_lambda_message("r1")]})
    with pytest.raises(SideInputError) as info:
        read_side_inputs([], config=tmp_path / "c.json", dlq=[str(dump)])
    assert str(info.value) == f"{dump} has no QueueArn; give it as --dlq ARN=FILE"


def test_dump_without_queue_arn_and_no_config_is_kept_with_a_note(tmp_path: Path) -> None:
    # Without any config no target can be compared anyway: its request ids still show
    # events that were sent, and the note says why it cannot show missing ones.
    dump = _write(tmp_path / "x.json", {"Messages": [_lambda_message("r1")]})
    side = read_side_inputs([], config=None, dlq=[str(dump)])
    assert side.dumps[0].queue_arn is None
    assert side.dumps[0].request_ids == frozenset({"r1"})
    assert side.notes == (
        f"{dump} has no QueueArn and no config was given: its request ids show events that "
        "were sent, but no event can be found missing from it",
    )


def test_dump_without_queue_arn_is_ambiguous_with_a_redrive_dlq(tmp_path: Path) -> None:
    # A queue's redrive DLQ is a target too: the dump might be that one.
    config = {
        **ONE_DLQ,
        "queues": {
            "arn:q": {
                "Attributes": {
                    "RedrivePolicy": json.dumps(
                        {
                            "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:q-dlq",
                            "maxReceiveCount": 3,
                        }
                    )
                }
            }
        },
    }
    _write(tmp_path / "c.json", config)
    dump = _write(tmp_path / "x.json", {"Messages": [_lambda_message("r1")]})
    with pytest.raises(SideInputError, match="has no QueueArn; give it as --dlq ARN=FILE"):
        read_side_inputs([], config=tmp_path / "c.json", dlq=[str(dump)])


def test_dump_named_on_the_command_line_needs_no_queue_arn(tmp_path: Path) -> None:
    _write(tmp_path / "c.json", CONFIG)
    dump = _write(tmp_path / "x.json", {"Messages": [_lambda_message("r1")]})
    side = read_side_inputs([], config=tmp_path / "c.json", dlq=[f"{DEST}={dump}"])
    assert side.dumps[0].queue_arn == DEST
    assert side.notes == ()


def test_messages_without_request_id_make_the_dump_not_comparable(tmp_path: Path) -> None:
    # GIVEN `receive-message` output taken without --message-attribute-names All
    plain = [{"MessageId": f"m{i}", "Body": "{}", "MD5OfBody": "x"} for i in range(3)]
    dump = _write(tmp_path / "d.json", {"QueueArn": DLQ, "Messages": plain})
    # WHEN
    side = read_side_inputs([], config=None, dlq=[str(dump)])
    # THEN every message counts, none can be checked, and a note names the file
    (d,) = side.dumps
    assert (d.messages, d.comparable, d.request_ids) == (3, False, frozenset())
    (note,) = side.notes
    assert note.startswith(f"{dump}: 3 of 3 messages have no RequestID message attribute")
    assert "--message-attribute-names All" in note


def test_one_message_without_request_id_makes_a_mixed_dump_not_comparable(
    tmp_path: Path,
) -> None:
    messages = [_lambda_message("r1"), {"MessageId": "m2", "Body": "{}"}]
    dump = _write(tmp_path / "d.json", {"QueueArn": DLQ, "Messages": messages})
    (d,) = read_side_inputs([], config=None, dlq=[str(dump)]).dumps
    assert (d.messages, d.comparable, d.request_ids) == (2, False, frozenset({"r1"}))


def test_lambda_attributes_without_request_id_are_not_comparable(tmp_path: Path) -> None:
    # --message-attribute-names ErrorCode ErrorMessage: Lambda's message, its id left out
    message = _lambda_message("r1")
    del message["MessageAttributes"]["RequestID"]  # type: ignore[attr-defined]
    dump = _write(tmp_path / "d.json", {"QueueArn": DLQ, "Messages": [message]})
    (d,) = read_side_inputs([], config=None, dlq=[str(dump)]).dumps
    assert (d.messages, d.comparable) == (1, False)


def test_sqs_redrive_messages_leave_a_dump_comparable(tmp_path: Path) -> None:
    # A queue's redrive DLQ holds the original messages (DeadLetterQueueSourceArn), and a
    # message with attributes other than Lambda's is not Lambda's: counted, not a doubt.
    messages = [
        _lambda_message("r1"),
        {"MessageId": "m2", "Body": "{}", "Attributes": {"DeadLetterQueueSourceArn": "arn:q"}},
        {
            "MessageId": "m3",
            "Body": "{}",
            "MessageAttributes": {"tenant": {"DataType": "String", "StringValue": "t"}},
        },
    ]
    dump = _write(tmp_path / "d.json", {"QueueArn": DLQ, "Messages": messages})
    side = read_side_inputs([], config=None, dlq=[str(dump)])
    (d,) = side.dumps
    assert (d.messages, d.comparable, d.request_ids) == (3, True, frozenset({"r1"}))
    assert side.notes == ()


def test_messages_are_counted_in_every_dump_form(tmp_path: Path) -> None:
    record = {"requestContext": {"requestId": "a", "condition": "RetriesExhausted"}}
    sqs = {
        "QueueArn": DEST,
        "Messages": [{"MessageId": "1", "Body": json.dumps(record)}, _lambda_message("b")],
    }
    sns = {
        "TopicArn": "arn:aws:sns:us-east-1:1:t",
        "Notifications": [
            {"Message": "{}", "MessageAttributes": {"RequestID": {"Type": "String", "Value": "c"}}}
        ],
    }
    ndjson = tmp_path / "r.ndjson"
    ndjson.write_text("\n".join(json.dumps(record) for _ in range(4)) + "\n")
    specs = [
        str(_write(tmp_path / "sqs.json", sqs)),
        str(_write(tmp_path / "sns.json", sns)),
        f"{DEST}={_write(tmp_path / 'list.json', [record, record])}",
        f"{DEST}={ndjson}",
        f"{DEST}={_write(tmp_path / 'bare.json', [_lambda_message('d')])}",
    ]
    dumps = read_side_inputs([], config=None, dlq=specs).dumps
    assert [(d.messages, d.comparable) for d in dumps] == [
        (2, True),
        (1, True),
        (2, True),
        (4, True),
        (1, True),
    ]


def test_recorded_queue_depth_is_read_back(tmp_path: Path) -> None:
    # `fetch --with-dlq` records the queue's depth before receiving
    messages = [_lambda_message(f"r{i}") for i in range(10)]
    dump = _write(
        tmp_path / "d.json",
        {
            "QueueArn": DLQ,
            "Messages": messages,
            "ApproximateNumberOfMessages": "25",
            "ApproximateNumberOfMessagesNotVisible": "2",
        },
    )
    (d,) = read_side_inputs([], config=None, dlq=[str(dump)]).dumps
    assert (d.messages, d.expected_messages) == (10, 27)
    bare = _write(tmp_path / "e.json", {"QueueArn": DLQ, "Messages": messages})
    (e,) = read_side_inputs([], config=None, dlq=[str(bare)]).dumps
    assert e.expected_messages is None


def test_bad_recorded_depth_is_one_line(tmp_path: Path) -> None:
    dump = _write(
        tmp_path / "d.json",
        {"QueueArn": DLQ, "Messages": [], "ApproximateNumberOfMessages": "many"},
    )
    with pytest.raises(SideInputError, match="ApproximateNumberOfMessages"):
        read_side_inputs([], config=None, dlq=[str(dump)])


def test_dlq_spec_with_a_non_arn_before_equals_says_so(tmp_path: Path) -> None:
    _write(tmp_path / "f.json", {"QueueArn": DLQ, "Messages": []})
    spec = f"notanarn={tmp_path / 'f.json'}"
    with pytest.raises(SideInputError) as info:
        read_side_inputs([], config=None, dlq=[spec])
    assert str(info.value) == (
        f"--dlq {spec}: 'notanarn' is not an ARN (give ARN=FILE, e.g. "
        "arn:aws:sqs:us-east-1:123456789012:my-dlq=dlq.json)"
    )


def test_dlq_file_whose_name_has_equals_still_works(tmp_path: Path) -> None:
    path = _write(tmp_path / "a=b.json", {"QueueArn": DLQ, "Messages": [_lambda_message("r")]})
    (d,) = read_side_inputs([], config=None, dlq=[str(path)]).dumps
    assert (d.queue_arn, d.request_ids) == (DLQ, frozenset({"r"}))


def test_sns_notifications_received_through_an_sqs_subscriber(tmp_path: Path) -> None:
    # An SNS DLQ (or on-failure topic) read through an SQS queue subscribed to it without raw
    # delivery: each SQS message's Body is SNS's envelope, with Lambda's attributes inside.
    def envelope(message: str, attributes: dict[str, object]) -> str:
        return json.dumps(
            {
                "Type": "Notification",
                "TopicArn": "arn:aws:sns:us-east-1:1:t",
                "Message": message,
                "MessageAttributes": attributes,
            }
        )

    record = {"requestContext": {"requestId": "b", "condition": "RetriesExhausted"}}
    messages = [
        {
            "MessageId": "1",
            "Body": envelope(
                "{}",
                {
                    "RequestID": {"Type": "String", "Value": "a"},
                    "ErrorCode": {"Type": "Number", "Value": "200"},
                },
            ),
        },
        {"MessageId": "2", "Body": envelope(json.dumps(record), {})},
    ]
    dump = _write(tmp_path / "d.json", {"QueueArn": DLQ, "Messages": messages})
    side = read_side_inputs([], config=None, dlq=[str(dump)])
    (d,) = side.dumps
    assert (d.messages, d.comparable, d.request_ids) == (2, True, frozenset({"a", "b"}))
    assert [m.error_code for m in d.dlq_messages] == ["200"]
