"""Fetch when Transaction Search is on: trace ids from Logs Insights over ``aws/spans``, then
either full traces (StartTraceRetrieval, written to ``traces.ndjson`` exactly as BatchGetTraces
traces are) or the span events themselves (``spans.ndjson``).

Both are resumable: trace ids already in ``traces.ndjson`` are not retrieved again, and span
lines already in ``spans.ndjson`` are not written twice.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from tracelens.acquire.backoff import RetryPolicy
from tracelens.acquire.destination import is_denied
from tracelens.acquire.fetch import FetchSummary, ProgressSink, append_traces
from tracelens.acquire.logs_insights import (
    LOG_GROUP,
    SERVICE_SPAN_SUFFIX,
    SPAN_QUERY_IDS,
    LogsInsights,
    Seconds,
    second_windows,
)
from tracelens.acquire.probe import inspect_trace
from tracelens.acquire.resume import prepare_resume, truncate_torn_tail
from tracelens.acquire.retrieval import RETRIEVAL_BATCH, Retrieved, TraceRetrieval
from tracelens.acquire.windows import MAX_WINDOW, split_window
from tracelens.acquire.xray_calls import XRayCalls
from tracelens.errors import SourceUnavailable
from tracelens.model import bundle
from tracelens.model.trace_ids import xray_form

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path
    from typing import IO

#: Added before and after a query piece when retrieving its traces or spans: a trace found by
#: its Lambda service span can hold spans that start earlier (the caller) or end later; 15
#: minutes is Lambda's longest timeout.
SPAN_MARGIN = timedelta(minutes=15)
#: The two fetch paths of Transaction Search, as recorded in source.json.
PATH_XRAY = "transaction-search-xray"
PATH_SPANS = "transaction-search-spans"

_NEEDS = {
    PATH_XRAY: (
        f"logs:StartQuery and logs:GetQueryResults on the {LOG_GROUP} log group, and "
        "xray:StartTraceRetrieval and xray:ListRetrievedTraces"
    ),
    PATH_SPANS: f"logs:StartQuery and logs:GetQueryResults on the {LOG_GROUP} log group",
}


def fetch_transaction_search(
    *,
    xray_client: Any,
    logs_client: Any,
    start: datetime,
    end: datetime,
    out_dir: Path,
    functions: Sequence[str],
    spans: bool = False,
    concurrency: int = 4,
    progress: ProgressSink | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryPolicy | None = None,
    poll_interval: float = 1.0,
    max_window: timedelta = MAX_WINDOW,
    partial_refetch_delay: float = 5.0,
    now: datetime | None = None,
) -> FetchSummary:
    """Fetch the traces of ``[start, end)`` from Transaction Search, resumably.

    Trace ids come from Logs Insights over ``aws/spans``: every trace of the window, or with
    ``functions`` the traces holding their Lambda service spans (``<fn>/LambdaService``), as
    GetTraceSummaries with ``service("fn")`` would. Without ``spans`` the traces are retrieved with
    StartTraceRetrieval (100 ids a call, ``concurrency`` retrievals in flight) and appended
    to ``traces.ndjson`` one trace a line (``{"Id", "Duration", "Segments": [{"Id",
    "Document"}]}``); with ``spans`` the span events of those traces are appended to
    ``spans.ndjson``, one event a line.

    Args:
        xray_client: A boto3 X-Ray client.
        logs_client: A boto3 CloudWatch Logs client.
        start: Window start, timezone-aware.
        end: Window end, timezone-aware.
        out_dir: Bundle directory (created if missing).
        functions: ``--function`` names (none = every trace).
        spans: Write the span events instead of retrieving X-Ray traces.
        concurrency: Trace retrievals in flight.
        progress: Receives counts as the fetch goes.
        sleep: Backoff and polling sleep (tests pass a no-op).
        retry: Backoff policy.
        poll_interval: Seconds between polls of a query or retrieval.
        max_window: Longest Logs Insights window before splitting.
        partial_refetch_delay: Seconds to wait before retrieving in-progress traces again.
        now: The current time (default: the clock); no retrieval range ends after it.

    Returns:
        The counts (``path`` says which of the two paths ran).

    Raises:
        SourceUnavailable: A call was refused (the message names the IAM actions this path
            needs), a query failed twice, or the file cannot be written.
    """
    if concurrency < 1:
        raise SourceUnavailable(f"concurrency must be at least 1, got {concurrency}")
    windows = second_windows(split_window(start.astimezone(UTC), end.astimezone(UTC), max_window))
    path = PATH_SPANS if spans else PATH_XRAY
    policy = retry or RetryPolicy()
    insights = LogsInsights(
        XRayCalls(logs_client, policy, sleep, service="CloudWatch Logs"),
        sleep,
        poll_interval=poll_interval,
    )
    xray_calls = XRayCalls(xray_client, policy, sleep)
    out_file = bundle.spans_path(out_dir) if spans else bundle.traces_path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceUnavailable(f"{out_dir}: cannot create the bundle: {exc.strerror}") from exc
    existed = out_file.exists()
    summary = FetchSummary(out_file=out_file, windows=len(windows), path=path)
    try:
        if spans:
            _fetch_spans(insights, windows, functions, summary, progress)
        else:
            retrieval = TraceRetrieval(xray_calls, sleep, poll_interval=poll_interval)
            _fetch_retrieved(
                insights,
                retrieval,
                windows,
                functions,
                summary,
                progress,
                concurrency,
                (sleep, partial_refetch_delay),
                now or datetime.now(UTC),
            )
    except SourceUnavailable as exc:
        _drop_if_empty(out_file, existed)
        if is_denied(exc):
            raise SourceUnavailable(
                f"{exc}. With Transaction Search, BatchGetTraces cannot see the traces, and "
                f"this fetch needs {_NEEDS[path]}"
            ) from exc
        raise
    finally:
        counts = insights.counts
        summary.queries = counts.queries
        summary.query_splits = counts.split
        summary.saturated = counts.saturated
        summary.api_calls = insights.calls.api_calls + xray_calls.api_calls
        summary.throttles = insights.calls.throttles + xray_calls.throttles
    return summary


def _drop_if_empty(out_file: Path, existed: bool) -> None:
    """Remove a file this run created and left empty, so no empty bundle looks complete."""
    try:
        if not existed and out_file.exists() and out_file.stat().st_size == 0:
            out_file.unlink()
    except OSError:
        pass


def _piece_range(piece: Seconds, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The time range of a query piece widened by ``SPAN_MARGIN`` on both sides, ending no
    later than ``now`` (when given)."""
    first = datetime.fromtimestamp(piece[0], UTC) - SPAN_MARGIN
    last = datetime.fromtimestamp(piece[1], UTC) + SPAN_MARGIN
    if now is not None:
        last = max(first, min(last, now))
    return first, last


