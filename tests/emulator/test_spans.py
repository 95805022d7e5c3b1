"""The span writer: X-Ray documents as aws/spans log events, checked by hand and on every
built-in scenario (one span per entity, the service segment's snapshot first, exact ns)."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest

from tests.emulator.conftest import BUILTINS, builtin_result
from tracelens.emulator import spans
from tracelens.errors import EmulatorError

TRACE = "1-6b094690-0123456789abcdef01234567"
OTEL_TRACE = "6b0946900123456789abcdef01234567"
LINKED = "1-6b09468f-89abcdef0123456789abcdef"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:worker"
TOPIC = "arn:aws:sns:us-east-1:123456789012:orders-topic"
T0 = 1795770000.0  # 2026-11-27T09:00:00Z; every time below is T0 plus binary fractions
NS = 1795770000_000000000


def _exception(exc_id: str, message: str) -> dict[str, Any]:
    return {
        "working_directory": "/var/task",
        "exceptions": [
            {"id": exc_id, "message": message, "type": "TemplateError", "remote": False}
        ],
    }


#: An async event through SNS, as the emulator writes it: the caller, the service segment
#: (dwell, a failed first attempt with its cause, a second attempt, an annotation and a link),
#: the first attempt's cold, failed function segment and the second's warm one with an
#: annotated record subsegment and an AWS SDK call.
CALLER: dict[str, Any] = {
    "id": "a000000000000001",
    "name": "orders-topic",
    "start_time": T0 + 0.25,
    "trace_id": TRACE,
    "origin": "AWS::SNS",
    "resource_arn": TOPIC,
    "end_time": T0 + 0.5,
}
SERVICE: dict[str, Any] = {
    "id": "b000000000000002",
    "name": "worker",
    "start_time": T0 + 0.375,
    "parent_id": "a000000000000001",
    "http": {"response": {"status": 202}},
    "aws": {"request_id": "req-1"},
    "annotations": {"throttled_tries": 2},
    "links": [
        {
            "trace_id": LINKED,
            "id": "e000000000000009",
            "attributes": {
                "aws.xray.reserved.reference_type": "parent",
                "aws.xray.reserved.dwell_end_time": T0 + 0.375,
            },
        }
    ],
    "subsegments": [
        {
            "id": "c000000000000003",
            "name": "Dwell Time",
            "start_time": T0 + 0.375,
            "end_time": T0 + 0.625,
        },
        {
            "id": "c000000000000004",
            "name": "Attempt #1",
            "start_time": T0 + 0.625,
            "http": {"response": {"status": 200}},
            "cause": _exception("f1", "no template"),
            "error": True,
            "end_time": T0 + 1.5,
        },
        {
            "id": "c000000000000005",
            "name": "Attempt #2",
            "start_time": T0 + 60.5,
            "http": {"response": {"status": 200}},
            "end_time": T0 + 61.0,
        },
    ],
    "trace_id": TRACE,
    "origin": "AWS::Lambda",
    "resource_arn": ARN,
    "end_time": T0 + 0.4375,
}
FUNCTION_1: dict[str, Any] = {
    "id": "d000000000000006",
    "name": "worker",
    "start_time": T0 + 1.0,
    "parent_id": "c000000000000004",
    "aws": {"account_id": "123456789012", "function_arn": ARN},
    "subsegments": [
        {
            "id": "d000000000000061",
            "name": "Initialization",
            "start_time": T0 + 0.75,
            "aws": {"function_arn": ARN},
            "end_time": T0 + 1.0,
        },
        {
            "id": "d000000000000062",
            "name": "Invocation",
            "start_time": T0 + 1.0,
            "aws": {"function_arn": ARN},
            "cause": _exception("f2", "no template"),
            "error": True,
            "end_time": T0 + 1.25,
        },
        {
            "id": "d000000000000063",
            "name": "Overhead",
            "start_time": T0 + 1.25,
            "aws": {"function_arn": ARN},
            "end_time": T0 + 1.375,
        },
    ],
    "trace_id": TRACE,
    "origin": "AWS::Lambda::Function",
    "error": True,
    "end_time": T0 + 1.375,
}
FUNCTION_2: dict[str, Any] = {
    "id": "d000000000000007",
    "name": "worker",
    "start_time": T0 + 60.625,
    "parent_id": "c000000000000005",
    "aws": {"function_arn": ARN},
    "subsegments": [
        {
            "id": "d000000000000071",
            "name": "Invocation",
            "start_time": T0 + 60.625,
            "aws": {"function_arn": ARN},
            "subsegments": [
                {
                    "id": "d000000000000711",
                    "name": "SQS record",
                    "start_time": T0 + 60.625,
                    "annotations": {
                        "message_id": "m-1",
                        "event_source": "aws:sqs",
                        "receive_count": 1,
                    },
                    "end_time": T0 + 60.75,
                },
                {
                    "id": "d000000000000712",
                    "name": "DynamoDB",
                    "namespace": "aws",
                    "start_time": T0 + 60.75,
                    "aws": {"operation": "PutItem", "region": "us-east-1", "retries": 0},
                    "http": {"response": {"status": 200}},
                    "end_time": T0 + 60.8125,
                },
            ],
            "end_time": T0 + 60.875,
        },
    ],
    "trace_id": TRACE,
    "origin": "AWS::Lambda::Function",
    "end_time": T0 + 60.875,
}


def _ns(offset: float) -> int:
    return NS + round(offset * 1e9)


def _sub(
    span_id: str,
    parent: str,
    xray_name: str,
    start: float,
    end: float,
    *,
    name: str = "",
    kind: str = "INTERNAL",
    attributes: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A subsegment span as the contract writes it (``extra`` adds ``status``/``events``/``_aws``)."""
    span: dict[str, Any] = {
        "resource": {"attributes": {}},
        "traceId": OTEL_TRACE,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": _ns(start),
        "endTimeUnixNano": _ns(end),
        "durationNano": _ns(end) - _ns(start),
        "attributes": attributes or {},
        "status": extra.pop("status", {"code": "UNSET"}),
    }
    span.update(extra)
    span.setdefault("_aws", {"xray": {"name": xray_name, "type": "subsegment"}})
    return span


