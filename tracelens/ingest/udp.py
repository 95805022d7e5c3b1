"""X-Ray daemon protocol listener: receive segment datagrams on UDP and write them as NDJSON."""

from __future__ import annotations

import ipaddress
import logging
import queue
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from tracelens.errors import SourceUnavailable

if TYPE_CHECKING:
    from types import FrameType
    from typing import IO

logger = logging.getLogger(__name__)

DEFAULT_BIND = ("127.0.0.1", 2000)

#: Largest UDP payload; the daemon reads 64 KB datagrams.
MAX_DATAGRAM = 65535

#: Receive buffer asked of the kernel (Linux caps it at net.core.rmem_max).
RCVBUF_BYTES = 8 * 1024 * 1024

#: Malformed datagrams logged individually; the rest are only counted.
LOG_FIRST_MALFORMED = 5

_SEGMENT_ID = re.compile(r"^[0-9a-f]{16}$")
_TRACE_ID = re.compile(r"^1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}$")


class _Header(msgspec.Struct):
    format: str
    version: int


class _Document(msgspec.Struct):
    """The fields a segment or subsegment document must have (unknown keys are ignored)."""

    name: str
    id: str
    trace_id: str
    start_time: float
    end_time: float | None = None
    in_progress: bool = False


_HEADER = msgspec.json.Decoder(_Header)
_DOCUMENT = msgspec.json.Decoder(_Document)


def check_datagram(data: bytes) -> tuple[bytes | None, str | None]:
    """Split and check one daemon datagram: header line, then one segment document.

    The daemon splits on the first newline and accepts the header when ``format`` equals
    "json" ignoring case and ``version`` is 1 (aws-xray-daemon ``tracesegment.go``).

    Args:
        data: The datagram.

    Returns:
        (body as one NDJSON line without the newline, None) when valid, else
        (None, reason).
    """
    header, sep, body = data.partition(b"\n")
    if not sep:
        return None, "no header line (expected {\"format\":\"json\",\"version\":1} then a newline)"
    try:
        head = _HEADER.decode(header)
    except msgspec.DecodeError as exc:
        return None, f"invalid header: {exc}"
    if head.format.lower() != "json" or head.version != 1:
        return None, "invalid header: format must be json and version 1"
    body = body.strip()
    if not body:
        return None, "missing segment document after the header"
    try:
        doc = _DOCUMENT.decode(body)
    except msgspec.ValidationError as exc:
        return None, f"not a segment document: {exc}"
    except msgspec.DecodeError as exc:
        return None, f"body is not one JSON object: {exc}"
    if not _SEGMENT_ID.match(doc.id):
        return None, "id must be 16 lowercase hex digits"
    if not _TRACE_ID.match(doc.trace_id):
        return None, "trace_id must look like 1-<8 hex>-<24 hex>"
    if doc.end_time is None and not doc.in_progress:
        return None, "needs end_time or in_progress: true"
    if b"\n" in body or b"\r" in body:
        body = msgspec.json.encode(msgspec.json.decode(body))  # one line for NDJSON
    return body, None


@dataclass(frozen=True, slots=True)
class ListenSummary:
    """Counts of one listener run.

    Attributes:
        received: Datagrams received.
        malformed: Datagrams rejected (bad header or not a segment document).
        written: Documents written to the file.
        dropped: Datagrams lost because the writer could not keep up.
        forwarded: Datagrams forwarded to the real daemon.
        forward_errors: Datagrams the forward socket refused.
        rcvbuf: Receive buffer size the kernel granted, bytes.
    """

    received: int
    malformed: int
    written: int
    dropped: int
    forwarded: int
    forward_errors: int
    rcvbuf: int


