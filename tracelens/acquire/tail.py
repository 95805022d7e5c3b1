"""Live one-line summaries of Lambda requests as their documents arrive (``listen --tail``).

``RequestTail`` is fed segment documents one at a time, in arrival order, and returns a
``TailLine`` for each Lambda invocation or request that has just finished. It reads nothing
but the documents it is given (no clock, no files), so the same documents in the same order
always give the same lines.

What finishes a line:

- an ``AWS::Lambda::Function`` segment with an ``end_time`` and not ``in_progress``: one line
  per invocation (a function segment id is printed once, whatever revisions arrive);
- a complete ``AWS::Lambda`` service segment that failed without an invocation seen so far
  (``throttle``, status 429, ``fault``, ``error`` or status 400 and above): one line per
  request (a throttled request never runs the function);
- an ``Attempt #N`` subsegment with ``throttle`` (an async attempt Lambda throttled): one line
  per attempt.

The invoke path is what the documents seen so far tell (the order of precedence of the
analysis, ``analysis.functions.request_modes``): ``async`` when the invocation's parent is an
``Attempt #N`` or its service segment has a ``Dwell Time``, an attempt or status 202; ``sqs``
when the service or function segment has a consumer-side trace link or an ``aws:sqs`` record
annotation; ``stream`` for ``aws:kinesis`` / ``aws:dynamodb`` record annotations; ``sync``
when the service segment has a traced caller (``parent_id``); else ``unknown``. A function
segment that arrives before its service segment therefore says ``unknown`` unless its own
records or links tell. Lines are never revised.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Generic, Literal, TypeVar

import msgspec

from tracelens.model.segment import CHILDREN_DECODER, DOCUMENT_DECODER

if TYPE_CHECKING:
    from tracelens.model.segment import Child, Entity
    from tracelens.model.vocab import Mode

#: How a line's invocation or request ended.
TailOutcome = Literal["ok", "error", "fault", "throttled"]

#: Ids remembered per kind (service segments, attempts, printed keys): the oldest are
#: forgotten beyond this, so a listener running for days keeps a bounded memory.
REMEMBERED: Final = 200_000

_ATTEMPT = re.compile(r"Attempt #(\d+)")
_STREAM_SOURCES: Final = frozenset({"aws:kinesis", "aws:dynamodb"})
_RECORD_KEYS: Final = (b"event_source", b'"links"')


def printable(text: str) -> str:
    """``text`` itself when every character is printable, else its ``repr`` (for printing).

    Names, ids and errors come from the documents: a newline, ESC or other control character
    in them would break the one-line format or drive the terminal, so such text is shown
    escaped (``'bad\\x1b[2Jname'``).
    """
    return text if text.isprintable() else repr(text)


@dataclass(frozen=True, slots=True)
class TailLine:
    """One finished invocation, or one request that failed without an invocation.

    Attributes:
        end: When it ended, epoch seconds.
        function: The function name (as the segment names it).
        path: The invoke path as far as the documents seen so far tell.
        duration_ms: How long the function segment (else the attempt or service segment)
            lasted; None when it has no start time.
        outcome: ok, error, fault or throttled.
        cold: The function segment has an ``Initialization`` subsegment.
        trace_id: The trace.
        request_id: The Lambda request id, when its service segment has been seen.
        attempt: The async attempt number, when known.
    """

    end: float
    function: str
    path: Mode
    duration_ms: float | None
    outcome: TailOutcome
    cold: bool
    trace_id: str
    request_id: str | None
    attempt: int | None


@dataclass(slots=True)
class _Service:
    """What the service segments of one Lambda request have shown so far."""

    request_id: str | None
    function: str
    is_async: bool = False
    linked: bool = False  # a consumer-side trace link: invoked by an SQS event source mapping
    traced_caller: bool = False
    invoked: bool = False  # a function segment under it has been seen
    printed: bool = False  # a request line has been printed for it


@dataclass(frozen=True, slots=True)
class _Attempt:
    service: str  # id of the service segment
    n: int | None
    error: bool
    fault: bool
    throttle: bool


K = TypeVar("K")
V = TypeVar("V")


class _Recent(Generic[K, V]):
    """A dict that forgets its oldest keys beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._limit = limit

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        if len(self._items) > self._limit:
            self._items.popitem(last=False)

    def values(self) -> list[V]:
        return list(self._items.values())


def _complete(entity: Entity | Child) -> bool:
    return entity.end_time is not None and entity.in_progress is not True


