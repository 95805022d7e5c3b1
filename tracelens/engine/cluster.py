"""The Dask engine: stages 1 and 2 as Dask tasks on a cluster's workers, stage 3 here.

This is the only module that imports Dask (``distributed``), and only when the engine is
used, so Dask stays an optional extra (``pip install 'tracelens[dask]'``).

- A cluster: the scheduler at ``--scheduler`` (or ``TRACELENS_DASK_SCHEDULER``), or a
  ``distributed.LocalCluster`` started here (one single-threaded worker process per CPU, at
  most 4) and closed at the end.
- Stage 1: the reading tasks of ``processes.plan`` (large NDJSON files in ranges of about
  ``RANGE_BYTES``, more pieces than workers), a few consecutive small files per Dask task;
  each spills its rows into the store by partition (``tasks.read_group``). The counts and
  rejections come back here, line numbers shifted as the local engine shifts them.
- Stage 2: one Dask task per partition settles it and returns its facts
  (``tasks.partition_facts_task``); stage 3 (the cross-trace analyses) runs here.
- The store (work directory) must be reachable from every worker: a local path when the
  cluster is local, a path checked with a probe file on a remote cluster, or ``s3://``.
- Faults: an error a task raises on purpose (``TracelensError``) is raised here as it is; a
  worker that dies is retried by Dask on another worker, and when Dask gives up the run
  fails with one line, never with a partial report.
"""

from __future__ import annotations

import logging
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracelens.analysis.facts import merge_facts
from tracelens.analysis.pipeline import analyse_facts
from tracelens.engine.sources import is_dataset_path, open_inputs
from tracelens.engine.tasks import (
    Settles,
    Spilled,
    SpilledPartitions,
    partition_facts_task,
    read_group,
    sees_probe,
    settle_task,
)
from tracelens.engine.workdir import WorkDirError, work_directory
from tracelens.errors import TracelensError
from tracelens.ingest import s3
from tracelens.ingest.files import Partitioned, expand_paths, input_bytes
from tracelens.ingest.partition import partitions_for
from tracelens.ingest.processes import plan, shift_line_numbers, task_counts
from tracelens.ingest.reading import DEFAULT_LIMITS

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from datetime import datetime
    from pathlib import Path
    from types import ModuleType

    import polars as pl

    from tracelens.analysis.pipeline import AnalysisResults
    from tracelens.engine.run import EngineOptions
    from tracelens.engine.sources import Inputs
    from tracelens.ingest.processes import Task
    from tracelens.model.frames import IngestStats
    from tracelens.model.side import SideInputs

INSTALL_HINT = "the dask engine needs Dask: pip install 'tracelens[dask]'"
#: Bytes of input per stage-1 task: large NDJSON files are split into ranges of about this
#: size, and consecutive small files are read together up to it.
RANGE_BYTES = 64 * 1024 * 1024
#: The sizes that decide how files are planned (``processes.plan``; tests pass small ones).
READ_LIMITS = DEFAULT_LIMITS
#: Worker processes of a local cluster: one per CPU, at most this many.
MAX_LOCAL_WORKERS = 4
#: Seconds to wait for the scheduler to answer.
CONNECT_TIMEOUT = 10


