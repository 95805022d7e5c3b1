"""Run an analysis of trace paths with the chosen engine, in a work directory."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracelens.engine.local import analyse_local
from tracelens.engine.sources import open_inputs
from tracelens.engine.workdir import WorkDirError, work_directory
from tracelens.ingest.s3 import is_s3
from tracelens.model.frames import TraceFrames

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from datetime import datetime
    from pathlib import Path

    from tracelens.analysis.pipeline import AnalysisResults
    from tracelens.engine.sources import Inputs
    from tracelens.model.side import SideInputs


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How to run: which engine, where to spill, how many partitions."""

    work_dir: str | None = None  # default: the system's temporary directory; s3:// (dask)
    keep_work_dir: bool = False
    partitions: int | None = None  # default: from the input's size
    engine: str = "local"  # "local" (reader processes here) or "dask"
    scheduler: str | None = None  # dask: tcp://HOST:PORT; default: a local cluster


@dataclass(frozen=True, slots=True)
class Run:
    """Traces read into partitions (the first stage), ready to be analysed."""

    inputs: Inputs
    options: EngineOptions
    work: Path  # the work directory
    store: str | None = None  # dask: where the workers spill, when not ``work`` (s3://)

    def analyse(
        self,
        side: SideInputs,
        *,
        functions: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        trace_filter: str | None = None,
    ) -> AnalysisResults:
        """The facts of every partition, then the cross-trace analyses; with
        ``trace_filter`` (a filter expression, already checked), of the matching traces only.

        Raises:
            SelectionError: see ``analysis.pipeline.analyse_facts``.
            TracelensError: (dask) a task failed, or a worker died for good.
        """
        if self.options.engine == "dask":
            from tracelens.engine.cluster import ClusterInputs

            assert isinstance(self.inputs, ClusterInputs)
            return self.inputs.analyse(
                side, functions=functions, since=since, until=until, trace_filter=trace_filter
            )
        return analyse_local(
            self.inputs,
            side,
            self.work,
            functions=functions,
            since=since,
            until=until,
            trace_filter=trace_filter,
        )

    def partition_frames(self) -> Iterator[TraceFrames]:
        """Each partition settled in turn, with what ingest read (``explain`` reads them
        twice: its memory holds one partition and the traces of its story)."""
        stats = self.inputs.stats(0)
        for partition in range(self.inputs.partitions):
            entities, links, _ = self.inputs.settle(partition)
            yield TraceFrames(entities=entities, links=links, stats=stats)


@contextmanager
def open_run(paths: Sequence[str | Path], options: EngineOptions | None = None) -> Iterator[Run]:
    """Read the traces under ``paths`` into partitions in a work directory, removed (unless
    kept) when the block ends.

    Raises:
        SourceUnavailable, NoUsableInput: see ``sources.open_inputs``.
        WorkDirError: the work directory cannot be written (or, with a Dask scheduler, is
            not reachable from the workers).
        TracelensError: (dask) Dask is missing, the scheduler cannot be reached, a task
            failed or a worker died for good.
    """
    options = options or EngineOptions()
    if options.engine == "dask":
        from tracelens.engine.cluster import open_cluster_inputs

        with open_cluster_inputs(paths, options) as inputs:
            session = inputs.session
            store = session.store if session.store != str(session.scratch.resolve()) else None
            yield Run(inputs, options, session.scratch, store)
        return
    if is_s3(options.work_dir):
        raise WorkDirError(
            f"--work-dir {options.work_dir}: a work directory on S3 needs --engine dask "
            "(the local engine spills to a local directory)"
        )
    with work_directory(options.work_dir, keep=options.keep_work_dir) as work:
        yield Run(open_inputs(paths, work, partitions=options.partitions), options, work)


def analyse_paths(
    paths: Sequence[str | Path],
    side: SideInputs,
    options: EngineOptions | None = None,
    *,
    functions: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> AnalysisResults:
    """Read, partition and analyse the traces under ``paths`` (see ``open_run``)."""
    with open_run(paths, options) as run:
        return run.analyse(side, functions=functions, since=since, until=until)