def _fetch_retrieved(
    insights: LogsInsights,
    retrieval: TraceRetrieval,
    windows: Sequence[Seconds],
    functions: Sequence[str],
    summary: FetchSummary,
    progress: ProgressSink | None,
    concurrency: int,
    partial_refetch: tuple[Callable[[float], None], float],
    now: datetime,
) -> None:
    """Find ids piece by piece; retrieve new ones 100 at a time; append traces as they come.

    Traces with ``in_progress`` documents are held back and retrieved once more at the end
    (after ``partial_refetch``'s delay), then written as they are, as the X-Ray path does.
    """
    done, summary.truncated_bytes = prepare_resume(summary.out_file)
    run = _Retrieving(summary, insights, retrieval, progress)
    try:
        out = summary.out_file.open("ab")
    except OSError as exc:
        raise SourceUnavailable(f"{summary.out_file}: cannot write: {exc.strerror}") from exc
    with (
        out,
        ThreadPoolExecutor(concurrency, thread_name_prefix="tracelens-retrieve") as pool,
    ):
        try:
            for piece, ids in insights.trace_ids(windows, functions):
                summary.found += len(ids)
                todo = [t for t in ids if t not in done]
                summary.skipped += len(ids) - len(todo)
                first, last = _piece_range(piece, now)
                for i in range(0, len(todo), RETRIEVAL_BATCH):
                    batch = todo[i : i + RETRIEVAL_BATCH]
                    run.in_flight.add(pool.submit(retrieval.retrieve, batch, first, last))
                    run.drain(out, 2 * concurrency)
                run.report()
            run.drain(out, 0)
            if run.held:
                sleep, delay = partial_refetch
                sleep(delay)
                run.refetch_held(out)
        except BaseException:
            for future in run.in_flight:
                future.cancel()
            raise
    summary.functions = tuple(sorted(run.functions_seen))
    run.report()


