"""Fetch traces from the X-Ray API (GetTraceSummaries + BatchGetTraces) into an incident bundle."""

from __future__ import annotations

import logging
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from tracelens.errors import SourceUnavailable

if TYPE_CHECKING:
    from pathlib import Path
    from typing import IO

logger = logging.getLogger(__name__)

TRACES_FILE = "traces.ndjson"

#: Trace ids per BatchGetTraces call (API reference: "1-5 ids").
BATCH_SIZE = 5

#: Longest window per GetTraceSummaries call. The X-Ray console queries at most 6 hours at a
#: time; the API reference states no limit, so this is the conservative piece size.
MAX_WINDOW = timedelta(hours=6)

#: Error codes retried with backoff (X-Ray documents ``ThrottledException``; botocore and
#: other AWS services report ``ThrottlingException`` / ``TooManyRequestsException``).
_THROTTLE_CODES = frozenset(
    {
        "ThrottledException",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)

#: ``--help`` text for ``tracelens fetch --with-dlq`` (the CLI should use it verbatim).
WITH_DLQ_HELP = (
    "Also read the messages of every DLQ and on-failure SQS destination found in the "
    "config into DIR/dlq/ (implies --with-config): receives until the queue is empty (at "
    "most 10,000 messages) and records the queue's depth, so a dump cut short is reported "
    "as partial. Messages are not deleted, but reading "
    "them makes them invisible to other consumers for the queue's visibility timeout and "
    "raises their receive count, which can move them to the queue's own redrive DLQ."
)

#: ``--help`` text for ``tracelens fetch --with-config``.
WITH_CONFIG_HELP = (
    "Also write DIR/config.json: Lambda settings (function configuration, event invoke "
    "config, event source mappings) of the functions seen and the attributes of their "
    "SQS queues, with AWS field names."
)

_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,256}$")


class ProgressSink(Protocol):
    """Receives fetch progress; ``run_fetch`` passes a rich progress bar."""

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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
    And Jitter"): sleep ``uniform(0, min(cap, base * 2**attempt))``.

    Attributes:
        max_attempts: Calls per request before giving up.
        base: First backoff ceiling, seconds.
        cap: Largest backoff ceiling, seconds.
        seed: Seed of the jitter's random generator (tests pass one; None = OS entropy).
    """

    max_attempts: int = 8
    base: float = 0.2
    cap: float = 20.0
    seed: int | None = None


# --- filter expressions -----------------------------------------------------------------


def build_filter_expression(filter_expression: str | None, functions: Sequence[str]) -> str | None:
    """Combine a user filter with ``service("NAME")`` terms for ``--function``.

    X-Ray filter expressions join conditions with ``AND`` / ``OR`` and group with
    parentheses; ``service("name")`` matches traces that pass through that service node,
    which for Lambda is named after the function.

    Args:
        filter_expression: The user's ``--filter`` expression, if any.
        functions: ``--function`` names; a trace matches if it passes through any of them.

    Returns:
        The expression to send, or None for no filter.

    Raises:
        SourceUnavailable: A function name holds characters Lambda names never contain.
    """
    terms: list[str] = []
    for name in sorted(set(functions)):
        if not _FUNCTION_NAME.match(name):
            raise SourceUnavailable(
                f"--function {name!r} is not a Lambda function name "
                "(letters, digits, '-', '_', '.', ':' only)"
            )
        terms.append(f'service("{name}")')
    services = " OR ".join(terms)
    user = (filter_expression or "").strip()
    if user and services:
        return f"({user}) AND ({services})" if len(terms) > 1 else f"({user}) AND {services}"
    return user or services or None


def split_window(start: datetime, end: datetime, piece: timedelta = MAX_WINDOW) -> list[
    tuple[datetime, datetime]
]:
    """Split ``[start, end)`` into consecutive windows of at most ``piece``.

    Args:
        start: Window start (timezone-aware).
        end: Window end (timezone-aware), after ``start``.
        piece: Longest window.

    Returns:
        The windows in time order.

    Raises:
        SourceUnavailable: ``end`` is not after ``start`` or a time is naive.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise SourceUnavailable("fetch window times must carry a timezone (use UTC)")
    if end <= start:
        raise SourceUnavailable(f"fetch window is empty: --until {end} is not after {start}")
    windows = []
    cursor = start
    while cursor < end:
        nxt = min(cursor + piece, end)
        windows.append((cursor, nxt))
        cursor = nxt
    return windows


