"""The work of the Dask engine's tasks, as plain functions of plain data (no Dask here).

Stage 1: ``read_group`` runs a few consecutive reading tasks of ``processes.plan`` (whole
files, or one byte range of a large NDJSON file) with one ``Reader`` spilling into the work
directory, exactly as a reader process of the local engine does (``processes.run_worker``),
and returns what that process's ``meta.json`` holds. Stage 2: ``settle_partition`` rebuilds
one partition's row batches from every group's spill files, settles them and reduces them to
facts.

The work directory ("store") is a directory every worker can reach, or an ``s3://`` prefix:
then each worker spills into its own temporary directory and uploads its files grouped by
partition (``STORE/part-KKKK/read-NNNN/...``), so a stage-2 task downloads only its
partition's files.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from tracelens.analysis.facts import partition_facts
from tracelens.ingest import s3
from tracelens.ingest.merge import settle
from tracelens.ingest.processes import run_worker, write_jobs
from tracelens.ingest.reading import spilled_batches

if TYPE_CHECKING:
    from collections.abc import Sequence

    import polars as pl

    from tracelens.analysis.facts import Facts
    from tracelens.ingest.processes import Task


@dataclass(frozen=True, slots=True)
class Spilled:
    """Where one group's row batches are, and how many it spilled."""

    name: str  # read-NNNN: its folder in the store
    batches: int


def read_group(tasks: Sequence[Task], partitions: int, store: str, name: str) -> dict[str, Any]:
    """Stage 1: read ``tasks`` in order into ``partitions``, spilling under ``store/name``.

    Returns:
        The reader's ``meta.json``: its number of batches and each task's counts (or the
        error that stopped it, as ``processes.task_counts`` reads it).
    """
    remote = s3.is_s3(store)
    out = Path(tempfile.mkdtemp(prefix="tracelens-spill-")) if remote else Path(store) / name
    try:
        # A task run again (its worker died) starts from an empty folder.
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        write_jobs(out, tasks, partitions)
        run_worker(out)
        meta: dict[str, Any] = msgspec.json.decode((out / "meta.json").read_bytes())
        if remote:
            for spill in sorted(out.glob("*.arrow")):
                partition = int(spill.stem.rsplit("-", 1)[1])
                s3.upload_file(spill, s3.join(store, _part_folder(partition), name, spill.name))
        return meta
    finally:
        if remote:
            shutil.rmtree(out, ignore_errors=True)


def settle_spilled(
    spilled: Sequence[Spilled], partitions: int, store: str, partition: int
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Partition ``partition``'s entities, links and duplicates from every group's spill
    files (in reading order), as ``merge.settle`` gives them."""
    if not s3.is_s3(store):
        return _settle_from(Path(store), spilled, partitions, partition)
    local = Path(tempfile.mkdtemp(prefix="tracelens-settle-"))
    try:
        s3.download_prefix(s3.join(store, _part_folder(partition)), local)
        return _settle_from(local, spilled, partitions, partition)
    finally:
        shutil.rmtree(local, ignore_errors=True)


def _settle_from(
    root: Path, spilled: Sequence[Spilled], partitions: int, partition: int
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    parts = [spilled_batches(root / s.name, range(s.batches), partitions) for s in spilled]
    return settle(parts, partition)


def _part_folder(partition: int) -> str:
    return f"part-{partition:04d}"


@dataclass(frozen=True, slots=True)
class SpilledPartitions:
    """Stage 1's rows on the workers' side: what a stage-2 task needs to settle a partition
    (small and picklable; the counts and rejections stay with the client)."""

    spilled: tuple[Spilled, ...]
    partitions: int
    store: str

    def settle(self, partition: int) -> tuple[pl.DataFrame, pl.DataFrame, int]:
        return settle_spilled(self.spilled, self.partitions, self.store, partition)


class Settles(Protocol):
    """What a stage-2 task settles a partition of: ``SpilledPartitions`` or a dataset."""

    def settle(self, partition: int) -> tuple[pl.DataFrame, pl.DataFrame, int]: ...


def partition_facts_task(
    source: Settles, partition: int, trace_filter: str | None = None
) -> tuple[Facts, int]:
    """Stage 2: one partition settled and reduced to facts (of the traces ``trace_filter``
    matches, when given), with its duplicates."""
    from tracelens.analysis.trace_filter import filter_partition

    entities, links, duplicates = source.settle(partition)
    entities, links = filter_partition(entities, links, trace_filter)
    return partition_facts(entities, links), duplicates


def settle_task(source: Settles, partition: int) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """One partition settled (for ``convert``, which writes the settled rows)."""
    return source.settle(partition)


def sees_probe(path: str, token: bytes) -> bool:
    """Whether this process reads ``token`` in the file ``path`` (the work directory probe)."""
    try:
        return Path(path).read_bytes() == token
    except OSError:
        return False