def _millis(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start) * 1000.0)


def _consumer_link(entity: Entity | Child) -> bool:
    """A link naming the producer (the analysis reads any link not marked ``child`` so)."""
    for link in entity.links or ():
        kind = (link.attributes or {}).get("aws.xray.reserved.reference_type")
        if kind != "child":
            return True
    return False


def _records(doc: Entity) -> tuple[set[str], bool]:
    """Event sources of record annotations and whether a consumer link sits under ``doc``."""
    sources: set[str] = set()
    linked = False
    stack: list[Child] = list(doc.subsegments or ())
    while stack:
        child = stack.pop()
        source = (child.annotations or {}).get("event_source")
        if isinstance(source, str):
            sources.add(source)
        linked = linked or _consumer_link(child)
        raw = bytes(child.subsegments)
        if raw and any(key in raw for key in _RECORD_KEYS):
            try:
                stack.extend(CHILDREN_DECODER.decode(raw))
            except (msgspec.DecodeError, RecursionError):
                continue
    return sources, linked


def _failure(
    error: bool, fault: bool, throttle: bool, status: int | None = None
) -> TailOutcome | None:
    if throttle or status == 429:
        return "throttled"
    if fault or (status is not None and status >= 500):
        return "fault"
    if error or (status is not None and status >= 400):
        return "error"
    return None


