"""Large files that cannot be read in byte ranges, split here and fed to reader processes.

A gzipped file, or one large JSON value (a ``{"Traces": [...]}`` document), can only be read
from its start. This process does that part, which is cheap: it decompresses and splits the
file into values (NDJSON lines, or the elements of the top-level array) and sends them in
chunks, round robin, through pipes to reader processes, which decode them and write their rows
as Arrow IPC batches, one set per chunk. Putting the chunks back in order gives exactly the
rows, counts and rejections of reading the file in one process.

The pipe carries, per chunk, a header ``<QIQ`` (chunk number, values, bytes that follow) and
per value ``<qqI`` (line number or -1, position, length) followed by the value's bytes (a
position of ``reading.REJECTION`` marks a rejection, its bytes the reason). A
reader takes a whole chunk off the pipe before decoding it, so this process can split the next
chunk meanwhile.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from typing import IO, TYPE_CHECKING, Any, BinaryIO

import msgspec

from tracelens.errors import SourceUnavailable
from tracelens.ingest.jsonstream import JsonStreamError, iter_elements
from tracelens.ingest.merge import Part
from tracelens.ingest.reading import (
    DEFAULT_LIMITS,
    Reader,
    ReadLimits,
    detect,
    first_bytes,
    long_line_values,
    ndjson_lines,
    open_input,
    read_files,
    spilled_batches,
    take,
)
from tracelens.ingest.spawn import first_failure, spawn_module
from tracelens.model.frames import Rejection

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from pathlib import Path

    from tracelens.ingest.inputs import InputFile

_CHUNK = struct.Struct("<QIQ")
_VALUE = struct.Struct("<qqI")


def spawn_reader(
    out: Path, args: list[str], *, stdin: int | None = None
) -> subprocess.Popen[bytes]:
    """Start ``python -m tracelens.ingest.worker ARGS`` (its stderr in ``out``)."""
    return spawn_module("tracelens.ingest.worker", out, args, stdin=stdin)


def check_readers(readers: Sequence[tuple[subprocess.Popen[bytes], Path]]) -> None:
    """Wait for every reader process; raise SourceUnavailable, with the last line of its
    stderr, for the first that failed."""
    failure = first_failure(readers)
    if failure is not None:
        raise SourceUnavailable(f"a reader process failed ({failure})")


def encode_rejections(rejections: Iterable[Rejection]) -> list[list[object]]:
    """Rejections as JSON-ready rows, for a reader process's meta.json."""
    return [[r.file, r.line, r.reason] for r in rejections]


def decode_rejections(rows: Iterable[list[Any]]) -> tuple[Rejection, ...]:
    """The inverse of ``encode_rejections``."""
    return tuple(Rejection(file=file, line=line, reason=reason) for file, line, reason in rows)


