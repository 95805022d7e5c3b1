"""Tests for tracelens.acquire.udp: the X-Ray daemon protocol listener, on loopback only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tracelens.acquire.address import is_loopback, parse_host_port
from tracelens.acquire.udp import Listener, check_datagram
from tracelens.commands.listen import format_listen_summary
from tracelens.errors import SourceUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

HEADER = b'{"format":"json","version":1}\n'
TRACE = "1-6553f100-0123456789abcdef01234567"


def doc(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": "svc",
        "id": f"{i:016x}",
        "trace_id": TRACE,
        "start_time": 1.7e9 + i,
        "end_time": 1.7e9 + i + 0.5,
        **extra,
    }


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def send(address: tuple[str, int], datagrams: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            s.sendto(d, address)


def test_check_datagram() -> None:
    ok, why = check_datagram(HEADER + json.dumps(doc(1)).encode())
    assert why is None
    assert json.loads(ok or b"") == doc(1)
    # header compared case-insensitively, like the daemon; pretty bodies become one line
    ok, why = check_datagram(
        b'{"format": "JSON", "version": 1}\n' + json.dumps(doc(2), indent=2).encode()
    )
    assert why is None
    assert ok is not None
    assert b"\n" not in ok
    ok, _ = check_datagram(HEADER + json.dumps(doc(3, end_time=None, in_progress=True)).encode())
    assert ok is not None
    bad = {
        b"no newline at all": "no header",
        b'{"format":"xml","version":1}\n{}': "invalid header",
        b'{"format":"json","version":2}\n{}': "invalid header",
        HEADER: "missing segment",
        HEADER + b"[1, 2]": "not a segment document",
        HEADER + b"{not json": "not one JSON object",
        HEADER + json.dumps(doc(4)).encode() + b" {}": "not one JSON object",
        HEADER + json.dumps(doc(5, id="ABCDEF0123456789")).encode(): "16 lowercase hex",
        HEADER + json.dumps(doc(6, trace_id="1-xyz")).encode(): "trace_id",
        HEADER + json.dumps({**doc(7), "end_time": None}).encode(): "'end_time' nor 'in_progress'",
        HEADER + json.dumps({**doc(8), "name": 3}).encode(): "not a segment document",
    }
    for datagram, reason in bad.items():
        ok, why = check_datagram(datagram)
        assert ok is None, datagram
        assert why is not None, datagram
        assert reason in why, (datagram, why)


def test_addresses() -> None:
    assert parse_host_port("127.0.0.1:2000") == ("127.0.0.1", 2000)
    assert parse_host_port("[::1]:2000") == ("::1", 2000)
    for bad in ("2000", "host:", "host:99999", ":1"):
        with pytest.raises(SourceUnavailable):
            parse_host_port(bad)
    assert is_loopback("127.0.0.2")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.0.0.1")
    with pytest.raises(SourceUnavailable, match="not a loopback address"):
        Listener(("0.0.0.0", 0), Path("x"), None, None, None)


def test_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    first = Listener(("127.0.0.1", 0), tmp_path / "a.ndjson", None, 5.0, None).start()
    try:
        second = Listener(first.address, tmp_path / "b.ndjson", None, 5.0, None)
        with pytest.raises(SourceUnavailable, match="cannot listen on"):
            second.start()
    finally:
        first.stop()
        first.wait()


def test_aws_xray_sdk_recorder_segments_all_arrive(tmp_path: Path) -> None:
    # GIVEN the real SDK recorder with its UDP emitter pointed at the listener
    from aws_xray_sdk.core import AWSXRayRecorder
    from aws_xray_sdk.core.context import Context
    from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter

    sent: list[str] = []

    class RecordingEmitter(UDPEmitter):  # type: ignore[misc]
        """The SDK's UDP emitter, noting the id of each entity it sends."""

        def send_entity(self, entity: Any) -> None:
            sent.append(entity.id)
            super().send_entity(entity)

    out = tmp_path / "live.ndjson"
    listener = Listener(("127.0.0.1", 0), out, None, 10.0, None).start()
    host, port = listener.address
    recorder = AWSXRayRecorder()
    recorder.configure(
        daemon_address=f"{host}:{port}",
        context=Context(),
        sampling=False,
        emitter=RecordingEmitter(f"{host}:{port}"),
        streaming_threshold=100,
    )
    # WHEN 30 segments with subsegments are recorded, then one big one that streams
    # its subsegments as separate documents
    ids = []
    for i in range(30):
        segment = recorder.begin_segment(f"svc-{i}")
        ids.append(segment.id)
        with recorder.in_subsegment("work") as sub:
            sub.put_annotation("n", i)
        recorder.end_segment()
    recorder.configure(streaming_threshold=1)
    big = recorder.begin_segment("big")
    steps = []
    for _ in range(3):
        steps.append(recorder.begin_subsegment("step").id)
        recorder.end_subsegment()
    recorder.end_segment()
    arrived = wait_for(lambda: listener.written >= len(sent))
    listener.stop()
    summary = listener.wait()
    # THEN every document the SDK sent was written, one per line, in order
    assert arrived, summary
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["id"] for d in lines] == sent
    assert [d["id"] for d in lines[:30]] == ids
    assert all(d["subsegments"][0]["annotations"] == {"n": i} for i, d in enumerate(lines[:30]))
    streamed = [d for d in lines if d.get("type") == "subsegment"]
    assert streamed
    assert all(d["trace_id"] == big.trace_id for d in streamed)

    def all_ids(d: dict[str, Any]) -> set[str]:
        return {d["id"]}.union(*(all_ids(s) for s in d.get("subsegments", [])))

    assert set(steps) <= set().union(*(all_ids(d) for d in lines[30:]))
    assert summary.malformed == summary.dropped == 0
    assert summary.received == summary.written == len(sent) > 31
    # and the file reads back through ingest (streamed subsegments attached to parents)
    from tracelens.ingest import read_traces

    assert read_traces([out], workers=1).stats.rejected == 0


