"""OTLP/HTTP trace receiver: ``POST /v1/traces`` bodies written to ``otlp.ndjson`` as OTLP/JSON.

What it answers follows the OTLP specification's OTLP/HTTP section:

- ``POST /v1/traces`` with ``Content-Type: application/x-protobuf`` or ``application/json``,
  optionally ``Content-Encoding: gzip`` (or ``deflate``): 200 with an empty
  ``ExportTraceServiceResponse`` in the request's encoding, once the request is in the file;
- a body that does not decode: 400; larger than the limit before or after decompression
  (20 MiB, the specification's recommendation): 413; another content type or encoding: 415;
  no ``Content-Length`` (chunked bodies are not read): 411;
- another path: 404; another method on ``/v1/traces``: 405;
- after the listener stopped: 503 (retryable: the client may send it elsewhere); when the
  file cannot be written: 500 (and the listener stops).

Error bodies are a ``google.rpc.Status`` with its ``message`` set, as protobuf or JSON like
the request. Every request is counted (``otlp_file.OtlpCounts``); none stops the server.
"""

from __future__ import annotations

import logging
import socket
import threading
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import msgspec

from tracelens.acquire.address import is_loopback
from tracelens.acquire.otlp_json import decode_json, decode_protobuf
from tracelens.errors import SourceUnavailable

if TYPE_CHECKING:
    from tracelens.acquire.otlp_file import OtlpFile
    from tracelens.acquire.otlp_json import OtlpRequest

logger = logging.getLogger(__name__)

#: The OTLP/HTTP path for traces.
TRACES_PATH = "/v1/traces"

#: Body size limit, before and after decompression (the specification recommends 20 MiB).
MAX_BODY = 20 * 1024 * 1024

#: Seconds a silent connection (idle between requests, or stalled mid-body) may hold its thread.
IDLE_TIMEOUT = 10.0

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_CONTENT_TYPES = {_PROTOBUF: _PROTOBUF, "application/protobuf": _PROTOBUF, _JSON: _JSON}
#: zlib ``wbits`` for each supported Content-Encoding (None: not compressed).
_ENCODINGS: dict[str, int | None] = {
    "": None,
    "identity": None,
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}


class BodyTooLarge(Exception):
    """A body exceeds the limit once decompressed."""


def decompress(body: bytes, wbits: int, limit: int) -> bytes:
    """Inflate a gzip or zlib body without ever holding more than ``limit`` bytes of it.

    Concatenated gzip members are all read, as ``gzip.decompress`` does.

    Args:
        body: The compressed bytes.
        wbits: ``zlib`` window bits: 16 + MAX_WBITS for gzip, MAX_WBITS for zlib (deflate).
        limit: Largest decompressed size accepted.

    Returns:
        The decompressed bytes.

    Raises:
        BodyTooLarge: The decompressed body would exceed ``limit``.
        zlib.error: The body is not valid compressed data (truncated, corrupt).
    """
    gzip = wbits == 16 + zlib.MAX_WBITS
    parts: list[bytes] = []
    size = 0
    data = body
    while True:
        inflater = zlib.decompressobj(wbits)
        while data:
            chunk = inflater.decompress(data, limit - size + 1)
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            parts.append(chunk)
            data = inflater.unconsumed_tail
        tail = inflater.flush()
        size += len(tail)
        if size > limit:
            raise BodyTooLarge
        parts.append(tail)
        if not inflater.eof:
            raise zlib.error("compressed body ends early")
        data = inflater.unused_data
        if not data:
            return b"".join(parts)
        if not gzip:
            raise zlib.error("data after the end of the compressed body")


