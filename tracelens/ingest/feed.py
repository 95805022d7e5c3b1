"""Large files that cannot be read in byte ranges, split here and fed to reader processes.

A gzipped file, or one large JSON value (a ``{"Traces": [...]}`` document), can only be read
from its start. This process does that part, which is cheap: it decompresses and splits the
file into values (NDJSON lines, or the elements of the top-level array) and sends them in
chunks, round robin, through pipes to reader processes, which decode them and write their rows
as Arrow IPC batches, one set per chunk. Putting the chunks back in order gives exactly the
rows, counts and rejections of reading the file in one process.

The pipe carries, per chunk, a header ``<QIQ`` (chunk number, values, bytes that follow) and
per value ``<qqI`` (line number or -1, position, length) followed by the value's bytes. A
reader takes a whole chunk off the pipe before decoding it, so this process can split the next
chunk meanwhile.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

import msgspec

from tracelens.errors import SourceUnavailable
from tracelens.ingest.jsonstream import JsonStreamError, Values
from tracelens.ingest.normalise import Part
from tracelens.ingest.reading import (
    Reader,
    detect,
    file_values,
    first_bytes,
    ndjson_lines,
    number_lines,
    open_input,
    read_files,
    spilled_batches,
)
from tracelens.model.frames import Rejection

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

_CHUNK_BYTES = 8 * 1024 * 1024
_CHUNK = struct.Struct("<QIQ")
_VALUE = struct.Struct("<qqI")


def spawn_reader(
    out: Path, args: list[str], *, stdin: int | None = None
) -> subprocess.Popen[bytes]:
    """Start ``python -m tracelens.ingest.worker ARGS`` with this package importable.

    Its stderr goes to a file in its output directory ``out``, so a reader that writes a lot
    there can never block on a pipe nobody reads.
    """
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    command = [sys.executable, "-m", "tracelens.ingest.worker", *args]
    with (out / "stderr.txt").open("wb") as errors:
        return subprocess.Popen(command, env=env, stdin=stdin, stderr=errors)


def check_readers(readers: Sequence[tuple[subprocess.Popen[bytes], Path]]) -> None:
    """Wait for every reader process; raise SourceUnavailable, with the last line of its
    stderr, for the first that failed."""
    for process, _ in readers:
        process.wait()
    for process, out in readers:
        if process.returncode != 0:
            text = (out / "stderr.txt").read_bytes().decode(errors="replace").strip()
            last = text.splitlines()[-1:] or ["no output"]
            raise SourceUnavailable(f"a reader process failed ({last[0]})")


def encode_rejections(rejections: Iterable[Rejection]) -> list[list[object]]:
    """Rejections as JSON-ready rows, for a reader process's meta.json."""
    return [[r.file, r.line, r.reason] for r in rejections]


def decode_rejections(rows: Iterable[list[Any]]) -> tuple[Rejection, ...]:
    """The inverse of ``encode_rejections``."""
    return tuple(Rejection(file=file, line=line, reason=reason) for file, line, reason in rows)


def read_fed(path: Path, index: int, workers: int, scratch: Path) -> list[Part]:
    """Read one file by feeding its values to ``workers`` reader processes."""
    name = str(path)
    outs = [scratch / f"fed-{number}" for number in range(workers)]
    processes = []
    for out in outs:
        out.mkdir()
        command = ["--fed", name, str(index), str(out)]
        processes.append(spawn_reader(out, command, stdin=subprocess.PIPE))
    pipes = [p.stdin for p in processes if p.stdin is not None]
    fed = _Fed()
    broken = False
    try:
        _feed(path, pipes, fed)
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
        (chunk for out in outs for chunk in _fed_result(out)), key=lambda pair: pair[0]
    )
    parts = [part for _, part in chunks]
    if fed.first_line is not None:
        # The first value was a line of NDJSON: its rejections get that line's number.
        parts = [_number_lines(part, fed.first_line) for part in parts]
    if fed.problem is not None:
        if fed.not_a_value and not any(part.documents for part in parts):
            # Not one JSON value after all: read it the way a small file is read.
            return read_files([path], first_index=index)
        parts.append(Part(rows=[], links=[], documents=0, rejected=1, rejections=(fed.problem,)))
    return parts


def _number_lines(part: Part, line: int) -> Part:
    return Part(
        rows=part.rows,
        links=part.links,
        documents=part.documents,
        rejected=part.rejected,
        rejections=number_lines(part.rejections, line),
    )


@dataclass(slots=True)
class _Fed:
    """How feeding a file went: why it stopped early, if it did (``not_a_value``: because the
    file is not well-formed JSON), and the line of a first value that NDJSON lines followed."""

    problem: Rejection | None = None
    not_a_value: bool = False
    first_line: int | None = None


def _feed(path: Path, pipes: list[IO[bytes]], fed: _Fed) -> None:
    """Send the file's values to the pipes in chunks; say in ``fed`` how it went."""
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

    values: Values | None = None
    try:
        stream, _ = open_input(path)
        with stream:
            if not first_bytes(stream).strip():
                fed.problem = Rejection(file=name, line=None, reason="empty file")
                return
            lines: Iterator[tuple[int | None, int, bytes]]
            if detect(stream) == "ndjson":
                lines = ((n, pos, line) for n, pos, line in ndjson_lines(stream) if line.strip())
            else:
                values = Values(stream)
                lines = file_values(values)
            for line, pos, raw in lines:
                chunk.append(_VALUE.pack(-1 if line is None else line, pos, len(raw)))
                chunk.append(raw)
                size += len(raw)
                if size >= _CHUNK_BYTES:
                    send()
    except JsonStreamError as exc:
        reason = f"not valid JSON ({exc.reason})"
        fed.problem = Rejection(file=name, line=exc.line, reason=reason)
        fed.not_a_value = True
    except BrokenPipeError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        reason = f"cannot read the file to the end ({exc})"
        fed.problem = Rejection(file=name, line=None, reason=reason)
    if values is not None and values.lines_follow:
        fed.first_line = values.first_line
    if chunk:
        send()


def run_fed_reader(name: str, index: int, out: Path, source: BinaryIO) -> None:
    """Reader side: decode the chunks arriving on ``source``; write batches and meta.json."""
    reader = Reader(spill=out)
    reader.start(name, index)
    chunks = []
    while header := source.read(_CHUNK.size):
        number, values, size = _CHUNK.unpack(header)
        body = memoryview(source.read(size))
        mark = reader.mark()
        first = len(reader.rows)
        at = 0
        for _ in range(values):
            line, pos, length = _VALUE.unpack_from(body, at)
            at += _VALUE.size
            value = bytes(body[at : at + length])
            at += length
            reader.value(value, line=None if line < 0 else line, pos=pos)
        reader.flush()
        part = reader.since(mark)
        chunks.append(
            {
                "chunk": number,
                "batches": [first, len(reader.rows)],
                "documents": part.documents,
                "rejected": part.rejected,
                "rejections": encode_rejections(part.rejections),
            }
        )
    (out / "meta.json").write_bytes(msgspec.json.encode(chunks))


def _fed_result(out: Path) -> list[tuple[int, Part]]:
    chunks = msgspec.json.decode((out / "meta.json").read_bytes())
    result = []
    for chunk in chunks:
        part = spilled_batches(
            out,
            range(*chunk["batches"]),
            documents=chunk["documents"],
            rejected=chunk["rejected"],
            rejections=decode_rejections(chunk["rejections"]),
        )
        result.append((int(chunk["chunk"]), part))
    return result
