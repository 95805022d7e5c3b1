"""The file layout of a dataset written by ``tracelens convert``: the one place its names are.

Reading (``ingest``) needs them to recognise a dataset among trace files and never read its
Parquet files as traces; writing and opening it is ``tracelens.engine.dataset``::

    DIR/
      bucket=0000/entities.parquet, bucket=0000/links.parquet, ...
      config.json, dlq/*.json      the converted bundle's side inputs, if any
      manifest.json                written last
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

#: Written last: a dataset without it is incomplete.
MANIFEST = "manifest.json"
#: The files of one partition, in its ``bucket=NNNN`` folder.
ENTITIES = "entities.parquet"
LINKS = "links.parquet"
PARTITION_FILES = frozenset({ENTITIES, LINKS})
#: The folder of a partition starts with this (hive layout: ``bucket=0000``).
BUCKET_PREFIX = "bucket="


def partition_folder(partition: int) -> str:
    """The folder name of partition ``partition`` (``bucket=0003``)."""
    return f"{BUCKET_PREFIX}{partition:04d}"


def is_dataset_dir(path: Path) -> bool:
    """Whether ``path`` is a directory that a convert wrote (or began to write)."""
    return path.is_dir() and ((path / MANIFEST).is_file() or has_partitions(path))


def has_partitions(path: Path) -> bool:
    """Whether the directory ``path`` holds a dataset's partition files (convert writes them
    before anything else)."""
    return any(
        (folder / name).is_file()
        for folder in path.glob(f"{BUCKET_PREFIX}*")
        for name in PARTITION_FILES
    )


def dataset_root(parts: list[str]) -> int | None:
    """For a file at the folders-and-name ``parts``, the number of leading parts that are a
    dataset's folder when the file is one of its partition files, else None.

    ``["x", "bucket=0001", "links.parquet"]`` gives 1 (the dataset is ``x``).
    """
    if len(parts) >= 2 and parts[-1] in PARTITION_FILES and parts[-2].startswith(BUCKET_PREFIX):
        return len(parts) - 2
    return None
