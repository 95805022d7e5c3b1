"""listen takes OTLP: the real OpenTelemetry SDK's OTLP/HTTP exporter, OTLP/JSON bodies, and the
ADOT Lambda layer's T1S / T1U datagrams on the daemon port, all written to otlp.ndjson."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tracelens.acquire.otlp_file import OtlpFile
from tracelens.acquire.otlp_http import OtlpHttpServer, decompress, status_body
from tracelens.acquire.otlp_json import decode_json, decode_protobuf, message_to_json
from tracelens.acquire.udp import Listener, ListenSummary
from tracelens.commands.listen import format_listen_summary, run_listen
from tracelens.errors import SourceUnavailable
from tracelens.model.bundle import OTLP_FILE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

HEADER = b'{"format":"json","version":1}\n'
XRAY_TRACE = "1-6553f100-0123456789abcdef01234567"


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def xray_datagram(i: int) -> bytes:
    doc = {
        "name": "svc",
        "id": f"{i:016x}",
        "trace_id": XRAY_TRACE,
        "start_time": 1.7e9 + i,
        "end_time": 1.7e9 + i + 0.5,
    }
    return HEADER + json.dumps(doc).encode()


def adot_datagram(spans: list[ReadableSpan], prefix: str = "T1S") -> bytes:
    """A datagram built as the ADOT layer's OTLPUdpSpanExporter builds it: the daemon header,
    the prefix, the base64 of the serialized request (otlp_udp_exporter.py, UdpExporter.send_data)."""
    data = encode_spans(spans).SerializeToString()
    return f"{HEADER.decode()}{prefix}{base64.b64encode(data).decode('utf-8')}".encode()


class Capture:
    """A UDP listener and an OTLP/HTTP server sharing one otlp.ndjson, as run_listen wires them."""

    def __init__(self, directory: Path, *, max_body: int = 20 * 1024 * 1024) -> None:
        self.traces = directory / "traces.ndjson"
        self.otlp_path = directory / OTLP_FILE
        self.otlp = OtlpFile(self.otlp_path).open()
        self.listener = Listener(("127.0.0.1", 0), self.traces, None, 30.0, None, otlp=self.otlp)
        self.server = OtlpHttpServer(("127.0.0.1", 0), self.otlp, max_body=max_body)

    def start(self) -> Capture:
        self.server.start()
        self.listener.start()
        return self

    @property
    def url(self) -> str:
        host, port = self.server.address
        return f"http://{host}:{port}/v1/traces"

    def stop(self) -> ListenSummary:
        self.listener.stop()
        self.listener.wait()
        self.server.stop()
        self.otlp.close()
        return self.listener.summary()

    def lines(self) -> list[dict[str, Any]]:
        if not self.otlp_path.exists():
            return []
        return [json.loads(line) for line in self.otlp_path.read_text().splitlines()]

    def post(
        self,
        body: bytes,
        *,
        content_type: str = "application/json",
        path: str = "/v1/traces",
        method: str = "POST",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        host, port = self.server.address
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            conn.request(
                method,
                path,
                body=body if method != "GET" else None,
                headers={"Content-Type": content_type, **(headers or {})},
            )
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[Capture]:
    cap = Capture(tmp_path).start()
    try:
        yield cap
    finally:
        cap.stop()


def all_spans(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        span
        for line in lines
        for res in line["resourceSpans"]
        for scope in res["scopeSpans"]
        for span in scope["spans"]
    ]


def attrs(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: item["value"] for item in items}


def record_spans(provider: TracerProvider) -> None:
    """A SERVER invocation span with attributes, an event, a link and an error child."""
    tracer = provider.get_tracer("tests.otlp", "1.2.3")
    with tracer.start_as_current_span(
        "orders-worker",
        kind=SpanKind.SERVER,
        attributes={
            "faas.invocation_id": "8f1c1a4e-0000-4000-8000-000000000001",
            "faas.coldstart": True,
            "faas.max_memory": 134217728,
            "ratio": 0.25,
            "tags": ["a", "b"],
        },
    ) as server:
        server.add_event("received", {"messaging.batch.message_count": 3})
        producer = server.get_span_context()
        with tracer.start_as_current_span(
            "orders process",
            kind=SpanKind.CONSUMER,
            links=[Link(producer, {"messaging.message.id": "m-1"})],
        ) as child:
            child.set_status(Status(StatusCode.ERROR, "boom"))


def check_against_sdk(spans: list[dict[str, Any]], finished: list[ReadableSpan]) -> None:
    """Every SDK span arrived with its ids (hex), name, kind, times, attributes and links."""
    by_id = {span["spanId"]: span for span in spans}
    assert len(by_id) == len(finished) == len(spans)
    for sdk in finished:
        ctx = sdk.get_span_context()
        assert ctx is not None
        got = by_id[f"{ctx.span_id:016x}"]
        assert got["traceId"] == f"{ctx.trace_id:032x}"
        assert got["name"] == sdk.name
        assert got["kind"] == sdk.kind.value + 1  # OTLP's SpanKind counts UNSPECIFIED as 0
        assert got["startTimeUnixNano"] == sdk.start_time
        assert got["endTimeUnixNano"] == sdk.end_time
        assert isinstance(got["startTimeUnixNano"], int)
        if sdk.parent is None:
            assert "parentSpanId" not in got
        else:
            assert got["parentSpanId"] == f"{sdk.parent.span_id:016x}"
    server = next(s for s in spans if s["name"] == "orders-worker")
    assert attrs(server["attributes"]) == {
        "faas.invocation_id": {"stringValue": "8f1c1a4e-0000-4000-8000-000000000001"},
        "faas.coldstart": {"boolValue": True},
        "faas.max_memory": {"intValue": 134217728},
        "ratio": {"doubleValue": 0.25},
        "tags": {"arrayValue": {"values": [{"stringValue": "a"}, {"stringValue": "b"}]}},
    }
    assert server["kind"] == 2
    (event,) = server["events"]
    assert event["name"] == "received"
    assert attrs(event["attributes"]) == {"messaging.batch.message_count": {"intValue": 3}}
    child = next(s for s in spans if s["name"] == "orders process")
    assert child["kind"] == 5
    assert child["status"] == {"message": "boom", "code": 2}
    (link,) = child["links"]
    assert link["traceId"] == server["traceId"]
    assert link["spanId"] == server["spanId"]
    assert attrs(link["attributes"]) == {"messaging.message.id": {"stringValue": "m-1"}}


@pytest.mark.parametrize(
    "compression", [Compression.NoCompression, Compression.Gzip, Compression.Deflate]
)
def test_sdk_otlp_http_exporter_spans_arrive(capture: Capture, compression: Compression) -> None:
    # GIVEN the real SDK with its OTLP/HTTP exporter pointed at the listener
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "orders", "faas.name": "orders-worker"})
    )
    results: list[SpanExportResult] = []

    class Recording(OTLPSpanExporter):
        """The SDK's exporter, noting what each export returned."""

        def export(self, spans: Any) -> SpanExportResult:
            result = super().export(spans)
            results.append(result)
            return result

    provider.add_span_processor(
        SimpleSpanProcessor(Recording(endpoint=capture.url, compression=compression))
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    # WHEN it records spans (SimpleSpanProcessor exports each as it ends)
    record_spans(provider)
    provider.shutdown()
    # THEN every export was answered 200 and is already on disk (flushed before the answer)
    assert results == [SpanExportResult.SUCCESS] * 2
    lines = capture.lines()
    assert len(lines) == 2
    check_against_sdk(all_spans(lines), list(memory.get_finished_spans()))
    resource = attrs(lines[0]["resourceSpans"][0]["resource"]["attributes"])
    assert resource["service.name"] == {"stringValue": "orders"}
    assert resource["faas.name"] == {"stringValue": "orders-worker"}
    assert lines[0]["resourceSpans"][0]["scopeSpans"][0]["scope"] == {
        "name": "tests.otlp",
        "version": "1.2.3",
    }
    counts = capture.otlp.counts()
    assert (counts.requests, counts.spans, counts.malformed, counts.ignored) == (2, 2, 0, 0)


def test_sdk_batch_processor_many_spans(capture: Capture) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=capture.url, compression=Compression.Gzip),
            max_export_batch_size=64,
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("batch")
    for i in range(300):
        with tracer.start_as_current_span(f"op-{i}", attributes={"i": i}):
            pass
    assert provider.force_flush()
    provider.shutdown()
    spans = all_spans(capture.lines())
    finished = memory.get_finished_spans()
    assert sorted(s["spanId"] for s in spans) == sorted(
        f"{s.context.span_id:016x}" for s in finished
    )
    assert capture.otlp.counts().spans == 300
    assert capture.otlp.counts().requests == len(capture.lines()) >= 5


