"""Tests for tracelens.acquire.tail (``listen --tail``): lines per finished Lambda request."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from tracelens.acquire.tail import RequestTail, TailLine, printable
from tracelens.acquire.udp import Listener
from tracelens.commands.listen import format_tail_line

if TYPE_CHECKING:
    from pathlib import Path

HEADER = b'{"format":"json","version":1}\n'
TRACE = "1-6553f100-0123456789abcdef01234567"
TRACE2 = "1-6553f101-0123456789abcdef01234568"
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"


def service(
    sid: str,
    *,
    fn: str = "orders",
    request: str = "req-1",
    parent: str | None = "aaaaaaaaaaaaaaaa",
    status: int = 200,
    subs: list[dict[str, Any]] | None = None,
    trace: str = TRACE,
    start: float = T0,
    end: float | None = T0 + 0.5,
    **extra: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": fn,
        "id": sid,
        "trace_id": trace,
        "start_time": start,
        "origin": "AWS::Lambda",
        "resource_arn": ARN,
        "aws": {"request_id": request},
        "http": {"response": {"status": status}},
        **extra,
    }
    if end is None:
        doc["in_progress"] = True
    else:
        doc["end_time"] = end
    if parent is not None:
        doc["parent_id"] = parent
    if subs:
        doc["subsegments"] = subs
    return doc


def function(
    fid: str,
    parent: str | None,
    *,
    fn: str = "orders",
    cold: bool = False,
    trace: str = TRACE,
    start: float = T0 + 0.1,
    end: float | None = T0 + 0.1785,
    invocation: dict[str, Any] | None = None,
    extra_subs: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    subs: list[dict[str, Any]] = []
    if cold:
        subs.append(
            {
                "name": "Initialization",
                "id": "1" + fid[1:],
                "start_time": start - 0.3,
                "end_time": start,
            }
        )
    subs.append(
        {
            "name": "Invocation",
            "id": "2" + fid[1:],
            "start_time": start,
            "end_time": end or start,
            **(invocation or {}),
        }
    )
    subs += extra_subs or []
    doc: dict[str, Any] = {
        "name": fn,
        "id": fid,
        "trace_id": trace,
        "start_time": start,
        "origin": "AWS::Lambda::Function",
        "subsegments": subs,
        **extra,
    }
    if end is None:
        doc["in_progress"] = True
    else:
        doc["end_time"] = end
    if parent is not None:
        doc["parent_id"] = parent
    return doc


def feed_all(tail: RequestTail, docs: list[dict[str, Any]]) -> list[TailLine]:
    lines: list[TailLine] = []
    for doc in docs:
        lines += tail.feed(json.dumps(doc).encode())
    return lines


def test_sync_request_one_line_with_cold_start_and_ids() -> None:
    # GIVEN a traced sync call: service segment, then a cold function segment
    tail = RequestTail()
    lines = feed_all(
        tail,
        [service("5000000000000001"), function("f000000000000001", "5000000000000001", cold=True)],
    )
    # THEN one line, sync, ok, cold, with its request id and the invocation's duration
    assert len(lines) == 1
    line = lines[0]
    assert (line.function, line.path, line.outcome, line.cold) == ("orders", "sync", "ok", True)
    assert line.request_id == "req-1"
    assert line.duration_ms == pytest.approx(78.5)
    assert format_tail_line(line) == (
        "2023-11-14 22:13:20.178  orders  sync       78.5 ms  ok cold       "
        f"  {TRACE}  request req-1"
    )
    assert tail.open_requests() == 0


def test_revisions_and_repeats_give_one_line() -> None:
    tail = RequestTail()
    svc = service("5000000000000001")
    open_fn = function("f000000000000001", "5000000000000001", end=None)
    done = function("f000000000000001", "5000000000000001")
    # an in-progress function segment finishes nothing; the complete revision does, once
    assert feed_all(tail, [svc, open_fn]) == []
    assert tail.open_requests() == 1
    assert len(feed_all(tail, [done])) == 1
    assert feed_all(tail, [done, svc, done]) == []
    assert tail.lines == 1


def test_function_before_its_service_segment_says_unknown() -> None:
    # The documents seen so far do not tell the path: the line says so and is not revised.
    tail = RequestTail()
    lines = feed_all(
        tail, [function("f000000000000001", "5000000000000001"), service("5000000000000001")]
    )
    assert [(x.path, x.request_id) for x in lines] == [("unknown", None)]


def test_untraced_caller_is_unknown() -> None:
    tail = RequestTail()
    lines = feed_all(
        tail,
        [
            service("5000000000000001", parent=None),
            function("f000000000000001", "5000000000000001"),
        ],
    )
    assert lines[0].path == "unknown"


def test_async_attempts_retries_and_a_throttled_attempt() -> None:
    # GIVEN an async event: 202, a dwell, attempt 1 failed, attempt 2 throttled (no
    # invocation), attempt 3 succeeded
    subs = [
        {"name": "Dwell Time", "id": "d000000000000001", "start_time": T0, "end_time": T0 + 0.05},
        {
            "name": "Attempt #1",
            "id": "a000000000000001",
            "start_time": T0 + 0.05,
            "end_time": T0 + 1,
            "error": True,
        },
        {
            "name": "Attempt #2",
            "id": "a000000000000002",
            "start_time": T0 + 60,
            "end_time": T0 + 60.002,
            "throttle": True,
        },
        {
            "name": "Attempt #3",
            "id": "a000000000000003",
            "start_time": T0 + 180,
            "end_time": T0 + 181,
        },
    ]
    tail = RequestTail()
    lines = feed_all(
        tail,
        [
            service("5000000000000001", status=202, subs=subs, end=T0 + 0.01),
            function(
                "f000000000000001",
                "a000000000000001",
                cold=True,
                invocation={"error": True, "cause": {"exceptions": [{"type": "KeyError"}]}},
            ),
            function("f000000000000003", "a000000000000003", start=T0 + 180.1, end=T0 + 180.9),
        ],
    )
    # THEN the throttled attempt is a line when the service segment arrives, then one line
    # per invocation, each with its attempt number
    got = [(x.path, x.attempt, x.outcome, x.cold) for x in lines]
    assert got == [
        ("async", 2, "throttled", False),
        ("async", 1, "error", True),
        ("async", 3, "ok", False),
    ]
    assert {x.request_id for x in lines} == {"req-1"}
    assert lines[0].duration_ms == pytest.approx(2.0, abs=1e-3)


def test_async_event_still_queued_is_open_not_printed() -> None:
    tail = RequestTail()
    subs = [{"name": "Dwell Time", "id": "d000000000000001", "start_time": T0, "in_progress": True}]
    assert feed_all(tail, [service("5000000000000001", status=202, subs=subs)]) == []
    assert tail.open_requests() == 1


def test_sqs_by_consumer_link_and_by_record_annotation_stream_by_record() -> None:
    link = {
        "trace_id": TRACE2,
        "id": "b000000000000001",
        "attributes": {"aws.xray.reserved.reference_type": "parent"},
    }
    record = {
        "name": "record",
        "id": "c000000000000001",
        "start_time": T0 + 0.1,
        "end_time": T0 + 0.15,
        "annotations": {"event_source": "aws:sqs", "message_id": "m-1"},
    }
    nested = {
        "name": "batch",
        "id": "c000000000000002",
        "start_time": T0 + 0.1,
        "end_time": T0 + 0.15,
        "subsegments": [
            {
                **record,
                "id": "c000000000000003",
                "annotations": {
                    "event_source": "aws:kinesis",
                    "shard_id": "s",
                    "sequence_number": "1",
                },
            }
        ],
    }
    tail = RequestTail()
    lines = feed_all(
        tail,
        [
            service("5000000000000001", parent=None, links=[link]),
            function("f000000000000001", "5000000000000001"),
            service("5000000000000002", parent=None, request="req-2"),
            function("f000000000000002", "5000000000000002", extra_subs=[record]),
            service("5000000000000003", parent=None, request="req-3"),
            function("f000000000000003", "5000000000000003", extra_subs=[nested]),
            # a producer-side link (child) does not make the producer an SQS consumer
            service(
                "5000000000000004",
                request="req-4",
                links=[{**link, "attributes": {"aws.xray.reserved.reference_type": "child"}}],
            ),
            function("f000000000000004", "5000000000000004"),
        ],
    )
    assert [(x.request_id, x.path) for x in lines] == [
        ("req-1", "sqs"),
        ("req-2", "sqs"),
        ("req-3", "stream"),
        ("req-4", "sync"),
    ]


def test_service_only_failures_throttle_and_fault() -> None:
    tail = RequestTail()
    throttled = service("5000000000000001", status=429, throttle=True, error=True)
    fault = service("5000000000000002", status=500, fault=True, request="req-2")
    ok = service("5000000000000003", request="req-3")
    lines = feed_all(tail, [throttled, throttled, fault, ok])
    # THEN a throttled or faulted request without an invocation is a line, once; a 200
    # service segment waits for its function segment
    assert [(x.request_id, x.outcome, x.path) for x in lines] == [
        ("req-1", "throttled", "sync"),
        ("req-2", "fault", "sync"),
    ]
    assert tail.open_requests() == 1


def test_invocation_flags_decide_the_outcome() -> None:
    tail = RequestTail()
    lines = feed_all(
        tail,
        [
            function("f000000000000001", None, invocation={"fault": True, "error": True}),
            function("f000000000000002", None, invocation={"throttle": True}),
            function("f000000000000003", None, error=True),
            # a failed SDK call below the Invocation does not fail the invocation
            function(
                "f000000000000004",
                None,
                extra_subs=[
                    {
                        "name": "DynamoDB",
                        "id": "e000000000000001",
                        "start_time": T0,
                        "end_time": T0 + 0.01,
                        "fault": True,
                    }
                ],
            ),
        ],
    )
    assert [x.outcome for x in lines] == ["fault", "throttled", "error", "ok"]


def test_hostile_names_are_printed_escaped() -> None:
    tail = RequestTail()
    evil = "orders\x1b[2J\nrm -rf"
    lines = feed_all(
        tail,
        [
            service("5000000000000001", fn=evil, request="req\r\x07"),
            function("f000000000000001", "5000000000000001", fn=evil),
        ],
    )
    text = format_tail_line(lines[0])
    assert text.isprintable()
    assert repr(evil) in text
    assert repr("req\r\x07") in text
    assert printable("plain name") == "plain name"


def test_not_a_document_gives_nothing() -> None:
    tail = RequestTail()
    assert tail.feed(b"{not json") == []
    assert tail.feed(b'{"name": "x"}') == []
    assert (
        feed_all(
            tail,
            [
                {
                    "name": "api",
                    "id": "9000000000000001",
                    "trace_id": TRACE,
                    "start_time": T0,
                    "end_time": T0 + 1,
                }
            ],
        )
        == []
    )


def test_memory_is_bounded() -> None:
    tail = RequestTail(remembered=2)
    for i in range(5):
        sid = f"{i:016x}"
        feed_all(tail, [service(sid, request=f"r{i}", status=202, end=T0 + i)])
    assert tail.open_requests() == 2  # the oldest three are forgotten


def test_independent_attempt_subsegment() -> None:
    tail = RequestTail()
    lines = feed_all(
        tail,
        [
            service("5000000000000001", status=202),
            {
                "type": "subsegment",
                "name": "Attempt #2",
                "id": "a000000000000002",
                "parent_id": "5000000000000001",
                "trace_id": TRACE,
                "start_time": T0 + 60,
                "end_time": T0 + 60.1,
            },
            function("f000000000000002", "a000000000000002"),
        ],
    )
    assert [(x.path, x.attempt) for x in lines] == [("async", 2)]


def test_a_failing_live_view_never_loses_documents(tmp_path: Path) -> None:
    # GIVEN a listener whose live view raises (a closed stdout, a bug)
    seen: list[bytes] = []

    def broken(body: bytes) -> None:
        seen.append(body)
        raise BrokenPipeError("stdout closed")

    out = tmp_path / "live.ndjson"
    listener = Listener(("127.0.0.1", 0), out, None, 10.0, None, on_document=broken).start()
    docs = [service(f"{i:016x}", request=f"r{i}") for i in range(20)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for doc in docs:
            s.sendto(HEADER + json.dumps(doc).encode(), listener.address)
    deadline = time.monotonic() + 5
    while listener.written < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    listener.stop()
    summary = listener.wait()
    # THEN it was called once, and the file still got every document
    assert len(seen) == 1
    assert summary.written == 20
    assert len(out.read_text().splitlines()) == 20


def _reader(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _listen_tail(out: Path) -> subprocess.Popen[str]:
    """``tracelens listen --tail -o OUT`` on a free loopback port, for 30 s at most."""
    command = ["listen", "--tail", "-o", str(out), "--bind", "127.0.0.1:0", "--duration", "30"]
    return subprocess.Popen(
        [sys.executable, "-m", "tracelens", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_listen_tail_end_to_end(tmp_path: Path) -> None:
    # GIVEN `tracelens listen --tail` on a free loopback port
    out = tmp_path / "tail.ndjson"
    proc = _listen_tail(out)
    stdout: queue.Queue[str] = queue.Queue()
    try:
        assert proc.stderr is not None
        assert proc.stdout is not None
        first = proc.stderr.readline()
        assert "listening on 127.0.0.1:" in first, first
        port = int(first.split("127.0.0.1:")[1].split(",")[0])
        threading.Thread(target=_reader, args=(proc.stdout, stdout), daemon=True).start()
        async_subs = [
            {
                "name": "Dwell Time",
                "id": "d000000000000001",
                "start_time": T0 + 1,
                "end_time": T0 + 1.05,
            },
            {
                "name": "Attempt #1",
                "id": "a000000000000001",
                "start_time": T0 + 1.05,
                "end_time": T0 + 2,
                "error": True,
            },
        ]
        docs = [
            service("5000000000000001"),
            function("f000000000000001", "5000000000000001", cold=True),
            function("f000000000000001", "5000000000000001", cold=True),  # sent twice
            service("5000000000000002", status=429, throttle=True, request="req-2"),
            service(
                "5000000000000003",
                status=202,
                subs=async_subs,
                request="req-3",
                fn="evil\x1b]0;pwned\x07",
            ),
            function(
                "f000000000000003",
                "a000000000000001",
                fn="evil\x1b]0;pwned\x07",
                start=T0 + 1.1,
                end=T0 + 1.9,
                invocation={"error": True},
            ),
        ]
        datagrams = [HEADER + json.dumps(d).encode() for d in docs]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            # WHEN the documents arrive one by one, with garbage in between
            for datagram in datagrams:
                s.sendto(datagram, ("127.0.0.1", port))
                s.sendto(b"garbage", ("127.0.0.1", port))
            # THEN a line per finished request is printed while it still listens
            lines = [stdout.get(timeout=10) for _ in range(3)]
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    assert code == 0
    assert lines[0].startswith("2023-11-14 22:13:20.178  orders  sync ")
    assert "ok cold" in lines[0]
    assert lines[0].rstrip("\n").endswith(f"{TRACE}  request req-1")
    assert "  sync " in lines[1]
    assert " throttled " in lines[1]
    assert "request req-2" in lines[1]
    assert "  async " in lines[2]
    assert " error " in lines[2]
    assert "attempt 1  request req-3" in lines[2]
    assert "\x1b" not in "".join(lines)
    assert repr("evil\x1b]0;pwned\x07") in lines[2]
    assert stdout.empty()  # the repeated function segment printed nothing
    # and the capture file has every valid document, unchanged in content
    written = [json.loads(x) for x in out.read_text().splitlines()]
    assert written == docs
    assert "received 12, malformed 6, written 6, dropped 0" in rest
    assert "tail: 3 lines" in rest


def test_listen_tail_stopped_at_once_flushes_every_document_and_line(tmp_path: Path) -> None:
    # GIVEN `listen --tail` and 100 sync requests (200 documents) sent in one burst
    out = tmp_path / "burst.ndjson"
    proc = _listen_tail(out)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        port = int(first.split("127.0.0.1:")[1].split(",")[0])
        docs: list[dict[str, Any]] = []
        for i in range(100):
            sid, fid = f"5{i:015x}", f"f{i:015x}"
            docs += [service(sid, request=f"r{i}"), function(fid, sid)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for doc in docs:
                s.sendto(HEADER + json.dumps(doc).encode(), ("127.0.0.1", port))
        # WHEN it is stopped at once
        proc.send_signal(signal.SIGTERM)
        stdout, rest = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    # THEN the file has every document and stdout a line per request, none repeated
    assert proc.returncode == 0
    assert "received 200, malformed 0, written 200, dropped 0" in rest
    assert len(out.read_text().splitlines()) == 200
    lines = stdout.splitlines()
    assert sorted(line.rsplit(" ", 1)[1] for line in lines) == sorted(f"r{i}" for i in range(100))
    assert "tail: 100 lines" in rest