# --- resume -----------------------------------------------------------------------------


class _IdOnly(msgspec.Struct):
    Id: str


def prepare_resume(path: Path) -> tuple[set[str], int]:
    """Truncate a torn last line of ``path`` and return the trace ids already in it.

    Args:
        path: The bundle's ``traces.ndjson`` (it may not exist yet).

    Returns:
        The ids already written, and how many bytes of a torn last line were cut off.

    Raises:
        SourceUnavailable: The file cannot be read or truncated.
    """
    if not path.exists():
        return set(), 0
    try:
        truncated = _truncate_torn_tail(path)
        done: set[str] = set()
        decoder = msgspec.json.Decoder(_IdOnly)
        with path.open("rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    done.add(decoder.decode(line).Id)
                except msgspec.DecodeError:
                    logger.warning("%s:%d: not a trace line; its trace will be fetched again",
                                   path, lineno)
    except OSError as exc:
        raise SourceUnavailable(f"{path}: cannot resume from it: {exc.strerror}") from exc
    return done, truncated


def _truncate_torn_tail(path: Path) -> int:
    """Cut everything after the last newline (an interrupted write); return bytes cut."""
    with path.open("rb+") as fh:
        size = fh.seek(0, 2)
        pos = size
        chunk = 65536
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            data = fh.read(pos - start)
            idx = data.rfind(b"\n")
            if idx >= 0:
                keep = start + idx + 1
                break
            pos = start
        else:
            keep = 0
        if keep < size:
            fh.truncate(keep)
        return size - keep


# --- the fetcher ------------------------------------------------------------------------


class _Fetcher:
    """State shared by the worker threads of one fetch."""

    def __init__(self, client: Any, retry: RetryPolicy, sleep: Callable[[float], None]) -> None:
        self.client = client
        self.retry = retry
        self.sleep = sleep
        self._rng = random.Random(retry.seed)
        self._lock = threading.Lock()
        self.throttles = 0
        self.api_calls = 0

    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Call one X-Ray operation, retrying throttles and 5xx with full-jitter backoff."""
        # Imported here: boto3 / botocore stay out of `import tracelens`.
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            NoRegionError,
        )
        from botocore.exceptions import ConnectionError as BotoConnectionError

        method = getattr(self.client, operation)
        attempt = 0
        while True:
            with self._lock:
                self.api_calls += 1
            try:
                result: dict[str, Any] = method(**kwargs)
                return result
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                retryable = code in _THROTTLE_CODES or status >= 500 or status == 429
                if not retryable or attempt + 1 >= self.retry.max_attempts:
                    message = str(error.get("Message", "")).splitlines()[0:1]
                    why = f"{code}: {message[0]}" if message else code or f"HTTP {status}"
                    hint = " (gave up after retries)" if retryable else ""
                    raise SourceUnavailable(
                        f"X-Ray {_op_name(operation)} failed: {why}{hint}"
                    ) from exc
            except NoCredentialsError as exc:
                raise SourceUnavailable(
                    "no AWS credentials found: set a profile (--profile) or the standard "
                    "AWS environment variables"
                ) from exc
            except NoRegionError as exc:
                raise SourceUnavailable("no AWS region configured: pass --region") from exc
            except BotoConnectionError as exc:
                if attempt + 1 >= self.retry.max_attempts:
                    raise SourceUnavailable(
                        f"X-Ray {_op_name(operation)}: cannot reach the endpoint ({exc})"
                    ) from exc
            except BotoCoreError as exc:
                raise SourceUnavailable(f"X-Ray {_op_name(operation)} failed: {exc}") from exc
            with self._lock:
                self.throttles += 1
                ceiling = min(self.retry.cap, self.retry.base * (2**attempt))
                delay = self._rng.uniform(0.0, ceiling)
            attempt += 1
            self.sleep(delay)

    def summaries(
        self, windows: Sequence[tuple[datetime, datetime]], expression: str | None
    ) -> Iterator[tuple[str, bool, int]]:
        """Yield (trace id, is partial, page number) over every window and page."""
        page = 0
        for w_start, w_end in windows:
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"StartTime": w_start, "EndTime": w_end}
                if expression:
                    kwargs["FilterExpression"] = expression
                if token:
                    kwargs["NextToken"] = token
                response = self.call("get_trace_summaries", **kwargs)
                page += 1
                for summary in response.get("TraceSummaries", []):
                    trace_id = summary.get("Id")
                    if isinstance(trace_id, str) and trace_id:
                        yield trace_id, bool(summary.get("IsPartial")), page
                token = response.get("NextToken")
                if not token:
                    break

    def batch(self, ids: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """Fetch up to five traces; retry unprocessed ids; return (traces, still missing)."""
        traces: dict[str, dict[str, Any]] = {}
        pending = list(ids)
        attempt = 0
        while pending:
            token: str | None = None
            unprocessed: list[str] = []
            while True:
                kwargs: dict[str, Any] = {"TraceIds": pending}
                if token:
                    kwargs["NextToken"] = token
                response = self.call("batch_get_traces", **kwargs)
                for trace in response.get("Traces", []):
                    trace_id = trace.get("Id")
                    if not isinstance(trace_id, str):
                        continue
                    if trace_id in traces:
                        # A big trace can span pages: merge its segments.
                        traces[trace_id]["Segments"].extend(trace.get("Segments", []))
                    else:
                        traces[trace_id] = _trace_record(trace)
                unprocessed.extend(
                    t for t in response.get("UnprocessedTraceIds", []) if isinstance(t, str)
                )
                token = response.get("NextToken")
                if not token:
                    break
            pending = sorted(set(unprocessed) - traces.keys())
            if not pending:
                break
            attempt += 1
            if attempt >= self.retry.max_attempts:
                break
            with self._lock:
                ceiling = min(self.retry.cap, self.retry.base * (2**attempt))
                delay = self._rng.uniform(0.0, ceiling)
            self.sleep(delay)
        ordered = [traces[t] for t in ids if t in traces]
        return ordered, list(pending)


def _op_name(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_"))


def _trace_record(trace: Mapping[str, Any]) -> dict[str, Any]:
    """The Trace object as written: Id, Duration, LimitExceeded, Segments[{Id, Document}]."""
    segments = [
        {"Id": s.get("Id"), "Document": s.get("Document")}
        for s in trace.get("Segments", [])
        if isinstance(s, Mapping)
    ]
    return {
        "Id": trace.get("Id"),
        "Duration": trace.get("Duration"),
        "LimitExceeded": bool(trace.get("LimitExceeded", False)),
        "Segments": segments,
    }


class _DocProbe(msgspec.Struct):
    """The few fields of a segment document the fetcher looks at."""

    origin: str | None = None
    name: str | None = None
    in_progress: bool | None = None
    aws: dict[str, Any] | None = None
    subsegments: list[_SubProbe] | None = None


class _SubProbe(msgspec.Struct):
    in_progress: bool | None = None
    subsegments: list[_SubProbe] | None = None


_DOC_DECODER = msgspec.json.Decoder(_DocProbe)


def _sub_in_progress(subs: list[_SubProbe] | None) -> bool:
    stack = list(subs or ())
    while stack:
        sub = stack.pop()
        if sub.in_progress:
            return True
        stack.extend(sub.subsegments or ())
    return False


def inspect_trace(trace: Mapping[str, Any]) -> tuple[bool, set[str]]:
    """Say whether a trace has ``in_progress`` documents, and which functions it shows.

    Args:
        trace: A BatchGetTraces Trace object (``Document`` a JSON string or an object).

    Returns:
        (in progress anywhere, Lambda function names from ``AWS::Lambda::Function``
        documents' ``aws.function_arn``, else their ``name``).
    """
    in_progress = False
    functions: set[str] = set()
    for segment in trace.get("Segments", []):
        document = segment.get("Document") if isinstance(segment, Mapping) else None
        if isinstance(document, Mapping):
            document = msgspec.json.encode(document)
        if not isinstance(document, str | bytes):
            continue
        text = document.encode() if isinstance(document, str) else document
        if b"in_progress" not in text and b"AWS::Lambda::Function" not in text:
            continue
        try:
            probe = _DOC_DECODER.decode(text)
        except msgspec.DecodeError:
            continue
        if probe.in_progress or _sub_in_progress(probe.subsegments):
            in_progress = True
        if probe.origin == "AWS::Lambda::Function":
            arn = (probe.aws or {}).get("function_arn")
            name = _function_from_arn(arn) if isinstance(arn, str) else None
            name = name or probe.name
            if name:
                functions.add(name)
    return in_progress, functions


def _function_from_arn(arn: str) -> str | None:
    parts = arn.split(":")
    if len(parts) >= 7 and parts[5] == "function":
        return parts[6]
    return None


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
    out_file = out_dir / TRACES_FILE
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceUnavailable(f"{out_dir}: cannot create the bundle: {exc.strerror}") from exc
    done, truncated = prepare_resume(out_file)
    summary = FetchSummary(out_file=out_file, windows=len(windows), truncated_bytes=truncated)
    fetcher = _Fetcher(client, retry or RetryPolicy(), sleep)
    seen_functions: set[str] = set()
    partial_ids: set[str] = set()
    held: dict[str, dict[str, Any]] = {}

    def report() -> None:
        summary.throttles = fetcher.throttles
        if progress is not None:
            progress.update(
                found=summary.found,
                fetched=summary.fetched,
                remaining=summary.found - summary.skipped - summary.fetched - len(held)
                - summary.missing,
                throttles=fetcher.throttles,
            )

    try:
        out = out_file.open("ab")
    except OSError as exc:
        raise SourceUnavailable(f"{out_file}: cannot write: {exc.strerror}") from exc
    with out, ThreadPoolExecutor(max_workers=concurrency,
                                 thread_name_prefix="tracelens-fetch") as pool:
        in_flight: set[Future[tuple[list[dict[str, Any]], list[str]]]] = set()

        def drain(until: int) -> None:
            while len(in_flight) > until:
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    in_flight.discard(future)
                    traces, missing = future.result()
                    summary.missing += len(missing)
                    _write_batch(out, traces, summary, seen_functions, partial_ids, held)
                report()

        batch: list[str] = []
        seen_ids: set[str] = set()
        try:
            for trace_id, is_partial, page in fetcher.summaries(windows, expression):
                summary.summary_pages = page
                if trace_id in seen_ids:
                    continue  # a trace can show up in two adjacent windows
                seen_ids.add(trace_id)
                summary.found += 1
                if trace_id in done:
                    summary.skipped += 1
                    continue
                if is_partial:
                    partial_ids.add(trace_id)
                batch.append(trace_id)
                if len(batch) == BATCH_SIZE:
                    in_flight.add(pool.submit(fetcher.batch, batch))
                    batch = []
                    drain(2 * concurrency)
            if batch:
                in_flight.add(pool.submit(fetcher.batch, batch))
            drain(0)
        except BaseException:
            for future in in_flight:
                future.cancel()
            raise
        report()

        if held:
            # Partial traces: X-Ray may not have finished them; fetch each once more.
            sleep(partial_refetch_delay)
            ids = sorted(held)
            summary.refetched = len(ids)
            retry_futures = [
                pool.submit(fetcher.batch, ids[i : i + BATCH_SIZE])
                for i in range(0, len(ids), BATCH_SIZE)
            ]
            for future in retry_futures:
                traces, _missing = future.result()
                for trace in traces:
                    held[trace["Id"]] = trace
            final = [held[t] for t in ids]
            held.clear()
            partial_ids.clear()
            _write_batch(out, final, summary, seen_functions, None, None, final_pass=True)
            report()
    summary.api_calls = fetcher.api_calls
    summary.throttles = fetcher.throttles
    summary.functions = tuple(sorted(seen_functions))
    return summary


def _write_batch(
    out: IO[bytes],
    traces: Sequence[dict[str, Any]],
    summary: FetchSummary,
    seen_functions: set[str],
    partial_ids: set[str] | None,
    held: dict[str, dict[str, Any]] | None,
    *,
    final_pass: bool = False,
) -> None:
    """Append complete traces (and, on the final pass, partial ones) and flush."""
    lines: list[bytes] = []
    for trace in sorted(traces, key=lambda t: str(t["Id"])):
        in_progress, names = inspect_trace(trace)
        is_partial = in_progress or (partial_ids is not None and trace["Id"] in partial_ids)
        if is_partial and not final_pass and held is not None:
            held[trace["Id"]] = trace
            continue
        seen_functions.update(names)
        if is_partial:
            summary.partial += 1
        if trace.get("LimitExceeded"):
            summary.limit_exceeded += 1
        lines.append(msgspec.json.encode(trace) + b"\n")
    if not lines:
        return
    try:
        out.write(b"".join(lines))
        out.flush()
    except OSError as exc:
        raise SourceUnavailable(f"{summary.out_file}: write failed: {exc.strerror}") from exc
    summary.fetched += len(lines)


# --- the command body -------------------------------------------------------------------


class _RichProgress:
    """A rich progress bar on stderr implementing ``ProgressSink``."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("fetch"),
            BarColumn(),
            TextColumn("{task.fields[text]}"),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
            transient=False,
        )
        self.task = self.progress.add_task("fetch", total=None, text="listing traces")

    def update(self, *, found: int, fetched: int, remaining: int, throttles: int) -> None:
        self.progress.update(
            self.task,
            total=max(found, 1),
            completed=found - remaining,
            text=f"found {found}  fetched {fetched}  remaining {remaining}  "
            f"throttles {throttles}",
        )


def parse_duration(text: str) -> timedelta:
    """Parse ``--last`` values such as ``90s``, ``15m``, ``1h``, ``2d``.

    Args:
        text: A number followed by s, m, h or d.

    Returns:
        The duration.

    Raises:
        SourceUnavailable: The text is not such a duration.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not match:
        raise SourceUnavailable(f"--last {text!r}: expected a duration like 30m, 1h or 2d")
    value = float(match.group(1))
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: value})


def resolve_window(
    *, last: str | None, since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """Turn ``--last`` / ``--since`` / ``--until`` into an aware UTC window.

    Args:
        last: ``--last`` duration text, or None.
        since: ``--since`` time (naive means UTC), or None.
        until: ``--until`` time (naive means UTC), or None (now).
        now: The current time (the caller reads the clock).

    Returns:
        (start, end) in UTC.

    Raises:
        SourceUnavailable: Neither or both of ``--last`` and ``--since`` were given.
    """

    def aware(value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    if (last is None) == (since is None):
        raise SourceUnavailable("give exactly one of --last DURATION or --since TIME")
    end = aware(until) if until is not None else aware(now)
    start = end - parse_duration(last) if last is not None else aware(since)  # type: ignore[arg-type]
    return start, end


def run_fetch(
    *,
    out_dir: Path,
    last: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    filter_expression: str | None = None,
    functions: Sequence[str] = (),
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    with_config: bool = False,
    with_dlq: bool = False,
    dlq_polls: int | None = None,
    concurrency: int = 4,
    show_progress: bool = True,
) -> FetchSummary:
    """The body of ``tracelens fetch``: fetch traces (and config, DLQ contents) into a bundle.

    Credentials and region come from boto3's standard chain (``--profile`` picks a named
    profile); nothing secret is printed or written. ``with_dlq`` implies ``with_config``
    (the DLQs are found in the config). Reading DLQ messages does not delete them, but it
    makes them invisible to other consumers for the queue's visibility timeout and raises
    their receive count, which can move them to a redrive DLQ.

    Args:
        out_dir: Bundle directory.
        last: ``--last`` duration (``1h``), or None with ``since``.
        since: ``--since`` time, or None with ``last``.
        until: ``--until`` time (default now).
        filter_expression: ``--filter`` X-Ray filter expression.
        functions: ``--function`` names.
        region: ``--region``.
        profile: ``--profile``.
        endpoint_url: ``--endpoint-url`` (e.g. a local emulator).
        with_config: Also write ``config.json``.
        with_dlq: Also write ``dlq/<queue>.json`` (non-destructive read, see above).
        dlq_polls: ReceiveMessage calls per DLQ at most (default
            ``aws_side.DLQ_MAX_RECEIVES``).
        concurrency: BatchGetTraces calls in flight.
        show_progress: Draw a progress bar and summary on stderr.

    Returns:
        The fetch summary.

    Raises:
        SourceUnavailable: AWS could not be reached or refused a call.
    """
    from rich.console import Console

    start, end = resolve_window(last=last, since=since, until=until, now=datetime.now(UTC))
    clients = _make_clients(region=region, profile=profile, endpoint_url=endpoint_url,
                            concurrency=concurrency, side=with_config or with_dlq)
    bar = _RichProgress() if show_progress else None
    if bar is not None:
        bar.progress.start()
    try:
        summary = fetch_traces(
            client=clients["xray"],
            start=start,
            end=end,
            out_dir=out_dir,
            filter_expression=filter_expression,
            functions=functions,
            concurrency=concurrency,
            progress=bar,
        )
    finally:
        if bar is not None:
            bar.progress.stop()
    console = Console(file=sys.stderr)
    if with_config or with_dlq:
        from tracelens.ingest.aws_side import DLQ_MAX_RECEIVES, fetch_config, fetch_dlq

        names = sorted(set(summary.functions) | set(functions))
        config = fetch_config(
            lambda_client=clients["lambda"], sqs_client=clients["sqs"], functions=names,
            out_dir=out_dir,
        )
        if show_progress:
            console.print(
                f"config.json: {len(config['functions'])} functions, "
                f"{len(config['queues'])} queues, "
                f"{len(config['EventSourceMappings'])} event source mappings",
                markup=False,
            )
        if with_dlq:
            dumps = fetch_dlq(sqs_client=clients["sqs"], config=config, out_dir=out_dir,
                              polls=DLQ_MAX_RECEIVES if dlq_polls is None else dlq_polls)
            if show_progress:
                for name, count, expected in dumps:
                    partial = (
                        f" of about {expected} in the queue (partial)" if expected > count else ""
                    )
                    console.print(f"dlq/{name}.json: {count} messages{partial}", markup=False)
    if show_progress:
        console.print(format_fetch_summary(summary), markup=False)
    return summary


def format_fetch_summary(summary: FetchSummary) -> str:
    """One plain-text paragraph summarising a fetch (no markup).

    Args:
        summary: The fetch summary.

    Returns:
        The text.
    """
    parts = [
        f"{summary.fetched} traces written to {summary.out_file}",
        f"{summary.found} found",
        f"{summary.skipped} already present",
        f"{summary.partial} partial",
        f"{summary.limit_exceeded} over the size limit",
        f"{summary.missing} not returned",
        f"{summary.throttles} throttled retries",
    ]
    if summary.truncated_bytes:
        parts.append(f"{summary.truncated_bytes} bytes of a torn last line removed")
    return "; ".join(parts)


def _make_clients(
    *, region: str | None, profile: str | None, endpoint_url: str | None, concurrency: int,
    side: bool,
) -> dict[str, Any]:
    """Create boto3 clients through the default credential chain."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        # tracelens does its own backoff (and counts throttles), so botocore does not retry.
        xray_config = Config(
            retries={"mode": "standard", "max_attempts": 1},
            max_pool_connections=max(10, concurrency + 2),
        )
        clients: dict[str, Any] = {
            "xray": session.client("xray", endpoint_url=endpoint_url, config=xray_config)
        }
        if side:
            side_config = Config(retries={"mode": "standard", "max_attempts": 5})
            for service in ("lambda", "sqs"):
                clients[service] = session.client(
                    service, endpoint_url=endpoint_url, config=side_config
                )
    except ProfileNotFound as exc:
        raise SourceUnavailable(f"AWS profile not found: {profile}") from exc
    except BotoCoreError as exc:
        raise SourceUnavailable(f"cannot create an AWS client: {exc}") from exc
    return clients


__all__ = [
    "BATCH_SIZE",
    "MAX_WINDOW",
    "TRACES_FILE",
    "WITH_CONFIG_HELP",
    "WITH_DLQ_HELP",
    "FetchSummary",
    "ProgressSink",
    "RetryPolicy",
    "build_filter_expression",
    "fetch_traces",
    "format_fetch_summary",
    "inspect_trace",
    "parse_duration",
    "prepare_resume",
    "resolve_window",
    "run_fetch",
    "split_window",
]
