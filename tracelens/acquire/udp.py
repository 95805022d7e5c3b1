"""X-Ray daemon protocol listener: receive segment datagrams on UDP and write them as NDJSON.

The same port takes the ADOT Lambda layer's OTLP-over-UDP datagrams
(aws-observability/aws-otel-python-instrumentation ``lambda-layer/.../otlp_udp_exporter.py``):
the daemon's header line ``{"format":"json","version":1}`` and a newline, then ``T1S``
(sampled spans) or ``T1U`` (unsampled spans) and the standard base64 of a serialized
``ExportTraceServiceRequest``; ``M1`` prefixes metrics. Span datagrams go to the OTLP file as
OTLP/JSON (``otlp_json``, ``otlp_file``), unsampled ones included (Transaction Search stores
them) and counted apart; metrics datagrams are counted as ignored.
"""

from __future__ import annotations

import base64
import binascii
import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from tracelens.acquire.address import is_loopback
from tracelens.acquire.otlp_file import OtlpFile, remove_if_empty
from tracelens.acquire.otlp_json import decode_protobuf
from tracelens.errors import SourceUnavailable
from tracelens.ingest.decode import check_document_bytes
from tracelens.model.bundle import OTLP_FILE

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import IO

logger = logging.getLogger(__name__)

DEFAULT_BIND = ("127.0.0.1", 2000)

#: Largest UDP payload; the daemon reads 64 KB datagrams.
MAX_DATAGRAM = 65535

#: Receive buffer asked of the kernel (Linux caps it at net.core.rmem_max).
RCVBUF_BYTES = 8 * 1024 * 1024

#: Malformed datagrams logged individually; the rest are only counted.
LOG_FIRST_MALFORMED = 5


class _Header(msgspec.Struct):
    format: str
    version: int


class _Wrapper(msgspec.Struct):
    """The keys that make a JSON object a Trace or BatchGetTraces page, not a document."""

    Traces: msgspec.Raw | None = None
    Segments: msgspec.Raw | None = None
    Document: msgspec.Raw | None = None


#: Body prefixes of the ADOT layer's OTLP datagrams: sampled spans, unsampled spans, metrics.
OTLP_SAMPLED = b"T1S"
OTLP_UNSAMPLED = b"T1U"
OTLP_METRICS = b"M1"
_OTLP_PREFIXES = (OTLP_SAMPLED, OTLP_UNSAMPLED, OTLP_METRICS)

_HEADER = msgspec.json.Decoder(_Header)
_WRAPPER = msgspec.json.Decoder(_Wrapper)
_WRAPPER_KEYS = (b'"Traces"', b'"Segments"', b'"Document"')


def check_datagram(data: bytes) -> tuple[bytes | None, str | None]:
    """Split and check one daemon datagram: header line, then one segment document.

    The daemon splits on the first newline and accepts the header when ``format`` equals
    "json" ignoring case and ``version`` is 1 (aws-xray-daemon ``tracesegment.go``). The
    body must be one bare segment document, valid as the file reader defines it
    (``ingest.decode.check_document_bytes``).

    Args:
        data: The datagram.

    Returns:
        (body as one NDJSON line without the newline, None) when valid, else
        (None, reason).
    """
    header, sep, body = data.partition(b"\n")
    reason = _check_header(header, sep)
    if reason is not None:
        return None, reason
    body = body.strip()
    if not body:
        return None, "missing segment document after the header"
    reason = check_document_bytes(body)
    if reason is not None:
        return None, reason
    if not _is_bare_document(body):
        return None, "not a segment document: a list, Trace or BatchGetTraces page"
    if b"\n" in body or b"\r" in body:
        body = msgspec.json.encode(msgspec.json.decode(body))  # one line for NDJSON
    return body, None


def _check_header(header: bytes, sep: bytes) -> str | None:
    if not sep:
        return 'no header line (expected {"format":"json","version":1} then a newline)'
    try:
        head = _HEADER.decode(header)
    except msgspec.DecodeError as exc:
        return f"invalid header: {exc}"
    if head.format.lower() != "json" or head.version != 1:
        return "invalid header: format must be json and version 1"
    return None


def otlp_prefix(data: bytes) -> bytes | None:
    """The OTLP prefix (``T1S``, ``T1U``, ``M1``) a datagram's body starts with, if any.

    Only the prefix is looked at: a segment document starts with ``{``, never with these.

    Args:
        data: The datagram.

    Returns:
        The prefix, or None for a daemon (segment) datagram.
    """
    _, sep, body = data.partition(b"\n")
    if not sep:
        return None
    for prefix in _OTLP_PREFIXES:
        if body.startswith(prefix):
            return prefix
    return None


def check_otlp_datagram(data: bytes) -> tuple[bytes | None, str | None]:
    """Split and check one OTLP span datagram: header line, prefix, base64 protobuf.

    Args:
        data: A datagram whose ``otlp_prefix`` is ``T1S`` or ``T1U``.

    Returns:
        (serialized ExportTraceServiceRequest, None) when the framing is valid, else
        (None, reason). The protobuf itself is decoded by the caller.
    """
    header, sep, body = data.partition(b"\n")
    reason = _check_header(header, sep)
    if reason is not None:
        return None, reason
    payload = body[len(OTLP_SAMPLED) :].strip()
    try:
        return base64.b64decode(payload, validate=True), None
    except (binascii.Error, ValueError) as exc:
        return None, f"OTLP datagram body is not base64: {exc}"