def _failed(at: float) -> dict[str, Any]:
    return {
        "status": {"code": "ERROR"},
        "events": [
            {
                "name": "exception",
                "timeUnixNano": _ns(at),
                "attributes": {
                    "exception.type": "TemplateError",
                    "exception.message": "no template",
                },
            }
        ],
    }


def _failed_xray(name: str) -> dict[str, Any]:
    return {"xray": {"name": name, "type": "subsegment", "cause": {"message": "no template"}}}


LAMBDA_RESOURCE = {"service.name": "worker", "cloud.platform": "aws_lambda"}
SERVICE_SPAN: dict[str, Any] = {
    "resource": {"attributes": {**LAMBDA_RESOURCE, "cloud.resource_id": ARN}},
    "traceId": OTEL_TRACE,
    "spanId": "b000000000000002",
    "parentSpanId": "a000000000000001",
    "name": "worker/LambdaService",
    "kind": "SERVER",
    "startTimeUnixNano": NS + 375_000_000,
    "endTimeUnixNano": NS + 437_500_000,
    "durationNano": 62_500_000,
    "attributes": {
        "http.response.status_code": 202,
        "aws.request_id": "req-1",
        "throttled_tries": 2,
        "aws.xray.annotation_keys": ["throttled_tries"],
    },
    "status": {"code": "UNSET"},
    "links": [
        {
            "traceId": "6b09468f89abcdef0123456789abcdef",
            "spanId": "e000000000000009",
            "attributes": {
                "aws.xray.reserved.reference_type": "parent",
                "aws.xray.reserved.dwell_end_time": T0 + 0.375,
            },
        }
    ],
    "_aws": {"xray": {"name": "worker", "type": "segment"}},
}
SNAPSHOT: dict[str, Any] = {
    key: value
    for key, value in SERVICE_SPAN.items()
    if key not in ("endTimeUnixNano", "durationNano")
} | {
    "attributes": {
        "aws.request_id": "req-1",
        "throttled_tries": 2,
        "aws.xray.annotation_keys": ["throttled_tries"],
        "aws.xray.inprogress": True,
    }
}
EXPECTED: list[dict[str, Any]] = [
    {
        "resource": {"attributes": {"service.name": "orders-topic", "cloud.resource_id": TOPIC}},
        "traceId": OTEL_TRACE,
        "spanId": "a000000000000001",
        "name": "orders-topic",
        "kind": "SERVER",
        "startTimeUnixNano": NS + 250_000_000,
        "endTimeUnixNano": NS + 500_000_000,
        "durationNano": 250_000_000,
        "attributes": {"aws.xray.origin": "AWS::SNS"},
        "status": {"code": "UNSET"},
        "_aws": {"xray": {"name": "orders-topic", "type": "segment"}},
    },
    SNAPSHOT,
    SERVICE_SPAN,
    _sub("c000000000000003", "b000000000000002", "Dwell Time", 0.375, 0.625),
    _sub(
        "c000000000000004",
        "b000000000000002",
        "Attempt #1",
        0.625,
        1.5,
        attributes={"aws.xray.error": True, "http.response.status_code": 200},
        **_failed(1.5),
        _aws=_failed_xray("Attempt #1"),
    ),
    _sub(
        "c000000000000005",
        "b000000000000002",
        "Attempt #2",
        60.5,
        61.0,
        attributes={"http.response.status_code": 200},
    ),
    {
        "resource": {"attributes": LAMBDA_RESOURCE},
        "traceId": OTEL_TRACE,
        "spanId": "d000000000000006",
        "parentSpanId": "c000000000000004",
        "name": "worker/LambdaExecutionEnvironment",
        "kind": "SERVER",
        "startTimeUnixNano": NS + 1_000_000_000,
        "endTimeUnixNano": NS + 1_375_000_000,
        "durationNano": 375_000_000,
        "attributes": {"aws.xray.error": True, "aws.lambda.function_arn": ARN},
        # the function segment has the flag but no cause of its own: status, no event
        "status": {"code": "ERROR"},
        "_aws": {"xray": {"name": "worker", "type": "segment"}},
    },
    _sub(
        "d000000000000061",
        "d000000000000006",
        "Initialization",
        0.75,
        1.0,
        name="Init/LambdaExecutionEnvironment",
        attributes={"aws.lambda.function_arn": ARN},
    ),
    _sub(
        "d000000000000062",
        "d000000000000006",
        "Invocation",
        1.0,
        1.25,
        name="Invocation/LambdaExecutionEnvironment",
        attributes={"aws.xray.error": True, "aws.lambda.function_arn": ARN},
        **_failed(1.25),
        _aws=_failed_xray("Invocation"),
    ),
    _sub(
        "d000000000000063",
        "d000000000000006",
        "Overhead",
        1.25,
        1.375,
        name="Overhead/LambdaExecutionEnvironment",
        attributes={"aws.lambda.function_arn": ARN},
    ),
    {
        "resource": {"attributes": LAMBDA_RESOURCE},
        "traceId": OTEL_TRACE,
        "spanId": "d000000000000007",
        "parentSpanId": "c000000000000005",
        "name": "worker/LambdaExecutionEnvironment",
        "kind": "SERVER",
        "startTimeUnixNano": NS + 60_625_000_000,
        "endTimeUnixNano": NS + 60_875_000_000,
        "durationNano": 250_000_000,
        "attributes": {"aws.lambda.function_arn": ARN},
        "status": {"code": "UNSET"},
        "_aws": {"xray": {"name": "worker", "type": "segment"}},
    },
    _sub(
        "d000000000000071",
        "d000000000000007",
        "Invocation",
        60.625,
        60.875,
        name="Invocation/LambdaExecutionEnvironment",
        attributes={"aws.lambda.function_arn": ARN},
    ),
    # nested below Invocation: not a part of the function segment, so no span name
    _sub(
        "d000000000000711",
        "d000000000000071",
        "SQS record",
        60.625,
        60.75,
        attributes={
            "message_id": "m-1",
            "event_source": "aws:sqs",
            "receive_count": 1,
            "aws.xray.annotation_keys": ["event_source", "message_id", "receive_count"],
        },
    ),
    _sub(
        "d000000000000712",
        "d000000000000071",
        "DynamoDB",
        60.75,
        60.8125,
        kind="CLIENT",
        attributes={"http.response.status_code": 200, "aws.operation": "PutItem"},
        _aws={"xray": {"name": "DynamoDB", "type": "subsegment", "namespace": "aws"}},
    ),
]


