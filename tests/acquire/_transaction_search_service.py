"""A local HTTP service for the AWS operations moto 5.2 lacks, with the request/response
shapes of botocore's service models:

- X-Ray (restJson1, ``POST /<Operation>`` as the model's ``http.requestUri``):
  GetTraceSegmentDestination, GetIndexingRules, StartTraceRetrieval, ListRetrievedTraces.
- CloudWatch Logs (JSON 1.1, ``X-Amz-Target: Logs_20140328.<Operation>``): StartQuery,
  GetQueryResults, StopQuery, for the two query forms tracelens sends (moto accepts
  StartQuery but ignores ``filter`` and ``stats``).

Queries and retrievals go SCHEDULED -> RUNNING -> COMPLETE over polls; ListRetrievedTraces
pages 5 traces at a time with NextToken; throttling (``ThrottledException`` 429 for X-Ray,
``ThrottlingException`` 400 for Logs), access denial and failed runs can be switched on per
operation. boto3 clients reach it with ``endpoint_url``.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: ListRetrievedTraces page size (the model's ``TraceSpanList`` max).
TRACES_PER_PAGE = 5
_XRAY_OPERATIONS = frozenset(
    {"GetTraceSegmentDestination", "GetIndexingRules", "StartTraceRetrieval", "ListRetrievedTraces"}
)
_LOGS_PREFIX = "Logs_20140328."


class _Error(Exception):
    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def otel_id(xray_id: str) -> str:
    """``1-xxxxxxxx-yyyy…`` -> 32 hex."""
    return xray_id[2:10] + xray_id[11:]


def span_event(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``aws/spans`` event Transaction Search would store for one segment document
    (the design note's §1 shape; enough for the tests' queries)."""
    origin = doc.get("origin")
    suffix = {
        "AWS::Lambda": "/LambdaService",
        "AWS::Lambda::Function": "/LambdaExecutionEnvironment",
    }
    start = round(Fraction(str(doc["start_time"])) * 10**9)
    span: dict[str, Any] = {
        "resource": {"attributes": {"service.name": doc["name"]}},
        "traceId": otel_id(doc["trace_id"]),
        "spanId": doc["id"],
        "name": doc["name"] + suffix.get(str(origin), ""),
        "kind": "SERVER",
        "startTimeUnixNano": start,
        "attributes": {},
        "status": {"code": "ERROR" if doc.get("fault") or doc.get("error") else "UNSET"},
        "_aws": {"xray": {"name": doc["name"], "type": "segment"}},
    }
    if doc.get("parent_id"):
        span["parentSpanId"] = doc["parent_id"]
    if doc.get("end_time") is not None:
        end = round(Fraction(str(doc["end_time"])) * 10**9)
        span["endTimeUnixNano"] = end
        span["durationNano"] = end - start
    return span


@dataclass
class _Query:
    rows: list[list[dict[str, str]]]
    pending: int
    fails: bool


@dataclass
class _Retrieval:
    ids: list[str]
    pending: int
    fails: bool


