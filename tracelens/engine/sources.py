"""What the engines analyse: trace files read into partitions, or a converted dataset."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tracelens.ingest.files import expand_paths, read_partitioned

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

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
    """Read ``paths`` (files, directories, globs) into partitions under ``scratch``.

    Raises:
        SourceUnavailable: a path does not exist or cannot be read.
        NoUsableInput: not one valid segment document was read.
    """
    files = expand_paths(paths)
    read = read_partitioned(files, scratch, workers=workers, partitions=partitions)
    read.check_usable()
    return read
