"""Spans made by the real OpenTelemetry SDK, in protobuf's generic JSON (base64 ids, enum
names, 64-bit integers as strings), are read as an SDK invocation with its SQS delivery."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import polars as pl
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracelens.ingest import read_traces
from tracelens.model import schema as col

if TYPE_CHECKING:
    from pathlib import Path

START = 1_700_000_000_000_000_000


def test_sdk_spans_in_protobuf_json(tmp_path: Path) -> None:
    # GIVEN an instrumented handler's spans, as the SDK makes them
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"faas.name": "orders", "service.name": "svc"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("opentelemetry.instrumentation.aws_lambda")
    with tracer.start_as_current_span(
        "orders",
        kind=SpanKind.SERVER,
        start_time=START,
        attributes={"faas.invocation_id": "inv-9", "faas.coldstart": False},
        end_on_exit=False,
    ) as handler:
        consumer = tracer.start_span(
            "orders-queue process",
            kind=SpanKind.CONSUMER,
            start_time=START + 1_000_000,
            attributes={"messaging.system": "aws_sqs", "messaging.message.id": "m-9"},
        )
        consumer.set_status(Status(StatusCode.ERROR))
        consumer.end(end_time=START + 2_000_000)
        handler.end(end_time=START + 3_000_000)
    request = json_format.MessageToDict(encode_spans(exporter.get_finished_spans()))
    line = json.dumps(request)
    assert '"kind": "SPAN_KIND_SERVER"' in line  # the generic mapping's spellings
    path = tmp_path / "otlp.ndjson"
    path.write_text(line + "\n")
    # WHEN it is read
    frames = read_traces([path])
    # THEN one invocation of orders and its delivery
    assert frames.stats.rejected == 0
    rows = frames.entities.sort(col.KIND)
    function = rows.filter(pl.col(col.KIND) == col.KIND_FUNCTION).row(0, named=True)
    assert (function[col.NAME], function[col.REQUEST_ID], function[col.END].timestamp()) == (
        "orders",
        "inv-9",
        (START + 3_000_000) / 10**9,
    )
    record = rows.filter(pl.col(col.KIND) == col.KIND_RECORD).row(0, named=True)
    assert (record[col.MESSAGE_ID], record[col.FAULT], record[col.DOC_ID]) == (
        "m-9",
        True,
        function[col.ID],
    )
    assert rows.filter(pl.col(col.KIND) == col.KIND_INITIALIZATION).is_empty()
