"""What the engines analyse: trace files read into partitions, or a converted dataset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tracelens.engine.dataset import fetch_dataset, is_dataset, is_s3_dataset, open_dataset
from tracelens.errors import SourceUnavailable
from tracelens.ingest.files import expand_paths, read_partitioned
from tracelens.ingest.s3 import is_s3

if TYPE_CHECKING:
    from collections.abc import Sequence

    import polars as pl

    from tracelens.model.frames import IngestStats


class Inputs(Protocol):
    """Partitioned input: each partition settles on its own into entities and links."""

    @property
    def partitions(self) -> int: ...

    def settle(self, partition: int) -> tuple[pl.DataFrame, pl.DataFrame, int]:
        """Partition ``partition``'s entities, links and number of duplicate documents."""
        ...

    def stats(self, duplicates: int) -> IngestStats:
        """What was read, with the duplicates all partitions found."""
        ...


def open_inputs(
    paths: Sequence[str | Path],
    scratch: Path,
    *,
    partitions: int | None = None,
    workers: int | None = None,
) -> Inputs:
    """Read ``paths`` (files, directories, globs, ``s3://`` objects and prefixes) into
    partitions under ``scratch``, or open the one dataset ``paths`` names (``tracelens
    convert``), which is partitioned already (one on S3 is downloaded into ``scratch``).

    Raises:
        SourceUnavailable: a path does not exist or cannot be read, or a dataset is given
            with other paths.
        NoUsableInput: not one valid segment document was read.
        DatasetError: a dataset is incomplete or of another schema version.
    """
    datasets = [p for p in paths if is_dataset_path(p)]
    if datasets:
        if len(paths) > 1:
            raise SourceUnavailable(
                f"{datasets[0]} is a dataset (tracelens convert): analyse it on its own, or "
                "convert all the inputs into one dataset"
            )
        (dataset,) = datasets
        if is_s3(dataset):
            return fetch_dataset(str(dataset), scratch / "dataset")
        return open_dataset(Path(dataset))
    files = expand_paths(paths)
    read = read_partitioned(files, scratch, workers=workers, partitions=partitions)
    read.check_usable()
    return read


def is_dataset_path(path: str | Path) -> bool:
    """Whether ``path`` is a dataset directory, or an ``s3://`` prefix holding a dataset."""
    return is_s3_dataset(str(path)) if is_s3(path) else is_dataset(Path(path))