def read_fed(
    path: InputFile,
    index: int,
    workers: int,
    scratch: Path,
    partitions: int = 1,
    *,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> list[Part]:
    """Read one file by feeding its values to ``workers`` reader processes."""
    name = str(path)
    outs = [scratch / f"fed-{number}" for number in range(workers)]
    processes = []
    for out in outs:
        out.mkdir()
        command = ["--fed", name, str(index), str(out), str(partitions)]
        processes.append(spawn_reader(out, command, stdin=subprocess.PIPE))
    pipes = [p.stdin for p in processes if p.stdin is not None]
    problem: Rejection | None = None
    not_a_value = broken = False
    try:
        problem, not_a_value = _feed(path, pipes, limits)
    except BrokenPipeError:
        broken = True  # a reader died; its exit status says why
    finally:
        for pipe in pipes:
            try:
                pipe.close()
            except BrokenPipeError:
                broken = True
    check_readers(list(zip(processes, outs, strict=True)))
    if broken:
        raise SourceUnavailable(f"{name}: a reader process stopped reading")
    chunks = sorted(
        (chunk for out in outs for chunk in _fed_result(out, partitions)), key=lambda pair: pair[0]
    )
    parts = [part for _, part in chunks]
    if problem is not None:
        if not_a_value and not any(part.documents for part in parts):
            # Not one JSON value after all: read it the way a small file is read.
            return read_files([path], partitions=partitions, first_index=index, limits=limits)
        parts.append(Part(batches=[], documents=0, rejected=1, rejections=(problem,)))
    return parts


def _feed(
    path: InputFile, pipes: list[IO[bytes]], limits: ReadLimits
) -> tuple[Rejection | None, bool]:
    """Send the file's values to the pipes in chunks.

    Returns why reading stopped early, if it did, and whether that is because the file is not
    well-formed JSON.
    """
    name = str(path)
    number = 0
    chunk: list[bytes] = []
    size = 0

    def send() -> None:
        nonlocal number, size
        pipe = pipes[number % len(pipes)]
        body = b"".join(chunk)
        pipe.write(_CHUNK.pack(number, len(chunk) // 2, len(body)))
        pipe.write(body)
        number += 1
        chunk.clear()
        size = 0

    problem: Rejection | None = None
    not_a_value = False
    try:
        stream, _ = open_input(path)
        with stream:
            if not first_bytes(stream).strip():
                return Rejection(file=name, line=None, reason="empty file"), False
            for line, pos, raw in _values(stream, limits.detect_bytes):
                chunk.append(_VALUE.pack(-1 if line is None else line, pos, len(raw)))
                chunk.append(raw)
                size += len(raw)
                if size >= limits.chunk_bytes:
                    send()
    except JsonStreamError as exc:
        problem = Rejection(file=name, line=exc.line, reason=f"not valid JSON ({exc.reason})")
        not_a_value = True
    except BrokenPipeError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        reason = f"cannot read the file to the end ({exc})"
        problem = Rejection(file=name, line=None, reason=reason)
    if chunk:
        send()
    return problem, not_a_value


def _values(stream: BinaryIO, detect_bytes: int) -> Iterator[tuple[int | None, int, bytes]]:
    """(line number, position, bytes) of each value, as ``reading`` numbers them."""
    form = detect(stream, limit=detect_bytes)
    if form == "ndjson":
        for number, pos, line in ndjson_lines(stream):
            if line.strip():
                yield number, pos, line
    elif form == "long":
        yield from long_line_values(stream)
    else:
        for index, element in enumerate(iter_elements(stream)):
            yield None, index, element


def run_fed_reader(name: str, index: int, out: Path, partitions: int, source: BinaryIO) -> None:
    """Reader side: decode the chunks arriving on ``source``; write batches and meta.json."""
    reader = Reader(partitions=partitions, spill=out)
    reader.start(name, index)
    chunks = []
    while header := source.read(_CHUNK.size):
        number, values, size = _CHUNK.unpack(header)
        body = memoryview(source.read(size))
        mark = reader.mark()
        first = len(reader.batches)
        at = 0
        for _ in range(values):
            line, pos, length = _VALUE.unpack_from(body, at)
            at += _VALUE.size
            value = bytes(body[at : at + length])
            at += length
            take(reader, None if line < 0 else line, pos, value)
        reader.flush()
        part = reader.since(mark)
        chunks.append(
            {
                "chunk": number,
                "batches": [first, len(reader.batches)],
                "documents": part.documents,
                "rejected": part.rejected,
                "rejections": encode_rejections(part.rejections),
            }
        )
    (out / "meta.json").write_bytes(msgspec.json.encode(chunks))


def _fed_result(out: Path, partitions: int) -> list[tuple[int, Part]]:
    chunks = msgspec.json.decode((out / "meta.json").read_bytes())
    result = []
    for chunk in chunks:
        part = spilled_batches(
            out,
            range(*chunk["batches"]),
            partitions,
            documents=chunk["documents"],
            rejected=chunk["rejected"],
            rejections=decode_rejections(chunk["rejections"]),
        )
        result.append((int(chunk["chunk"]), part))
    return result