def status_body(message: str, content_type: str) -> bytes:
    """A ``google.rpc.Status`` carrying only ``message``, encoded like the request.

    The message has one field here (``string message = 2``), so its protobuf form is the tag
    byte 0x12, the length as a varint and the UTF-8 text.

    Args:
        message: The developer-facing text.
        content_type: ``application/json`` for JSON, anything else for protobuf.

    Returns:
        The body.
    """
    if content_type == _JSON:
        return msgspec.json.encode({"message": message})
    text = message.encode("utf-8")
    length = len(text)
    varint = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            varint.append(byte | 0x80)
        else:
            varint.append(byte)
            break
    return b"\x12" + bytes(varint) + text


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], sink: OtlpFile, max_body: int, idle_timeout: float
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sink = sink
        self.max_body = max_body
        self.idle_timeout = idle_timeout
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client gone mid-answer, or a bug: logged, never a traceback on the user's terminal;
        # the connection closes and the server goes on.
        logger.warning("OTLP/HTTP connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "tracelens-listen"

    def setup(self) -> None:
        super().setup()
        # StreamRequestHandler applies the class-wide ``timeout``; this server's own instead.
        self.connection.settimeout(self.server.idle_timeout)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("otlp http %s: " + format, self.address_string(), *args)

    def _path_is_traces(self) -> bool:
        return urlsplit(self.path).path == TRACES_PATH

    def _answer(
        self, status: HTTPStatus, body: bytes, content_type: str, *, close: bool = False
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "POST")
        if status == HTTPStatus.SERVICE_UNAVAILABLE:
            self.send_header("Retry-After", "5")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _fail(
        self, status: HTTPStatus, message: str, content_type: str, *, close: bool = False
    ) -> None:
        reply_type = _JSON if content_type == _JSON else _PROTOBUF
        self._answer(status, status_body(message, reply_type), reply_type, close=close)

    def _refuse_other(self) -> None:
        sink = self.server.sink
        sink.ignored()
        content_type = self._content_type() or _PROTOBUF
        if not self._path_is_traces():
            self._fail(
                HTTPStatus.NOT_FOUND, f"only {TRACES_PATH} is served", content_type, close=True
            )
        else:
            self._fail(HTTPStatus.METHOD_NOT_ALLOWED, "use POST", content_type, close=True)

    def _content_type(self) -> str | None:
        raw = self.headers.get("Content-Type", "")
        return _CONTENT_TYPES.get(raw.split(";", 1)[0].strip().lower())

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse_other

    def do_POST(self) -> None:
        sink = self.server.sink
        if not self._path_is_traces():
            self._refuse_other()
            return
        raw_type = self.headers.get("Content-Type", "")
        content_type = self._content_type()
        reply_type = content_type or _PROTOBUF
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        length_text = self.headers.get("Content-Length")
        # Refusals before the body is read close the connection: the unread body would
        # otherwise be taken for the next request.
        if length_text is None:
            sink.malformed("no Content-Length (chunked bodies are not read)", b"")
            self._fail(
                HTTPStatus.LENGTH_REQUIRED, "Content-Length required", reply_type, close=True
            )
            return
        length_text = length_text.strip()
        if not (length_text.isascii() and length_text.isdigit()):
            sink.malformed(f"invalid Content-Length {length_text[:40]!r}", b"")
            self._fail(HTTPStatus.BAD_REQUEST, "invalid Content-Length", reply_type, close=True)
            return
        length = int(length_text)
        limit = self.server.max_body
        if length > limit:
            sink.malformed(f"body of {length} bytes is over the {limit}-byte limit", b"")
            self._fail(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body larger than {limit} bytes",
                reply_type,
                close=True,
            )
            return
        if content_type is None or encoding not in _ENCODINGS:
            what = (
                f"Content-Type {raw_type[:60]!r}"
                if content_type is None
                else f"Content-Encoding {encoding[:40]!r}"
            )
            sink.malformed(f"unsupported {what}", b"")
            self._fail(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"unsupported {what}: send {_PROTOBUF} or {_JSON}, gzip or not",
                reply_type,
                close=True,
            )
            return
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            sink.malformed(f"body not received within {self.server.idle_timeout} s", b"")
            self.close_connection = True
            return
        if len(body) < length:
            sink.malformed(f"body ends after {len(body)} of {length} bytes", body)
            self.close_connection = True
            return
        self._take(body, content_type, _ENCODINGS[encoding])

    def _take(self, body: bytes, content_type: str, wbits: int | None) -> None:
        sink = self.server.sink
        limit = self.server.max_body
        if wbits is not None:
            try:
                body = decompress(body, wbits, limit)
            except BodyTooLarge:
                sink.malformed(f"body over the {limit}-byte limit once decompressed", b"")
                self._fail(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"decompressed body larger than {limit} bytes",
                    content_type,
                )
                return
            except zlib.error as exc:
                sink.malformed(f"cannot decompress: {exc}", body)
                self._fail(HTTPStatus.BAD_REQUEST, f"cannot decompress: {exc}", content_type)
                return
        request: OtlpRequest | None
        if content_type == _JSON:
            request, reason = decode_json(body)
        else:
            request, reason = decode_protobuf(body)
        if request is None:
            sink.malformed(str(reason), body)
            self._fail(HTTPStatus.BAD_REQUEST, str(reason), content_type)
            return
        try:
            accepted = sink.write(request, flush=True)
        except (OSError, SourceUnavailable) as exc:
            # Kept in sink.error, which stops the listener; the client must not retry here.
            self._fail(HTTPStatus.INTERNAL_SERVER_ERROR, f"cannot write: {exc}", content_type)
            return
        if not accepted:
            self._fail(HTTPStatus.SERVICE_UNAVAILABLE, "listener stopping", content_type)
            return
        # An empty ExportTraceServiceResponse: no bytes in protobuf, {} in JSON.
        self._answer(HTTPStatus.OK, b"{}" if content_type == _JSON else b"", content_type)


class OtlpHttpServer:
    """Serve OTLP/HTTP trace exports on a thread until ``stop()``.

    Example:
        >>> sink = OtlpFile(Path("bundle/otlp.ndjson")).open()
        >>> server = OtlpHttpServer(("127.0.0.1", 4318), sink).start()
        >>> ...  # OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
        >>> server.stop()
    """

    def __init__(
        self,
        bind: tuple[str, int],
        sink: OtlpFile,
        *,
        allow_remote: bool = False,
        max_body: int = MAX_BODY,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        """Create a server; nothing is bound until ``start()``.

        Args:
            bind: Address to bind; port 0 picks a free one (see ``address``).
            sink: Where requests go.
            allow_remote: Permit a non-loopback address (only when the user named it).
            max_body: Body size limit in bytes, before and after decompression.
            idle_timeout: Seconds a connection may stay silent (between requests, or in the
                middle of a body) before it is closed.

        Raises:
            SourceUnavailable: A non-loopback address without ``allow_remote``.
        """
        if not is_loopback(bind[0]) and not allow_remote:
            raise SourceUnavailable(f"refusing to serve OTLP on {bind[0]}: not a loopback address")
        self.bind = bind
        self.sink = sink
        self.max_body = max_body
        self.idle_timeout = idle_timeout
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); valid after ``start()``."""
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> OtlpHttpServer:
        """Bind and start serving on a thread.

        Returns:
            The server itself.

        Raises:
            SourceUnavailable: The address cannot be bound (in use, unknown host).
        """
        try:
            server = _Server(self.bind, self.sink, self.max_body, self.idle_timeout)
        except OSError as exc:
            raise SourceUnavailable(
                f"cannot serve OTLP on {self.bind[0]}:{self.bind[1]}: "
                f"{exc.strerror or exc} (pick another --otlp-http port)"
            ) from exc
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="tracelens-otlp-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting connections and close the socket. Safe to call twice.

        A request already being read finishes against the sink: written if the sink is still
        open, else answered 503.
        """
        server = self._server
        if server is None:
            return
        self._server = None
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()


__all__ = [
    "MAX_BODY",
    "TRACES_PATH",
    "BodyTooLarge",
    "OtlpHttpServer",
    "decompress",
    "status_body",
]