def _lines(*docs: dict[str, Any]) -> list[str]:
    return [json.dumps(doc, separators=(",", ":")) for doc in docs]


def test_an_async_event_is_written_span_by_span_as_checked_by_hand() -> None:
    lines = list(spans.span_lines(_lines(CALLER, SERVICE, FUNCTION_1, FUNCTION_2)))
    got = [json.loads(line) for line in lines]
    assert len(got) == len(EXPECTED)
    for index, (span, want) in enumerate(zip(got, EXPECTED, strict=True)):
        assert span == want, f"span {index} ({want['spanId']})"


def test_the_snapshot_comes_first_and_keeps_no_outcome() -> None:
    got = spans.document_spans(
        SERVICE | {"fault": True, "throttle": True, "cause": _exception("f9", "boom")}
    )
    snapshot, complete = got[0], got[1]
    assert snapshot["spanId"] == complete["spanId"] == "b000000000000002"
    assert "endTimeUnixNano" not in snapshot
    assert "durationNano" not in snapshot
    assert snapshot["attributes"]["aws.xray.inprogress"] is True
    assert snapshot["status"] == {"code": "UNSET"}
    assert "events" not in snapshot
    assert "cause" not in snapshot["_aws"]["xray"]
    assert not {"aws.xray.fault", "aws.xray.throttle", "http.response.status_code"} & set(
        snapshot["attributes"]
    )
    assert complete["status"] == {"code": "ERROR"}
    assert complete["attributes"]["aws.xray.fault"] is True
    assert complete["attributes"]["aws.xray.throttle"] is True
    assert "aws.xray.inprogress" not in complete["attributes"]
    assert complete["_aws"]["xray"]["cause"] == {"message": "boom"}


