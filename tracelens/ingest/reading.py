"""Reading trace files in this process: form detection, values, lines and byte ranges.

The form of a file is detected by content, never by name: gzip by its magic bytes; NDJSON
when one of its first lines is a complete JSON value on its own; otherwise one JSON value
filling the file (a pretty-printed document, a list, or a ``{"Traces": [...]}`` page), whose
top-level array elements are split out and decoded one at a time so that a large file is never
held in memory as parsed documents. A first line too long to check (``ReadLimits.detect_bytes``)
is split the same way, confined to that line, and the lines after it are NDJSON
(``long_line_values``).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, cast

from tracelens.errors import SourceUnavailable
from tracelens.ingest.decode import BadValue, decode_value
from tracelens.ingest.inputs import InputFile, open_bytes
from tracelens.ingest.jsonstream import FirstLine, JsonStreamError, iter_elements
from tracelens.ingest.merge import Batch, Part
from tracelens.ingest.normalise import FrameBuilder
from tracelens.ingest.partition import split
from tracelens.model.frames import Rejection
from tracelens.model.segment import Entity

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from pathlib import Path

#: The first bytes of every gzip file.
GZIP_MAGIC = b"\x1f\x8b"
_BATCH_ROWS = 100_000
_MAX_KEPT_REJECTIONS = 100


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """The sizes that decide how input is read (tests pass small ones to reach every path)."""

    #: Below this many bytes of input, starting reader processes costs more than it saves.
    parallel_min_bytes: int = 48 * 1024 * 1024
    #: Bytes of values sent to a reader process at a time when a file is fed to them. Each
    #: chunk ends in one batch split into every partition: larger chunks, fewer small pieces
    #: (1M segments gzipped: 8 MB chunks read in 26.9 s + 6.9 s settling, 32 MB in 22.4 s +
    #: 5.2 s).
    chunk_bytes: int = 32 * 1024 * 1024
    #: The longest first line ``detect`` reads whole (X-Ray documents are at most 64 KB;
    #: NDJSON lines stay far below).
    detect_bytes: int = 16 * 1024 * 1024


DEFAULT_LIMITS = ReadLimits()


def open_input(path: InputFile) -> tuple[BinaryIO, bool]:
    """Open a file (local or on S3) for reading, through gzip when it starts with gzip's
    magic bytes.

    Raises:
        SourceUnavailable: The file cannot be opened.
    """
    handle = open_bytes(path)
    try:
        compressed = handle.read(2) == GZIP_MAGIC
        handle.seek(0)
    except OSError as exc:
        handle.close()
        raise SourceUnavailable(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if compressed:
        return cast("BinaryIO", gzip.GzipFile(fileobj=handle, mode="rb")), True
    return handle, False


@dataclass(frozen=True, slots=True)
class Mark:
    """A reader's counts at one moment (see ``Reader.mark``)."""

    documents: int
    rejected: int
    kept: int