@dataclass(slots=True)
class _Retrieving:
    """The state of one retrieval run, updated as retrievals complete.

    Attributes:
        summary: The counts so far.
        insights: The Logs Insights queries (their throttles are reported).
        retrieval: The trace retrievals.
        progress: Receives counts as the fetch goes.
        functions_seen: Function names of the traces written.
        held: In-progress traces kept back, with the range they were retrieved over.
        in_flight: Retrievals submitted and not yet written.
    """

    summary: FetchSummary
    insights: LogsInsights
    retrieval: TraceRetrieval
    progress: ProgressSink | None
    functions_seen: set[str] = field(default_factory=set)
    held: dict[str, tuple[dict[str, Any], datetime, datetime]] = field(default_factory=dict)
    in_flight: set[Future[Retrieved]] = field(default_factory=set)

    def report(self) -> None:
        summary = self.summary
        if self.progress is not None:
            self.progress.update(
                found=summary.found,
                fetched=summary.fetched,
                remaining=summary.remaining(len(self.held)),
                throttles=self.insights.calls.throttles + self.retrieval.calls.throttles,
            )

    def drain(self, out: IO[bytes], until: int) -> None:
        """Write completed retrievals until at most ``until`` are in flight."""
        while len(self.in_flight) > until:
            finished, _ = wait(self.in_flight, return_when=FIRST_COMPLETED)
            self.in_flight -= finished
            # What succeeded is written before a failure is raised, so a rerun skips it.
            failure = next((f.exception() for f in finished if f.exception()), None)
            for future in finished:
                if future.exception() is not None:
                    continue
                result = future.result()
                self.summary.retrieval_failed += len(result.failed)
                self.summary.missing += len(result.missing)
                complete = []
                for trace in result.traces:
                    start, end = result.start, result.end
                    if inspect_trace(trace)[0] and start is not None and end is not None:
                        self.held[trace["Id"]] = (trace, start, end)
                    else:
                        complete.append(trace)
                self._write(out, complete)
            self.report()
            if failure is not None:
                raise failure

    def refetch_held(self, out: IO[bytes]) -> None:
        """Retrieve the held traces once more and write them as they are now."""
        ids = sorted(self.held)
        self.summary.refetched = len(ids)
        final: list[dict[str, Any]] = []
        for i in range(0, len(ids), RETRIEVAL_BATCH):
            batch = ids[i : i + RETRIEVAL_BATCH]
            first = min(self.held[t][1] for t in batch)
            last = max(self.held[t][2] for t in batch)
            again = {t["Id"]: t for t in self.retrieval.retrieve(batch, first, last).traces}
            final.extend(again.get(t, self.held[t][0]) for t in batch)
        self.held.clear()
        self._write(out, final)

    def _write(self, out: IO[bytes], traces: Sequence[dict[str, Any]]) -> None:
        """Append traces (sorted by id), count in-progress ones, flush."""
        summary = self.summary
        lines: list[bytes] = []
        for trace in sorted(traces, key=lambda t: str(t["Id"])):
            in_progress, names = inspect_trace(trace)
            self.functions_seen.update(names)
            if in_progress:
                summary.partial += 1
            lines.append(msgspec.json.encode(trace) + b"\n")
        append_traces(out, lines, summary)