def test_only_lambda_service_segments_get_a_snapshot() -> None:
    for doc in (CALLER, FUNCTION_1, FUNCTION_2):
        ids = [span["spanId"] for span in spans.document_spans(doc)]
        assert len(ids) == len(set(ids))


def test_an_in_progress_document_has_no_end_and_no_second_snapshot() -> None:
    doc = {k: v for k, v in SERVICE.items() if k not in ("end_time", "subsegments")}
    (span,) = spans.document_spans(doc | {"in_progress": True})
    assert "endTimeUnixNano" not in span
    assert "durationNano" not in span
    assert span["attributes"]["aws.xray.inprogress"] is True


def test_a_throttle_alone_leaves_the_status_unset() -> None:
    (span,) = spans.document_spans(CALLER | {"throttle": True})
    assert span["attributes"]["aws.xray.throttle"] is True
    assert span["status"] == {"code": "UNSET"}


def test_a_bare_cause_id_and_a_cause_without_message() -> None:
    (bare,) = spans.document_spans(CALLER | {"fault": True, "cause": "0123456789abcdef"})
    assert bare["_aws"]["xray"]["cause"] == {"id": "0123456789abcdef"}
    assert "events" not in bare
    typed = {"exceptions": [{"type": "Timeout"}, {"message": "second"}]}
    (span,) = spans.document_spans(CALLER | {"error": True, "cause": typed})
    assert span["_aws"]["xray"]["cause"] == {"message": "Timeout"}
    assert span["events"] == [
        {
            "name": "exception",
            "timeUnixNano": NS + 500_000_000,
            "attributes": {"exception.type": "Timeout"},
        },
        {
            "name": "exception",
            "timeUnixNano": NS + 500_000_000,
            "attributes": {"exception.message": "second"},
        },
    ]


def test_http_request_fields_and_a_segment_without_origin() -> None:
    doc = {
        "id": "a000000000000010",
        "name": "shop-api/prod",
        "trace_id": TRACE,
        "start_time": T0,
        "end_time": T0 + 0.5,
        "http": {"request": {"method": "POST", "url": "https://x.example/prod/"}},
    }
    (span,) = spans.document_spans(doc)
    assert span["attributes"] == {
        "http.request.method": "POST",
        "url.full": "https://x.example/prod/",
    }
    assert span["resource"] == {"attributes": {"service.name": "shop-api/prod"}}
    assert "parentSpanId" not in span


