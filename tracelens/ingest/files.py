"""Read trace files, directories, globs and gzip into TraceFrames, streamed.

The form of each file is detected by content, never by name: gzip by its magic bytes; NDJSON
when one of its first lines is a complete JSON value on its own; otherwise one JSON value
filling the file (a pretty-printed document, a list, or a ``{"Traces": [...]}`` page), whose
top-level array elements are split out and decoded one at a time so that a large file is never
held in memory as parsed documents. Large plain NDJSON files are read by several processes on
byte ranges aligned to line ends.
"""

from __future__ import annotations

import glob
import gzip
import itertools
import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import msgspec
import polars as pl

from tracelens.errors import NoUsableInput, SourceUnavailable
from tracelens.ingest.decode import BadValue, decode_value
from tracelens.ingest.jsonstream import JsonStreamError, iter_elements
from tracelens.ingest.normalise import FrameBuilder, Part, finish
from tracelens.model.frames import Rejection, TraceFrames
from tracelens.model.segment import Entity

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

_GZIP_MAGIC = b"\x1f\x8b"
_PARALLEL_MIN_BYTES = 48 * 1024 * 1024
_BATCH_ROWS = 100_000
_DETECT_LIMIT = 16 * 1024 * 1024  # X-Ray documents are at most 64 KB; NDJSON lines stay far below
_MAX_KEPT_REJECTIONS = 100
# Files in a directory that are not traces: side inputs of a bundle, and documentation.
_SIDE_FILES = frozenset({"config.json", "truth.json"})
_SKIPPED_SUFFIXES = (".md", ".txt.md", ".html", ".toml", ".py")


def read_traces(paths: Sequence[str | Path], *, workers: int | None = None) -> TraceFrames:
    """Read every trace document under ``paths`` into TraceFrames.

    Args:
        paths: Files, directories (read recursively; a bundle's ``config.json``,
            ``truth.json`` and ``dlq/`` are side inputs, not traces) and glob patterns.
        workers: Processes for large NDJSON files; default: the number of CPUs, at most 4.

    Returns:
        The normalised frames; ``stats`` counts documents, duplicates and rejections.

    Raises:
        SourceUnavailable: a path does not exist or cannot be read.
        NoUsableInput: not one valid segment document was read.
    """
    files = expand_paths(paths)
    if workers is None:
        workers = min(os.cpu_count() or 1, 4)
    with tempfile.TemporaryDirectory(prefix="tracelens-") as scratch:
        parts: list[Part] = []
        for index, file in enumerate(files):
            parts.extend(_read_file(file, index, workers, Path(scratch)))
        frames = finish(parts, files=[str(f) for f in files])
    if frames.stats.documents == 0:
        first = frames.stats.rejections[0] if frames.stats.rejections else None
        detail = f" (first problem: {_where(first)}: {first.reason})" if first is not None else ""
        raise NoUsableInput(
            f"no valid X-Ray segment documents in {_describe(files)}{detail}; "
            "expected BatchGetTraces output, segment documents or daemon datagrams"
        )
    return frames


def _where(rejection: Rejection) -> str:
    return f"{rejection.file}:{rejection.line}" if rejection.line else rejection.file


def _describe(files: Sequence[Path]) -> str:
    if len(files) == 1:
        return str(files[0])
    return f"{len(files)} files"


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Expand directories and glob patterns into a sorted, de-duplicated list of trace files."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(_walk(path))
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(str(raw)):
            matches = sorted(glob.glob(str(raw), recursive=True))
            if not matches:
                raise SourceUnavailable(f"{raw}: no file matches this pattern")
            for match in matches:
                match_path = Path(match)
                found.extend(_walk(match_path) if match_path.is_dir() else [match_path])
        elif path.exists():
            raise SourceUnavailable(f"{raw}: not a regular file or directory")
        else:
            raise SourceUnavailable(f"{raw}: no such file or directory")
    unique: dict[str, Path] = {}
    for file in found:
        unique.setdefault(str(file), file)
    if not unique:
        raise SourceUnavailable(f"{', '.join(map(str, paths))}: no trace files found")
    return list(unique.values())