def _distributed() -> ModuleType:
    """The ``distributed`` package, or a TracelensError saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise TracelensError(INSTALL_HINT) from exc
    return distributed


@dataclass(frozen=True, slots=True)
class Session:
    """A Dask client and where its workers spill (``store``: a directory or an s3 prefix)."""

    client: Any  # distributed.Client
    store: str
    scratch: Path  # this process's work directory (the store, unless that is on S3)
    workers: int
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


@contextmanager
def dask_session(options: EngineOptions) -> Iterator[Session]:
    """Connect to (or start) a cluster and prepare the store; everything is closed and
    removed (unless kept) when the block ends, also on error and Ctrl-C.

    Raises:
        TracelensError: Dask is not installed, or the scheduler cannot be reached.
        WorkDirError: the work directory cannot be written or is not reachable from the
            workers.
        SourceUnavailable: an ``s3://`` work directory cannot be written.
    """
    distributed = _distributed()
    remote = s3.is_s3(options.work_dir)
    prefix = None
    if remote:
        assert options.work_dir is not None
        s3.check_writable(options.work_dir)
        prefix = s3.join(options.work_dir, f"tracelens-work-{uuid.uuid4().hex}")
    # The client's own scratch: the store itself unless that is on S3.
    with (
        work_directory(
            None if remote else options.work_dir, keep=options.keep_work_dir and not remote
        ) as work,
        _client(distributed, options.scheduler) as client,
    ):
        store = prefix if prefix is not None else str(work.resolve())
        if options.scheduler is not None and prefix is None:
            _check_reachable(client, work.resolve(), options.work_dir)
        workers = max(1, len(client.nthreads()))
        try:
            yield Session(client=client, store=store, scratch=work, workers=workers)
        finally:
            if prefix is not None and not options.keep_work_dir:
                s3.delete_prefix(prefix)


@contextmanager
def _client(distributed: ModuleType, scheduler: str | None) -> Iterator[Any]:
    if scheduler is not None:
        try:
            # A malformed or unknown address fails here, before a client exists.
            distributed.comm.resolve_address(scheduler)
        except (ValueError, OSError) as exc:
            raise TracelensError(
                f"--scheduler {scheduler}: {exc}; expected the tcp://HOST:PORT of a Dask scheduler"
            ) from exc
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise TracelensError(
                f"cannot reach the Dask scheduler at {scheduler} ({exc}); check --scheduler "
                "or TRACELENS_DASK_SCHEDULER"
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return
    cluster = distributed.LocalCluster(
        n_workers=min(os.cpu_count() or 1, MAX_LOCAL_WORKERS),
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # no fixed port to collide on; no dashboard (below)
        scheduler_kwargs={"dashboard": False},
        silence_logs=logging.CRITICAL,  # failures are reported as one error line
    )
    try:
        client = distributed.Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _check_reachable(client: Any, work: Path, given: str | None) -> None:
    """Raise WorkDirError unless every worker reads the probe file this process writes."""
    token = uuid.uuid4().bytes
    probe = work / ".tracelens-probe"
    probe.write_bytes(token)
    try:
        seen = client.run(sees_probe, str(probe), token)
    finally:
        probe.unlink(missing_ok=True)
    if not seen or not all(seen.values()):
        shown = given if given is not None else str(work.parent)
        raise WorkDirError(
            f"--work-dir {shown} is not reachable from the Dask workers: give "
            "s3://bucket/prefix or a path they share"
        )


def _gather(session: Session, futures: list[Any], what: dict[str, str]) -> list[Any]:
    """The futures' results in order; a worker that died for good is one clear error."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    try:
        return list(session.client.gather(futures))
    except KilledWorker as exc:
        task = what.get(str(exc.task), str(exc.task))
        raise TracelensError(
            f"a Dask worker died while running {task}; the report was not written"
        ) from exc
    except FutureCancelledError as exc:
        raise TracelensError(
            f"the Dask cluster cancelled the run ({exc}); the report was not written"
        ) from exc
    finally:
        for future in futures:
            future.release()


