"""Read trace files, directories, globs and gzip into TraceFrames, streamed.

The form of each file is detected by content, never by name: gzip by its magic bytes; NDJSON
when one of its first lines is a complete JSON value on its own; otherwise one JSON value
filling the file (a pretty-printed document, a list, or a ``{"Traces": [...]}`` page), whose
top-level array elements are split out and decoded one at a time so that a large file is never
held in memory as parsed documents. Large plain NDJSON files are read by several processes on
byte ranges aligned to line ends.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import itertools
import os
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
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
        tasks = _plan(files, workers)
        if workers > 1 and len(tasks) > 1 and sum(t.size for t in tasks) >= _PARALLEL_MIN_BYTES:
            parts = _read_in_processes(tasks, workers, Path(scratch))
        else:
            parts = _read_files(files)
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


@dataclass(frozen=True, slots=True)
class _Mark:
    """A reader's counts at one moment (see ``_Reader.mark``)."""

    documents: int
    rejected: int
    kept: int


class _Reader:
    """Turns values into rows and rejections, file after file (or range after range).

    The rows of every file go into the same batches, so many small files cost one conversion
    to polars per ``_BATCH_ROWS`` rows, not one per file. With a ``spill`` directory each batch
    is written there as Arrow IPC at once, so a reader process holds one batch at a time.
    Counts are read per piece of work with ``mark`` and ``since``.
    """

    def __init__(self, *, spill: Path | None = None) -> None:
        self.name = ""
        self.file_index = 0
        self.builder = FrameBuilder()
        self.spill = spill
        self.rejected = 0
        self.rejections: list[Rejection] = []  # the first _MAX_KEPT_REJECTIONS of all files
        self.rows: list[pl.LazyFrame] = []
        self.links: list[pl.LazyFrame] = []

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

    def mark(self) -> _Mark:
        return _Mark(self.builder.documents, self.rejected, len(self.rejections))

    def since(self, mark: _Mark) -> Part:
        """Documents and rejections since ``mark``, as a part without rows."""
        return Part(
            rows=[],
            links=[],
            documents=self.builder.documents - mark.documents,
            rejected=self.rejected - mark.rejected,
            rejections=tuple(self.rejections[mark.kept :]),
        )

    def take_back(self, mark: _Mark) -> tuple[int, list[Rejection]]:
        """Remove the rejections made since ``mark`` (no document may have been added)."""
        taken = self.rejected - mark.rejected, self.rejections[mark.kept :]
        self.rejected = mark.rejected
        del self.rejections[mark.kept :]
        return taken

    def put_back(self, taken: tuple[int, list[Rejection]]) -> None:
        self.rejected += taken[0]
        self.rejections.extend(taken[1])

    def flush(self) -> None:
        if not self.builder.pending and not self.builder.links:
            return
        rows, links = self.builder.take()
        if self.spill is None:
            self.rows.append(rows.lazy())
            self.links.append(links.lazy())
            return
        number = len(self.rows)
        rows.write_ipc(self.spill / f"rows-{number:06d}.arrow")
        links.write_ipc(self.spill / f"links-{number:06d}.arrow")
        self.rows.append(pl.scan_ipc(self.spill / f"rows-{number:06d}.arrow"))
        self.links.append(pl.scan_ipc(self.spill / f"links-{number:06d}.arrow"))

    def batches(self) -> Part:
        """Every row batch (the last one flushed now), as a part without counts."""
        self.flush()
        return Part(rows=self.rows, links=self.links, documents=0, rejected=0, rejections=())


def _read_files(files: Sequence[Path]) -> list[Part]:
    """Read every file in this process, in order."""
    reader = _Reader()
    begin = reader.mark()
    for index, path in enumerate(files):
        _read_file(reader, path, index)
    return [reader.batches(), reader.since(begin)]


def _read_file(reader: _Reader, path: Path, index: int) -> None:
    """Read one whole file of any form."""
    reader.start(str(path), index)
    try:
        stream, _ = _open(path)
        with stream:
            if not _first_bytes(stream).strip():
                reader.reject(None, "empty file")
                return
            if _detect(stream) == "ndjson":
                _read_ndjson(stream, reader)
                return
            mark = reader.mark()
            if _read_single_value(stream, reader) or reader.builder.documents > mark.documents:
                return
            # Not one JSON value after all: perhaps NDJSON whose first lines are broken. If
            # that finds no document either, the file's rejections are those of the value.
            as_value = reader.take_back(mark)
            stream.seek(0)
            _read_ndjson(stream, reader)
            if reader.builder.documents == mark.documents:
                reader.take_back(mark)
                reader.put_back(as_value)
    except (OSError, EOFError, zlib.error) as exc:
        reader.reject(None, f"cannot read the file to the end ({exc})")


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


# --- reading in processes ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Task:
    """One piece of reading: a whole file of any form, or a line-aligned range of plain NDJSON."""

    path: Path
    index: int  # the file's position among all input files
    size: int  # bytes, to balance the processes
    start: int = 0
    end: int | None = None  # None: the whole file


def _plan(files: Sequence[Path], workers: int) -> list[_Task]:
    """Tasks in reading order: large plain NDJSON files split into ``workers`` ranges."""
    tasks: list[_Task] = []
    for index, path in enumerate(files):
        try:
            size = path.stat().st_size
        except OSError:
            size = 0  # reading it reports the problem
        if workers > 1 and size >= _PARALLEL_MIN_BYTES and _is_plain_ndjson(path):
            tasks.extend(
                _Task(path, index, end - start, start, end)
                for start, end in _ranges(path, workers)
            )
        else:
            tasks.append(_Task(path, index, size))
    return tasks