@dataclass
class ServiceState:
    """What the service holds and how it misbehaves.

    Attributes:
        destination: GetTraceSegmentDestination's answer (None: the operation is unknown).
        indexing_rules: GetIndexingRules' ``IndexingRules`` (None: unknown operation).
        traces: X-Ray trace id -> segment documents (JSON strings).
        spans: aws/spans events: (timestamp in ms, span JSON text).
        pending_polls: Polls answered SCHEDULED / RUNNING before COMPLETE.
        denied: Operations answered AccessDeniedException.
        throttle: Operation -> how many more calls to throttle.
        fail_queries: Queries still to end ``Failed``.
        in_progress_once: Trace ids served once as in-progress (no ``end_time``), complete
            on the next retrieval.
        query_limit_hits: StartQuery calls still to answer ``LimitExceededException`` (too
            many concurrent Logs Insights queries).
        fail_retrievals: Retrievals still to end ``FAILED``.
        retrieval_requests: StartTraceRetrieval request bodies, in call order.
        retrievals_allowed: StartTraceRetrieval calls still allowed before the rest are
            denied (None: no limit), to interrupt a fetch part way.
        calls: Operation names in call order.
    """

    destination: dict[str, str] | None = field(
        default_factory=lambda: {"Destination": "CloudWatchLogs", "Status": "ACTIVE"}
    )
    indexing_rules: list[dict[str, Any]] | None = field(
        default_factory=lambda: [
            {
                "Name": "Default",
                "ModifiedAt": 1_764_460_800.0,
                "Rule": {
                    "Probabilistic": {
                        "DesiredSamplingPercentage": 1.0,
                        "ActualSamplingPercentage": 1.0,
                    }
                },
            }
        ]
    )
    traces: dict[str, list[str]] = field(default_factory=dict)
    spans: list[tuple[int, str]] = field(default_factory=list)
    pending_polls: int = 2
    denied: set[str] = field(default_factory=set)
    throttle: dict[str, int] = field(default_factory=dict)
    fail_queries: int = 0
    fail_retrievals: int = 0
    query_limit_hits: int = 0
    in_progress_once: set[str] = field(default_factory=set)
    retrieval_requests: list[dict[str, Any]] = field(default_factory=list)
    retrievals_allowed: int | None = None
    calls: list[str] = field(default_factory=list)
    queries: dict[str, _Query] = field(default_factory=dict)
    retrievals: dict[str, _Retrieval] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load_documents(self, documents: list[str]) -> None:
        """Store segment documents as traces and as the aws/spans events of their segments."""
        for text in documents:
            doc = json.loads(text)
            self.traces.setdefault(doc["trace_id"], []).append(text)
            event = span_event(doc)
            timestamp = int(Fraction(str(doc["start_time"])) * 1000)
            self.spans.append((timestamp, json.dumps(event)))

    def load_span_lines(self, lines: list[str]) -> None:
        """Store aws/spans events as they are (e.g. ``emulate --format spans`` output), each
        at its span's start time."""
        for line in lines:
            start = json.loads(line)["startTimeUnixNano"]
            self.spans.append((int(start) // 10**6, line))


def _in_progress(document: str) -> str:
    doc = json.loads(document)
    doc.pop("end_time", None)
    doc["in_progress"] = True
    return json.dumps(doc)


class TransactionSearchService:
    """The HTTP server on 127.0.0.1, a free port, in a thread."""

    def __init__(self, state: ServiceState | None = None) -> None:
        self.state = state or ServiceState()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                target = self.headers.get("X-Amz-Target") or ""
                if target.startswith(_LOGS_PREFIX):
                    self._answer(True, target[len(_LOGS_PREFIX) :], body)
                else:
                    self._answer(False, self.path.strip("/").split("?")[0], body)

            def _answer(self, logs: bool, operation: str, body: dict[str, Any]) -> None:
                try:
                    status, payload = 200, service.handle(logs, operation, body)
                    headers: dict[str, str] = {}
                except _Error as exc:
                    status = exc.status
                    if logs:
                        payload = {"__type": exc.code, "message": exc.message}
                        headers = {}
                    else:
                        payload = {"message": exc.message}
                        headers = {"x-amzn-ErrorType": exc.code}
                data = json.dumps(payload).encode()
                self.send_response(status)
                content = "application/x-amz-json-1.1" if logs else "application/json"
                self.send_header("Content-Type", content)
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> TransactionSearchService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, logs: bool, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        state = self.state
        with state.lock:
            state.calls.append(operation)
            if operation in state.denied:
                raise _Error(
                    "AccessDeniedException",
                    400 if logs else 403,
                    f"User is not authorized to perform: {'logs' if logs else 'xray'}:{operation}",
                )
            if state.throttle.get(operation, 0) > 0:
                state.throttle[operation] -= 1
                if logs:
                    raise _Error("ThrottlingException", 400, "Rate exceeded")
                raise _Error("ThrottledException", 429, "Rate exceeded")
            if logs and operation == "StartQuery" and state.query_limit_hits > 0:
                state.query_limit_hits -= 1
                raise _Error("LimitExceededException", 400, "too many concurrent queries")
            if logs:
                handler = {
                    "StartQuery": self._start_query,
                    "GetQueryResults": self._get_query_results,
                    "StopQuery": self._stop_query,
                }.get(operation)
            elif operation in _XRAY_OPERATIONS:
                handler = getattr(self, "_" + re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower())
            else:
                handler = None
            if handler is None:
                raise _Error("UnknownOperationException", 404, f"unknown operation {operation}")
            result: dict[str, Any] = handler(body)
            return result

    # -- X-Ray ------------------------------------------------------------------------------

    def _get_trace_segment_destination(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.state.destination is None:
            raise _Error("UnknownOperationException", 404, "unknown operation")
        return dict(self.state.destination)

    def _get_indexing_rules(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.state.indexing_rules is None:
            raise _Error("UnknownOperationException", 404, "unknown operation")
        return {"IndexingRules": self.state.indexing_rules}

    def _start_trace_retrieval(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = body.get("TraceIds")
        if not isinstance(ids, list) or len(ids) > 100:
            raise _Error("InvalidRequestException", 400, "TraceIds: 0-100 ids")
        if any(not isinstance(t, str) or not 1 <= len(t) <= 35 for t in ids):
            raise _Error("InvalidRequestException", 400, "TraceId: 1-35 characters")
        for key in ("StartTime", "EndTime"):
            if not isinstance(body.get(key), int | float):
                raise _Error("InvalidRequestException", 400, f"{key} is required")
        if self.state.retrievals_allowed is not None:
            if self.state.retrievals_allowed <= 0:
                raise _Error("AccessDeniedException", 403, "denied part way")
            self.state.retrievals_allowed -= 1
        self.state.retrieval_requests.append(body)
        token = uuid.uuid4().hex
        fails = self.state.fail_retrievals > 0
        if fails:
            self.state.fail_retrievals -= 1
        self.state.retrievals[token] = _Retrieval(list(ids), self.state.pending_polls, fails)
        return {"RetrievalToken": token}

    def _list_retrieved_traces(self, body: dict[str, Any]) -> dict[str, Any]:
        token = body.get("RetrievalToken")
        if body.get("TraceFormat") not in (None, "XRAY", "OTEL"):
            raise _Error("InvalidRequestException", 400, "TraceFormat: XRAY or OTEL")
        if not isinstance(token, str) or token not in self.state.retrievals:
            raise _Error("ResourceNotFoundException", 404, "no such retrieval")
        retrieval = self.state.retrievals[token]
        trace_format = body.get("TraceFormat") or "XRAY"
        if retrieval.pending > 0:
            retrieval.pending -= 1
            status = "SCHEDULED" if retrieval.pending >= 1 else "RUNNING"
            return {"RetrievalStatus": status, "TraceFormat": trace_format}
        if retrieval.fails:
            return {"RetrievalStatus": "FAILED", "TraceFormat": trace_format}
        found = [t for t in retrieval.ids if t in self.state.traces]
        offset = 0
        next_token = body.get("NextToken")
        if next_token:
            prefix, _, number = str(next_token).partition(":")
            if prefix != token:
                raise _Error("InvalidRequestException", 400, "bad NextToken")
            offset = int(number)
        page = found[offset : offset + TRACES_PER_PAGE]
        traces = []
        for trace_id in page:
            documents = self.state.traces[trace_id]
            if trace_id in self.state.in_progress_once:
                self.state.in_progress_once.discard(trace_id)
                documents = [_in_progress(d) for d in documents]
            spans = [{"Id": json.loads(d)["id"], "Document": d} for d in documents]
            traces.append({"Id": trace_id, "Duration": 1.0, "Spans": spans})
        response: dict[str, Any] = {
            "RetrievalStatus": "COMPLETE",
            "TraceFormat": trace_format,
            "Traces": traces,
        }
        if offset + TRACES_PER_PAGE < len(found):
            response["NextToken"] = f"{token}:{offset + TRACES_PER_PAGE}"
        return response

    # -- CloudWatch Logs --------------------------------------------------------------------

    def _start_query(self, body: dict[str, Any]) -> dict[str, Any]:
        for key in ("startTime", "endTime", "queryString"):
            if key not in body:
                raise _Error("InvalidParameterException", 400, f"{key} is required")
        if body.get("logGroupName") != "aws/spans":
            raise _Error("ResourceNotFoundException", 400, "log group does not exist")
        start_ms, end_ms = int(body["startTime"]) * 1000, int(body["endTime"]) * 1000
        query = str(body["queryString"])
        limits = [int(n) for n in re.findall(r"\|\s*limit\s+(\d+)", query)]
        if "limit" in body:
            limits.append(int(body["limit"]))
        limit = min(limits) if limits else 10_000
        events = sorted((ts, text) for ts, text in self.state.spans if start_ms <= ts <= end_ms)
        rows: list[list[dict[str, str]]]
        if "stats" in query:
            names = re.search(r"filter name in \[(.*?)\]", query)
            wanted = set(re.findall(r'"([^"]+)"', names.group(1))) if names else None
            if wanted is None and "filter" in query:
                raise _Error("MalformedQueryException", 400, "unsupported query")
            counts: dict[str, int] = {}
            for _ts, text in events:
                span = json.loads(text)
                if wanted is None or span["name"] in wanted:
                    counts[span["traceId"]] = counts.get(span["traceId"], 0) + 1
            rows = [
                [{"field": "traceId", "value": t}, {"field": "spans", "value": str(n)}]
                for t, n in sorted(counts.items())
            ]
        elif "fields @timestamp, @message" in query:
            id_list = re.search(r"filter traceId in \[(.*?)\]", query)
            if id_list is None:
                raise _Error("MalformedQueryException", 400, "unsupported query")
            ids = set(re.findall(r'"([0-9a-f]{32})"', id_list.group(1)))
            rows = []
            for n, (ts, text) in enumerate(events):
                if json.loads(text)["traceId"] in ids:
                    when = datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                    rows.append(
                        [
                            {"field": "@timestamp", "value": when[:-3]},
                            {"field": "@message", "value": text},
                            {"field": "@ptr", "value": f"ptr-{n}"},
                        ]
                    )
        else:
            raise _Error("MalformedQueryException", 400, "unsupported query")
        query_id = uuid.uuid4().hex
        fails = self.state.fail_queries > 0
        if fails:
            self.state.fail_queries -= 1
        self.state.queries[query_id] = _Query(rows[:limit], self.state.pending_polls, fails)
        return {"queryId": query_id}

    def _get_query_results(self, body: dict[str, Any]) -> dict[str, Any]:
        query = self.state.queries.get(str(body.get("queryId")))
        if query is None:
            raise _Error("ResourceNotFoundException", 400, "no such query")
        if query.pending > 0:
            query.pending -= 1
            return {"status": "Scheduled" if query.pending >= 1 else "Running", "results": []}
        if query.fails:
            return {"status": "Failed", "results": []}
        return {
            "status": "Complete",
            "results": query.rows,
            "statistics": {"recordsMatched": float(len(query.rows))},
        }

    def _stop_query(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"success": True}


__all__ = ["TRACES_PER_PAGE", "ServiceState", "TransactionSearchService", "otel_id", "span_event"]
