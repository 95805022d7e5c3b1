"""Stage-2 process of the local engine: ``python -m tracelens.engine.worker JOBS.json``.

Each job names one partition's spilled row and link pieces (in reading order) and a
directory: the partition is settled, reduced to its facts, and the facts are written there.
Jobs run one after another, so the process holds one partition at a time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from tracelens.analysis.facts import partition_facts
from tracelens.analysis.trace_filter import filter_partition
from tracelens.engine.dataset import open_dataset
from tracelens.engine.facts_files import write_facts
from tracelens.ingest.merge import settle_pieces


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """One partition: spilled pieces to settle, or a partition of a dataset."""

    out: str
    rows: list[str] = []
    links: list[str] = []
    dataset: str | None = None
    partition: int = 0
    trace_filter: str | None = None  # only the traces this filter expression matches


def run_jobs(jobs: list[Job]) -> None:
    """Settle each job's partition and write its facts."""
    for job in jobs:
        if job.dataset is not None:
            entities, links, duplicates = open_dataset(Path(job.dataset)).settle(job.partition)
        else:
            entities, links, duplicates = settle_pieces(
                [Path(p) for p in job.rows], [Path(p) for p in job.links]
            )
        entities, links = filter_partition(entities, links, job.trace_filter)
        facts = partition_facts(entities, links)
        del entities, links
        write_facts(facts, duplicates, Path(job.out))


def main(argv: list[str]) -> int:
    (jobs_file,) = argv
    run_jobs(msgspec.json.decode(Path(jobs_file).read_bytes(), type=list[Job]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
