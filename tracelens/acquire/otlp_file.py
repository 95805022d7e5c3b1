"""The ``otlp.ndjson`` writer that the OTLP/HTTP server and the UDP listener share.

Both sides hand it decoded requests (``otlp_json.OtlpRequest``) from their own threads; one
lock keeps lines whole and the counters exact. The file is opened on first use (or at once
with ``open()``), appended to, and flushed by whoever asks: the HTTP handler before it
answers 200, the UDP writer thread on its flush schedule.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracelens.acquire.tail import printable
from tracelens.errors import SourceUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import IO

    from tracelens.acquire.otlp_json import OtlpRequest

logger = logging.getLogger(__name__)

#: Malformed OTLP inputs logged individually; the rest are only counted.
LOG_FIRST_MALFORMED = 5


@dataclass(frozen=True, slots=True)
class OtlpCounts:
    """What the OTLP side of one listener run received.

    Attributes:
        requests: Export requests accepted (HTTP requests answered 200, UDP datagrams
            decoded); those with at least one span are written, one a line.
        spans: Spans in them.
        unsampled: Of ``spans``, those that came in unsampled (``T1U``) datagrams.
        malformed: Inputs rejected: bodies or datagrams that do not decode, bodies too
            large, of another content type or encoding, without a length.
        ignored: Inputs that are not traces: HTTP requests to another path or with another
            method, OTLP metrics datagrams (``M1``).
    """

    requests: int = 0
    spans: int = 0
    unsampled: int = 0
    malformed: int = 0
    ignored: int = 0


class OtlpFile:
    """Append OTLP/JSON requests to one file, count them, never interleave lines.

    Example:
        >>> sink = OtlpFile(Path("bundle/otlp.ndjson"))
        >>> sink.write(request)  # from any thread
        >>> sink.close()
    """

    def __init__(self, path: Path, *, on_error: Callable[[], None] | None = None) -> None:
        """Create the writer; nothing is opened before ``open()`` or the first write.

        Args:
            path: The file to append to (``bundle.OTLP_FILE`` in the output directory).
            on_error: Called once when a write fails (the listener stops on it); the error
                is kept in ``error``.
        """
        self.path = path
        self.error: BaseException | None = None
        self._on_error = on_error
        self._lock = threading.Lock()
        self._fh: IO[bytes] | None = None
        self._created = False
        self._closed = False
        self._pending = False
        self._requests = 0
        self._requests_written = 0
        self._spans = 0
        self._unsampled = 0
        self._malformed = 0
        self._ignored = 0
        self.malformed_reasons: list[str] = []

    def open(self) -> OtlpFile:
        """Open the file now, so that an unwritable path fails at start, not mid-run.

        Returns:
            The writer itself.

        Raises:
            SourceUnavailable: The file cannot be opened for appending.
        """
        with self._lock:
            self._open_locked()
        return self

    def _open_locked(self) -> IO[bytes]:
        if self._fh is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._created = not self.path.exists()
                self._fh = self.path.open("ab")
            except OSError as exc:
                raise SourceUnavailable(f"{self.path}: cannot write: {exc.strerror}") from exc
        return self._fh

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (later requests are refused, not written)."""
        return self._closed

    def write(self, request: OtlpRequest, *, unsampled: bool = False, flush: bool = False) -> bool:
        """Count a request and append it as one line when it has spans.

        A request without spans is counted and not written: an empty line of JSON would only
        be an input for the readers to skip.

        Args:
            request: The decoded request.
            unsampled: It came in an unsampled (``T1U``) datagram.
            flush: Flush the file before returning (the HTTP side answers 200 after this).

        Returns:
            False when the writer is already closed (nothing counted or written).

        Raises:
            SourceUnavailable: The file cannot be opened.
            OSError: The write failed (a full disk).
        """
        with self._lock:
            if self._closed:
                return False
            if request.spans:
                try:
                    fh = self._open_locked()
                    fh.write(request.line + b"\n")
                    self._requests_written += 1
                    self._pending = True
                    if flush:
                        fh.flush()
                        self._pending = False
                except (OSError, SourceUnavailable) as exc:
                    self._fail(exc)
                    raise
            self._requests += 1
            self._spans += request.spans
            if unsampled:
                self._unsampled += request.spans
            return True

    def _fail(self, exc: BaseException) -> None:
        """Keep the first write error and tell the owner (lock held)."""
        if self.error is None:
            self.error = exc
            if self._on_error is not None:
                self._on_error()

    def malformed(self, reason: str, sample: bytes) -> None:
        """Count one rejected input; the first few are logged with their reason.

        Args:
            reason: Why it was rejected.
            sample: Its first bytes, for the log.
        """
        with self._lock:
            self._malformed += 1
            count = self._malformed
            if count <= LOG_FIRST_MALFORMED:
                self.malformed_reasons.append(reason)
        if count <= LOG_FIRST_MALFORMED:
            # The reason may quote the input (a parser's message): escaped for the terminal.
            logger.warning(
                "malformed OTLP input %d (%r...): %s", count, sample[:80], printable(reason)
            )

    def ignored(self) -> None:
        """Count one input that is not traces."""
        with self._lock:
            self._ignored += 1

    def flush(self) -> None:
        """Flush what was written since the last flush.

        Raises:
            OSError: The flush failed (a full disk).
        """
        with self._lock:
            if self._fh is not None and self._pending:
                try:
                    self._fh.flush()
                except OSError as exc:
                    self._fail(exc)
                    raise
                self._pending = False

    def close(self) -> None:
        """Flush and close; later writes are refused. Safe to call twice.

        A file this writer created and never wrote to is removed (``open()`` creates it
        early), so a run without OTLP spans leaves no empty file for readers to reject.

        Raises:
            OSError: The final flush failed (a full disk).
        """
        with self._lock:
            self._closed = True
            fh, self._fh = self._fh, None
            if fh is not None:
                try:
                    fh.close()
                except OSError as exc:
                    self._fail(exc)
                    raise
                if self._created and self._requests_written == 0:
                    remove_if_empty(self.path)

    def counts(self) -> OtlpCounts:
        """The counts so far.

        Returns:
            A snapshot.
        """
        with self._lock:
            return OtlpCounts(
                requests=self._requests,
                spans=self._spans,
                unsampled=self._unsampled,
                malformed=self._malformed,
                ignored=self._ignored,
            )


def remove_if_empty(path: Path) -> None:
    """Delete ``path`` if it is an empty file; any error leaves it in place.

    Args:
        path: The file.
    """
    try:
        if path.is_file() and path.stat().st_size == 0:
            path.unlink()
    except OSError:
        logger.debug("could not remove the empty %s", path, exc_info=True)


__all__ = ["OtlpCounts", "OtlpFile", "remove_if_empty"]
