"""Fetch traces from the X-Ray API (GetTraceSummaries + BatchGetTraces) into an incident bundle."""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from tracelens.acquire.backoff import RetryPolicy
from tracelens.acquire.probe import inspect_trace
from tracelens.acquire.resume import prepare_resume
from tracelens.acquire.windows import MAX_WINDOW, split_window
from tracelens.acquire.xray_calls import XRayCalls
from tracelens.acquire.xray_filter import build_filter_expression
from tracelens.errors import SourceUnavailable
from tracelens.model import bundle

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path
    from typing import IO


#: Trace ids per BatchGetTraces call (API reference: "1-5 ids").
BATCH_SIZE = 5

_Batch = tuple[list[dict[str, Any]], list[str]]


class ProgressSink(Protocol):
    """Receives fetch progress; ``tracelens fetch`` passes a rich progress bar."""

    def update(self, *, found: int, fetched: int, remaining: int, throttles: int) -> None:
        """Report the current counts."""


@dataclass(slots=True)
class FetchSummary:
    """What one ``fetch_traces`` run did.

    Attributes:
        out_file: The NDJSON file written (one BatchGetTraces Trace object per line).
        windows: GetTraceSummaries time windows queried.
        summary_pages: GetTraceSummaries pages read.
        found: Distinct trace ids the summaries listed.
        skipped: Of those, ids already in the file from an earlier run (resume).
        fetched: Traces written by this run.
        partial: Written traces still partial after the one re-fetch (``in_progress``
            documents or an ``IsPartial`` summary).
        refetched: Traces fetched a second time because they were partial.
        limit_exceeded: Written traces with ``LimitExceeded: true`` (kept, incomplete).
        missing: Ids X-Ray never returned (still unprocessed after retries).
        throttles: Throttled or 5xx responses that were retried.
        api_calls: X-Ray API calls made (including retries).
        truncated_bytes: Bytes of a torn last line removed from the file before resuming.
        functions: Lambda function names seen in ``AWS::Lambda::Function`` documents of the
            traces written by this run, sorted.
        path: How the traces were found: ``xray`` (GetTraceSummaries + BatchGetTraces),
            ``transaction-search-xray`` (Logs Insights ids + StartTraceRetrieval) or
            ``transaction-search-spans`` (the ``aws/spans`` events themselves).
        retrieval_failed: Ids whose trace retrieval ended FAILED / CANCELLED / TIMEOUT twice.
        queries: Logs Insights queries run (Transaction Search paths).
        query_splits: Logs Insights results at the row limit, split and queried again.
        saturated: Logs Insights results at the row limit that could not be split (the ids
            or spans of that piece may be incomplete).
        spans: Span events written to ``spans.ndjson`` (``transaction-search-spans``).
    """

    out_file: Path
    windows: int = 0
    summary_pages: int = 0
    found: int = 0
    skipped: int = 0
    fetched: int = 0
    partial: int = 0
    refetched: int = 0
    limit_exceeded: int = 0
    missing: int = 0
    throttles: int = 0
    api_calls: int = 0
    truncated_bytes: int = 0
    functions: tuple[str, ...] = ()
    path: str = "xray"
    retrieval_failed: int = 0
    queries: int = 0
    query_splits: int = 0
    saturated: int = 0
    spans: int = 0

    def remaining(self, held: int) -> int:
        """Ids found and not yet settled: neither skipped, written, failed nor missing, with
        ``held`` (in-progress traces kept back for one more fetch) still to come."""
        return (
            self.found - self.skipped - self.fetched - self.retrieval_failed - self.missing - held
        )