class RequestTail:
    """Turn arriving segment documents into one line per finished Lambda request.

    Example:
        >>> tail = RequestTail()
        >>> for line in tail.feed(body):  # one NDJSON line / datagram body
        ...     print(line.function, line.path, line.outcome)
    """

    def __init__(self, *, remembered: int = REMEMBERED) -> None:
        """Start with nothing seen.

        Args:
            remembered: Ids kept per kind before the oldest are forgotten.
        """
        self._services: _Recent[str, _Service] = _Recent(remembered)
        self._attempts: _Recent[str, _Attempt] = _Recent(remembered)
        self._printed: _Recent[str, None] = _Recent(remembered)
        self.lines = 0

    def open_requests(self) -> int:
        """Requests (service segments) seen with no line yet: no invocation has finished."""
        return sum(1 for s in self._services.values() if not s.invoked and not s.printed)

    def feed(self, body: bytes) -> list[TailLine]:
        """Read one segment document (JSON) and return the lines it finishes.

        A body that is not a segment document gives no line (the listener checks bodies
        before they get here).

        Args:
            body: One document, as written to the NDJSON file.

        Returns:
            The finished lines, in the order they finished.
        """
        try:
            doc = DOCUMENT_DECODER.decode(body)
        except msgspec.DecodeError:
            return []
        return self.feed_entity(doc)

    def feed_entity(self, doc: Entity) -> list[TailLine]:
        """``feed`` for a decoded document."""
        if doc.id is None or doc.trace_id is None:
            return []
        if doc.type == "subsegment":
            return self._independent(doc)
        if doc.inferred:
            return []
        if doc.origin == "AWS::Lambda":
            return self._service(doc)
        if doc.origin == "AWS::Lambda::Function":
            return self._function(doc)
        return []

    # --- documents -------------------------------------------------------------------

    def _service(self, doc: Entity) -> list[TailLine]:
        assert doc.id is not None
        assert doc.trace_id is not None
        service = self._services.get(doc.id)
        request_id = doc.aws.request_id if doc.aws is not None else None
        if service is None:
            service = _Service(request_id=request_id, function=doc.name or "?")
            self._services.put(doc.id, service)
        service.request_id = service.request_id or request_id
        status = doc.http.response.status if doc.http and doc.http.response else None
        service.traced_caller = service.traced_caller or doc.parent_id is not None
        service.linked = service.linked or _consumer_link(doc)
        lines: list[TailLine] = []
        for child in doc.subsegments or ():
            if child.name == "Dwell Time":
                service.is_async = True
            elif child.name is not None and (match := _ATTEMPT.fullmatch(child.name)):
                service.is_async = True
                lines += self._attempt(child, doc.id, int(match.group(1)), service, doc.trace_id)
        if status == 202:
            service.is_async = True
        if not _complete(doc) or service.invoked or service.printed:
            return lines
        outcome = _failure(doc.error is True, doc.fault is True, doc.throttle is True, status)
        if outcome is None:
            return lines
        service.printed = True
        assert doc.end_time is not None
        line = self._line(
            key=f"request:{doc.id}",
            end=doc.end_time,
            function=service.function,
            path=self._path(service, set(), linked=False),
            duration_ms=_millis(doc.start_time, doc.end_time),
            outcome=outcome,
            cold=False,
            trace_id=doc.trace_id,
            request_id=service.request_id,
            attempt=None,
        )
        return lines if line is None else [*lines, line]

    def _attempt(
        self, child: Entity | Child, service_id: str, n: int, service: _Service, trace_id: str
    ) -> list[TailLine]:
        """Remember an ``Attempt #N``; a finished throttled attempt is a line of its own."""
        if child.id is None:
            return []
        self._attempts.put(
            child.id,
            _Attempt(
                service=service_id,
                n=n,
                error=child.error is True,
                fault=child.fault is True,
                throttle=child.throttle is True,
            ),
        )
        if child.throttle is not True or not _complete(child) or child.end_time is None:
            return []
        line = self._line(
            key=f"attempt:{child.id}",
            end=child.end_time,
            function=service.function,
            path="async",
            duration_ms=_millis(child.start_time, child.end_time),
            outcome="throttled",
            cold=False,
            trace_id=trace_id,
            request_id=service.request_id,
            attempt=n,
        )
        return [] if line is None else [line]

    def _independent(self, doc: Entity) -> list[TailLine]:
        """An independently sent subsegment: only an ``Attempt #N`` of a known service."""
        if doc.parent_id is None or doc.name is None or doc.trace_id is None:
            return []
        service = self._services.get(doc.parent_id)
        match = _ATTEMPT.fullmatch(doc.name)
        if service is None or match is None:
            return []
        service.is_async = True
        return self._attempt(doc, doc.parent_id, int(match.group(1)), service, doc.trace_id)

    def _function(self, doc: Entity) -> list[TailLine]:
        assert doc.id is not None
        assert doc.trace_id is not None
        if not _complete(doc) or doc.end_time is None or f"function:{doc.id}" in self._printed:
            return []
        attempt = self._attempts.get(doc.parent_id) if doc.parent_id else None
        service_id = attempt.service if attempt is not None else doc.parent_id
        service = self._services.get(service_id) if service_id else None
        sources, linked = _records(doc)
        linked = linked or _consumer_link(doc)
        error, fault, throttle = doc.error is True, doc.fault is True, doc.throttle is True
        cold = False
        for child in doc.subsegments or ():
            if child.name == "Initialization":
                cold = True
            elif child.name == "Invocation":
                error = error or child.error is True
                fault = fault or child.fault is True
                throttle = throttle or child.throttle is True
        if attempt is not None:
            error, fault = error or attempt.error, fault or attempt.fault
            throttle = throttle or attempt.throttle
        if service is not None:
            service.invoked = True
            path = "async" if attempt is not None else self._path(service, sources, linked)
        else:
            path = self._path(None, sources, linked)
        line = self._line(
            key=f"function:{doc.id}",
            end=doc.end_time,
            function=doc.name or (service.function if service else "?"),
            path=path,
            duration_ms=_millis(doc.start_time, doc.end_time),
            outcome=_failure(error, fault, throttle) or "ok",
            cold=cold,
            trace_id=doc.trace_id,
            request_id=service.request_id if service is not None else None,
            attempt=attempt.n if attempt is not None else None,
        )
        return [] if line is None else [line]

    # --- helpers ---------------------------------------------------------------------

    @staticmethod
    def _path(service: _Service | None, sources: set[str], linked: bool) -> Mode:
        if service is not None and service.is_async:
            return "async"
        if linked or (service is not None and service.linked) or "aws:sqs" in sources:
            return "sqs"
        if sources & _STREAM_SOURCES:
            return "stream"
        if service is not None and service.traced_caller:
            return "sync"
        return "unknown"

    def _line(
        self,
        *,
        key: str,
        end: float,
        function: str,
        path: Mode,
        duration_ms: float | None,
        outcome: TailOutcome,
        cold: bool,
        trace_id: str,
        request_id: str | None,
        attempt: int | None,
    ) -> TailLine | None:
        """A line, unless ``key`` was printed before (then None)."""
        if key in self._printed:
            return None
        self._printed.put(key, None)
        self.lines += 1
        return TailLine(
            end=end,
            function=function,
            path=path,
            duration_ms=duration_ms,
            outcome=outcome,
            cold=cold,
            trace_id=trace_id,
            request_id=request_id,
            attempt=attempt,
        )


__all__ = ["REMEMBERED", "RequestTail", "TailLine", "TailOutcome", "printable"]
