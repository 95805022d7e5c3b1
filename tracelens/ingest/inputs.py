"""One input file: a local path or an object on S3 (``InputFile``), and what readers do with
either: its name, its size, a byte stream of it, and its form in a reader process's jobs.

``str(file)`` is the name every report and rejection shows: the path, or the ``s3://`` URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, TypeAlias

from tracelens.errors import SourceUnavailable
from tracelens.ingest.s3 import S3Object, open_object, read_bytes

#: A trace file to read: on this machine's file system, or on S3.
InputFile: TypeAlias = Path | S3Object

#: How much an S3 object named ``*.gz`` is assumed to grow when decompressed (as for a local
#: gzip file, a usual ratio for trace JSON); only used to choose the number of partitions.
GZIP_RATIO = 5


def input_size(file: InputFile) -> int:
    """The file's size in bytes (0 when a local file cannot be looked at: reading it reports
    the problem)."""
    if isinstance(file, S3Object):
        return file.size
    try:
        return file.stat().st_size
    except OSError:
        return 0


def open_bytes(file: InputFile, start: int = 0, end: int | None = None) -> BinaryIO:
    """A binary stream of the file, positioned at ``start``.

    For an S3 object only bytes ``start`` to ``end - 1`` are asked for (``open_object``);
    a local file can be read past ``end``: the caller stops there.

    Raises:
        SourceUnavailable: The file cannot be opened.
    """
    if isinstance(file, S3Object):
        return open_object(file, start, end)
    try:
        handle = file.open("rb")
    except OSError as exc:
        raise SourceUnavailable(f"{file}: cannot read ({exc.strerror or exc})") from exc
    if start:
        handle.seek(start)
    return handle


def encode_input(file: InputFile) -> Any:
    """The file as JSON for a reader process's jobs: a path string, or the object's fields."""
    if isinstance(file, S3Object):
        return {"bucket": file.bucket, "key": file.key, "size": file.size, "etag": file.etag}
    return str(file)


def decode_input(raw: Any) -> InputFile:
    """The inverse of ``encode_input``."""
    if isinstance(raw, dict):
        return S3Object(str(raw["bucket"]), str(raw["key"]), int(raw["size"]), str(raw["etag"]))
    return Path(raw)


def read_whole(file: InputFile) -> bytes:
    """The whole content of a small file (a config file, a DLQ dump).

    Raises:
        OSError: A local file cannot be read (the caller words it).
        SourceUnavailable: An S3 object cannot be read.
    """
    if isinstance(file, S3Object):
        return read_bytes(file.url)
    return file.read_bytes()
