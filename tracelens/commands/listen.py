"""``tracelens listen``: be the X-Ray daemon (and an OTLP receiver) until told to stop."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from tracelens.acquire.address import parse_host_port
from tracelens.acquire.otlp_file import OtlpFile
from tracelens.acquire.otlp_http import TRACES_PATH, OtlpHttpServer
from tracelens.acquire.tail import RequestTail, printable
from tracelens.acquire.udp import DEFAULT_BIND, Listener
from tracelens.errors import SourceUnavailable
from tracelens.model.bundle import OTLP_FILE
from tracelens.report._format import duration

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import FrameType

    from tracelens.acquire.tail import TailLine
    from tracelens.acquire.udp import ListenSummary


def format_listen_summary(summary: ListenSummary, *, show_otlp: bool = False) -> str:
    """One plain-text line of listener counts.

    Args:
        summary: The counts.
        show_otlp: Show the OTLP counts even when none arrived (``--otlp-http`` was given);
            they are shown anyway when any OTLP input arrived.

    Returns:
        The text.
    """
    text = (
        f"received {summary.received}, malformed {summary.malformed}, "
        f"written {summary.written}, dropped {summary.dropped}"
    )
    if summary.forwarded or summary.forward_errors:
        text += f", forwarded {summary.forwarded}"
        if summary.forward_errors:
            text += f" ({summary.forward_errors} forward errors)"
    if show_otlp or summary.otlp_seen:
        text += f"; OTLP: {format_otlp_counts(summary)}"
    if summary.dropped:
        text += (
            f"; {summary.dropped} datagrams were dropped because the writer could not keep "
            "up: their segments are NOT in the file"
        )
    return text


def format_otlp_counts(summary: ListenSummary) -> str:
    """The OTLP part of the counts line.

    Args:
        summary: The counts.

    Returns:
        The text, e.g. ``requests 3, spans 12 (2 unsampled), malformed 1, ignored 0``.
    """
    spans = f"spans {summary.otlp_spans}"
    if summary.otlp_unsampled:
        spans += f" ({summary.otlp_unsampled} unsampled)"
    return (
        f"requests {summary.otlp_requests}, {spans}, malformed {summary.otlp_malformed}, "
        f"ignored {summary.otlp_ignored}"
    )


def format_tail_line(line: TailLine) -> str:
    """One ``--tail`` line: end time, function, path, duration, outcome, cold, ids.

    Names and ids with control characters are shown escaped (``printable``), so a document
    cannot break the one-line format or drive the terminal.

    Args:
        line: A finished request.

    Returns:
        The text, e.g. ``2026-11-27 09:00:00.747  invoice-renderer  async     243.5 ms  ok
        cold  1-6b094690-...  attempt 1  request dec31cda-...``.
    """
    when = datetime.fromtimestamp(line.end, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    outcome = line.outcome + (" cold" if line.cold else "")
    parts = [
        when,
        printable(line.function),
        f"{line.path:<7}",
        f"{duration(line.duration_ms):>9}",
        f"{outcome:<14}",
        printable(line.trace_id),
    ]
    if line.attempt is not None:
        parts.append(f"attempt {line.attempt}")
    if line.request_id is not None:
        parts.append(f"request {printable(line.request_id)}")
    return "  ".join(parts)


def format_tail_summary(tail: RequestTail) -> str:
    """One plain-text line closing a ``--tail``: lines printed, requests left open.

    Args:
        tail: The tail that printed the lines.

    Returns:
        The text.
    """
    noun = "line" if tail.lines == 1 else "lines"
    text = f"tail: {tail.lines:,} {noun}"
    waiting = tail.open_requests()
    if waiting:
        verb = "request has" if waiting == 1 else "requests have"
        text += (
            f"; {waiting:,} {verb} no line: no invocation of theirs finished while listening "
            "(an async event still queued, or its function segment never arrived)"
        )
    return text


def tail_printer(tail: RequestTail, stream: TextIO) -> Callable[[bytes], None]:
    """A listener callback printing the lines each document finishes, one flush per line.

    Args:
        tail: The tail to feed.
        stream: Where the lines go (stdout).

    Returns:
        The callback for ``Listener(on_document=...)``.
    """

    def show(body: bytes) -> None:
        for line in tail.feed(body):
            stream.write(format_tail_line(line) + "\n")
            stream.flush()

    return show


def run_listen(
    *,
    out: Path,
    bind: str | None = None,
    forward: str | None = None,
    duration: float | None = None,
    max_segments: int | None = None,
    install_signals: bool = True,
    tail: bool = False,
    tail_stream: TextIO | None = None,
    otlp_http: str | None = None,
) -> ListenSummary:
    """The body of ``tracelens listen``: be the X-Ray daemon until told to stop.

    Stops on SIGINT / SIGTERM, after ``duration`` seconds or ``max_segments`` documents;
    flushes what it received and prints the counts on stderr. With ``tail``, prints a line
    per finished Lambda request on stdout as it arrives (``tracelens.acquire.tail``; X-Ray
    documents only). OTLP spans, from the UDP port's ``T1S`` / ``T1U`` datagrams and from
    ``otlp_http``, go to ``otlp.ndjson`` in the directory of ``out``.

    Args:
        out: NDJSON file to append to.
        bind: ``--bind HOST:PORT``; default 127.0.0.1:2000. Non-loopback addresses are
            allowed only because the user typed them.
        forward: ``--forward HOST:PORT`` of a real daemon.
        duration: ``--duration`` seconds.
        max_segments: ``--max-segments``.
        install_signals: Install SIGINT / SIGTERM handlers (main thread only).
        tail: ``--tail``: print a line per finished request as it arrives.
        tail_stream: Where the tail lines go; stdout by default.
        otlp_http: ``--otlp-http HOST:PORT``: also serve OTLP/HTTP ``POST /v1/traces`` there
            (the user typed the address, so it may be beyond loopback).

    Returns:
        The counts.

    Raises:
        SourceUnavailable: An address is unusable, a port is taken, a file cannot be
            written, or ``out`` is itself named ``otlp.ndjson``.
    """
    from rich.console import Console

    console = Console(file=sys.stderr)
    if out.name == OTLP_FILE:
        raise SourceUnavailable(
            f"{out}: {OTLP_FILE} is where OTLP spans go; name the segment file otherwise"
        )
    address = parse_host_port(bind) if bind is not None else DEFAULT_BIND
    http_address = parse_host_port(otlp_http) if otlp_http is not None else None
    requests = RequestTail() if tail else None

    def stop_on_write_error() -> None:
        listener.stop()

    otlp = OtlpFile(out.parent / OTLP_FILE, on_error=stop_on_write_error)
    listener = Listener(
        address,
        out,
        parse_host_port(forward) if forward is not None else None,
        duration,
        max_segments,
        allow_remote=bind is not None,
        on_document=None if requests is None else tail_printer(requests, tail_stream or sys.stdout),
        otlp=otlp,
    )
    server = None if http_address is None else OtlpHttpServer(http_address, otlp, allow_remote=True)
    previous: dict[signal.Signals, Any] = {}
    if install_signals and threading.current_thread() is threading.main_thread():

        def handle(signum: int, frame: FrameType | None) -> None:
            listener.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handle)
    try:
        try:
            if server is not None:
                otlp.open()
                server.start()
            listener.start()
            host, port = listener.address
            console.print(
                f"listening on {host}:{port}, writing {out} (Ctrl-C to stop)", markup=False
            )
            if server is not None:
                http_host, http_port = server.address
                if ":" in http_host:
                    http_host = f"[{http_host}]"  # an IPv6 address in a URL
                console.print(
                    f"OTLP/HTTP on http://{http_host}:{http_port}{TRACES_PATH}, "
                    f"writing {otlp.path}",
                    markup=False,
                )
            listener.wait()
        finally:
            if server is not None:
                server.stop()
            with contextlib.suppress(OSError):  # kept in otlp.error, raised below
                otlp.close()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if otlp.error is not None:
        raise SourceUnavailable(f"{otlp.path}: cannot write: {otlp.error}") from otlp.error
    summary = listener.summary()
    console.print(
        format_listen_summary(summary, show_otlp=server is not None), markup=False, soft_wrap=True
    )
    if summary.otlp_spans:
        console.print(f"OTLP spans written to {otlp.path}", markup=False)
    if requests is not None:
        console.print(format_tail_summary(requests), markup=False)
    return summary


__all__ = [
    "format_listen_summary",
    "format_otlp_counts",
    "format_tail_line",
    "format_tail_summary",
    "run_listen",
    "tail_printer",
]