def fetch_traces(
    *,
    client: Any,
    start: datetime,
    end: datetime,
    out_dir: Path,
    filter_expression: str | None,
    functions: Sequence[str],
    concurrency: int = 4,
    progress: ProgressSink | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryPolicy | None = None,
    partial_refetch_delay: float = 5.0,
    max_window: timedelta = MAX_WINDOW,
) -> FetchSummary:
    """Fetch every trace in ``[start, end)`` into ``out_dir/traces.ndjson``, resumably.

    GetTraceSummaries runs over the window in pieces of at most ``max_window`` (paginated);
    the ids go to BatchGetTraces five at a time on ``concurrency`` threads. Each batch is
    appended and flushed as it completes, one Trace object per line with ``Document`` kept
    as the JSON string AWS returned. Ids already in the file are skipped, so re-running
    resumes an interrupted fetch. Partial traces are held back and fetched once more at the
    end, then written as they are and counted.

    Args:
        client: A boto3 X-Ray client (or anything with the same two methods).
        start: Window start, timezone-aware.
        end: Window end, timezone-aware.
        out_dir: Bundle directory (created if missing).
        filter_expression: An X-Ray filter expression, or None.
        functions: Function names; adds ``service("NAME")`` terms (any of them).
        concurrency: BatchGetTraces calls in flight.
        progress: Receives counts as the fetch goes.
        sleep: Backoff sleep (tests pass a no-op).
        retry: Backoff policy; pass a seeded one for reproducible jitter.
        partial_refetch_delay: Seconds to wait before re-fetching partial traces, so X-Ray
            can finish them.
        max_window: Longest GetTraceSummaries window.

    Returns:
        Counts of what was found, skipped, written and retried.

    Raises:
        SourceUnavailable: AWS refused a call (after retries), or the file cannot be written.
    """
    if concurrency < 1:
        raise SourceUnavailable(f"concurrency must be at least 1, got {concurrency}")
    windows = split_window(start.astimezone(UTC), end.astimezone(UTC), max_window)
    expression = build_filter_expression(filter_expression, functions)
    out_file = bundle.traces_path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceUnavailable(f"{out_dir}: cannot create the bundle: {exc.strerror}") from exc
    done, truncated = prepare_resume(out_file)
    run = _FetchRun(
        summary=FetchSummary(out_file=out_file, windows=len(windows), truncated_bytes=truncated),
        calls=XRayCalls(client, retry or RetryPolicy(), sleep),
        done=done,
        progress=progress,
    )
    try:
        out = out_file.open("ab")
    except OSError as exc:
        raise SourceUnavailable(f"{out_file}: cannot write: {exc.strerror}") from exc
    with (
        out,
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="tracelens-fetch") as pool,
    ):
        run.fetch_listed(out, pool, windows, expression, concurrency)
        if run.held:
            # Partial traces: X-Ray may not have finished them; fetch each once more.
            sleep(partial_refetch_delay)
            run.refetch_held(out, pool)
    return run.finish()


