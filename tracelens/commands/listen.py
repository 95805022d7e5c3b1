"""``tracelens listen``: be the X-Ray daemon until told to stop, then print the counts."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from tracelens.acquire.address import parse_host_port
from tracelens.acquire.tail import RequestTail, printable
from tracelens.acquire.udp import DEFAULT_BIND, Listener
from tracelens.report._format import duration

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import FrameType

    from tracelens.acquire.tail import TailLine
    from tracelens.acquire.udp import ListenSummary


def format_listen_summary(summary: ListenSummary) -> str:
    """One plain-text line of listener counts.

    Args:
        summary: The counts.

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
    if summary.dropped:
        text += (
            f"; {summary.dropped} datagrams were dropped because the writer could not keep "
            "up: their segments are NOT in the file"
        )
    return text


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
) -> ListenSummary:
    """The body of ``tracelens listen``: be the X-Ray daemon until told to stop.

    Stops on SIGINT / SIGTERM, after ``duration`` seconds or ``max_segments`` documents;
    flushes what it received and prints the counts on stderr. With ``tail``, prints a line
    per finished Lambda request on stdout as it arrives (``tracelens.acquire.tail``).

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

    Returns:
        The counts.

    Raises:
        SourceUnavailable: The address is unusable or the port is taken.
    """
    from rich.console import Console

    console = Console(file=sys.stderr)
    address = parse_host_port(bind) if bind is not None else DEFAULT_BIND
    requests = RequestTail() if tail else None
    listener = Listener(
        address,
        out,
        parse_host_port(forward) if forward is not None else None,
        duration,
        max_segments,
        allow_remote=bind is not None,
        on_document=None if requests is None else tail_printer(requests, tail_stream or sys.stdout),
    )
    previous: dict[signal.Signals, Any] = {}
    if install_signals and threading.current_thread() is threading.main_thread():

        def handle(signum: int, frame: FrameType | None) -> None:
            listener.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handle)
    try:
        listener.start()
        host, port = listener.address
        console.print(f"listening on {host}:{port}, writing {out} (Ctrl-C to stop)", markup=False)
        summary = listener.wait()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    console.print(format_listen_summary(summary), markup=False)
    if requests is not None:
        console.print(format_tail_summary(requests), markup=False)
    return summary


__all__ = [
    "format_listen_summary",
    "format_tail_line",
    "format_tail_summary",
    "run_listen",
    "tail_printer",
]