def is_loopback(host: str) -> bool:
    """Say whether ``host`` is a loopback address (or ``localhost``).

    Args:
        host: An IP address or host name.

    Returns:
        True for 127.0.0.0/8, ::1 and ``localhost``.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[v6]:PORT`` for IPv6).

    Args:
        text: The address.

    Returns:
        (host, port).

    Raises:
        SourceUnavailable: The text is not HOST:PORT with a port in 0-65535.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise SourceUnavailable(f"{text!r} is not HOST:PORT (for example 127.0.0.1:2000)")
    return host.strip("[]"), int(port)


class Listener:
    """Act as the X-Ray daemon: receive datagrams, check them, write documents as NDJSON.

    A receiver thread reads the socket (and forwards each datagram unchanged when asked)
    into a bounded queue; a writer thread checks each datagram and appends the valid
    bodies to the file, flushing at least every half second. If the queue is full the
    datagram is counted as dropped, never silently lost.

    Example:
        >>> listener = Listener(("127.0.0.1", 0), Path("out.ndjson"), None, 5.0, None)
        >>> summary = listener.run()  # blocks until stop(), the duration or max segments
    """

    def __init__(
        self,
        bind: tuple[str, int],
        out: Path,
        forward: tuple[str, int] | None,
        duration: float | None,
        max_segments: int | None,
        *,
        allow_remote: bool = False,
        queue_size: int = 65536,
        flush_interval: float = 0.5,
    ) -> None:
        """Create a listener; nothing is bound until ``start()`` or ``run()``.

        Args:
            bind: Address to bind; port 0 picks a free one (see ``address``).
            out: NDJSON file to append to.
            forward: A real daemon to forward every datagram to, unchanged.
            duration: Stop after this many seconds.
            max_segments: Stop after writing this many documents.
            allow_remote: Permit a non-loopback bind address (only when the user named
                it explicitly).
            queue_size: Datagrams buffered between receiver and writer.
            flush_interval: Longest time between file flushes, seconds.

        Raises:
            SourceUnavailable: A non-loopback address without ``allow_remote``.
        """
        if not is_loopback(bind[0]) and not allow_remote:
            raise SourceUnavailable(
                f"refusing to listen on {bind[0]}: not a loopback address "
                "(give --bind explicitly to listen beyond this machine)"
            )
        self.bind = bind
        self.out = out
        self.forward = forward
        self.duration = duration
        self.max_segments = max_segments
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=queue_size)
        self._flush_interval = flush_interval
        self._stop = threading.Event()
        self._recv_done = threading.Event()
        self._sock: socket.socket | None = None
        self._fwd: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self.received = 0
        self.malformed = 0
        self.written = 0
        self.dropped = 0
        self.forwarded = 0
        self.forward_errors = 0
        self.rcvbuf = 0
        self.malformed_reasons: list[str] = []

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); valid after ``start()``."""
        if self._sock is None:
            raise RuntimeError("listener not started")
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> Listener:
        """Bind the socket and start the receiver and writer threads.

        Returns:
            The listener itself.

        Raises:
            SourceUnavailable: The port is in use or the file cannot be opened.
        """
        family = socket.AF_INET6 if ":" in self.bind[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        except OSError:
            logger.debug("could not enlarge SO_RCVBUF")
        self.rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        try:
            sock.bind(self.bind)
        except OSError as exc:
            sock.close()
            raise SourceUnavailable(
                f"cannot listen on {self.bind[0]}:{self.bind[1]}: {exc.strerror} "
                "(is an X-Ray daemon already running? pick another --bind port)"
            ) from exc
        sock.settimeout(0.1)
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            fh = self.out.open("ab")
        except OSError as exc:
            sock.close()
            raise SourceUnavailable(f"{self.out}: cannot write: {exc.strerror}") from exc
        self._sock = sock
        if self.forward is not None:
            ffamily = socket.AF_INET6 if ":" in self.forward[0] else socket.AF_INET
            self._fwd = socket.socket(ffamily, socket.SOCK_DGRAM)
        self._threads = [
            threading.Thread(target=self._receive, name="tracelens-listen-recv", daemon=True),
            threading.Thread(target=self._write, args=(fh,), name="tracelens-listen-write",
                             daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Ask the listener to stop; safe from signal handlers and other threads."""
        self._stop.set()

    def wait(self) -> ListenSummary:
        """Block until stopped (``stop()``, duration or max segments), then drain and flush.

        Returns:
            The counts.
        """
        deadline = None if self.duration is None else time.monotonic() + self.duration
        while not self._stop.is_set():
            timeout = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if timeout <= 0:
                break
            self._stop.wait(timeout)
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for sock in (self._sock, self._fwd):
            if sock is not None:
                sock.close()
        if self._error is not None:
            raise SourceUnavailable(f"{self.out}: listener failed: {self._error}") from (
                self._error
            )
        return self.summary()

    def run(self) -> ListenSummary:
        """Start (if needed) and block until stopped.

        Returns:
            The counts.
        """
        if self._sock is None:
            self.start()
        return self.wait()

    def summary(self) -> ListenSummary:
        """The counts so far.

        Returns:
            A snapshot of the counters.
        """
        return ListenSummary(
            received=self.received,
            malformed=self.malformed,
            written=self.written,
            dropped=self.dropped,
            forwarded=self.forwarded,
            forward_errors=self.forward_errors,
            rcvbuf=self.rcvbuf,
        )

    # --- threads ---------------------------------------------------------------------

    def _receive(self) -> None:
        assert self._sock is not None
        sock = self._sock
        fwd = self._fwd
        target = self.forward
        put = self._queue.put_nowait
        try:
            while not self._stop.is_set():
                try:
                    data = sock.recv(MAX_DATAGRAM + 1)
                except TimeoutError:
                    continue
                except OSError:
                    if self._stop.is_set():
                        break
                    raise
                self.received += 1
                if fwd is not None and target is not None:
                    try:
                        fwd.sendto(data, target)
                        self.forwarded += 1
                    except OSError:
                        self.forward_errors += 1
                try:
                    put(data)
                except queue.Full:
                    self.dropped += 1
                    if self.dropped == 1:
                        logger.warning("writer cannot keep up: dropping datagrams (counted)")
            # Empty the socket buffer of what already arrived, without blocking.
            sock.setblocking(False)
            while True:
                try:
                    data = sock.recv(MAX_DATAGRAM + 1)
                except (BlockingIOError, OSError):
                    break
                self.received += 1
                try:
                    put(data)
                except queue.Full:
                    self.dropped += 1
        except BaseException as exc:  # pragma: no cover - reported by wait()
            self._error = exc
            self._stop.set()
        finally:
            self._recv_done.set()
            self._queue.put(None)

    def _write(self, fh: IO[bytes]) -> None:
        get = self._queue.get
        last_flush = time.monotonic()
        pending = False
        try:
            with fh:
                while True:
                    try:
                        data = get(timeout=self._flush_interval)
                    except queue.Empty:
                        data = b""
                    if data is None:
                        break
                    if data:
                        self._handle(fh, data)
                        pending = True
                    now = time.monotonic()
                    if pending and (now - last_flush >= self._flush_interval
                                    or self._queue.empty()):
                        fh.flush()
                        last_flush = now
                        pending = False
                fh.flush()
        except BaseException as exc:  # pragma: no cover - reported by wait()
            self._error = exc
            self._stop.set()

    def _handle(self, fh: IO[bytes], data: bytes) -> None:
        if self.max_segments is not None and self.written >= self.max_segments:
            return
        body: bytes | None
        reason: str | None
        if len(data) > MAX_DATAGRAM:
            body, reason = None, f"datagram larger than {MAX_DATAGRAM} bytes"
        else:
            body, reason = check_datagram(data)
        if body is None:
            self.malformed += 1
            if self.malformed <= LOG_FIRST_MALFORMED:
                self.malformed_reasons.append(str(reason))
                logger.warning("malformed datagram %d (%r...): %s", self.malformed,
                               data[:80], reason)
            return
        fh.write(body + b"\n")
        self.written += 1
        if self.max_segments is not None and self.written >= self.max_segments:
            self._stop.set()


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


def run_listen(
    *,
    out: Path,
    bind: str | None = None,
    forward: str | None = None,
    duration: float | None = None,
    max_segments: int | None = None,
    install_signals: bool = True,
) -> ListenSummary:
    """The body of ``tracelens listen``: be the X-Ray daemon until told to stop.

    Stops on SIGINT / SIGTERM, after ``duration`` seconds or ``max_segments`` documents;
    flushes what it received and prints the counts on stderr.

    Args:
        out: NDJSON file to append to.
        bind: ``--bind HOST:PORT``; default 127.0.0.1:2000. Non-loopback addresses are
            allowed only because the user typed them.
        forward: ``--forward HOST:PORT`` of a real daemon.
        duration: ``--duration`` seconds.
        max_segments: ``--max-segments``.
        install_signals: Install SIGINT / SIGTERM handlers (main thread only).

    Returns:
        The counts.

    Raises:
        SourceUnavailable: The address is unusable or the port is taken.
    """
    from rich.console import Console

    console = Console(file=sys.stderr)
    address = parse_address(bind) if bind is not None else DEFAULT_BIND
    listener = Listener(
        address,
        out,
        parse_address(forward) if forward is not None else None,
        duration,
        max_segments,
        allow_remote=bind is not None,
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
        console.print(f"listening on {host}:{port}, writing {out} (Ctrl-C to stop)",
                      markup=False)
        summary = listener.wait()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    console.print(format_listen_summary(summary), markup=False)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Run the listener from ``python -m tracelens.ingest.udp -o FILE [--bind H:P]...``.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tracelens.ingest.udp")
    parser.add_argument("-o", "--output", required=True, type=Path)
    parser.add_argument("--bind")
    parser.add_argument("--forward")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--max-segments", type=int)
    args = parser.parse_args(argv)
    try:
        run_listen(out=args.output, bind=args.bind, forward=args.forward,
                   duration=args.duration, max_segments=args.max_segments)
    except SourceUnavailable as exc:
        print(f"SourceUnavailable: {exc}", file=sys.stderr)
        return 2
    return 0


__all__ = [
    "DEFAULT_BIND",
    "ListenSummary",
    "Listener",
    "check_datagram",
    "format_listen_summary",
    "is_loopback",
    "parse_address",
    "run_listen",
]

if __name__ == "__main__":
    sys.exit(main())
