"""``tracelens convert``: write the traces as a partitioned Parquet dataset, in a directory or
under an ``s3://`` prefix (written in a local work directory, then uploaded, manifest last)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click

import tracelens
from tracelens.commands.progress import Progress, read_summary
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
from tracelens.report._format import plural

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tracelens.engine.dataset import Manifest


def run(
    paths: Sequence[str],
    *,
    output: str | Path,
    overwrite: bool,
    engine: EngineOptions | None = None,
    progress: Progress | None = None,
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
    with progress or Progress(None) as shown:
        manifest, size = _convert(paths, output, overwrite, sources, options, shown)
    click.echo(
        f"wrote {output}: {plural(manifest.partitions, 'partition')}, "
        f"{plural(manifest.documents, 'document')}, {plural(manifest.traces, 'trace')} "
        f"({size / 1e6:.1f} MB)",
        err=True,
    )


def _convert(
    paths: Sequence[str],
    output: str | Path,
    overwrite: bool,
    sources: Sequence[str | Path],
    options: EngineOptions,
    progress: Progress,
) -> tuple[Manifest, int]:
    """Write the dataset (to a local staging directory first for S3); its manifest and size."""
    if is_s3(output):
        url = str(output)
        replace = prepare_s3_output(url, overwrite=overwrite)
        # The dataset is written on this machine, then uploaded: the work directory's base,
        # unless that is on S3 too.
        base = None if options.work_dir is None or is_s3(options.work_dir) else options.work_dir
        with work_directory(base, keep=options.keep_work_dir) as staging:
            local = staging / "dataset"
            local.mkdir()
            manifest = _write(paths, local, sources, options, progress)
            size = _size(local)
            with progress.stage("uploading") as uploading:
                upload_dataset(local, url, replace=replace)
                uploading.done(f"uploaded to {url}")
        return manifest, size
    local = Path(output)
    prepare_output(local, overwrite=overwrite)
    manifest = _write(paths, local, sources, options, progress)
    return manifest, _size(local)


def _write(
    paths: Sequence[str],
    out: Path,
    sources: Sequence[str | Path],
    options: EngineOptions,
    progress: Progress,
) -> Manifest:
    with ExitStack() as stack:
        with progress.stage("reading") as reading:
            work = stack.enter_context(open_run(list(paths), options))
            reading.done(read_summary(work.inputs.stats(0), paths))
        with progress.stage("writing") as writing:
            try:
                manifest = write_dataset(
                    work.inputs, out, version=tracelens.__version__, side_sources=sources
                )
            except OSError as exc:
                raise WorkDirError(
                    f"cannot write the dataset to {out}: {exc.strerror or exc}"
                ) from exc
            writing.done(f"wrote {plural(manifest.partitions, 'partition')}")
    return manifest


def _size(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