class Reader:
    """Turns values into rows and rejections, file after file (or range after range).

    The rows of every file go into the same batches, so many small files cost one conversion
    to polars per ``_BATCH_ROWS`` rows, not one per file. With a ``spill`` directory each batch
    is written there as Arrow IPC at once, so a reader process holds one batch at a time.
    Counts are read per piece of work with ``mark`` and ``since``.
    """

    def __init__(self, *, partitions: int = 1, spill: Path | None = None) -> None:
        self.name = ""
        self.file_index = 0
        self.builder = FrameBuilder()
        self.partitions = partitions
        self.spill = spill
        self.rejected = 0
        self.rejections: list[Rejection] = []  # the first _MAX_KEPT_REJECTIONS of all files
        self.batches: list[Batch] = []

    def start(self, name: str, file_index: int) -> None:
        """Values from now on come from this file."""
        self.name = name
        self.file_index = file_index

    def value(self, raw: bytes, *, line: int | None, pos: int) -> None:
        sub = 0
        bad_value = False
        for result in decode_value(raw):
            if isinstance(result, Entity):
                self.builder.add(result, file=self.file_index, pos=pos, sub=sub)
                sub += 1
            elif isinstance(result, BadValue):
                # A value that is not JSON or holds no objects costs one rejection, however
                # many non-object elements it has.
                if not bad_value:
                    self.reject(line, result.reason)
                bad_value = True
            else:
                self.reject(line, result)
        if self.builder.pending >= _BATCH_ROWS:
            self.flush()

    def reject(self, line: int | None, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < _MAX_KEPT_REJECTIONS:
            self.rejections.append(Rejection(file=self.name, line=line, reason=reason))

    def mark(self) -> Mark:
        """The counts now, to compare with later (``since``) or return to (``take_back``)."""
        return Mark(self.builder.documents, self.rejected, len(self.rejections))

    def since(self, mark: Mark) -> Part:
        """Documents and rejections since ``mark``, as a part without rows."""
        return Part(
            batches=[],
            documents=self.builder.documents - mark.documents,
            rejected=self.rejected - mark.rejected,
            rejections=tuple(self.rejections[mark.kept :]),
        )

    def take_back(self, mark: Mark) -> tuple[int, list[Rejection]]:
        """Remove the rejections made since ``mark`` (no document may have been added)."""
        taken = self.rejected - mark.rejected, self.rejections[mark.kept :]
        self.rejected = mark.rejected
        del self.rejections[mark.kept :]
        return taken

    def put_back(self, taken: tuple[int, list[Rejection]]) -> None:
        self.rejected += taken[0]
        self.rejections.extend(taken[1])

    def flush(self) -> None:
        """Split the collected rows by partition (``partition.split``) into one batch; with a
        ``spill`` directory, write its pieces there as Arrow IPC at once."""
        if not self.builder.pending and not self.builder.links:
            return
        rows, links = self.builder.take()
        row_pieces = split(rows, self.partitions)
        link_pieces = split(links, self.partitions)
        if self.spill is None:
            self.batches.append(
                Batch(
                    rows=tuple(row_pieces),
                    links=tuple(link_pieces),
                )
            )
            return
        number = len(self.batches)
        for kind, pieces in (("rows", row_pieces), ("links", link_pieces)):
            for k, piece in enumerate(pieces):
                if piece is not None:
                    piece.write_ipc(self.spill / _spill_name(kind, number, k))
        self.batches.extend(
            spilled_batches(self.spill, range(number, number + 1), self.partitions).batches
        )

    def part(self) -> Part:
        """Every row batch (the last one flushed now), as a part without counts."""
        self.flush()
        return Part(batches=self.batches, documents=0, rejected=0, rejections=())


def _spill_name(kind: str, number: int, partition: int) -> str:
    return f"{kind}-{number:06d}-{partition:04d}.arrow"


def spilled_batches(
    spill: Path,
    numbers: range,
    partitions: int,
    *,
    documents: int = 0,
    rejected: int = 0,
    rejections: tuple[Rejection, ...] = (),
) -> Part:
    """The batches ``numbers`` a reader spilled into ``spill``, scanned lazily, as a part."""

    def scans(kind: str, number: int) -> tuple[Path | None, ...]:
        files = [spill / _spill_name(kind, number, k) for k in range(partitions)]
        return tuple(f if f.exists() else None for f in files)

    return Part(
        batches=[Batch(rows=scans("rows", n), links=scans("links", n)) for n in numbers],
        documents=documents,
        rejected=rejected,
        rejections=rejections,
    )


def read_files(
    files: Sequence[InputFile],
    *,
    partitions: int = 1,
    first_index: int = 0,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> list[Part]:
    """Read every file in this process, in order (numbered from ``first_index``)."""
    reader = Reader(partitions=partitions)
    begin = reader.mark()
    for index, path in enumerate(files, start=first_index):
        read_file(reader, path, index, limits=limits)
    return [reader.part(), reader.since(begin)]


def read_file(
    reader: Reader, path: InputFile, index: int, *, limits: ReadLimits = DEFAULT_LIMITS
) -> None:
    """Read one whole file of any form."""
    reader.start(str(path), index)
    try:
        stream, _ = open_input(path)
        with stream:
            head = first_bytes(stream)
            if not head.strip():
                reader.reject(None, "empty file")
                return
            form = detect(stream, limit=limits.detect_bytes)
            if form == "ndjson":
                _read_ndjson(stream, reader)
                return
            if form == "long":
                for line, pos, raw in long_line_values(stream):
                    take(reader, line, pos, raw)
                return
            mark = reader.mark()
            problem = _read_single_value(stream, reader)
            if problem is None or reader.builder.documents > mark.documents:
                return
            # Not one JSON value after all: perhaps NDJSON whose first lines are broken, or
            # not JSON at all. If reading lines finds no document either, the file's
            # rejections are those of the value, unless it broke on its first line (a text
            # file, a CSV): then each line is one rejection.
            as_value = reader.take_back(mark)
            stream.seek(0)
            _read_ndjson(stream, reader)
            if reader.builder.documents == mark.documents and problem.line != _line_of(head):
                reader.take_back(mark)
                reader.put_back(as_value)
    except (OSError, EOFError, zlib.error) as exc:
        reader.reject(None, f"cannot read the file to the end ({exc})")


def first_bytes(stream: BinaryIO) -> bytes:
    """The file's first bytes, up to the first that are not blank (and the stream rewound).

    Read in small pieces: a gzip file cut short raises EOFError on the read that reaches the
    cut, and a small one would otherwise lose everything before it.
    """
    data = b""
    try:
        while len(data) < 64 * 1024 and not data.strip():
            piece = stream.read(4096)
            if not piece:
                break
            data += piece
    except EOFError:
        if not data.strip():
            raise
    stream.seek(0)
    return data


def detect(stream: BinaryIO, *, limit: int = DEFAULT_LIMITS.detect_bytes) -> str:
    """Return "ndjson" when one of the first three non-blank lines is a whole JSON value,
    "long" when the first is too long to tell, else "single" (one JSON value in the file).

    Lines are read at most ``limit`` bytes at a time: a longer first line (a whole
    BatchGetTraces page written on one line, or one very large document) is read by the
    streaming splitter rather than decoded here in one piece (``long_line_values``).
    """
    checked = 0
    while True:
        line = stream.readline(limit)
        if not line:
            break
        if len(line) == limit and not line.endswith(b"\n"):
            if checked == 0 and line.strip():
                stream.seek(0)
                return "long"
            break
        if not line.strip():
            continue
        text = line.strip()
        if text[:1] in (b"{", b"[") and _is_whole_value(text):
            stream.seek(0)
            return "ndjson"
        checked += 1
        if checked >= 3:
            break
    stream.seek(0)
    return "single"


def _is_whole_value(text: bytes) -> bool:
    first = next(iter(decode_value(text)), None)
    if isinstance(first, BadValue):
        return "not an object" in first.reason
    return True


def ndjson_lines(stream: Iterable[bytes], *, start: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """(line number from 1, byte position, line) of every line, blank ones included."""
    pos = start
    for number, line in enumerate(stream, start=1):
        yield number, pos, line
        pos += len(line)


def _read_ndjson(stream: Iterable[bytes], reader: Reader, *, start: int = 0) -> int:
    """Read lines until the stream ends; returns the number of lines read."""
    number = 0
    for number, pos, line in ndjson_lines(stream, start=start):
        if line.strip():
            reader.value(line, line=number, pos=pos)
    return number


def _read_single_value(stream: BinaryIO, reader: Reader) -> JsonStreamError | None:
    """Read a file holding one JSON value; returns the error when its structure is broken."""
    try:
        for index, element in enumerate(iter_elements(stream)):
            reader.value(element, line=None, pos=index)
    except JsonStreamError as exc:
        reader.reject(exc.line, f"not valid JSON ({exc.reason})")
        return exc
    return None


def _line_of(head: bytes) -> int:
    """The number of the first non-blank line, from the file's first bytes."""
    return head.count(b"\n", 0, len(head) - len(head.lstrip())) + 1


# The position of a rejection among values: its bytes are the reason (``take``).
REJECTION = -1


def long_line_values(stream: BinaryIO) -> Iterator[tuple[int, int, bytes]]:
    """(line number, position, bytes) of the values of a file whose first line is too long
    for ``detect``: the elements of that line's JSON value, split as they are read, at their
    index; then every later non-blank line (NDJSON) at its byte position, larger than any
    index. A first line that is not one whole value gives one rejection (``REJECTION``)
    after the elements read before its break; the file is read once.
    """
    head = FirstLine(stream)
    try:
        for index, element in enumerate(iter_elements(head)):
            yield head.line, index, element
    except JsonStreamError as exc:
        yield head.line, REJECTION, f"not valid JSON ({exc.reason})".encode()
    while head.read(4 * 1024 * 1024):
        pass  # what is left of a first line that broke
    for number, pos, line in head.rest():
        if line.strip():
            yield number, pos, line


def take(reader: Reader, line: int | None, pos: int, raw: bytes) -> None:
    """Give the reader one value, or one rejection (``REJECTION``)."""
    if pos == REJECTION:
        reader.reject(line, raw.decode())
    else:
        reader.value(raw, line=line, pos=pos)


def read_range(reader: Reader, path: InputFile, index: int, start: int, end: int) -> int:
    """Read the lines in [start, end) of an NDJSON file, numbered from 1; returns how many."""
    reader.start(str(path), index)
    with open_bytes(path, start, end) as handle:
        return _read_ndjson(_LimitedLines(handle, end - start), reader, start=start)


class _LimitedLines:
    """Iterate the lines of a file handle within a byte budget, reading large blocks.

    Lines keep their ``\n``; the last one may lack it. Reading blocks instead of calling
    ``readline`` per line saves a system call every couple of lines on long NDJSON lines.
    """

    _BLOCK = 4 * 1024 * 1024

    def __init__(self, handle: BinaryIO, budget: int) -> None:
        self._handle = handle
        self._budget = budget

    def __iter__(self) -> Iterator[bytes]:
        rest = b""
        while self._budget > 0:
            block = self._handle.read(min(self._BLOCK, self._budget))
            if not block:
                break
            self._budget -= len(block)
            start = 0
            end = block.find(b"\n")
            if rest and end >= 0:
                yield rest + block[: end + 1]
                rest, start = b"", end + 1
                end = block.find(b"\n", start)
            while end >= 0:
                yield block[start : end + 1]
                start = end + 1
                end = block.find(b"\n", start)
            rest += block[start:]
        if rest:
            # A range ends on a line boundary, but a line that crosses it is read whole.
            yield rest + self._handle.readline()
