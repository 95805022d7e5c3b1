"""The reader rules of SPANS_CONTRACT.md beyond the inverse of the writer's table."""

from __future__ import annotations

from typing import Any

import pytest

from tracelens.ingest.span_mapping import SpanError, any_value, key_values, span_entity

BASE: dict[str, Any] = {
    "traceId": "6437350a5611b044040fc7224c4790b6",
    "spanId": "5e00000000000001",
    "parentSpanId": "5e00000000000000",
    "name": "",
    "startTimeUnixNano": 1681339658000000000,
    "endTimeUnixNano": 1681339658500000000,
}


def test_any_values_and_key_value_lists() -> None:
    assert any_value({"stringValue": "a"}) == "a"
    assert any_value({"boolValue": True}) is True
    assert any_value({"intValue": "9007199254740993"}) == 9007199254740993
    assert any_value({"intValue": 7}) == 7
    assert any_value({"doubleValue": 1.5}) == 1.5
    assert any_value({"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": "2"}]}}) == [
        "x",
        2,
    ]
    assert any_value(
        {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": False}}]}}
    ) == {"k": False}
    assert key_values([{"key": "a", "value": {"stringValue": "b"}}, {"nokey": 1}]) == {"a": "b"}
    assert key_values({"flat": 1}) == {"flat": 1}


@pytest.mark.parametrize(
    ("status", "http", "flags"),
    [
        ("ERROR", 404, (True, False, False)),
        ("ERROR", 429, (True, False, True)),
        ("ERROR", 502, (False, True, False)),
        ("ERROR", None, (False, True, False)),
        (2, 401, (True, False, False)),  # OTLP's integer form
        ("STATUS_CODE_ERROR", None, (False, True, False)),
        ("UNSET", 500, (False, False, False)),
        ("OK", None, (False, False, False)),
    ],
)
def test_failure_from_the_status_when_no_x_ray_flag(
    status: object, http: int | None, flags: tuple[bool, bool, bool]
) -> None:
    attributes = {} if http is None else {"http.status_code": http}
    entity = span_entity({**BASE, "status": {"code": status}, "attributes": attributes})
    assert (entity.error is True, entity.fault is True, entity.throttle is True) == flags


def test_x_ray_flags_win_over_the_status() -> None:
    entity = span_entity(
        {**BASE, "status": {"code": "ERROR"}, "attributes": {"aws.xray.throttle": True}}
    )
    assert (entity.error, entity.fault, entity.throttle) == (None, None, True)


@pytest.mark.parametrize("kind", ["SERVER", "SPAN_KIND_SERVER", 2, "server"])
def test_kinds_in_every_spelling(kind: object) -> None:
    # a SERVER span without _aws.xray is a segment even with a parent
    assert span_entity({**BASE, "name": "svc", "kind": kind}).type == "segment"


def test_lambda_segments_by_origin_attribute_and_name() -> None:
    service = span_entity(
        {
            **BASE,
            "name": "whatever",
            "attributes": {"aws.xray.origin": "AWS::Lambda"},
            "_aws": {"xray": {"name": "fn", "type": "segment"}},
        }
    )
    assert (service.name, service.origin, service.type) == ("fn", "AWS::Lambda", "segment")
    function = span_entity({**BASE, "name": "fn/LambdaExecutionEnvironment", "kind": "SERVER"})
    assert (function.name, function.origin) == ("fn", "AWS::Lambda::Function")


@pytest.mark.parametrize(
    ("name", "xray_name"),
    [
        ("Init/LambdaExecutionEnvironment", None),
        ("Init/LambdaExecutionEnvironment", "Init"),
        ("Initialization/LambdaExecutionEnvironment", None),
        ("", "Init"),
        ("", "Initialization"),
    ],
)
def test_every_cold_start_spelling_is_initialization(name: str, xray_name: str | None) -> None:
    xray = {"type": "subsegment", **({"name": xray_name} if xray_name else {})}
    entity = span_entity({**BASE, "name": name, "kind": "INTERNAL", "_aws": {"xray": xray}})
    assert (entity.name, entity.type) == ("Initialization", "subsegment")


def test_attempts_by_name_too() -> None:
    assert span_entity({**BASE, "name": "Attempt #2"}).name == "Attempt #2"


def test_duration_without_an_end_and_exact_seconds() -> None:
    span = {**BASE, "startTimeUnixNano": 1753228558420999936, "durationNano": 39000064}
    del span["endTimeUnixNano"]
    entity = span_entity(span)
    assert entity.start_time == 1753228558420999936 / 10**9
    assert entity.end_time == (1753228558420999936 + 39000064) / 10**9
    assert entity.in_progress is None


def test_an_exception_event_is_the_cause() -> None:
    entity = span_entity(
        {
            **BASE,
            "events": [
                {
                    "name": "exception",
                    "attributes": [
                        {"key": "exception.type", "value": {"stringValue": "KeyError"}},
                        {"key": "exception.message", "value": {"stringValue": "'x'"}},
                    ],
                }
            ],
            "_aws": {"xray": {"cause": {"message": "'x'"}}},
        }
    )
    assert entity.cause is not None
    assert not isinstance(entity.cause, str)
    assert [(e.type, e.message) for e in entity.cause.exceptions or []] == [("KeyError", "'x'")]


def test_negative_durations_are_rejected() -> None:
    span = {**BASE, "durationNano": -5}
    del span["endTimeUnixNano"]
    with pytest.raises(SpanError, match="negative"):
        span_entity(span)