def _is_bare_document(body: bytes) -> bool:
    """Say whether a valid ``body`` is a document itself rather than a wrapper of one."""
    if not body.startswith(b"{"):
        return False
    if not any(key in body for key in _WRAPPER_KEYS):
        return True
    try:
        wrapper = _WRAPPER.decode(body)
    except msgspec.DecodeError:
        return False
    return wrapper.Traces is None and wrapper.Segments is None and wrapper.Document is None


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
        otlp_requests: OTLP export requests accepted, over HTTP and UDP
            (``otlp_file.OtlpCounts.requests``).
        otlp_spans: Spans in them, written to the OTLP file.
        otlp_unsampled: Of those, spans from unsampled (``T1U``) datagrams.
        otlp_malformed: OTLP inputs rejected (HTTP bodies, UDP datagrams).
        otlp_ignored: OTLP inputs that are not traces (other HTTP paths or methods, metrics
            datagrams).

    ``received`` counts every datagram; ``malformed`` and ``written`` only segment ones.
    """

    received: int
    malformed: int
    written: int
    dropped: int
    forwarded: int
    forward_errors: int
    rcvbuf: int
    otlp_requests: int = 0
    otlp_spans: int = 0
    otlp_unsampled: int = 0
    otlp_malformed: int = 0
    otlp_ignored: int = 0

    @property
    def otlp_seen(self) -> bool:
        """Whether any OTLP input arrived (accepted, rejected or ignored)."""
        return bool(self.otlp_requests or self.otlp_malformed or self.otlp_ignored)


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
        on_document: Callable[[bytes], None] | None = None,
        otlp: OtlpFile | None = None,
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
            on_document: Called by the writer thread with each valid document (one NDJSON
                line, no newline) after it is written to the file (``listen --tail``). If it
                raises, it is logged and not called again; the capture goes on.
            otlp: Where OTLP span datagrams go (shared with the OTLP/HTTP server); by
                default ``otlp.ndjson`` next to ``out``, opened when the first one arrives
                and closed by ``wait()``.

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
        self._on_document = on_document
        self._created_out = False
        self._owns_otlp = otlp is None
        self.otlp = otlp if otlp is not None else OtlpFile(out.parent / OTLP_FILE)

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
            self._created_out = not self.out.exists()
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
            threading.Thread(
                target=self._write, args=(fh,), name="tracelens-listen-write", daemon=True
            ),
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
        if self._owns_otlp and self._error is None:
            try:
                self.otlp.close()
            except OSError as exc:
                self._error = exc
        if self._created_out and self.written == 0:
            # Only OTLP (or nothing) arrived: an empty segment file would only be an input
            # that readers reject as empty. A file that was there before is left alone.
            remove_if_empty(self.out)
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
        otlp = self.otlp.counts()
        return ListenSummary(
            received=self.received,
            malformed=self.malformed,
            written=self.written,
            dropped=self.dropped,
            forwarded=self.forwarded,
            forward_errors=self.forward_errors,
            rcvbuf=self.rcvbuf,
            otlp_requests=otlp.requests,
            otlp_spans=otlp.spans,
            otlp_unsampled=otlp.unsampled,
            otlp_malformed=otlp.malformed,
            otlp_ignored=otlp.ignored,
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
                    if pending and (
                        now - last_flush >= self._flush_interval or self._queue.empty()
                    ):
                        fh.flush()
                        self.otlp.flush()
                        last_flush = now
                        pending = False
                fh.flush()
                self.otlp.flush()
        except BaseException as exc:  # pragma: no cover - reported by wait()
            self._error = exc
            self._stop.set()

    def _handle(self, fh: IO[bytes], data: bytes) -> None:
        prefix = otlp_prefix(data)
        if prefix is not None:
            self._handle_otlp(prefix, data)
            return
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
                logger.warning(
                    "malformed datagram %d (%r...): %s", self.malformed, data[:80], reason
                )
            return
        fh.write(body + b"\n")
        self.written += 1
        if self._on_document is not None:
            try:
                self._on_document(body)
            except Exception:
                # The file must get every document whatever the live view does (a closed
                # stdout, a bug): stop calling it, say so once, keep writing.
                self._on_document = None
                logger.warning("live view failed; capture continues", exc_info=True)
        if self.max_segments is not None and self.written >= self.max_segments:
            self._stop.set()

    def _handle_otlp(self, prefix: bytes, data: bytes) -> None:
        if prefix == OTLP_METRICS:
            self.otlp.ignored()
            return
        payload, reason = check_otlp_datagram(data)
        if payload is not None:
            request, reason = decode_protobuf(payload)
            if request is not None:
                self.otlp.write(request, unsampled=prefix == OTLP_UNSAMPLED)
                return
        self.otlp.malformed(str(reason), data)


__all__ = [
    "DEFAULT_BIND",
    "OTLP_METRICS",
    "OTLP_SAMPLED",
    "OTLP_UNSAMPLED",
    "ListenSummary",
    "Listener",
    "check_datagram",
    "check_otlp_datagram",
    "otlp_prefix",
]
