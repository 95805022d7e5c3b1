"""``tracelens convert``: write the traces as a partitioned Parquet dataset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

import tracelens
from tracelens.engine.dataset import prepare_output, side_sources, write_dataset
from tracelens.engine.run import EngineOptions, open_run
from tracelens.engine.workdir import WorkDirError

if TYPE_CHECKING:
    from collections.abc import Sequence


def run(
    paths: Sequence[str], *, output: Path, overwrite: bool, engine: EngineOptions | None = None
) -> None:
    """Read ``paths`` into partitions and write them, their side inputs and a manifest to
    ``output``.

    Raises:
        TracelensError: the inputs are unusable, ``output`` is not a new or dataset
            directory (or holds a dataset and ``overwrite`` is false), or cannot be written.
    """
    sources = side_sources([Path(p) for p in paths])
    prepare_output(output, overwrite=overwrite)
    with open_run(list(paths), engine or EngineOptions()) as work:
        try:
            manifest = write_dataset(
                work.inputs, output, version=tracelens.__version__, side_sources=sources
            )
        except OSError as exc:
            raise WorkDirError(
                f"cannot write the dataset to {output}: {exc.strerror or exc}"
            ) from exc
    size = sum(f.stat().st_size for f in output.rglob("*") if f.is_file())
    click.echo(
        f"wrote {output}: {manifest.partitions} partitions, {manifest.documents} documents, "
        f"{manifest.traces} traces ({size / 1e6:.1f} MB)",
        err=True,
    )