SPEC_EXAMPLE = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]
            },
            "scopeSpans": [
                {
                    "scope": {"name": "my.library", "version": "1.0.0"},
                    "spans": [
                        {
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "EEE19B7EC3C1B174",
                            "parentSpanId": "EEE19B7EC3C1B173",
                            "name": "I'm a server span",
                            "startTimeUnixNano": 1544712660000000000,
                            "endTimeUnixNano": 1544712661000000000,
                            "kind": 2,
                            "attributes": [
                                {"key": "my.span.attr", "value": {"stringValue": "some value"}}
                            ],
                        }
                    ],
                }
            ],
        }
    ]
}


def test_json_bodies_via_urllib(capture: Capture) -> None:
    import urllib.request

    def post(body: bytes, **headers: str) -> tuple[int, str, bytes]:
        request = urllib.request.Request(
            capture.url, data=body, headers={"Content-Type": "application/json", **headers}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()

    # WHEN the specification's example is posted as is, gzipped, and in the generic protobuf
    # JSON spelling (base64 ids, 64-bit integers as strings, enum names)
    plain = json.dumps(SPEC_EXAMPLE).encode()
    generic = json.loads(plain)
    span = generic["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"] = base64.b64encode(bytes.fromhex(span["traceId"])).decode()
    span["spanId"] = base64.b64encode(bytes.fromhex(span["spanId"])).decode()
    span["startTimeUnixNano"] = str(span["startTimeUnixNano"])
    span["endTimeUnixNano"] = str(span["endTimeUnixNano"])
    span["kind"] = "SPAN_KIND_SERVER"
    span["attributes"].append({"key": "n", "value": {"intValue": "9007199254740993"}})
    span["futureField"] = {"x": 1}
    answers = [
        post(plain),
        post(gzip.compress(plain), **{"Content-Encoding": "gzip"}),
        post(json.dumps(generic).encode(), **{"Content-Type": "application/json; charset=utf-8"}),
    ]
    # THEN each is answered 200 with an empty JSON ExportTraceServiceResponse
    assert answers == [(200, "application/json", b"{}")] * 3
    first, second, third = capture.lines()
    assert first == second
    got = first["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    # ids lowercase hex, times JSON integers, keys as the specification spells them
    assert got == {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "eee19b7ec3c1b173",
        "name": "I'm a server span",
        "kind": 2,
        "startTimeUnixNano": 1544712660000000000,
        "endTimeUnixNano": 1544712661000000000,
        "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}],
    }
    third_span = third["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert third_span["traceId"] == got["traceId"]
    assert third_span["spanId"] == got["spanId"]
    assert third_span["kind"] == 2
    assert third_span["startTimeUnixNano"] == 1544712660000000000
    # an int64 above 2**53 kept exactly; the unknown field dropped
    assert attrs(third_span["attributes"])["n"] == {"intValue": 9007199254740993}
    assert "futureField" not in third_span


def test_protobuf_answer_is_an_empty_response(capture: Capture) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    record_spans(provider)
    body = encode_spans(memory.get_finished_spans()).SerializeToString()
    status, headers, answer = capture.post(body, content_type="application/x-protobuf")
    assert status == 200
    assert headers["Content-Type"] == "application/x-protobuf"
    assert answer == ExportTraceServiceResponse().SerializeToString() == b""
    check_against_sdk(all_spans(capture.lines()), list(memory.get_finished_spans()))


def test_malformed_and_refused_requests_are_counted_never_fatal(tmp_path: Path) -> None:
    from google.rpc.status_pb2 import Status as RpcStatus

    cap = Capture(tmp_path, max_body=4096).start()
    try:
        good = json.dumps(SPEC_EXAMPLE).encode()
        bad_id = json.loads(good)
        bad_id["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = "not-an-id!"
        bad_type = json.loads(good)
        bad_type["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] = 5
        pb = "application/x-protobuf"
        cases: list[tuple[dict[str, Any], int]] = [
            ({"body": b"\xff\xff\xff", "content_type": pb}, 400),
            ({"body": b"{not json"}, 400),
            ({"body": b"[1, 2]"}, 400),
            ({"body": json.dumps(bad_id).encode()}, 400),
            ({"body": json.dumps(bad_type).encode()}, 400),
            ({"body": b"\x1f\x8b garbage", "headers": {"Content-Encoding": "gzip"}}, 400),
            ({"body": gzip.compress(good)[:-12], "headers": {"Content-Encoding": "gzip"}}, 400),
            ({"body": good, "content_type": "text/plain"}, 415),
            ({"body": good, "headers": {"Content-Encoding": "br"}}, 415),
            ({"body": b"x" * 5000}, 413),
            # a small gzip body that inflates past the limit
            (
                {"body": gzip.compress(b" " * 100_000), "headers": {"Content-Encoding": "gzip"}},
                413,
            ),
        ]
        ignored: list[tuple[dict[str, Any], int]] = [
            ({"body": good, "path": "/v1/metrics"}, 404),
            ({"body": b"", "method": "GET"}, 405),
            ({"body": good, "method": "PUT"}, 405),
        ]
        answers = []
        for kwargs, expected in cases + ignored:
            status, headers, body = cap.post(**kwargs)
            answers.append((status, expected))
            if status == 405:
                assert headers["Allow"] == "POST"
            # error bodies are a google.rpc.Status, JSON for a JSON request, else protobuf
            if kwargs.get("content_type", "application/json") == "application/json":
                assert headers["Content-Type"] == "application/json"
                assert json.loads(body)["message"]
            else:
                assert headers["Content-Type"] == pb
                assert RpcStatus.FromString(body).message
        assert [a for a, _ in answers] == [e for _, e in answers]
        # AND the server still takes a good request afterwards
        assert cap.post(good)[0] == 200
    finally:
        summary = cap.stop()
    assert len(cap.lines()) == 1
    assert summary.otlp_malformed == len(cases)
    assert summary.otlp_ignored == len(ignored)
    assert (summary.otlp_requests, summary.otlp_spans) == (1, 1)
    assert len(cap.otlp.malformed_reasons) == 5  # only the first few are logged


def test_odd_content_length_is_a_400_not_a_traceback(
    capture: Capture, capsys: pytest.CaptureFixture[str]
) -> None:
    # "²" is a digit to str.isdigit() but not to int(): the handler must not crash on it
    for length in ("\u00b2", "-1", "12x"):
        with socket.create_connection(capture.server.address, timeout=5) as conn:
            conn.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + length.encode("latin-1") + b"\r\n\r\n{}"
            )
            answer = conn.recv(65536)
        assert answer.startswith(b"HTTP/1.1 400 "), (length, answer)
    assert capture.otlp.counts().malformed == 3
    assert "Traceback" not in capsys.readouterr().err


def test_write_failure_answers_500_and_stops_the_listener(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a sink whose file cannot be written (a full disk), shared as run_listen shares it
    stopped: list[bool] = []
    sink = OtlpFile(tmp_path / OTLP_FILE, on_error=lambda: stopped.append(True))

    def full_disk() -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sink, "_open_locked", full_disk)
    server = OtlpHttpServer(("127.0.0.1", 0), sink).start()
    try:
        host, port = server.address
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request(
            "POST",
            "/v1/traces",
            body=json.dumps(SPEC_EXAMPLE).encode(),
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        # THEN the client hears 500 (not retryable), the owner is told once, the error kept
        assert response.status == 500
        assert "cannot write" in json.loads(response.read())["message"]
        conn.close()
    finally:
        server.stop()
    assert stopped == [True]
    assert isinstance(sink.error, OSError)
    assert sink.counts().requests == 0


def test_unwritable_otlp_file_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    out = tmp_path / "blocker" / "traces.ndjson"
    with pytest.raises(SourceUnavailable, match="cannot write"):
        run_listen(out=out, bind="127.0.0.1:0", otlp_http="127.0.0.1:0", install_signals=False)
    # UDP only: the file is opened with the first OTLP datagram, and the run fails then
    listener = Listener(
        ("127.0.0.1", 0),
        tmp_path / "t.ndjson",
        None,
        30.0,
        None,
        otlp=OtlpFile(tmp_path / "blocker" / OTLP_FILE),
    ).start()
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    record_spans(provider)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(adot_datagram(list(memory.get_finished_spans())), listener.address)
    with pytest.raises(SourceUnavailable, match="listener failed"):
        listener.wait()


def test_malformed_reason_is_escaped_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a reason quoting the input (a parser's message) must not drive the terminal
    sink = OtlpFile(tmp_path / OTLP_FILE)
    sink.malformed("bad value \x1b]0;owned\x07", b"\x1b")
    (record,) = [r for r in caplog.records if "malformed OTLP input" in r.message]
    assert "\x1b" not in record.getMessage()
    assert "\\x1b]0;owned" in record.getMessage()


def test_request_without_spans_is_counted_not_written(capture: Capture) -> None:
    assert capture.post(b"{}")[0] == 200
    assert capture.post(b"", content_type="application/x-protobuf")[0] == 200
    assert capture.lines() == []
    assert capture.otlp.counts().requests == 2


def test_udp_adot_datagrams_next_to_xray_datagrams(tmp_path: Path) -> None:
    # GIVEN SDK spans of a sampled and of an unsampled invocation
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    record_spans(provider)
    sampled = list(memory.get_finished_spans())
    memory.clear()
    tracer = provider.get_tracer("unsampled")
    with tracer.start_as_current_span("quiet-fn", kind=SpanKind.SERVER):
        pass
    unsampled = list(memory.get_finished_spans())
    # WHEN X-Ray and OTLP datagrams arrive on one real socket, with OTLP metrics and bad ones
    out = tmp_path / "traces.ndjson"
    listener = Listener(("127.0.0.1", 0), out, None, 30.0, None).start()
    datagrams = [
        xray_datagram(1),
        adot_datagram(sampled, "T1S"),
        xray_datagram(2),
        adot_datagram(unsampled, "T1U"),
        HEADER + b"M1" + base64.b64encode(b"metrics"),
        HEADER + b"T1S!!not base64!!",
        HEADER + b"T1S" + base64.b64encode(b"\xff\xff\xff"),
        b'{"format":"json","version":7}\nT1S' + base64.b64encode(b""),
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            s.sendto(d, listener.address)
    assert wait_for(lambda: listener.received >= len(datagrams))
    # and it is stopped at once: the queue is drained and both files flushed
    listener.stop()
    summary = listener.wait()
    # THEN segment documents went to the traces file, OTLP spans to otlp.ndjson beside it
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [
        f"{1:016x}",
        f"{2:016x}",
    ]
    otlp_lines = [json.loads(x) for x in (tmp_path / OTLP_FILE).read_text().splitlines()]
    assert len(otlp_lines) == 2
    check_against_sdk(all_spans(otlp_lines[:1]), sampled)
    (quiet,) = all_spans(otlp_lines[1:])
    assert quiet["name"] == "quiet-fn"
    assert (summary.received, summary.written, summary.malformed) == (8, 2, 0)
    assert (summary.otlp_requests, summary.otlp_spans, summary.otlp_unsampled) == (2, 3, 1)
    assert (summary.otlp_malformed, summary.otlp_ignored) == (3, 1)
    assert listener.otlp.malformed_reasons == [
        "OTLP datagram body is not base64: Only base64 data is allowed",
        listener.otlp.malformed_reasons[1],
        "invalid header: format must be json and version 1",
    ]
    assert "not a protobuf ExportTraceServiceRequest" in listener.otlp.malformed_reasons[1]
    assert format_listen_summary(summary) == (
        "received 8, malformed 0, written 2, dropped 0; "
        "OTLP: requests 2, spans 3 (1 unsampled), malformed 3, ignored 1"
    )


def test_many_udp_otlp_datagrams_flushed_on_stop(tmp_path: Path) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("burst")
    for i in range(200):
        with tracer.start_as_current_span(f"op-{i}"):
            pass
    spans = list(memory.get_finished_spans())
    listener = Listener(("127.0.0.1", 0), tmp_path / "t.ndjson", None, 30.0, None).start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for span in spans:
            s.sendto(adot_datagram([span]), listener.address)
    assert wait_for(lambda: listener.received >= 200)
    listener.stop()
    summary = listener.wait()
    names = [
        s["name"]
        for s in all_spans([json.loads(x) for x in (tmp_path / OTLP_FILE).read_text().splitlines()])
    ]
    assert names == [f"op-{i}" for i in range(200)]
    assert summary.otlp_spans == summary.otlp_requests == 200


def test_writes_after_close_are_refused_with_503(tmp_path: Path) -> None:
    cap = Capture(tmp_path).start()
    try:
        cap.otlp.close()
        status, headers, _ = cap.post(json.dumps(SPEC_EXAMPLE).encode())
        assert status == 503
        assert headers["Retry-After"]
    finally:
        cap.stop()
    assert cap.lines() == []
    assert cap.otlp.counts().requests == 0


def test_run_listen_in_process(tmp_path: Path) -> None:
    # GIVEN run_listen with --otlp-http on a free port, stopped by its duration
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "bundle" / "traces.ndjson"
    result: list[ListenSummary] = []
    thread = threading.Thread(
        target=lambda: result.append(
            run_listen(
                out=out,
                bind="127.0.0.1:0",
                otlp_http=f"127.0.0.1:{port}",
                duration=3.0,
                install_signals=False,
            )
        )
    )
    thread.start()
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))

    def serving() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    assert wait_for(serving)
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    record_spans(provider)
    thread.join(timeout=15)
    (summary,) = result
    assert summary.otlp_spans == 2
    lines = [json.loads(x) for x in (tmp_path / "bundle" / OTLP_FILE).read_text().splitlines()]
    assert len(all_spans(lines)) == 2


def test_summary_line_shows_otlp_when_asked_or_seen() -> None:
    quiet = ListenSummary(3, 1, 2, 0, 0, 0, 0)
    assert format_listen_summary(quiet) == "received 3, malformed 1, written 2, dropped 0"
    assert format_listen_summary(quiet, show_otlp=True) == (
        "received 3, malformed 1, written 2, dropped 0; "
        "OTLP: requests 0, spans 0, malformed 0, ignored 0"
    )
    ignored_only = ListenSummary(1, 0, 0, 0, 0, 0, 0, otlp_ignored=1)
    assert format_listen_summary(ignored_only).endswith(
        "OTLP: requests 0, spans 0, malformed 0, ignored 1"
    )


def test_run_listen_refuses_output_named_like_the_otlp_file(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="where OTLP spans go"):
        run_listen(out=tmp_path / OTLP_FILE, bind="127.0.0.1:0", install_signals=False)


def test_otlp_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = OtlpHttpServer(("127.0.0.1", port), OtlpFile(tmp_path / OTLP_FILE))
        with pytest.raises(SourceUnavailable, match="cannot serve OTLP on"):
            server.start()
    with pytest.raises(SourceUnavailable, match="not a loopback address"):
        OtlpHttpServer(("10.0.0.1", 4318), OtlpFile(tmp_path / OTLP_FILE))


def test_sigterm_flushes_subprocess_with_otlp_http(tmp_path: Path) -> None:
    # GIVEN `tracelens listen --otlp-http` in its own process
    out = tmp_path / "traces.ndjson"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracelens",
            "listen",
            "-o",
            str(out),
            "--bind",
            "127.0.0.1:0",
            "--otlp-http",
            "127.0.0.1:0",
            "--duration",
            "30",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        udp_port = int(first.split("127.0.0.1:")[1].split(",")[0])
        second = proc.stderr.readline()
        assert "OTLP/HTTP on http://127.0.0.1:" in second, second
        http_port = int(second.split("127.0.0.1:")[1].split("/")[0])
        # WHEN the SDK exports over HTTP, ADOT datagrams arrive on UDP, and SIGTERM follows
        memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        provider.add_span_processor(
            SimpleSpanProcessor(
                OTLPSpanExporter(
                    endpoint=f"http://127.0.0.1:{http_port}/v1/traces",
                    compression=Compression.Gzip,
                )
            )
        )
        record_spans(provider)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(50):
                s.sendto(adot_datagram(list(memory.get_finished_spans())), ("127.0.0.1", udp_port))
                s.sendto(xray_datagram(i), ("127.0.0.1", udp_port))
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    # THEN everything received is in the files and the counts say so
    assert code == 0, rest
    assert (
        "received 100, malformed 0, written 50, dropped 0; "
        "OTLP: requests 52, spans 102, malformed 0, ignored 0"
    ) in rest
    assert len(out.read_text().splitlines()) == 50
    assert len((tmp_path / OTLP_FILE).read_text().splitlines()) == 52
    assert f"OTLP spans written to {tmp_path / OTLP_FILE}" in rest


def test_message_to_json_value_forms() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList

    value = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                KeyValue(key="nan", value=AnyValue(double_value=float("nan"))),
                KeyValue(key="inf", value=AnyValue(double_value=float("-inf"))),
                KeyValue(key="raw", value=AnyValue(bytes_value=b"\x00\xff")),
                KeyValue(key="empty", value=AnyValue(string_value="")),
                KeyValue(key="false", value=AnyValue(bool_value=False)),
                KeyValue(key="zero", value=AnyValue(int_value=0)),
            ]
        )
    )
    assert message_to_json(value) == {
        "kvlistValue": {
            "values": [
                {"key": "nan", "value": {"doubleValue": "NaN"}},
                {"key": "inf", "value": {"doubleValue": "-Infinity"}},
                # bytes other than ids stay base64, as the JSON mapping has it
                {"key": "raw", "value": {"bytesValue": "AP8="}},
                # a set oneof member appears even when it is the default
                {"key": "empty", "value": {"stringValue": ""}},
                {"key": "false", "value": {"boolValue": False}},
                {"key": "zero", "value": {"intValue": 0}},
            ]
        }
    }


def test_decoders_agree_and_are_deterministic() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    record_spans(provider)
    body = encode_spans(memory.get_finished_spans()).SerializeToString()
    from_pb, why = decode_protobuf(body)
    assert why is None
    assert from_pb is not None
    assert from_pb.spans == 2
    from_json, why = decode_json(from_pb.line)
    assert from_json == from_pb
    assert decode_protobuf(body) == (from_pb, None)
    # the line is one line of JSON whose spans carry the ids in hex
    assert b"\n" not in from_pb.line
    request = ExportTraceServiceRequest.FromString(body)
    assert all_spans([json.loads(from_pb.line)])[0]["traceId"] == (
        request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", 1.5),
        ("kind", True),
        ("kind", "SPAN_KIND_BOGUS"),
        ("status", {"code": 2.5}),
        ("status", {"code": "STATUS_CODE_MAYBE"}),
    ],
)
def test_json_enums_that_are_not_integers_or_known_names_are_malformed(
    field: str, value: Any
) -> None:
    # json_format alone would read 1.5 and true as 1 and drop an unknown name: a wrong kind
    body = json.loads(json.dumps(SPEC_EXAMPLE))
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0][field] = value
    request, why = decode_json(json.dumps(body).encode())
    assert request is None
    assert why is not None
    assert "kind" in why or "code" in why


