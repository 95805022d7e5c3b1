"""Read trace files, directories, globs and gzip into TraceFrames, streamed.

The form of each file is detected by content, never by name: gzip by its magic bytes; NDJSON
when one of its first lines is a complete JSON value on its own; otherwise one JSON value
filling the file (a pretty-printed document, a list, or a ``{"Traces": [...]}`` page), whose
top-level array elements are split out and decoded one at a time so that a large file is never
held in memory as parsed documents (``reading``). Large inputs are read by several processes
(``processes``).
"""

from __future__ import annotations

import glob
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from tracelens.errors import NoUsableInput, SourceUnavailable
from tracelens.ingest import s3
from tracelens.ingest.inputs import GZIP_RATIO, InputFile
from tracelens.ingest.merge import Part, ingest_stats, settle
from tracelens.ingest.partition import partitions_for
from tracelens.ingest.processes import read_parts
from tracelens.ingest.reading import DEFAULT_LIMITS, GZIP_MAGIC, ReadLimits
from tracelens.ingest.s3 import S3Object, is_s3
from tracelens.model import bundle, dataset_layout
from tracelens.model.frames import NOT_SEGMENTS, IngestStats, TraceFrames

if TYPE_CHECKING:
    from collections.abc import Sequence

    import polars as pl

    from tracelens.model.frames import Rejection

# Files in a directory that are not traces: documentation (a bundle's side inputs are
# ``bundle.SIDE_FILES`` and its ``dlq/`` directory).
_SKIPPED_SUFFIXES = (".md", ".txt.md", ".html", ".toml", ".py")


@dataclass(frozen=True, slots=True)
class Partitioned:
    """Trace files read and split into partitions by trace id (the first stage): each
    partition is settled on its own (``settle``) into entities and links."""

    parts: list[Part]
    partitions: int
    files: tuple[str, ...]

    @property
    def documents(self) -> int:
        return sum(part.documents for part in self.parts)

    def settle(self, partition: int) -> tuple[pl.DataFrame, pl.DataFrame, int]:
        """Partition ``partition``'s entities and links, and its number of duplicates."""
        return settle(self.parts, partition)

    def stats(self, duplicates: int) -> IngestStats:
        """What was read, with the duplicates all partitions found."""
        return ingest_stats(self.parts, files=self.files, duplicates=duplicates)

    def check_usable(self) -> None:
        """Raise NoUsableInput unless at least one segment document or span was read."""
        if self.documents:
            return
        rejections = [r for part in self.parts for r in part.rejections]
        for rejection in rejections:
            if rejection.reason in NOT_SEGMENTS:
                raise NoUsableInput(f"{rejection.file} is {rejection.reason}")
        first = rejections[0] if rejections else None
        detail = f" (first problem: {_where(first)}: {first.reason})" if first is not None else ""
        raise NoUsableInput(
            f"no valid X-Ray segment documents or spans in {_describe(self.files)}{detail}; "
            "expected BatchGetTraces output, segment documents, daemon datagrams or "
            "OpenTelemetry spans (aws/spans events, OTLP JSON)"
        )