def _is_plain_ndjson(path: Path) -> bool:
    try:
        stream, compressed = _open(path)
    except SourceUnavailable:
        return False  # reading it as a whole file reports the problem
    with stream:
        return not compressed and _detect(stream) == "ndjson"


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


def _read_range(reader: _Reader, path: Path, index: int, start: int, end: int) -> int:
    """Read the lines in [start, end) of an NDJSON file, numbered from 1; returns how many."""
    reader.start(str(path), index)
    with path.open("rb") as handle:
        handle.seek(start)
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


def _read_in_processes(tasks: Sequence[_Task], workers: int, scratch: Path) -> list[Part]:
    """Run the tasks in up to ``workers`` reader processes; the parts come back in order.

    Each process reads a contiguous run of tasks (balanced by size), so its row batches follow
    the previous process's in reading order, and the result is the same however many ran.
    Workers are plain ``python -m tracelens.ingest.worker JOBS`` subprocesses that write their
    rows to Arrow IPC files under ``scratch`` batch by batch, so nothing depends on how the
    calling program's main module can be re-imported, and no process holds more than a batch
    of rows while reading.
    """
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    processes = []
    for number, group in enumerate(_contiguous_groups(tasks, workers)):
        out = scratch / f"reader-{number}"
        out.mkdir()
        jobs = [{**dataclasses.asdict(tasks[n]), "path": str(tasks[n].path)} for n in group]
        (out / "jobs.json").write_bytes(msgspec.json.encode(jobs))
        command = [sys.executable, "-m", "tracelens.ingest.worker", str(out)]
        processes.append((out, subprocess.Popen(command, env=env, stderr=subprocess.PIPE)))
    rows: list[Part] = []
    counts: list[tuple[Part, int]] = []
    for out, process in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise SourceUnavailable(f"a reader process failed ({last[0]})")
        batches, task_counts = worker_result(out)
        rows.append(batches)
        counts.extend(task_counts)
    # Line numbers of an NDJSON range count from its start: add the lines of earlier ranges.
    shifted: list[Part] = []
    line_offset = 0
    for task, (part, lines) in zip(tasks, counts, strict=True):
        if task.start == 0:
            line_offset = 0
        shifted.append(_shift_lines(part, line_offset))
        line_offset += lines
    return [*rows, *shifted]


def _contiguous_groups(tasks: Sequence[_Task], workers: int) -> list[list[int]]:
    """Split task numbers into at most ``workers`` runs of consecutive tasks of similar size."""
    total = sum(task.size for task in tasks) or 1
    groups: list[list[int]] = [[] for _ in range(workers)]
    done = 0
    for number, task in enumerate(tasks):
        # The group whose share of the bytes holds this task's middle byte.
        groups[min(workers - 1, (done + task.size // 2) * workers // total)].append(number)
        done += task.size
    return [group for group in groups if group]


def _shift_lines(part: Part, offset: int) -> Part:
    """The part with the line numbers of its rejections moved down by ``offset``."""
    if not offset:
        return part
    shifted = tuple(
        Rejection(file=r.file, line=r.line + offset, reason=r.reason) if r.line is not None else r
        for r in part.rejections
    )
    return Part(
        rows=part.rows,
        links=part.links,
        documents=part.documents,
        rejected=part.rejected,
        rejections=shifted,
    )


def run_worker(out: Path) -> None:
    """Worker side: run the tasks in ``out/jobs.json``, spilling row batches into ``out``.

    Writes ``out/meta.json``: the number of batches and, per task, its counts, rejections and
    lines read (or the error that stopped it: later tasks are not run).
    """
    reader = _Reader(spill=out)
    tasks: list[dict[str, object]] = []
    for job in msgspec.json.decode((out / "jobs.json").read_bytes()):
        mark = reader.mark()
        lines = 0
        path = Path(job["path"])
        try:
            if job["end"] is None:
                _read_file(reader, path, job["index"])
            else:
                lines = _read_range(reader, path, job["index"], job["start"], job["end"])
        except SourceUnavailable as exc:
            tasks.append({"error": str(exc)})
            break
        part = reader.since(mark)
        tasks.append(
            {
                "documents": part.documents,
                "rejected": part.rejected,
                "rejections": [[r.file, r.line, r.reason] for r in part.rejections],
                "lines": lines,
            }
        )
    reader.flush()
    meta = {"batches": len(reader.rows), "tasks": tasks}
    (out / "meta.json").write_bytes(msgspec.json.encode(meta))


def worker_result(out: Path) -> tuple[Part, list[tuple[Part, int]]]:
    """What ``run_worker`` wrote: its row batches (left on disk, scanned lazily) as one part,
    and each task's counts with the number of lines it read."""
    meta = msgspec.json.decode((out / "meta.json").read_bytes())
    counts: list[tuple[Part, int]] = []
    for task in meta["tasks"]:
        if "error" in task:
            raise SourceUnavailable(task["error"])
        rejections = tuple(Rejection(file=f, line=ln, reason=r) for f, ln, r in task["rejections"])
        part = Part(
            rows=[],
            links=[],
            documents=task["documents"],
            rejected=task["rejected"],
            rejections=rejections,
        )
        counts.append((part, int(task["lines"])))
    batches = range(int(meta["batches"]))
    rows = Part(
        rows=[pl.scan_ipc(out / f"rows-{n:06d}.arrow") for n in batches],
        links=[pl.scan_ipc(out / f"links-{n:06d}.arrow") for n in batches],
        documents=0,
        rejected=0,
        rejections=(),
    )
    return rows, counts
