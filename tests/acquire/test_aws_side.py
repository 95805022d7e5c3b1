"""`fetch --with-dlq` reads a whole DLQ (not one receive) and records its depth (moto server)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tracelens.acquire.aws_side import fetch_dlq
from tracelens.ingest.side import read_side_inputs

if TYPE_CHECKING:
    from pathlib import Path


def _queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def _fill(sqs: Any, url: str, count: int) -> None:
    for start in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": json.dumps({"n": i}),
                    "MessageAttributes": {
                        "RequestID": {"DataType": "String", "StringValue": f"req-{i:04d}"},
                        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                    },
                }
                for i in range(start, min(start + 10, count))
            ],
        )


def _depth(sqs: Any, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def test_fetch_dlq_receives_until_empty_and_records_the_depth(
    tmp_path: Path, client_factory: Any
) -> None:
    # GIVEN a function's DLQ holding 123 of Lambda's messages (more than ten receives' worth)
    sqs = client_factory("sqs")
    url, arn = _queue(sqs, "orders-dlq")
    _fill(sqs, url, 123)
    config = {
        "functions": {"orders": {"DeadLetterConfig": {"TargetArn": arn}}},
        "queues": {arn: {"QueueUrl": url, "Attributes": {}}},
    }
    # WHEN it is fetched with the defaults `tracelens fetch --with-dlq` uses
    written = fetch_dlq(sqs_client=sqs, config=config, out_dir=tmp_path, wait_seconds=0)
    # THEN every message is in the dump, with the depth recorded before receiving
    assert written == [("orders-dlq", 123, 123)]
    dump = json.loads((tmp_path / "dlq" / "orders-dlq.json").read_text())
    assert dump["QueueArn"] == arn
    assert dump["ApproximateNumberOfMessages"] == 123
    assert dump["ApproximateNumberOfMessagesNotVisible"] == 0
    assert len(dump["Messages"]) == 123
    # nothing was deleted: all are still in the queue (in flight for its visibility timeout)
    assert sum(_depth(sqs, url)) == 123
    # and analyze reads it back as complete and comparable
    side = read_side_inputs([tmp_path], config=None, dlq=[])
    (d,) = side.dumps
    assert (d.queue_arn, d.messages, d.expected_messages, d.comparable) == (arn, 123, 123, True)
    assert len(d.request_ids) == 123


def test_fetch_dlq_stops_when_the_queue_only_repeats_itself(
    tmp_path: Path, client_factory: Any
) -> None:
    # GIVEN a DLQ with a zero visibility timeout: every receive returns the same messages
    sqs = client_factory("sqs")
    url, arn = _queue(sqs, "fast-dlq", VisibilityTimeout="0")
    _fill(sqs, url, 4)
    config = {"functions": {"f": {"DeadLetterConfig": {"TargetArn": arn}}}}
    # WHEN
    written = fetch_dlq(sqs_client=sqs, config=config, out_dir=tmp_path, wait_seconds=0)
    # THEN the loop ends (bounded) with every distinct message once
    assert written == [("fast-dlq", 4, 4)]
    dump = json.loads((tmp_path / "dlq" / "fast-dlq.json").read_text())
    assert sorted(m["MessageAttributes"]["RequestID"]["StringValue"] for m in dump["Messages"]) == [
        f"req-{i:04d}" for i in range(4)
    ]


def test_a_dump_cut_short_by_the_bound_is_partial(tmp_path: Path, client_factory: Any) -> None:
    sqs = client_factory("sqs")
    url, arn = _queue(sqs, "big-dlq")
    _fill(sqs, url, 35)
    config = {"functions": {"f": {"DeadLetterConfig": {"TargetArn": arn}}}}
    written = fetch_dlq(sqs_client=sqs, config=config, out_dir=tmp_path, polls=2, wait_seconds=0)
    assert written == [("big-dlq", 20, 35)]
    (d,) = read_side_inputs([tmp_path], config=None, dlq=[]).dumps
    assert (d.messages, d.expected_messages) == (20, 35)