class ClusterInputs:
    """``Inputs`` whose partitions settle on the cluster's workers."""

    def __init__(self, session: Session, source: Settles, partitions: int, counts: Inputs) -> None:
        self.session = session
        self.source = source
        self._partitions = partitions
        self._counts = counts  # what was read: stats() only
        self._pending: dict[int, Any] = {}
        self._next = 0

    @property
    def partitions(self) -> int:
        return self._partitions

    def stats(self, duplicates: int) -> IngestStats:
        return self._counts.stats(duplicates)

    def settle(self, partition: int) -> tuple[pl.DataFrame, pl.DataFrame, int]:
        """One partition settled on a worker; the next few are settled meanwhile."""
        client = self.session.client
        self._next = max(self._next, partition)
        while self._next < self._partitions and len(self._pending) < self.session.workers + 1:
            if self._next not in self._pending:
                self._pending[self._next] = client.submit(
                    settle_task, self.source, self._next, key=self._key("settle", self._next)
                )
            self._next += 1
        future = self._pending.pop(partition, None)
        if future is None:
            key = self._key("settle", partition)
            future = client.submit(settle_task, self.source, partition, key=key)
        what = {future.key: f"settling partition {partition}"}
        result: tuple[pl.DataFrame, pl.DataFrame, int] = _gather(self.session, [future], what)[0]
        return result

    def analyse(
        self,
        side: SideInputs,
        *,
        functions: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        trace_filter: str | None = None,
    ) -> AnalysisResults:
        """Stage 2 on the workers (facts per partition, of the traces ``trace_filter``
        matches when given), then stage 3 here."""
        futures = [
            self.session.client.submit(
                partition_facts_task, self.source, k, trace_filter, key=self._key("facts", k)
            )
            for k in range(self._partitions)
        ]
        what = {f.key: f"the facts of partition {k}" for k, f in enumerate(futures)}
        results = _gather(self.session, futures, what)
        return analyse_facts(
            merge_facts([facts for facts, _ in results]),
            side,
            stats=self.stats(sum(duplicates for _, duplicates in results)),
            functions=functions,
            since=since,
            until=until,
        )

    def _key(self, stage: str, number: int) -> str:
        return f"tracelens-{stage}-{number:04d}-{self.session.token}"


def read_on_cluster(
    session: Session, paths: Sequence[str | Path], *, partitions: int | None
) -> ClusterInputs:
    """Stage 1 on the workers: read ``paths`` into partitions in the session's store (or
    open the dataset ``paths`` names, whose partitions the workers read).

    Raises:
        SourceUnavailable, NoUsableInput, DatasetError: as ``sources.open_inputs``.
    """
    if any(is_dataset_path(p) for p in paths):
        dataset = open_inputs(paths, session.scratch)  # a dataset: nothing to read
        return ClusterInputs(session, dataset, dataset.partitions, dataset)
    files = expand_paths(paths)
    if partitions is None:
        partitions = partitions_for(sum(input_bytes(f) for f in files))
    largest = max((input_bytes(f) for f in files), default=0)
    pieces = max(session.workers, 2, -(-largest // RANGE_BYTES))
    tasks = plan(files, pieces, limits=READ_LIMITS)
    groups = _groups(tasks)
    client = session.client
    futures = []
    what: dict[str, str] = {}
    for number, group in enumerate(groups):
        key = f"tracelens-read-{number:04d}-{session.token}"
        futures.append(
            client.submit(read_group, group, partitions, session.store, _name(number), key=key)
        )
        what[key] = f"the reading of {_describe(group)}"
    metas = _gather(session, futures, what)
    counts = [count for meta in metas for count in task_counts(meta)]
    read = Partitioned(
        parts=shift_line_numbers(tasks, counts),
        partitions=partitions,
        files=tuple(str(f) for f in files),
    )
    read.check_usable()
    spilled = tuple(
        Spilled(_name(number), int(meta["batches"])) for number, meta in enumerate(metas)
    )
    source = SpilledPartitions(spilled=spilled, partitions=partitions, store=session.store)
    return ClusterInputs(session, source, partitions, read)


def _groups(tasks: Sequence[Task]) -> list[list[Task]]:
    """Consecutive tasks of up to ``RANGE_BYTES`` together (a larger one alone)."""
    groups: list[list[Task]] = []
    size = 0
    for task in tasks:
        if not groups or size + task.size > RANGE_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(task)
        size += task.size
    return groups


def _name(number: int) -> str:
    return f"read-{number:04d}"


def _describe(group: Sequence[Task]) -> str:
    first = group[0]
    if first.end is not None:
        return f"{first.path} (bytes {first.start}-{first.end})"
    return str(first.path) if len(group) == 1 else f"{first.path} and {len(group) - 1} more"


@contextmanager
def open_cluster_inputs(
    paths: Sequence[str | Path], options: EngineOptions
) -> Iterator[ClusterInputs]:
    """Stage 1 on a Dask cluster (see ``dask_session`` and ``read_on_cluster``)."""
    with dask_session(options) as session:
        yield read_on_cluster(session, paths, partitions=options.partitions)
