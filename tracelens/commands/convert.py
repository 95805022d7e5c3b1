"""``tracelens convert``: write the traces as a partitioned Parquet dataset, in a directory or
under an ``s3://`` prefix (written in a local work directory, then uploaded, manifest last)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

import tracelens
from tracelens.engine.dataset import (
    prepare_output,
    prepare_s3_output,
    side_sources,
    upload_dataset,
    write_dataset,
)
from tracelens.engine.run import EngineOptions, open_run
from tracelens.engine.workdir import WorkDirError, work_directory
from tracelens.ingest.s3 import is_s3

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tracelens.engine.dataset import Manifest


def run(
    paths: Sequence[str],
    *,
    output: str | Path,
    overwrite: bool,
    engine: EngineOptions | None = None,
) -> None:
    """Read ``paths`` into partitions and write them, their side inputs and a manifest to
    ``output``: a directory, or an ``s3://`` prefix.

    Raises:
        TracelensError: the inputs are unusable, ``output`` is not a new or dataset
            directory or prefix (or holds a dataset and ``overwrite`` is false), or cannot
            be written.
    """
    options = engine or EngineOptions()
    sources = side_sources(list(paths))
    if is_s3(output):
        url = str(output)
        replace = prepare_s3_output(url, overwrite=overwrite)
        # The dataset is written on this machine, then uploaded: the work directory's base,
        # unless that is on S3 too.
        base = None if options.work_dir is None or is_s3(options.work_dir) else options.work_dir
        with work_directory(base, keep=options.keep_work_dir) as staging:
            local = staging / "dataset"
            local.mkdir()
            manifest = _write(paths, local, sources, options)
            size = _size(local)
            upload_dataset(local, url, replace=replace)
    else:
        local = Path(output)
        prepare_output(local, overwrite=overwrite)
        manifest = _write(paths, local, sources, options)
        size = _size(local)
    click.echo(
        f"wrote {output}: {_count(manifest.partitions, 'partition')}, "
        f"{_count(manifest.documents, 'document')}, {_count(manifest.traces, 'trace')} "
        f"({size / 1e6:.1f} MB)",
        err=True,
    )


def _write(
    paths: Sequence[str], out: Path, sources: Sequence[str | Path], options: EngineOptions
) -> Manifest:
    with open_run(list(paths), options) as work:
        try:
            return write_dataset(
                work.inputs, out, version=tracelens.__version__, side_sources=sources
            )
        except OSError as exc:
            raise WorkDirError(f"cannot write the dataset to {out}: {exc.strerror or exc}") from exc


def _size(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())


def _count(number: int, noun: str) -> str:
    """``1 partition``, ``2 partitions``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
