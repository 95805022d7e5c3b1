"""The local engine: reader processes on this machine, then partitions in stage-2 processes.

A partition whose pieces were spilled to files (or that lives in a dataset) is settled and
reduced to facts in a separate process (``engine.worker``), one partition at a time per
process, so no process holds more than a partition of entities; the facts come back as
files. A single partition, or one read in this process, is analysed here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from tracelens.analysis.facts import Facts, merge_facts, partition_facts
from tracelens.analysis.pipeline import analyse_facts
from tracelens.analysis.trace_filter import filter_partition
from tracelens.engine.dataset import Dataset
from tracelens.engine.facts_files import read_facts
from tracelens.engine.worker import Job
from tracelens.errors import TracelensError
from tracelens.ingest.files import Partitioned
from tracelens.ingest.merge import pieces_of
from tracelens.ingest.spawn import first_failure, spawn_module

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from tracelens.analysis.pipeline import AnalysisResults
    from tracelens.engine.sources import Inputs
    from tracelens.model.side import SideInputs


def analyse_local(
    inputs: Inputs,
    side: SideInputs,
    work: Path,
    *,
    functions: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    trace_filter: str | None = None,
) -> AnalysisResults:
    """Facts of every partition of ``inputs`` (only the traces ``trace_filter`` matches, when
    given), then the cross-trace analyses on all facts."""
    facts, duplicates = partition_facts_all(inputs, work, trace_filter)
    return analyse_facts(
        merge_facts(facts),
        side,
        stats=inputs.stats(duplicates),
        functions=functions,
        since=since,
        until=until,
    )


def partition_facts_all(
    inputs: Inputs, work: Path, trace_filter: str | None = None
) -> tuple[list[Facts], int]:
    """The facts of every partition, in partition order, and the duplicates they held."""
    jobs = [
        _job(inputs, k, work / "facts" / f"{k:04d}", trace_filter) for k in range(inputs.partitions)
    ]
    if inputs.partitions > 1 and all(job is not None for job in jobs):
        return _in_processes([job for job in jobs if job is not None], work)
    facts = []
    duplicates = 0
    for partition in range(inputs.partitions):
        entities, links, found = inputs.settle(partition)
        duplicates += found
        entities, links = filter_partition(entities, links, trace_filter)
        facts.append(partition_facts(entities, links))
        del entities, links
    return facts, duplicates


def _job(inputs: Inputs, partition: int, out: Path, trace_filter: str | None) -> Job | None:
    """The stage-2 job of a partition that lives in files, else None."""
    if isinstance(inputs, Dataset):
        return Job(
            out=str(out), dataset=str(inputs.path), partition=partition, trace_filter=trace_filter
        )
    if isinstance(inputs, Partitioned):
        rows, links = pieces_of(inputs.parts, partition)
        if all(isinstance(p, Path) for p in [*rows, *links]):
            return Job(
                out=str(out),
                rows=[str(p) for p in rows],
                links=[str(p) for p in links],
                trace_filter=trace_filter,
            )
    return None


def _in_processes(jobs: list[Job], work: Path) -> tuple[list[Facts], int]:
    """Run the jobs in up to ``os.cpu_count()`` (at most 4) processes, contiguous groups."""
    count = max(1, min(os.cpu_count() or 1, 4, len(jobs)))
    groups = [jobs[i * len(jobs) // count : (i + 1) * len(jobs) // count] for i in range(count)]
    running = []
    for number, group in enumerate(groups):
        out = work / f"stage2-{number}"
        out.mkdir()
        (out / "jobs.json").write_bytes(msgspec.json.encode(group))
        command = [str(out / "jobs.json")]
        running.append((spawn_module("tracelens.engine.worker", out, command), out))
    failure = first_failure(running)
    if failure is not None:
        raise TracelensError(f"a partition process failed ({failure})")
    facts = []
    duplicates = 0
    for job in jobs:
        partition, found = read_facts(Path(job.out))
        facts.append(partition)
        duplicates += found
    return facts, duplicates