def _walk(directory: Path) -> list[Path]:
    files: list[Path] = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "dlq")
        for name in sorted(names):
            if name.startswith(".") or name in _SIDE_FILES or name.endswith(_SKIPPED_SUFFIXES):
                continue
            files.append(Path(root) / name)
    return sorted(files)


def _open(path: Path) -> tuple[BinaryIO, bool]:
    """Open a file for reading, through gzip when it starts with gzip's magic bytes."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise SourceUnavailable(f"{path}: cannot read ({exc.strerror or exc})") from exc
    compressed = handle.read(2) == _GZIP_MAGIC
    handle.seek(0)
    if compressed:
        return cast("BinaryIO", gzip.GzipFile(fileobj=handle, mode="rb")), True
    return handle, False


class _Reader:
    """Turns the values of one file (or one byte range of it) into rows and rejections.

    Rows are built in batches; with a ``spill`` directory each batch is written there as Arrow
    IPC at once, so a reader process holds one batch at a time.
    """

    def __init__(self, name: str, file_index: int, *, spill: Path | None = None) -> None:
        self.name = name
        self.file_index = file_index
        self.builder = FrameBuilder()
        self.spill = spill
        self.rejected = 0
        self.rejections: list[Rejection] = []
        self.rows: list[pl.LazyFrame] = []
        self.links: list[pl.LazyFrame] = []

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

    def flush(self) -> None:
        if not self.builder.pending and not self.builder.links:
            return
        rows, links = self.builder.take()
        if self.spill is None:
            self.rows.append(rows.lazy())
            self.links.append(links.lazy())
            return
        number = len(self.rows)
        rows_path = self.spill / f"rows-{number:05d}.arrow"
        links_path = self.spill / f"links-{number:05d}.arrow"
        rows.write_ipc(rows_path)
        links.write_ipc(links_path)
        self.rows.append(pl.scan_ipc(rows_path))
        self.links.append(pl.scan_ipc(links_path))

    def result(self) -> Part:
        self.flush()
        return Part(
            rows=self.rows,
            links=self.links,
            documents=self.builder.documents,
            rejected=self.rejected,
            rejections=tuple(self.rejections),
        )


def _read_file(path: Path, index: int, workers: int, scratch: Path) -> list[Part]:
    name = str(path)
    reader = _Reader(name, index)
    try:
        stream, compressed = _open(path)
        with stream:
            first = _first_bytes(stream)
            if not first.strip():
                reader.reject(None, "empty file")
                return [reader.result()]
            form = _detect(stream)
            if form == "ndjson":
                if workers > 1 and not compressed and path.stat().st_size >= _PARALLEL_MIN_BYTES:
                    return _read_parallel(path, index, workers, scratch)
                _read_ndjson(stream, reader)
            elif not _read_single_value(stream, reader) and reader.builder.documents == 0:
                # Not one JSON value after all: perhaps NDJSON whose first lines are broken.
                stream.seek(0)
                lines = _Reader(name, index)
                _read_ndjson(stream, lines)
                if lines.builder.documents:
                    return [lines.result()]
    except (OSError, EOFError, zlib.error) as exc:
        reader.reject(None, f"cannot read the file to the end ({exc})")
    return [reader.result()]


def _first_bytes(stream: BinaryIO) -> bytes:
    data = stream.read(64 * 1024)
    stream.seek(0)
    return data


def _detect(stream: BinaryIO) -> str:
    """Return "ndjson" when one of the first three non-blank lines is a whole JSON value.

    Lines are read at most ``_DETECT_LIMIT`` bytes at a time: a longer first line (a whole
    BatchGetTraces page written on one line, say) is one large JSON value, read by the
    streaming splitter rather than decoded here in one piece.
    """
    checked = 0
    while True:
        line = stream.readline(_DETECT_LIMIT)
        if not line:
            break
        if len(line) == _DETECT_LIMIT and not line.endswith(b"\n"):
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


def _read_ndjson(
    stream: Iterable[bytes], reader: _Reader, *, first_line: int = 1, start: int = 0
) -> int:
    """Read lines until the stream ends; returns the number of lines read."""
    number = first_line - 1
    pos = start
    for line in stream:
        number += 1
        if line.strip():
            reader.value(line, line=number, pos=pos)
        pos += len(line)
    return number - first_line + 1


def _read_single_value(stream: BinaryIO, reader: _Reader) -> bool:
    """Read a file holding one JSON value; False when its structure is broken."""
    try:
        for index, element in enumerate(iter_elements(stream)):
            reader.value(element, line=None, pos=index)
    except JsonStreamError as exc:
        reader.reject(exc.line, f"not valid JSON ({exc.reason})")
        return False
    return True


# --- parallel NDJSON ---------------------------------------------------------------------------


def _ranges(path: Path, pieces: int) -> list[tuple[int, int]]:
    size = path.stat().st_size
    bounds = [0]
    with path.open("rb") as handle:
        for k in range(1, pieces):
            handle.seek(max(size * k // pieces, bounds[-1]))
            handle.readline()
            bounds.append(min(handle.tell(), size))
    bounds.append(size)
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _read_range(path: str, index: int, start: int, end: int, spill: Path) -> tuple[Part, int]:
    """Worker: read the lines in [start, end) of an NDJSON file; line numbers are local."""
    reader = _Reader(path, index, spill=spill)
    with open(path, "rb") as handle:
        handle.seek(start)
        lines = _read_ndjson(_LimitedLines(handle, end - start), reader, start=start)
    return reader.result(), lines


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


def _read_parallel(path: Path, index: int, workers: int, scratch: Path) -> list[Part]:
    """Read byte ranges of a large NDJSON file in worker processes, in reading order.

    Workers are plain ``python -m tracelens.ingest.worker`` subprocesses that write their rows
    to Arrow IPC files under ``scratch`` batch by batch, so nothing depends on how the calling
    program's main module can be re-imported, and no process holds more than a batch of rows
    while reading.
    """
    ranges = _ranges(path, workers)
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    processes = []
    for number, (start, end) in enumerate(ranges):
        out = scratch / f"{index}-{number}"
        out.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "tracelens.ingest.worker",
            str(path),
            str(index),
            str(start),
            str(end),
            str(out),
        ]
        processes.append((out, subprocess.Popen(command, env=env, stderr=subprocess.PIPE)))
    results = []
    for out, process in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise SourceUnavailable(f"{path}: a reader process failed ({last[0]})")
        results.append(worker_result(out))
    parts: list[Part] = []
    line_offset = 0
    for part, lines in results:
        shifted = tuple(
            Rejection(file=r.file, line=r.line + line_offset, reason=r.reason)
            if r.line is not None
            else r
            for r in part.rejections
        )
        parts.append(
            Part(
                rows=part.rows,
                links=part.links,
                documents=part.documents,
                rejected=part.rejected,
                rejections=shifted,
            )
        )
        line_offset += lines
    return parts


def run_worker(path: str, index: int, start: int, end: int, out: Path) -> None:
    """Worker side: read [start, end) of an NDJSON file, spilling rows into ``out``."""
    part, lines = _read_range(path, index, start, end, out)
    meta = {
        "documents": part.documents,
        "rejected": part.rejected,
        "rejections": [[r.file, r.line, r.reason] for r in part.rejections],
        "batches": len(part.rows),
        "lines": lines,
    }
    (out / "meta.json").write_bytes(msgspec.json.encode(meta))


def worker_result(out: Path) -> tuple[Part, int]:
    """Read what ``run_worker`` wrote (the row batches stay on disk, scanned lazily)."""
    meta = msgspec.json.decode((out / "meta.json").read_bytes())
    batches = range(int(meta["batches"]))
    part = Part(
        rows=[pl.scan_ipc(out / f"rows-{n:05d}.arrow") for n in batches],
        links=[pl.scan_ipc(out / f"links-{n:05d}.arrow") for n in batches],
        documents=meta["documents"],
        rejected=meta["rejected"],
        rejections=tuple(Rejection(file=f, line=ln, reason=r) for f, ln, r in meta["rejections"]),
    )
    return part, int(meta["lines"])
