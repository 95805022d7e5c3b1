"""Parquet datasets written by ``tracelens convert``: the normalised input, partitioned.

Layout (hive style, one folder per partition of trace ids)::

    DIR/
      bucket=0000/entities.parquet   settled entity rows (schema ``model.schema.ENTITIES``)
      bucket=0000/links.parquet      span links (``LINKS``)
      ...
      config.json, dlq/*.json        the side inputs of the converted bundle, if any
      manifest.json                  written last: a dataset without it is incomplete

The manifest records the schema version, what ingest read (documents, duplicates,
rejections: the first 100, input files) and the time span, so analysing a dataset gives the
same report as analysing its input, without parsing JSON again.
"""

from __future__ import annotations

import glob
import shutil
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec
import polars as pl

from tracelens.errors import SourceUnavailable, TracelensError
from tracelens.ingest import s3
from tracelens.ingest.inputs import read_whole
from tracelens.ingest.s3 import S3Object
from tracelens.ingest.side import bundle_side_files
from tracelens.model import bundle
from tracelens.model import dataset_layout as layout
from tracelens.model import schema as col
from tracelens.model.frames import IngestStats, Rejection, TraceFrames

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tracelens.engine.sources import Inputs

#: The dataset format's version: raised whenever the entity or link schema, the layout or the
#: meaning of a column changes, so an older dataset is refused instead of misread. Version 3:
#: independently sent subsegments (and spans) settle into the rows nested ones give.
SCHEMA_VERSION = 3
FORMAT = "tracelens.dataset"
MANIFEST = layout.MANIFEST
_ENTITIES = layout.ENTITIES
_LINKS = layout.LINKS


class DatasetError(TracelensError):
    """A dataset cannot be written, or is incomplete, or of another schema version."""


class _Rejection(msgspec.Struct, frozen=True):
    file: str
    line: int | None
    reason: str


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """What ``manifest.json`` holds."""

    format: str
    schema_version: int
    tracelens: str
    partitions: int
    files: list[str]
    documents: int
    duplicates: int
    rejected: int
    rejections: list[_Rejection]
    traces: int
    start: datetime | None
    end: datetime | None


def is_dataset(path: Path) -> bool:
    """Whether ``path`` is a directory that a convert wrote (or began to write)."""
    return layout.is_dataset_dir(path)


def _bucket(directory: Path, partition: int) -> Path:
    return directory / layout.partition_folder(partition)


@dataclass(frozen=True, slots=True)
class Dataset:
    """A converted dataset as ``Inputs``: each partition is read from its Parquet files."""

    path: Path
    manifest: Manifest
    #: Where the dataset is, as errors name it (the ``s3://`` URL of a downloaded one).
    name: str = ""

    @property
    def partitions(self) -> int:
        return self.manifest.partitions

    def settle(self, partition: int) -> tuple[pl.DataFrame, pl.DataFrame, int]:
        """Partition ``partition``'s entities and links (duplicates were removed before)."""
        folder = _bucket(self.path, partition)
        shown = f"{self.name}/{folder.name}" if self.name else str(folder)
        try:
            entities = pl.read_parquet(folder / _ENTITIES)
            links = pl.read_parquet(folder / _LINKS)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise SourceUnavailable(
                f"{shown}: cannot read the dataset's partition ({exc})"
            ) from exc
        for name, frame, schema in (
            ("entities", entities, col.ENTITIES),
            ("links", links, col.LINKS),
        ):
            if frame.schema != schema:
                raise DatasetError(
                    f"{shown}/{name}.parquet: columns differ from schema version "
                    f"{SCHEMA_VERSION}; convert the input again"
                )
        return entities, links, 0

    def stats(self, duplicates: int) -> IngestStats:
        """What was read when the dataset was written."""
        m = self.manifest
        return IngestStats(
            files=tuple(m.files),
            documents=m.documents,
            duplicates=m.duplicates + duplicates,
            rejected=m.rejected,
            rejections=tuple(Rejection(r.file, r.line, r.reason) for r in m.rejections),
        )