def read_partitioned(
    files: Sequence[InputFile],
    scratch: Path,
    *,
    workers: int | None = None,
    partitions: int | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Partitioned:
    """Read trace files (``expand_paths``) into partitions, spilling rows under ``scratch``.

    Args:
        files: The trace files.
        scratch: A directory for reader processes' spilled rows (kept until settled).
        workers: Reader processes for large inputs; default: the number of CPUs, at most 4.
        partitions: How many partitions; default: from the input's size
            (``partition.partitions_for``).
        limits: The sizes that decide how input is read (``ReadLimits``).
    """
    if workers is None:
        workers = min(os.cpu_count() or 1, 4)
    if partitions is None:
        partitions = partitions_for(sum(input_bytes(f) for f in files))
    parts = read_parts(files, workers, scratch, partitions=partitions, limits=limits)
    return Partitioned(parts=parts, partitions=partitions, files=tuple(str(f) for f in files))


def input_bytes(path: InputFile) -> int:
    """The file's size, times 5 for gzip (a usual ratio for trace JSON).

    An S3 object is taken as gzip by its name (``*.gz``): looking at its first bytes would
    cost a request per object, and the number only chooses how many partitions to make
    (reports do not depend on it).
    """
    if isinstance(path, S3Object):
        return path.size * (GZIP_RATIO if path.key.endswith(".gz") else 1)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            compressed = handle.read(2) == GZIP_MAGIC
    except OSError:
        return 0  # reading it reports the problem
    return size * GZIP_RATIO if compressed else size


def read_traces(
    paths: Sequence[str | Path], *, workers: int | None = None, limits: ReadLimits = DEFAULT_LIMITS
) -> TraceFrames:
    """Read every trace document under ``paths`` into TraceFrames held in memory (one
    partition; the engine reads large inputs partition by partition instead).

    Args:
        paths: Files, directories (read recursively; a bundle's ``config.json``,
            ``truth.json`` and ``dlq/`` are side inputs, not traces) and glob patterns.
        workers: Processes for large NDJSON files; default: the number of CPUs, at most 4.
        limits: The sizes that decide how input is read (``ReadLimits``); the defaults suit
            every input, smaller ones exist for tests.

    Returns:
        The normalised frames; ``stats`` counts documents, duplicates and rejections.

    Raises:
        SourceUnavailable: a path does not exist or cannot be read.
        NoUsableInput: not one valid segment document was read.
    """
    files = expand_paths(paths)
    with tempfile.TemporaryDirectory(prefix="tracelens-") as scratch:
        read = read_partitioned(files, Path(scratch), workers=workers, partitions=1, limits=limits)
        read.check_usable()
        entities, links, duplicates = read.settle(0)
    return TraceFrames(entities=entities, links=links, stats=read.stats(duplicates))


def _where(rejection: Rejection) -> str:
    return f"{rejection.file}:{rejection.line}" if rejection.line else rejection.file


def _describe(files: Sequence[str]) -> str:
    if len(files) == 1:
        return str(files[0])
    return f"{len(files)} files"


def expand_paths(paths: Sequence[str | Path]) -> list[InputFile]:
    """Expand directories, ``s3://`` prefixes and glob patterns into a de-duplicated list of
    trace files (each directory's or prefix's files sorted).

    Raises:
        SourceUnavailable: a path does not exist or names nothing to read, an ``s3://`` URL
            holds a glob pattern, or a directory or prefix holds a dataset (``tracelens
            convert``) whose Parquet files would otherwise be read as traces.
    """
    found: list[InputFile] = []
    for raw in paths:
        if is_s3(raw):
            found.extend(_s3_files(str(raw)))
            continue
        path = Path(raw)
        if path.is_dir():
            found.extend(_walk(path))
        elif path.is_file():
            found.append(_not_in_dataset(path))
        elif glob.has_magic(str(raw)):
            matches = sorted(glob.glob(str(raw), recursive=True))
            if not matches:
                raise SourceUnavailable(f"{raw}: no file matches this pattern")
            for match in matches:
                match_path = Path(match)
                found.extend(
                    _walk(match_path) if match_path.is_dir() else [_not_in_dataset(match_path)]
                )
        elif path.exists():
            raise SourceUnavailable(f"{raw}: not a regular file or directory")
        else:
            raise SourceUnavailable(f"{raw}: no such file or directory")
    unique: dict[str, InputFile] = {}
    for file in found:
        unique.setdefault(str(file), file)
    if not unique:
        raise SourceUnavailable(f"{', '.join(map(str, paths))}: no trace files found")
    return list(unique.values())


def _s3_files(url: str) -> list[S3Object]:
    """The trace objects an ``s3://`` URL names (``s3.list_objects``)."""
    if glob.has_magic(url):
        raise SourceUnavailable(
            f"{url}: glob patterns are not supported in s3:// URLs; give the prefix (folder) "
            "that holds the objects"
        )
    objects = s3.list_objects(url)
    bucket, _ = s3.parse_s3_url(url)
    for obj in objects:
        root = dataset_layout.dataset_root(obj.key.split("/"))
        if root is not None:
            folder = "/".join(obj.key.split("/")[:root])
            _refuse_dataset(f"{s3.SCHEME}{bucket}/{folder}".rstrip("/"), url)
    return objects


def _refuse_dataset(dataset: str | Path, given: str | Path) -> NoReturn:
    """Raise the error for a dataset met where trace files were expected."""
    where = "" if str(dataset) == str(given).rstrip("/") else f" inside {given}"
    raise SourceUnavailable(
        f"{dataset}: a tracelens dataset (Parquet, written by tracelens convert){where}, not "
        "trace files: give the dataset directory on its own (with its "
        f"{dataset_layout.MANIFEST}; convert again if it has none)"
    )


def _not_in_dataset(file: Path) -> Path:
    """``file``, unless it is a partition file of a dataset (then the error)."""
    root = dataset_layout.dataset_root(list(file.parts))
    if root is not None:
        dataset = Path(*file.parts[:root]) if root else Path()
        _refuse_dataset(dataset, dataset)
    return file


def _walk(directory: Path) -> list[Path]:
    files: list[Path] = []
    for root, dirs, names in os.walk(directory):
        if dataset_layout.has_partitions(Path(root)):
            _refuse_dataset(root, directory)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != bundle.DLQ_DIR)
        for name in sorted(names):
            if (
                name.startswith(".")
                or name in bundle.SIDE_FILES
                or name.endswith(_SKIPPED_SUFFIXES)
            ):
                continue
            files.append(Path(root) / name)
    return sorted(files)