def test_malformed_datagrams_are_counted_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "live.ndjson"
    listener = Listener(("127.0.0.1", 0), out, None, 10.0, None).start()
    good = [HEADER + json.dumps(doc(i)).encode() for i in range(5)]
    bad = [b"garbage", HEADER + b"{}", b'{"format":"json","version":9}\n{}'] * 3
    send(listener.address, [good[0], *bad, *good[1:]])
    wait_for(lambda: listener.written + listener.malformed >= 14)
    listener.stop()
    summary = listener.wait()
    assert (summary.received, summary.malformed, summary.written, summary.dropped) == (14, 9, 5, 0)
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [
        f"{i:016x}" for i in range(5)
    ]
    assert len(listener.malformed_reasons) == 5  # only the first few are logged
    assert sum("malformed datagram" in r.message for r in caplog.records) == 5


def test_forward_unchanged_and_max_segments(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(5)
        listener = Listener(
            ("127.0.0.1", 0), tmp_path / "f.ndjson", daemon.getsockname(), 10.0, 3
        ).start()
        datagrams = [HEADER + json.dumps(doc(i)).encode() for i in range(3)]
        send(listener.address, datagrams)
        summary = listener.wait()  # returns once 3 documents are written
        got = [daemon.recv(70000) for _ in range(3)]
    assert got == datagrams
    assert summary.forwarded == 3
    assert summary.written == 3


class _SlowListener(Listener):
    """A listener whose writer takes 20 ms per datagram, to overflow its queue."""

    def _handle(self, fh: Any, data: bytes) -> None:
        time.sleep(0.02)
        super()._handle(fh, data)


def test_overload_is_counted_as_dropped(tmp_path: Path) -> None:
    listener = _SlowListener(
        ("127.0.0.1", 0), tmp_path / "d.ndjson", None, 10.0, None, queue_size=2
    ).start()
    send(listener.address, [HEADER + json.dumps(doc(i)).encode() for i in range(40)])
    wait_for(lambda: listener.received >= 40)
    wait_for(lambda: listener.written + listener.dropped >= 40)
    listener.stop()
    summary = listener.wait()
    assert summary.dropped > 0
    assert summary.written + summary.dropped == summary.received == 40
    assert len((tmp_path / "d.ndjson").read_text().splitlines()) == summary.written
    assert "dropped" in format_listen_summary(summary)
    assert "NOT in the file" in format_listen_summary(summary)


def test_duration_stops_the_listener(tmp_path: Path) -> None:
    started = time.monotonic()
    summary = Listener(("127.0.0.1", 0), tmp_path / "e.ndjson", None, 0.3, None).run()
    assert 0.25 <= time.monotonic() - started < 3
    assert summary.received == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_flushes_subprocess(tmp_path: Path, sig: signal.Signals) -> None:
    # GIVEN `tracelens listen` listening on a free loopback port
    out = tmp_path / "sub.ndjson"
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
        assert "listening on 127.0.0.1:" in first, first
        port = int(first.split("127.0.0.1:")[1].split(",")[0])
        # WHEN 200 datagrams are sent and the signal follows at once
        send(("127.0.0.1", port), [HEADER + json.dumps(doc(i)).encode() for i in range(200)])
        proc.send_signal(sig)
        rest = proc.stderr.read()
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    # THEN it flushed everything it received and printed the counts
    assert code == 0
    assert "received 200, malformed 0, written 200, dropped 0" in rest
    assert len(out.read_text().splitlines()) == 200