def test_json_enum_names_and_unknown_numbers_are_kept() -> None:
    body = json.loads(json.dumps(SPEC_EXAMPLE))
    span = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["kind"] = "SPAN_KIND_CONSUMER"
    span["status"] = {"code": "STATUS_CODE_ERROR"}
    request, _ = decode_json(json.dumps(body).encode())
    assert request is not None
    got = all_spans([json.loads(request.line)])[0]
    assert (got["kind"], got["status"]) == (5, {"code": 2})
    span["kind"] = 9  # proto3 enums are open: a number this schema does not name is kept
    request, _ = decode_json(json.dumps(body).encode())
    assert request is not None
    assert all_spans([json.loads(request.line)])[0]["kind"] == 9


def test_decompress_bounds() -> None:
    data = b"abc" * 1000
    assert decompress(gzip.compress(data), 16 + zlib.MAX_WBITS, 3000) == data
    assert (
        decompress(gzip.compress(data) + gzip.compress(b"tail"), 16 + zlib.MAX_WBITS, 4000)
        == data + b"tail"
    )
    assert decompress(zlib.compress(data), zlib.MAX_WBITS, 3000) == data
    from tracelens.acquire.otlp_http import BodyTooLarge

    with pytest.raises(BodyTooLarge):
        decompress(gzip.compress(data), 16 + zlib.MAX_WBITS, 2999)
    with pytest.raises(zlib.error):
        decompress(zlib.compress(data) + b"x", zlib.MAX_WBITS, 5000)
    assert status_body("é", "application/x-protobuf") == b"\x12\x02\xc3\xa9"
    assert status_body("x" * 200, "application/x-protobuf")[:3] == b"\x12\xc8\x01"