def open_dataset(path: Path, *, name: str = "") -> Dataset:
    """The dataset at ``path``.

    Args:
        path: The dataset's directory.
        name: Where it is, as errors name it (default: ``path``).

    Raises:
        DatasetError: it has no manifest (an interrupted convert), another format, or another
            schema version.
    """
    shown = name or str(path)
    manifest_path = path / MANIFEST
    manifest_shown = f"{shown}/{MANIFEST}" if name else str(manifest_path)
    if not manifest_path.is_file():
        raise DatasetError(
            f"{shown}: incomplete dataset (no {MANIFEST}: was convert interrupted?); "
            "convert the input again with --overwrite"
        )
    try:
        raw = msgspec.json.decode(manifest_path.read_bytes())
    except (OSError, msgspec.DecodeError) as exc:
        raise DatasetError(f"{manifest_shown}: not a readable manifest ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise DatasetError(f"{manifest_shown}: not a tracelens dataset manifest")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DatasetError(
            f"{shown}: dataset schema version {version} (written by tracelens "
            f"{raw.get('tracelens', '?')}); this tracelens reads version {SCHEMA_VERSION}: "
            "convert the input again"
        )
    try:
        manifest = msgspec.convert(raw, Manifest)
    except msgspec.ValidationError as exc:
        raise DatasetError(f"{manifest_shown}: {exc}") from exc
    return Dataset(path=path, manifest=manifest, name=name)


def prepare_output(path: Path, *, overwrite: bool) -> None:
    """Make ``path`` an empty directory for a new dataset.

    Raises:
        DatasetError: ``path`` holds a dataset and ``overwrite`` is false, or holds anything
            else (never removed), or cannot be created.
    """
    if path.exists():
        if not path.is_dir():
            raise DatasetError(f"{path}: exists and is not a directory")
        entries = list(path.iterdir())
        if entries and not is_dataset(path):
            raise DatasetError(
                f"{path}: not empty and not a tracelens dataset; give an empty or new directory"
            )
        if entries and not overwrite:
            raise DatasetError(f"{path}: already holds a dataset; give --overwrite to replace it")
        for entry in entries:
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot create ({exc.strerror or exc})") from exc


def write_dataset(
    inputs: Inputs, out: Path, *, version: str, side_sources: Sequence[str | Path] = ()
) -> Manifest:
    """Write every partition of ``inputs`` to ``out`` (prepared by ``prepare_output``), the
    side inputs of the bundles ``side_sources``, then the manifest.

    Raises:
        OSError: writing failed (the caller names the directory).
    """
    duplicates = traces = 0
    starts: list[datetime] = []
    ends: list[datetime] = []
    for partition in range(inputs.partitions):
        entities, links, found = inputs.settle(partition)
        duplicates += found
        folder = _bucket(out, partition)
        folder.mkdir()
        entities.write_parquet(folder / _ENTITIES, compression="lz4")
        links.write_parquet(folder / _LINKS, compression="lz4")
        frames = TraceFrames(entities=entities, links=links)
        traces += frames.traces
        starts += [frames.start] if frames.start is not None else []
        ends += [frames.end] if frames.end is not None else []
    for source in side_sources:
        _copy_side_inputs(source, out)
    stats = inputs.stats(duplicates)
    manifest = Manifest(
        format=FORMAT,
        schema_version=SCHEMA_VERSION,
        tracelens=version,
        partitions=inputs.partitions,
        files=list(stats.files),
        documents=stats.documents,
        duplicates=stats.duplicates,
        rejected=stats.rejected,
        rejections=[_Rejection(r.file, r.line, r.reason) for r in stats.rejections],
        traces=traces,
        start=min(starts) if starts else None,
        end=max(ends) if ends else None,
    )
    (out / MANIFEST).write_bytes(msgspec.json.format(msgspec.json.encode(manifest)) + b"\n")
    return manifest


def side_sources(paths: Sequence[str | Path]) -> list[str | Path]:
    """The bundles among ``paths`` (directories or ``s3://`` prefixes) that hold side inputs.

    Raises:
        DatasetError: more than one does (a dataset holds the side inputs of one bundle).
        SourceUnavailable: an ``s3://`` prefix cannot be listed.
    """
    found = [p for p in paths if any(bundle_side_files(p))]
    if len(found) > 1:
        shown = ", ".join(str(p) for p in found)
        raise DatasetError(
            f"side inputs (config.json, dlq/) in several bundles ({shown}): convert one bundle "
            "at a time, or convert the traces alone and give --config / --dlq to analyze"
        )
    return found


