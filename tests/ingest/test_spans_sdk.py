"""Real span examples (design note §1.1) and SDK spans without Lambda's service segments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
from _docs import write_lines

from tracelens.analysis import analyse
from tracelens.ingest import read_traces
from tracelens.ingest.side import read_side_inputs
from tracelens.model import schema as col

if TYPE_CHECKING:
    from pathlib import Path

# Example A of the design note: an API Gateway subsegment calling Lambda (abridged).
EXAMPLE_A: dict[str, Any] = {
    "resource": {
        "attributes": {
            "service.name": "appointment-service-gateway",
            "cloud.platform": "aws_api_gateway",
            "cloud.resource_id": "arn:aws:apigateway:us-east-1::/restapis/vg2r8xjefg/stages/prod",
            "cloud.account.id": "140023401067",
        }
    },
    "traceId": "6880250e4fc5b1c42f7b40fc4801f9fd",
    "spanId": "0a5d33388552b5f5",
    "parentSpanId": "30ed105a9aa5beb1",
    "name": "awslambda.Invoke",
    "kind": "CLIENT",
    "startTimeUnixNano": 1753228558420999936,
    "durationNano": 39000064,
    "attributes": {
        "aws.remote.service": "appointment-service-get",
        "aws.remote.operation": "Invoke",
        "aws.span.kind": "CLIENT",
        "aws.local.environment": "api-gateway:prod",
        "aws.function_name": "appointment-service-get",
        "http.status_code": 502,
    },
    "status": {"code": "UNSET"},
    "_aws": {"xray": {"name": "awslambda", "namespace": "aws", "type": "subsegment"}},
}

TRACE = "6759b1c5" + "0" * 23 + "1"
START = 1733931461_000_000_000  # 0x6759b1c5 s


def _span(span_id: str, name: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": START,
        "endTimeUnixNano": START + 500_000_000,
        "status": {"code": "UNSET"},
        **fields,
    }


def _function_segment() -> list[dict[str, Any]]:
    service = _span(
        "48fec93dfe409500",
        "orders/LambdaService",
        "SERVER",
        attributes={"aws.request_id": "req-1"},
        _aws={"xray": {"name": "orders", "type": "segment"}},
    )
    function = _span(
        "48fec93dfe40959d",
        "orders/LambdaExecutionEnvironment",
        "SERVER",
        parentSpanId="48fec93dfe409500",
        _aws={"xray": {"name": "orders", "type": "segment"}},
    )
    return [service, function]


def _handler(parent: str | None, **attributes: Any) -> dict[str, Any]:
    # Example B of the design note: ADOT's Python handler span.
    extra = {"parentSpanId": parent} if parent else {}
    return _span(
        "77aa000000000001",
        "app.lambda_handler",
        "SERVER",
        resource={"attributes": {"faas.name": "orders", "service.name": "orders-svc"}},
        scope={"name": "opentelemetry.instrumentation.aws_lambda", "version": "0.48b0"},
        attributes={
            "aws.local.service": "orders",
            "aws.local.operation": "orders/FunctionHandler",
            "aws.span.kind": "LOCAL_ROOT",
            "PlatformType": "AWS::Lambda",
            **attributes,
        },
        **extra,
    )


def test_example_a_is_a_subsegment_with_its_duration(tmp_path: Path) -> None:
    owner = {
        **EXAMPLE_A,
        "spanId": "30ed105a9aa5beb1",
        "name": "appointment-service-gateway",
        "kind": "SERVER",
        "_aws": {"xray": {"name": "appointment-service-gateway", "type": "segment"}},
    }
    del owner["parentSpanId"]
    frames = read_traces([write_lines(tmp_path / "a.ndjson", [owner, EXAMPLE_A])])
    assert frames.stats.rejected == 0
    rows = frames.entities
    assert rows.height == 1  # the awslambda subsegment has no row of its own, as nested
    assert rows.get_column(col.TRACE_ID).cast(pl.String).to_list() == [
        "1-6880250e-4fc5b1c42f7b40fc4801f9fd"
    ]


def test_example_b_under_a_function_segment_is_no_second_invocation(tmp_path: Path) -> None:
    spans = [*_function_segment(), _handler("48fec93dfe40959d", **{"faas.coldstart": True})]
    frames = read_traces([write_lines(tmp_path / "b.ndjson", spans)])
    functions = frames.entities.filter(pl.col(col.KIND) == col.KIND_FUNCTION)
    assert functions.get_column(col.ID).to_list() == ["48fec93dfe40959d"]
    assert frames.entities.filter(pl.col(col.ID) == "77aa000000000001").is_empty()
    assert frames.entities.filter(pl.col(col.KIND) == col.KIND_INITIALIZATION).is_empty()


def test_an_sdk_span_alone_is_an_invocation_with_its_request_id(tmp_path: Path) -> None:
    # GIVEN only the handler's span (an unsampled invocation: no Lambda segments), cold
    handler = _handler(
        None,
        **{
            "faas.invocation_id": "inv-1",
            "faas.coldstart": True,
            "cloud.resource_id": "arn:aws:lambda:us-east-1:123456789012:function:orders",
        },
    )
    consumer = _span(
        "77aa000000000002",
        "orders-queue process",
        "CONSUMER",
        parentSpanId="77aa000000000001",
        attributes={"messaging.system": "aws_sqs", "messaging.message.id": "msg-1"},
    )
    path = write_lines(tmp_path / "sdk.ndjson", [handler, consumer])
    frames = read_traces([path])
    # THEN one cold invocation of "orders"; its row keeps the invocation id as request id
    function = frames.entities.filter(pl.col(col.KIND) == col.KIND_FUNCTION).row(0, named=True)
    assert (function[col.NAME], function[col.REQUEST_ID], function[col.ARN]) == (
        "orders",
        "inv-1",
        "arn:aws:lambda:us-east-1:123456789012:function:orders",
    )
    results = analyse(frames, read_side_inputs([path], config=None, dlq=()))
    invocation = results.invocations.row(0, named=True)
    assert (invocation["function"], invocation["cold"]) == ("orders", True)
    # AND the consumer span is a delivery of its message
    record = frames.entities.filter(pl.col(col.KIND) == col.KIND_RECORD).row(0, named=True)
    assert (record[col.MESSAGE_ID], record[col.EVENT_SOURCE], record[col.DOC_ID]) == (
        "msg-1",
        "aws:sqs",
        "77aa000000000001",
    )


def test_an_sdk_lambda_invoke_is_the_callers_call(tmp_path: Path) -> None:
    # GIVEN an SDK invocation calling another function through botocore's instrumentation,
    # and the called function's service segment (its parent: the client span)
    handler = _handler(None, **{"faas.invocation_id": "inv-1"})
    invoke = _span(
        "77aa000000000003",
        "Lambda.Invoke",
        "CLIENT",
        parentSpanId="77aa000000000001",
        attributes={
            "rpc.system": "aws-api",
            "rpc.service": "Lambda",
            "rpc.method": "Invoke",
            "aws.remote.service": "AWS::Lambda",
        },
    )
    service = _span(
        "48fec93dfe409500",
        "billing/LambdaService",
        "SERVER",
        parentSpanId="77aa000000000003",
        _aws={"xray": {"name": "billing", "type": "segment"}},
    )
    frames = read_traces([write_lines(tmp_path / "c.ndjson", [handler, invoke, service])])
    call = frames.entities.filter(pl.col(col.KIND) == col.KIND_CALL).row(0, named=True)
    assert (call[col.NAME], call[col.OPERATION], call[col.DOC_ID], call[col.TOP]) == (
        "Lambda",
        "Invoke",
        "77aa000000000001",
        False,
    )


def test_invocations_without_lambda_service_data_are_said_to_be_incomplete(tmp_path: Path) -> None:
    # GIVEN one invocation known from Lambda's own spans and one known only from an SDK span
    sdk_only = _handler(None, **{"faas.invocation_id": "inv-2"})
    sdk_only = {**sdk_only, "traceId": TRACE[:-1] + "2"}
    path = write_lines(tmp_path / "mixed.ndjson", [*_function_segment(), sdk_only])
    results = analyse(read_traces([path]), read_side_inputs([path], config=None, dlq=()))
    # THEN the report says that the second is not counted as a request, and why
    found = [f for f in results.findings if f.code == "INVOCATIONS_WITHOUT_REQUEST"]
    assert [(f.function, f.count) for f in found] == [("orders", 1)]
    assert "Mode=Active" in found[0].message
    assert list(found[0].examples) == ["1-6759b1c5-000000000000000000000002"]