def test_end_to_end_sdk_spans_listen_analyze(tmp_path: Path) -> None:
    # GIVEN `tracelens listen --otlp-http` writing a bundle directory
    from opentelemetry.trace import set_span_in_context

    bundle = tmp_path / "bundle"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracelens",
            "listen",
            "-o",
            str(bundle / "traces.ndjson"),
            "--bind",
            "127.0.0.1:0",
            "--otlp-http",
            "127.0.0.1:0",
            "--duration",
            "30",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stderr is not None
        proc.stderr.readline()
        second = proc.stderr.readline()
        http_port = int(second.split("127.0.0.1:")[1].split("/")[0])
        # WHEN the SDK exports three Lambda requests in the converted-segment span shape
        # (design note §1.2): the second warm, the third a fault, the first cold
        provider = TracerProvider(
            resource=Resource.create(
                {"service.name": "orders-worker", "cloud.platform": "aws_lambda"}
            )
        )
        provider.add_span_processor(
            SimpleSpanProcessor(
                OTLPSpanExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces")
            )
        )
        tracer = provider.get_tracer("lambda")
        base = 1_795_000_000_000_000_000
        for i in range(3):
            start = base + i * 10**9
            service = tracer.start_span(
                "orders-worker/LambdaService",
                kind=SpanKind.SERVER,
                start_time=start,
                attributes={"aws.request_id": f"req-{i}"},
            )
            function = tracer.start_span(
                "orders-worker/LambdaExecutionEnvironment",
                context=set_span_in_context(service),
                kind=SpanKind.SERVER,
                start_time=start + 1_000_000,
            )
            if i == 0:
                init = tracer.start_span(
                    "Init/LambdaExecutionEnvironment",
                    context=set_span_in_context(function),
                    start_time=start + 1_000_000,
                )
                init.end(end_time=start + 200_000_000)
            if i == 2:
                function.set_attribute("aws.xray.fault", True)
                function.set_status(Status(StatusCode.ERROR, "boom"))
            function.end(end_time=start + 300_000_000)
            service.end(end_time=start + 301_000_000)
        provider.shutdown()
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=10) == 0, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    assert "OTLP: requests 7, spans 7, malformed 0, ignored 0" in rest
    # THEN analyze of the bundle sees the requests, invocations, the cold start and the fault
    report_path = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "tracelens", "analyze", str(bundle), "-o", str(report_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    assert report["input"]["rejected"] == 0
    (function_row,) = report["functions"]
    assert function_row["name"] == "orders-worker"
    assert (
        function_row["requests"],
        function_row["invocations"],
        function_row["cold_starts"],
        function_row["failed_invocations"],
    ) == (3, 3, 1, 1)
    assert function_row["duration_ms"]["p50"] == 299.0


def test_files_created_and_left_empty_are_removed_on_stop(tmp_path: Path) -> None:
    # An empty traces.ndjson next to otlp.ndjson made `analyze bundle/` report a rejected file.
    cap = Capture(tmp_path).start()
    cap.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # a file that existed before is the user's: left as it is, even empty
    (tmp_path / "traces.ndjson").write_bytes(b"")
    (tmp_path / OTLP_FILE).write_bytes(b"")
    cap = Capture(tmp_path).start()
    cap.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == [OTLP_FILE, "traces.ndjson"]


def test_ipv6_loopback(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    sink = OtlpFile(tmp_path / OTLP_FILE)
    try:
        server = OtlpHttpServer(("::1", 0), sink).start()
    except SourceUnavailable:
        pytest.skip("no IPv6 loopback here")
    try:
        host, port = server.address
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request(
            "POST",
            "/v1/traces",
            body=json.dumps(SPEC_EXAMPLE).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        server.stop()
        sink.close()
    assert len((tmp_path / OTLP_FILE).read_text().splitlines()) == 1


def test_body_that_stops_arriving_is_counted(tmp_path: Path) -> None:
    sink = OtlpFile(tmp_path / OTLP_FILE)
    server = OtlpHttpServer(("127.0.0.1", 0), sink, idle_timeout=0.3).start()
    try:
        with socket.create_connection(server.address, timeout=5) as conn:
            conn.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"resourceSpans"'
            )
            # the client stalls; the server gives up on the body, counts it, closes
            assert wait_for(lambda: sink.counts().malformed == 1)
            assert conn.recv(100) == b""
        # and a client that closes half-way is counted too
        with socket.create_connection(server.address, timeout=5) as conn:
            conn.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{}"
            )
            conn.shutdown(socket.SHUT_WR)
            assert wait_for(lambda: sink.counts().malformed == 2)
    finally:
        server.stop()
        sink.close()
    assert "not received" in sink.malformed_reasons[0]
    assert "ends after 2 of 100 bytes" in sink.malformed_reasons[1]


def test_concurrent_http_and_udp_lines_stay_whole(capture: Capture) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    record_spans(provider)
    datagram = adot_datagram(list(memory.get_finished_spans()))
    body = json.dumps(SPEC_EXAMPLE).encode()
    failures: list[int] = []

    def poster() -> None:
        for _ in range(25):
            status = capture.post(body)[0]
            if status != 200:
                failures.append(status)

    def sender() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(100):
                s.sendto(datagram, capture.listener.address)
                time.sleep(0.001)

    threads = [threading.Thread(target=poster) for _ in range(4)] + [
        threading.Thread(target=sender)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wait_for(lambda: capture.listener.received >= 100)
    summary = capture.stop()
    assert failures == []
    lines = capture.lines()  # every line parses: none interleaved
    assert len(lines) == summary.otlp_requests == 100 + 100
    assert summary.otlp_spans == 100 * 1 + 100 * 2
