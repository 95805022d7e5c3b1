"""CloudWatch Logs Insights over ``aws/spans``: the trace ids of Lambda requests in a window, and
the span events of given traces.

Each query asks for at most ``RESULT_LIMIT`` rows; a query whose result reaches that limit may
have been cut, so its window (or its list of trace ids) is split in halves and queried again.
A piece that cannot be split further is counted in ``saturated`` and reported.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracelens.errors import SourceUnavailable
from tracelens.model.trace_ids import otel_form, xray_form

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from datetime import datetime

    from tracelens.acquire.xray_calls import XRayCalls

#: The log group Transaction Search writes spans to.
LOG_GROUP = "aws/spans"
#: Rows asked of one query: the Logs Insights default and the most one GetQueryResults page
#: holds (StartQuery ``limit`` doc: "The maximum events returned in a single GetQueryResults
#: API call is 10,000 log events").
RESULT_LIMIT = 10_000
#: Trace ids per span query (100 ids of 32 characters keep the query far below its
#: 10,000-character limit).
SPAN_QUERY_IDS = 100
#: The span name suffix of Lambda's service segment converted to a span (design note §1.2).
SERVICE_SPAN_SUFFIX = "/LambdaService"
#: Query states that mean "not finished yet".
_PENDING = frozenset({"Scheduled", "Running"})
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,256}$")

#: A query window in whole epoch seconds, both ends included (as StartQuery takes them).
Seconds = tuple[int, int]


def second_windows(
    windows: Sequence[tuple[datetime, datetime]],
) -> list[Seconds]:
    """Whole-second query windows covering ``windows`` (start floored, end ceiled).

    Args:
        windows: Aware datetime windows, in time order.

    Returns:
        The same windows in epoch seconds; adjacent ones share their boundary second (the
        callers drop duplicates).
    """
    return [(math.floor(start.timestamp()), math.ceil(end.timestamp())) for start, end in windows]


def trace_id_query(functions: Sequence[str], limit: int = RESULT_LIMIT) -> str:
    """The query listing the trace ids of the window: with ``--function`` names, the traces
    holding those functions' Lambda service spans (``<fn>/LambdaService``); without, every
    trace, as GetTraceSummaries without a filter lists them (an SQS producer's trace holds
    no Lambda span, yet the classic path fetches it, and the report counts it).

    Args:
        functions: ``--function`` names; none means every trace.
        limit: Rows asked for.

    Returns:
        The Logs Insights query: one row per trace id.

    Raises:
        SourceUnavailable: A function name holds characters Lambda names never contain.
    """
    names = sorted(set(functions))
    for name in names:
        if not _FUNCTION_NAME.match(name):
            raise SourceUnavailable(
                f"--function {name!r} is not a Lambda function name "
                "(letters, digits, '-', '_', '.', ':' only)"
            )
    stats = f"stats count(*) as spans by traceId\n| limit {limit}"
    if not names:
        return stats
    spans = ", ".join(f'"{name}{SERVICE_SPAN_SUFFIX}"' for name in names)
    return f"filter name in [{spans}]\n| {stats}"


def spans_query(otel_ids: Sequence[str], limit: int = RESULT_LIMIT) -> str:
    """The query returning every span event (``@message``) of the given traces.

    Args:
        otel_ids: Trace ids in the 32-hex form ``aws/spans`` stores.
        limit: Rows asked for.

    Returns:
        The Logs Insights query.
    """
    quoted = ", ".join(f'"{t}"' for t in otel_ids)
    return (
        f"fields @timestamp, @message\n| filter traceId in [{quoted}]\n"
        f"| sort @timestamp asc\n| limit {limit}"
    )


@dataclass(slots=True)
class QueryCounts:
    """What the Logs Insights queries of one fetch did.

    Attributes:
        queries: Queries run to completion.
        failed: Queries that ended Failed / Cancelled / Timeout and were run again.
        split: Results that reached ``RESULT_LIMIT`` and were split and re-queried.
        saturated: Results that reached the limit and could not be split (may be incomplete).
        bad_ids: Trace ids in the results that are in neither id form (skipped).
    """

    queries: int = 0
    failed: int = 0
    split: int = 0
    saturated: int = 0
    bad_ids: int = 0


class LogsInsights:
    """Runs Logs Insights queries over ``aws/spans``: start, poll until Complete, page."""

    def __init__(
        self,
        calls: XRayCalls,
        sleep: Callable[[float], None],
        *,
        poll_interval: float = 1.0,
        max_polls: int = 900,
        limit: int = RESULT_LIMIT,
    ) -> None:
        """Wrap the CloudWatch Logs calls.

        Args:
            calls: Retrying calls on a CloudWatch Logs client.
            sleep: Sleep between polls (tests pass a no-op).
            poll_interval: Seconds between GetQueryResults polls.
            max_polls: Polls before a query counts as timed out (Logs Insights itself
                times queries out after 60 minutes).
            limit: Rows asked of one query; a result this long is split (tests lower it).
        """
        self.calls = calls
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.max_polls = max_polls
        self.limit = limit
        self.counts = QueryCounts()
        self._lock = threading.Lock()

    def run(self, query: str, window: Seconds) -> list[dict[str, str]]:
        """Run one query over ``window``; a failed run is retried once.

        Args:
            query: The query string.
            window: Start and end epoch seconds, both included.

        Returns:
            The result rows as field -> value (``@ptr`` dropped).

        Raises:
            SourceUnavailable: StartQuery / GetQueryResults were refused, or the query
                ended Failed / Cancelled / Timeout twice.
        """
        status = ""
        for attempt in range(2):
            response = self.calls.call(
                "start_query",
                logGroupName=LOG_GROUP,
                startTime=window[0],
                endTime=window[1],
                queryString=query,
                limit=self.limit,
            )
            query_id = response.get("queryId")
            if not isinstance(query_id, str) or not query_id:
                raise SourceUnavailable("CloudWatch Logs StartQuery returned no queryId")
            status, rows = self._results(query_id)
            if status == "Complete":
                with self._lock:
                    self.counts.queries += 1
                return rows
            if attempt == 0:
                with self._lock:
                    self.counts.failed += 1
        raise SourceUnavailable(
            f"CloudWatch Logs Insights query over {LOG_GROUP} for epoch seconds "
            f"{window[0]}-{window[1]} ended {status} twice; nothing was fetched for it"
        )

    def _results(self, query_id: str) -> tuple[str, list[dict[str, str]]]:
        """Poll GetQueryResults until the query leaves Scheduled / Running; read every page."""
        polls = 0
        while True:
            response = self.calls.call("get_query_results", queryId=query_id)
            status = str(response.get("status", ""))
            if status not in _PENDING:
                break
            polls += 1
            if polls >= self.max_polls:
                self.calls.call("stop_query", queryId=query_id)
                return "Timeout (gave up polling)", []
            self.sleep(self.poll_interval)
        if status != "Complete":
            return status or "Unknown", []
        rows = _rows(response)
        token = response.get("nextToken")
        seen: set[str] = set()
        while isinstance(token, str) and token and token not in seen:
            seen.add(token)
            response = self.calls.call("get_query_results", queryId=query_id, nextToken=token)
            rows.extend(_rows(response))
            token = response.get("nextToken")
        return status, rows

    def trace_ids(
        self, windows: Sequence[Seconds], functions: Sequence[str]
    ) -> Iterator[tuple[Seconds, list[str]]]:
        """Yield (window piece, new trace ids in X-Ray form, sorted) window by window.

        A piece whose result reaches ``RESULT_LIMIT`` is split in halves and queried again.

        Args:
            windows: Query windows in epoch seconds, in time order.
            functions: ``--function`` names (none = every function).

        Yields:
            Each piece queried and the ids first seen in it.
        """
        query = trace_id_query(functions, self.limit)
        seen: set[str] = set()
        pending = list(reversed(windows))
        while pending:
            piece = pending.pop()
            rows = self.run(query, piece)
            if len(rows) >= self.limit:
                if piece[1] - piece[0] >= 2:  # halves that overlap at the middle second
                    middle = (piece[0] + piece[1]) // 2
                    self.counts.split += 1
                    pending.append((middle, piece[1]))
                    pending.append((piece[0], middle))
                    continue
                self.counts.saturated += 1
            ids: set[str] = set()
            for row in rows:
                xray_id = xray_form(row.get("traceId", "").strip())
                if xray_id is None:
                    self.counts.bad_ids += 1
                elif xray_id not in seen:
                    ids.add(xray_id)
            seen.update(ids)
            yield piece, sorted(ids)

    def span_messages(self, xray_ids: Sequence[str], window: Seconds) -> list[tuple[str, str]]:
        """The span events of the given traces: (``@timestamp``, ``@message``) rows.

        Id lists (or, for one id, windows) whose result reaches the limit are split in
        halves and queried again.

        Args:
            xray_ids: Trace ids (X-Ray form), at most ``SPAN_QUERY_IDS`` per query.
            window: The query window in epoch seconds.

        Returns:
            The events, in the order the queries returned them.
        """
        out: list[tuple[str, str]] = []
        otel_ids = [o for t in xray_ids if (o := otel_form(t.strip())) is not None]
        pending: list[tuple[list[str], Seconds]] = [
            (otel_ids[i : i + SPAN_QUERY_IDS], window)
            for i in reversed(range(0, len(otel_ids), SPAN_QUERY_IDS))
        ]
        while pending:
            ids, piece = pending.pop()
            rows = self.run(spans_query(ids, self.limit), piece)
            if len(rows) >= self.limit:
                if len(ids) > 1:
                    self.counts.split += 1
                    half = len(ids) // 2
                    pending.append((ids[half:], piece))
                    pending.append((ids[:half], piece))
                    continue
                if piece[1] - piece[0] >= 2:  # halves that overlap at the middle second
                    self.counts.split += 1
                    middle = (piece[0] + piece[1]) // 2
                    pending.append((ids, (middle, piece[1])))
                    pending.append((ids, (piece[0], middle)))
                    continue
                self.counts.saturated += 1
            out.extend(
                (row.get("@timestamp", ""), row["@message"]) for row in rows if "@message" in row
            )
        return out


def _rows(response: dict[str, object]) -> list[dict[str, str]]:
    """GetQueryResults ``results`` as one dict per row (``@ptr`` dropped)."""
    results = response.get("results")
    rows: list[dict[str, str]] = []
    if not isinstance(results, list):
        return rows
    for row in results:
        if not isinstance(row, list):
            continue
        fields = {
            str(cell.get("field")): str(cell.get("value", ""))
            for cell in row
            if isinstance(cell, dict) and cell.get("field") != "@ptr"
        }
        rows.append(fields)
    return rows


__all__ = [
    "LOG_GROUP",
    "RESULT_LIMIT",
    "SERVICE_SPAN_SUFFIX",
    "SPAN_QUERY_IDS",
    "LogsInsights",
    "QueryCounts",
    "second_windows",
    "spans_query",
    "trace_id_query",
]