def _fetch_spans(
    insights: LogsInsights,
    windows: Sequence[Seconds],
    functions: Sequence[str],
    summary: FetchSummary,
    progress: ProgressSink | None,
) -> None:
    """Find ids piece by piece; append the span events of their traces to spans.ndjson."""
    written = _existing_lines(summary)
    functions_seen: set[str] = set()
    try:
        out = summary.out_file.open("ab")
    except OSError as exc:
        raise SourceUnavailable(f"{summary.out_file}: cannot write: {exc.strerror}") from exc
    with out:
        for piece, ids in insights.trace_ids(windows, functions):
            summary.found += len(ids)
            first, last = _piece_range(piece)
            window = (int(first.timestamp()), int(last.timestamp()))
            for i in range(0, len(ids), SPAN_QUERY_IDS):
                batch = ids[i : i + SPAN_QUERY_IDS]
                events = insights.span_messages(batch, window)
                lines, traces = _span_lines(events, written, functions_seen)
                summary.fetched += len(traces)
                summary.missing += len(set(batch) - traces)
                if lines:
                    try:
                        out.write(b"".join(lines))
                        out.flush()
                    except OSError as exc:
                        raise SourceUnavailable(
                            f"{summary.out_file}: write failed: {exc.strerror}"
                        ) from exc
                summary.spans += len(lines)
                if progress is not None:
                    progress.update(
                        found=summary.found,
                        fetched=summary.fetched,
                        remaining=summary.found - summary.fetched - summary.missing,
                        throttles=insights.calls.throttles,
                    )
    summary.functions = tuple(sorted(functions_seen))


class _SpanProbe(msgspec.Struct):
    """The two keys of a span event the fetch looks at."""

    traceId: str = ""
    name: str = ""


_SPAN_DECODER = msgspec.json.Decoder(_SpanProbe)


def _digest(line: bytes) -> bytes:
    """A 16-byte digest of a span line: what resuming remembers of each line written."""
    return hashlib.blake2b(line, digest_size=16).digest()


def _span_lines(
    events: Sequence[tuple[str, str]], written: set[bytes], functions: set[str]
) -> tuple[list[bytes], set[str]]:
    """The new lines to write (one span JSON each) and the X-Ray ids of traces with events.

    ``written`` holds the digests of the lines already in the file; the new ones are added.
    ``functions`` gets the function names of the ``<fn>/LambdaService`` spans.
    """
    lines: list[bytes] = []
    traces: set[str] = set()
    for _timestamp, message in events:
        raw = message.strip().encode()
        try:
            span = _SPAN_DECODER.decode(raw)
        except msgspec.DecodeError:
            continue  # not a span event; the analysis would reject it anyway
        if b"\n" in raw:
            raw = msgspec.json.encode(msgspec.json.decode(raw))
        if span.name.endswith(SERVICE_SPAN_SUFFIX) and len(span.name) > len(SERVICE_SPAN_SUFFIX):
            functions.add(span.name[: -len(SERVICE_SPAN_SUFFIX)])
        xray_id = xray_form(span.traceId.strip())
        if xray_id is not None:
            traces.add(xray_id)
        digest = _digest(raw)
        if digest in written:
            continue
        written.add(digest)
        lines.append(raw + b"\n")
    return lines, traces


def _existing_lines(summary: FetchSummary) -> set[bytes]:
    """Digests of the lines already in spans.ndjson (after cutting a torn last line)."""
    path = summary.out_file
    if not path.exists():
        return set()
    try:
        summary.truncated_bytes = truncate_torn_tail(path)
        with path.open("rb") as fh:
            return {_digest(line.rstrip(b"\n")) for line in fh if line.strip()}
    except OSError as exc:
        raise SourceUnavailable(f"{path}: cannot resume from it: {exc.strerror}") from exc


__all__ = ["PATH_SPANS", "PATH_XRAY", "SPAN_MARGIN", "fetch_transaction_search"]