@dataclass(slots=True)
class _FetchRun:
    """The state of one ``fetch_traces`` run, updated as batches complete.

    Attributes:
        summary: The counts so far.
        calls: The X-Ray calls (they count API calls and throttles).
        done: Ids already in the file before this run.
        progress: Receives counts as the fetch goes.
        seen_ids: Ids listed by the summaries so far (a trace can show up in two windows).
        seen_functions: Function names of the traces written.
        partial_ids: Ids whose summary says ``IsPartial``.
        held: Partial traces kept back for one more fetch at the end.
        in_flight: BatchGetTraces batches submitted and not yet written.
    """

    summary: FetchSummary
    calls: XRayCalls
    done: set[str]
    progress: ProgressSink | None
    seen_ids: set[str] = field(default_factory=set)
    seen_functions: set[str] = field(default_factory=set)
    partial_ids: set[str] = field(default_factory=set)
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    in_flight: set[Future[_Batch]] = field(default_factory=set)

    def fetch_listed(
        self,
        out: IO[bytes],
        pool: ThreadPoolExecutor,
        windows: Sequence[tuple[datetime, datetime]],
        expression: str | None,
        concurrency: int,
    ) -> None:
        """List the ids window by window and fetch them in batches as they come."""
        summary = self.summary
        batch: list[str] = []
        try:
            for trace_id, is_partial, page in self.calls.summaries(windows, expression):
                summary.summary_pages = page
                if trace_id in self.seen_ids:
                    continue  # a trace can show up in two adjacent windows
                self.seen_ids.add(trace_id)
                summary.found += 1
                if trace_id in self.done:
                    summary.skipped += 1
                    continue
                if is_partial:
                    self.partial_ids.add(trace_id)
                batch.append(trace_id)
                if len(batch) == BATCH_SIZE:
                    self.in_flight.add(pool.submit(self.calls.batch, batch))
                    batch = []
                    self._drain(out, 2 * concurrency)
            if batch:
                self.in_flight.add(pool.submit(self.calls.batch, batch))
            self._drain(out, 0)
        except BaseException:
            for future in self.in_flight:
                future.cancel()
            raise
        self._report()

    def refetch_held(self, out: IO[bytes], pool: ThreadPoolExecutor) -> None:
        """Fetch the held partial traces once more and write them as they are now."""
        ids = sorted(self.held)
        self.summary.refetched = len(ids)
        retry_futures = [
            pool.submit(self.calls.batch, ids[i : i + BATCH_SIZE])
            for i in range(0, len(ids), BATCH_SIZE)
        ]
        for future in retry_futures:
            traces, _missing = future.result()
            for trace in traces:
                self.held[trace["Id"]] = trace
        final = [self.held[t] for t in ids]
        self.held.clear()
        self.partial_ids.clear()
        self._write(out, final, final_pass=True)
        self._report()

    def finish(self) -> FetchSummary:
        """Copy the call counters and the functions seen into the summary; return it."""
        self.summary.api_calls = self.calls.api_calls
        self.summary.throttles = self.calls.throttles
        self.summary.functions = tuple(sorted(self.seen_functions))
        return self.summary

    def _drain(self, out: IO[bytes], until: int) -> None:
        """Write completed batches until at most ``until`` are in flight."""
        while len(self.in_flight) > until:
            finished, _ = wait(self.in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                self.in_flight.discard(future)
                traces, missing = future.result()
                self.summary.missing += len(missing)
                self._write(out, traces)
            self._report()

    def _write(
        self, out: IO[bytes], traces: Sequence[dict[str, Any]], *, final_pass: bool = False
    ) -> None:
        """Append complete traces (and, on the final pass, partial ones) and flush."""
        summary = self.summary
        lines: list[bytes] = []
        for trace in sorted(traces, key=lambda t: str(t["Id"])):
            in_progress, names = inspect_trace(trace)
            is_partial = in_progress or trace["Id"] in self.partial_ids
            if is_partial and not final_pass:
                self.held[trace["Id"]] = trace
                continue
            self.seen_functions.update(names)
            if is_partial:
                summary.partial += 1
            if trace.get("LimitExceeded"):
                summary.limit_exceeded += 1
            lines.append(msgspec.json.encode(trace) + b"\n")
        append_traces(out, lines, summary)

    def _report(self) -> None:
        summary = self.summary
        summary.throttles = self.calls.throttles
        if self.progress is not None:
            self.progress.update(
                found=summary.found,
                fetched=summary.fetched,
                remaining=summary.remaining(len(self.held)),
                throttles=self.calls.throttles,
            )


def append_traces(out: IO[bytes], lines: list[bytes], summary: FetchSummary) -> None:
    """Append trace lines to the bundle's traces file, flush, and count them as fetched.

    Raises:
        SourceUnavailable: The file cannot be written.
    """
    if not lines:
        return
    try:
        out.write(b"".join(lines))
        out.flush()
    except OSError as exc:
        raise SourceUnavailable(f"{summary.out_file}: write failed: {exc.strerror}") from exc
    summary.fetched += len(lines)


__all__ = [
    "BATCH_SIZE",
    "FetchSummary",
    "ProgressSink",
    "append_traces",
    "fetch_traces",
]
