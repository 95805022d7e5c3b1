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

import shutil
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec
import polars as pl

from tracelens.errors import SourceUnavailable, TracelensError
from tracelens.model import bundle
from tracelens.model import schema as col
from tracelens.model.frames import IngestStats, Rejection

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tracelens.engine.sources import Inputs

#: The dataset format's version: raised whenever the entity or link schema, the layout or the
#: meaning of a column changes, so an older dataset is refused instead of misread.
SCHEMA_VERSION = 1
FORMAT = "tracelens.dataset"
MANIFEST = "manifest.json"
_ENTITIES = "entities.parquet"
_LINKS = "links.parquet"
_BUCKET = "bucket="


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
    return path.is_dir() and (
        (path / MANIFEST).is_file() or any(path.glob(f"{_BUCKET}*/{_ENTITIES}"))
    )


def _bucket(directory: Path, partition: int) -> Path:
    return directory / f"{_BUCKET}{partition:04d}"


@dataclass(frozen=True, slots=True)
class Dataset:
    """A converted dataset as ``Inputs``: each partition is read from its Parquet files."""

    path: Path
    manifest: Manifest

    @property
    def partitions(self) -> int:
        return self.manifest.partitions

    def settle(self, partition: int) -> tuple[pl.DataFrame, pl.DataFrame, int]:
        """Partition ``partition``'s entities and links (duplicates were removed before)."""
        folder = _bucket(self.path, partition)
        try:
            entities = pl.read_parquet(folder / _ENTITIES)
            links = pl.read_parquet(folder / _LINKS)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise SourceUnavailable(
                f"{folder}: cannot read the dataset's partition ({exc})"
            ) from exc
        for name, frame, schema in (
            ("entities", entities, col.ENTITIES),
            ("links", links, col.LINKS),
        ):
            if frame.schema != schema:
                raise DatasetError(
                    f"{folder / f'{name}.parquet'}: columns differ from schema version "
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


def open_dataset(path: Path) -> Dataset:
    """The dataset at ``path``.

    Raises:
        DatasetError: it has no manifest (an interrupted convert), another format, or another
            schema version.
    """
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise DatasetError(
            f"{path}: incomplete dataset (no {MANIFEST}: was convert interrupted?); "
            "convert the input again with --overwrite"
        )
    try:
        raw = msgspec.json.decode(manifest_path.read_bytes())
    except (OSError, msgspec.DecodeError) as exc:
        raise DatasetError(f"{manifest_path}: not a readable manifest ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise DatasetError(f"{manifest_path}: not a tracelens dataset manifest")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DatasetError(
            f"{path}: dataset schema version {version} (written by tracelens "
            f"{raw.get('tracelens', '?')}); this tracelens reads version {SCHEMA_VERSION}: "
            "convert the input again"
        )
    try:
        manifest = msgspec.convert(raw, Manifest)
    except msgspec.ValidationError as exc:
        raise DatasetError(f"{manifest_path}: {exc}") from exc
    return Dataset(path=path, manifest=manifest)


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
    inputs: Inputs, out: Path, *, version: str, side_sources: Sequence[Path] = ()
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
        if entities.height:
            traces += entities.get_column(col.TRACE_ID).n_unique()
            span = entities.select(
                pl.col(col.START).min().alias("start"),
                pl.max_horizontal(
                    pl.col(col.END).max(),
                    pl.col(col.START).filter(pl.col(col.IN_PROGRESS)).max(),
                ).alias("end"),
            ).row(0)
            starts += [span[0]] if span[0] is not None else []
            ends += [span[1]] if span[1] is not None else []
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


def side_sources(paths: Sequence[Path]) -> list[Path]:
    """The directories among ``paths`` that hold a bundle's side inputs.

    Raises:
        DatasetError: more than one does (a dataset holds the side inputs of one bundle).
    """
    found = [
        p for p in paths if p.is_dir() and (bundle.config_path(p).is_file() or bundle.dlq_dumps(p))
    ]
    if len(found) > 1:
        shown = ", ".join(str(p) for p in found)
        raise DatasetError(
            f"side inputs (config.json, dlq/) in several bundles ({shown}): convert one bundle "
            "at a time, or convert the traces alone and give --config / --dlq to analyze"
        )
    return found


def _copy_side_inputs(source: Path, out: Path) -> None:
    if bundle.config_path(source).is_file():
        shutil.copyfile(bundle.config_path(source), bundle.config_path(out))
    dumps = bundle.dlq_dumps(source)
    if dumps:
        bundle.dlq_dir(out).mkdir()
        for dump in dumps:
            shutil.copyfile(dump, bundle.dlq_dir(out) / dump.name)
