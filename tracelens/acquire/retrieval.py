"""Full traces from the Transaction Search log group: StartTraceRetrieval, then
ListRetrievedTraces (``TraceFormat`` XRAY) polled until COMPLETE and paged by NextToken.

A retrieval that ends FAILED, TIMEOUT or CANCELLED is started once more; if that one fails
too, its trace ids are reported as not retrieved.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracelens.errors import SourceUnavailable
from tracelens.model.trace_ids import xray_form

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from tracelens.acquire.xray_calls import XRayCalls

#: Trace ids per StartTraceRetrieval call (the model's ``TraceIdListForRetrieval`` max).
RETRIEVAL_BATCH = 100
#: Retrieval states of the model (``RetrievalStatus``) that mean "not finished yet".
PENDING = frozenset({"SCHEDULED", "RUNNING"})
#: Retrieval states that end a retrieval without traces.
FAILED = frozenset({"FAILED", "CANCELLED", "TIMEOUT"})


@dataclass(slots=True)
class Retrieved:
    """The outcome of retrieving one batch of ids.

    Attributes:
        traces: Trace records ``{"Id", "Duration", "Segments": [{"Id", "Document"}]}``, in
            the order of the requested ids.
        failed: Ids whose retrieval ended FAILED / CANCELLED / TIMEOUT twice.
        missing: Ids a COMPLETE retrieval did not return.
        last_status: The final status of a failed retrieval (``FAILED`` ...), else ``""``.
        start: The StartTime asked for.
        end: The EndTime asked for.
    """

    traces: list[dict[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    last_status: str = ""
    start: datetime | None = None
    end: datetime | None = None


class TraceRetrieval:
    """Retrieves traces by id from the Transaction Search log group (thread-safe counters)."""

    def __init__(
        self,
        calls: XRayCalls,
        sleep: Callable[[float], None],
        *,
        poll_interval: float = 1.0,
        max_polls: int = 3600,
    ) -> None:
        """Wrap the X-Ray calls.

        Args:
            calls: Retrying X-Ray calls.
            sleep: Sleep between polls (tests pass a no-op).
            poll_interval: Seconds between ListRetrievedTraces polls.
            max_polls: Polls before a retrieval counts as timed out (AWS times retrievals
                out after 60 minutes).
        """
        self.calls = calls
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.max_polls = max_polls
        self.retrievals = 0
        self.retried = 0
        self._lock = threading.Lock()

    def retrieve(self, ids: Sequence[str], start: datetime, end: datetime) -> Retrieved:
        """Retrieve up to ``RETRIEVAL_BATCH`` traces spanning ``[start, end]``.

        Args:
            ids: Trace ids in X-Ray form.
            start: StartTime of the retrieval.
            end: EndTime of the retrieval.

        Returns:
            The traces, and the ids that failed or were not returned.

        Raises:
            SourceUnavailable: A call was refused (e.g. no ``xray:StartTraceRetrieval``).
        """
        if not ids:
            return Retrieved()
        if len(ids) > RETRIEVAL_BATCH:
            raise SourceUnavailable(
                f"StartTraceRetrieval takes at most {RETRIEVAL_BATCH} ids, got {len(ids)}"
            )
        status = ""
        for attempt in range(2):
            response = self.calls.call(
                "start_trace_retrieval", TraceIds=list(ids), StartTime=start, EndTime=end
            )
            token = response.get("RetrievalToken")
            if not isinstance(token, str):
                raise SourceUnavailable("X-Ray StartTraceRetrieval returned no RetrievalToken")
            with self._lock:
                self.retrievals += 1
            status, traces = self._collect(token)
            if status == "COMPLETE":
                ordered = [traces[t] for t in ids if t in traces]
                missing = [t for t in ids if t not in traces]
                return Retrieved(traces=ordered, missing=missing, start=start, end=end)
            if attempt == 0:
                with self._lock:
                    self.retried += 1
        return Retrieved(failed=list(ids), last_status=status, start=start, end=end)

    def _collect(self, token: str) -> tuple[str, dict[str, dict[str, Any]]]:
        """Poll until the retrieval leaves SCHEDULED / RUNNING, then read every page."""
        polls = 0
        while True:
            response = self._page(token, None)
            status = str(response.get("RetrievalStatus", ""))
            if status not in PENDING:
                break
            polls += 1
            if polls >= self.max_polls:
                return "TIMEOUT (gave up polling)", {}
            self.sleep(self.poll_interval)
        if status != "COMPLETE":
            return status or "UNKNOWN", {}
        traces: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        while True:
            _merge(response, traces)
            next_token = response.get("NextToken")
            if not isinstance(next_token, str) or not next_token or next_token in seen:
                return status, traces
            seen.add(next_token)
            response = self._page(token, next_token)

    def _page(self, token: str, next_token: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"RetrievalToken": token, "TraceFormat": "XRAY"}
        if next_token:
            kwargs["NextToken"] = next_token
        response = self.calls.call("list_retrieved_traces", **kwargs)
        trace_format = response.get("TraceFormat")
        if trace_format not in (None, "XRAY"):
            raise SourceUnavailable(
                f"X-Ray ListRetrievedTraces answered in format {trace_format!r}, asked XRAY"
            )
        return response


def _merge(response: dict[str, Any], traces: dict[str, dict[str, Any]]) -> None:
    """Add the page's traces to ``traces`` (a trace continued on a later page is merged)."""
    for trace in response.get("Traces") or ():
        if not isinstance(trace, dict) or not isinstance(trace.get("Id"), str):
            continue
        trace_id = xray_form(trace["Id"].strip()) or trace["Id"]
        segments = [
            {"Id": span.get("Id"), "Document": span.get("Document")}
            for span in trace.get("Spans") or ()
            if isinstance(span, dict)
        ]
        record = traces.get(trace_id)
        if record is None:
            traces[trace_id] = {
                "Id": trace_id,
                "Duration": trace.get("Duration"),
                "Segments": segments,
            }
        else:
            record["Segments"].extend(segments)


__all__ = ["FAILED", "PENDING", "RETRIEVAL_BATCH", "Retrieved", "TraceRetrieval"]
