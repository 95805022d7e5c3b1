"""Reading in reader processes: large NDJSON files in byte ranges, many files in runs, and
gzip or one large JSON value fed through pipes (``feed``).

Workers are plain ``python -m tracelens.ingest.worker`` subprocesses that write their rows to
Arrow IPC files batch by batch, so nothing depends on how the calling program's main module
can be re-imported, and no process holds more than a batch of rows while reading.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from tracelens.errors import SourceUnavailable
from tracelens.ingest.feed import (
    check_readers,
    decode_rejections,
    encode_rejections,
    read_fed,
    spawn_reader,
)
from tracelens.ingest.inputs import InputFile, decode_input, encode_input, input_size, open_bytes
from tracelens.ingest.merge import Part
from tracelens.ingest.reading import (
    DEFAULT_LIMITS,
    Reader,
    ReadLimits,
    detect,
    open_input,
    read_file,
    read_files,
    read_range,
    spilled_batches,
)
from tracelens.model.frames import Rejection

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


@dataclass(frozen=True, slots=True)
class Task:
    """One piece of reading: a whole file of any form, a line-aligned range of plain NDJSON,
    or a large file this process splits and feeds to the reader processes (``feed``)."""

    path: InputFile
    index: int  # the file's position among all input files
    size: int  # bytes, to balance the processes
    start: int = 0
    end: int | None = None  # None: the whole file
    fed: bool = False


def read_parts(
    files: Sequence[InputFile],
    workers: int,
    scratch: Path,
    *,
    partitions: int = 1,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> list[Part]:
    """Read the files, in reader processes when there are several and enough bytes; every
    batch is split into ``partitions`` by trace id (``partition``)."""
    tasks = plan(files, workers, limits=limits)
    fed = any(task.fed for task in tasks)
    if fed or (len(tasks) > 1 and sum(t.size for t in tasks) >= limits.parallel_min_bytes):
        return read_in_processes(tasks, workers, scratch, partitions=partitions, limits=limits)
    return read_files(files, partitions=partitions, limits=limits)


def plan(
    files: Sequence[InputFile], workers: int, *, limits: ReadLimits = DEFAULT_LIMITS
) -> list[Task]:
    """Tasks in reading order: large plain NDJSON files split into ``workers`` ranges, other
    large files (gzip, one large JSON value) fed to the reader processes."""
    tasks: list[Task] = []
    for index, path in enumerate(files):
        size = input_size(path)  # 0 when unreadable: reading it reports the problem
        big = workers > 1 and size >= limits.parallel_min_bytes
        form = _large_form(path, limits.detect_bytes) if big else None
        if form == "ranges":
            tasks.extend(
                Task(path, index, end - start, start, end) for start, end in _ranges(path, workers)
            )
        else:
            tasks.append(Task(path, index, size, fed=form == "fed"))
    return tasks


def _large_form(path: InputFile, detect_bytes: int) -> str | None:
    """ "ranges" for plain NDJSON, "fed" for gzip or one JSON value, None if unreadable."""
    try:
        stream, compressed = open_input(path)
    except SourceUnavailable:
        return None  # reading it as a whole file reports the problem
    with stream:
        plain_lines = not compressed and detect(stream, limit=detect_bytes) == "ndjson"
    return "ranges" if plain_lines else "fed"


def _ranges(path: InputFile, pieces: int) -> list[tuple[int, int]]:
    """Byte ranges that start at line starts (on S3, each seek is a ranged GetObject)."""
    size = input_size(path)
    bounds = [0]
    with open_bytes(path) as handle:
        for k in range(1, pieces):
            handle.seek(max(size * k // pieces, bounds[-1]))
            handle.readline()
            bounds.append(min(handle.tell(), size))
    bounds.append(size)
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def read_in_processes(
    tasks: Sequence[Task],
    workers: int,
    scratch: Path,
    *,
    partitions: int = 1,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> list[Part]:
    """Run the tasks in up to ``workers`` reader processes; the parts come back in order."""
    parts: list[Part] = []
    for number, (fed, run) in enumerate(itertools.groupby(tasks, key=lambda task: task.fed)):
        place = scratch / f"run-{number}"
        place.mkdir()
        if fed:
            for count, task in enumerate(run):
                (place / str(count)).mkdir()
                out = place / str(count)
                parts.extend(
                    read_fed(task.path, task.index, workers, out, partitions, limits=limits)
                )
        else:
            parts.extend(_read_run(list(run), workers, place, partitions))
    return parts


def _read_run(tasks: Sequence[Task], workers: int, scratch: Path, partitions: int) -> list[Part]:
    """Whole files and ranges: each process reads a contiguous run of tasks (balanced by size),
    so its row batches follow the previous process's in reading order, and the result is the
    same however many ran."""
    processes = []
    for number, group in enumerate(_contiguous_groups(tasks, workers)):
        out = scratch / f"reader-{number}"
        out.mkdir()
        write_jobs(out, [tasks[n] for n in group], partitions)
        processes.append((spawn_reader(out, [str(out)]), out))
    check_readers(processes)
    rows: list[Part] = []
    counts: list[tuple[Part, int]] = []
    for _, out in processes:
        batches, task_counts = worker_result(out, partitions)
        rows.append(batches)
        counts.extend(task_counts)
    return [*rows, *shift_line_numbers(tasks, counts)]


def write_jobs(out: Path, tasks: Sequence[Task], partitions: int) -> None:
    """Write ``out/jobs.json``: the tasks ``run_worker`` runs, in order."""
    jobs = [{**dataclasses.asdict(task), "path": encode_input(task.path)} for task in tasks]
    (out / "jobs.json").write_bytes(msgspec.json.encode({"partitions": partitions, "jobs": jobs}))


def shift_line_numbers(tasks: Sequence[Task], counts: Sequence[tuple[Part, int]]) -> list[Part]:
    """Each task's counts (``task_counts``, in task order) with the line numbers of its
    rejections counted from the start of its file: a range's lines count from the range's
    start, so the lines of the earlier ranges of its file are added."""
    shifted: list[Part] = []
    line_offset = 0
    for task, (part, lines) in zip(tasks, counts, strict=True):
        if task.start == 0:
            line_offset = 0
        shifted.append(_shift_lines(part, line_offset))
        line_offset += lines
    return shifted


def _contiguous_groups(tasks: Sequence[Task], workers: int) -> list[list[int]]:
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
        batches=part.batches,
        documents=part.documents,
        rejected=part.rejected,
        rejections=shifted,
    )


def run_worker(out: Path) -> None:
    """Worker side: run the tasks in ``out/jobs.json``, spilling row batches into ``out``.

    Writes ``out/meta.json``: the number of batches and, per task, its counts, rejections and
    lines read (or the error that stopped it: later tasks are not run).
    """
    work = msgspec.json.decode((out / "jobs.json").read_bytes())
    reader = Reader(partitions=int(work["partitions"]), spill=out)
    tasks: list[dict[str, object]] = []
    for job in work["jobs"]:
        mark = reader.mark()
        lines = 0
        path = decode_input(job["path"])
        try:
            if job["end"] is None:
                read_file(reader, path, job["index"])
            else:
                lines = read_range(reader, path, job["index"], job["start"], job["end"])
        except SourceUnavailable as exc:
            tasks.append({"error": str(exc)})
            break
        part = reader.since(mark)
        tasks.append(
            {
                "documents": part.documents,
                "rejected": part.rejected,
                "rejections": encode_rejections(part.rejections),
                "lines": lines,
            }
        )
    reader.flush()
    meta = {"batches": len(reader.batches), "tasks": tasks}
    (out / "meta.json").write_bytes(msgspec.json.encode(meta))


def worker_result(out: Path, partitions: int) -> tuple[Part, list[tuple[Part, int]]]:
    """What ``run_worker`` wrote: its row batches (left on disk, scanned lazily) as one part,
    and each task's counts with the number of lines it read."""
    meta = msgspec.json.decode((out / "meta.json").read_bytes())
    counts = task_counts(meta)
    return spilled_batches(out, range(int(meta["batches"])), partitions), counts


def task_counts(meta: dict[str, Any]) -> list[tuple[Part, int]]:
    """Each task's counts in a ``meta.json`` (a part without rows) and the lines it read.

    Raises:
        SourceUnavailable: a task could not read its file (the first such task).
    """
    counts: list[tuple[Part, int]] = []
    for task in meta["tasks"]:
        if "error" in task:
            raise SourceUnavailable(task["error"])
        part = Part(
            batches=[],
            documents=task["documents"],
            rejected=task["rejected"],
            rejections=decode_rejections(task["rejections"]),
        )
        counts.append((part, int(task["lines"])))
    return counts