def _copy_side_inputs(source: str | Path, out: Path) -> None:
    config, dumps = bundle_side_files(source)
    if config is not None:
        bundle.config_path(out).write_bytes(read_whole(config))
    if dumps:
        bundle.dlq_dir(out).mkdir()
        for dump in dumps:
            name = dump.key.rpartition("/")[2] if isinstance(dump, S3Object) else dump.name
            (bundle.dlq_dir(out) / name).write_bytes(read_whole(dump))


# --- datasets on S3 ----------------------------------------------------------------------


def is_s3_dataset(url: str) -> bool:
    """Whether the ``s3://`` prefix ``url`` holds a dataset with its manifest."""
    if glob.has_magic(url):
        return False  # expand_paths says what is wrong with it
    try:
        return s3.find_object(s3.join(url, MANIFEST)) is not None
    except SourceUnavailable:
        # Listing ``url`` as trace objects names the problem with ``url`` itself (and
        # refuses a dataset's Parquet objects, so nothing is misread).
        return False


def fetch_dataset(url: str, local: Path) -> Dataset:
    """Download the dataset at ``url`` into the empty directory ``local`` and open it; the
    manifest is read and checked first, so a dataset of another schema version is refused
    before its partitions are downloaded.

    Raises:
        SourceUnavailable: an object cannot be read.
        DatasetError: see ``open_dataset``.
        OSError: ``local`` cannot be written.
    """
    local.mkdir(parents=True, exist_ok=True)
    (local / MANIFEST).write_bytes(s3.read_bytes(s3.join(url, MANIFEST)))
    open_dataset(local, name=url)
    s3.download_prefix(url, local)
    return open_dataset(local, name=url)


def prepare_s3_output(url: str, *, overwrite: bool) -> bool:
    """Check that the ``s3://`` prefix ``url`` can take a new dataset (as ``prepare_output``
    for a directory), and that it can be written; nothing is deleted yet.

    Returns:
        Whether a dataset is there, to be deleted before the new one is uploaded.

    Raises:
        DatasetError: the prefix holds a dataset and ``overwrite`` is false, or holds other
            objects (never removed).
        SourceUnavailable: the bucket is missing or refuses listing or writing.
    """
    objects = s3.list_under(url)
    _, key = s3.parse_s3_url(url)
    folder = key if not key or key.endswith("/") else f"{key}/"
    if objects:
        if not all(_in_dataset(obj.key[len(folder) :]) for obj in objects):
            raise DatasetError(
                f"{url}: not empty and not a tracelens dataset; give an empty or new prefix"
            )
        if not overwrite:
            raise DatasetError(f"{url}: already holds a dataset; give --overwrite to replace it")
    s3.check_writable(url)
    return bool(objects)


def _in_dataset(relative: str) -> bool:
    """Whether a file at ``relative`` in a folder is one a convert writes."""
    parts = relative.split("/")
    return (
        relative in (MANIFEST, bundle.CONFIG_FILE)
        or layout.dataset_root(parts) == 0
        or (len(parts) == 2 and parts[0] == bundle.DLQ_DIR)
    )


def upload_dataset(local: Path, url: str, *, replace: bool) -> None:
    """Upload the dataset written at ``local`` to ``url``: the old one deleted first when
    ``replace``, then the partitions and side inputs, and the manifest last, so an
    interrupted upload never looks complete.

    Raises:
        SourceUnavailable: an object cannot be deleted or written.
    """
    if replace:
        s3.delete_prefix(url)
    files = sorted((f.relative_to(local).parts, f) for f in local.rglob("*") if f.is_file())
    for parts, file in files:
        if parts != (MANIFEST,):
            s3.upload_file(file, s3.join(url, *parts))
    s3.upload_file(local / MANIFEST, s3.join(url, MANIFEST))