def test_an_independent_subsegment_document_is_a_subsegment_span() -> None:
    doc = {
        "type": "subsegment",
        "id": "a000000000000011",
        "parent_id": "b000000000000002",
        "name": "Lambda",
        "namespace": "aws",
        "trace_id": TRACE,
        "start_time": T0,
        "end_time": T0 + 0.5,
        "aws": {"operation": "Invoke", "request_id": "req-2"},
    }
    (span,) = spans.document_spans(doc)
    assert span["name"] == ""
    assert span["kind"] == "CLIENT"
    assert span["parentSpanId"] == "b000000000000002"
    assert span["_aws"] == {"xray": {"name": "Lambda", "type": "subsegment", "namespace": "aws"}}
    assert span["resource"] == {"attributes": {}}


@pytest.mark.parametrize("seconds", [T0 + 0.244161, 1795770006.063965, 0.1, 1e-6, T0])
def test_nanoseconds_are_exact_and_give_the_float_back(seconds: float) -> None:
    ns = spans.to_nanos(seconds)
    assert isinstance(ns, int)
    assert ns / 10**9 == seconds
    assert abs(Fraction(ns, 10**9) - Fraction(seconds)) <= Fraction(1, 2 * 10**9)


def test_a_known_float_gives_the_nanoseconds_worked_out_by_hand() -> None:
    # 1795770000.244161 is stored as the nearest double, 109 ns below the decimal (the
    # doubles near 1.8e9 are 2**-22 s = 238 ns apart)
    assert spans.to_nanos(1795770000.244161) == 1795770000_244160891


@pytest.mark.parametrize("bad", [None, "6b0946900123456789abcdef01234567", "1-6B094690-0123"])
def test_a_document_without_an_xray_trace_id_is_refused(bad: object) -> None:
    with pytest.raises(EmulatorError, match="not an X-Ray trace id"):
        spans.document_spans(CALLER | {"trace_id": bad})


def test_a_document_without_a_start_is_refused() -> None:
    doc = {k: v for k, v in CALLER.items() if k != "start_time"}
    with pytest.raises(EmulatorError, match="cannot write as spans"):
        spans.document_spans(doc)


def _entities(doc: dict[str, Any], parent: str | None) -> list[tuple[str, str | None, Any]]:
    """(id, parent span id, X-Ray entity) of a document and every nested subsegment."""
    out = [(doc["id"], parent, doc)]
    for child in doc.get("subsegments", ()):
        out.extend(_entities(child, doc["id"]))
    return out


@pytest.mark.parametrize("name", BUILTINS)
def test_every_entity_of_every_builtin_is_one_span(name: str) -> None:
    result = builtin_result(name)
    lines = list(spans.span_lines(result.trace_lines()))
    assert lines == list(spans.span_lines(result.trace_lines()))  # deterministic
    written = [json.loads(line) for line in lines]
    problems: list[str] = []
    seen: dict[str, int] = {}
    position = 0
    for doc in result.documents:
        entities = _entities(doc, doc.get("parent_id"))
        if doc.get("origin") == "AWS::Lambda":
            snapshot = written[position]
            position += 1
            if snapshot["spanId"] != doc["id"] or "endTimeUnixNano" in snapshot:
                problems.append(f"{doc['id']}: no snapshot before the service segment")
        for entity_id, parent, entity in entities:
            span = written[position]
            position += 1
            seen[entity_id] = seen.get(entity_id, 0) + 1
            if span["spanId"] != entity_id or span.get("parentSpanId") != parent:
                problems.append(f"{entity_id}: span {span['spanId']} under {parent}")
            if span["traceId"] != doc["trace_id"][2:10] + doc["trace_id"][11:]:
                problems.append(f"{entity_id}: trace {span['traceId']}")
            if span["startTimeUnixNano"] / 10**9 != entity["start_time"]:
                problems.append(f"{entity_id}: start not exact")
            if span["endTimeUnixNano"] / 10**9 != entity["end_time"]:
                problems.append(f"{entity_id}: end not exact")
            if span["durationNano"] != span["endTimeUnixNano"] - span["startTimeUnixNano"]:
                problems.append(f"{entity_id}: duration")
            if span["_aws"]["xray"]["name"] != entity["name"]:
                problems.append(f"{entity_id}: X-Ray name {span['_aws']['xray']['name']}")
    assert position == len(written)
    assert all(count == 1 for count in seen.values())
    assert not problems, "\n".join(problems[:20])
