"""aws-xray-sdk instrumentation: the SDK's recorder, entities and serialiser on a virtual clock.

Simulation code describes each document as a tree of :class:`Span`; :class:`XRayWriter`
replays it through the SDK's own ``AWSXRayRecorder`` (``begin_segment`` /
``begin_subsegment`` / ``end_subsegment`` / ``end_segment``) with timestamps and ids from the
emulator, and the SDK hands the finished segment to an in-memory emitter that keeps the
SDK's ``to_dict`` serialisation (optionally also sending a daemon datagram over UDP).
"""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import dataclass, field
from typing import Any

from aws_xray_sdk.core.models.throwable import Throwable
from aws_xray_sdk.core.recorder import AWSXRayRecorder

DAEMON_HEADER = '{"format":"json","version":1}\n'
_NESTED_DROP = ("type", "trace_id", "parent_id", "in_progress")


@dataclass
class Span:
    """One segment or subsegment to record: everything the emulator decided about it."""

    name: str
    id: str
    start: float
    end: float
    trace_id: str = ""
    parent_id: str | None = None
    origin: str | None = None
    resource_arn: str | None = None
    namespace: str | None = None
    aws: dict[str, Any] = field(default_factory=dict)
    http_status: int | None = None
    http_request: dict[str, Any] = field(default_factory=dict)
    error: bool = False
    fault: bool = False
    throttle: bool = False
    exception: tuple[str, str, str] | None = None  # (id, type, message)
    annotations: dict[str, str | int | float | bool] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    subsegments: list[Span] = field(default_factory=list)


def _clean_nested(doc: dict[str, Any]) -> None:
    for sub in doc.get("subsegments", ()):
        for key in _NESTED_DROP:
            sub.pop(key, None)
        if sub.get("namespace") == "local":
            del sub["namespace"]
        _clean_nested(sub)


class MemoryEmitter:
    """An X-Ray emitter that keeps every finished document in memory as one JSON line.

    Documents are kept serialised (compact JSON, with their sort key) rather than as dicts,
    which keeps a 100,000-invocation run small.

    It implements the SDK emitter interface (``send_entity``, ``set_daemon_address``) and
    optionally forwards each document to an X-Ray daemon address as a UDP datagram.
    """

    def __init__(self, udp: tuple[str, int] | None = None) -> None:
        """Create an emitter.

        Args:
            udp: optional (host, port) of an X-Ray daemon to also send every document to.
        """
        self.lines: list[tuple[float, str, str]] = []  # (start_time, id, JSON line)
        self.max_end: float | None = None
        self._udp = udp
        self._socket: socket.socket | None = None
        if udp is not None:
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def set_daemon_address(self, address: str | None) -> None:
        """Accept the recorder's daemon address (unused: the UDP target is explicit)."""

    def send_entity(self, entity: Any) -> None:
        """Serialise a finished segment with the SDK and keep it."""
        doc: dict[str, Any] = entity.to_dict()
        if doc.get("in_progress") is False:
            del doc["in_progress"]
        _clean_nested(doc)
        body = json.dumps(doc, separators=(",", ":"))
        self.lines.append((doc["start_time"], doc["id"], body))
        end = _latest_end(doc)
        if self.max_end is None or end > self.max_end:
            self.max_end = end
        if self._socket is not None and self._udp is not None:
            self._socket.sendto((DAEMON_HEADER + body).encode(), self._udp)

    def sorted_lines(self) -> list[str]:
        """Return every document line in bundle order (start time, then id)."""
        self.lines.sort(key=lambda entry: (entry[0], entry[1]))
        return [line for _, _, line in self.lines]

    def close(self) -> None:
        """Close the UDP socket, if any."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _throwable(exc_id: str, exc_type: str, message: str) -> Throwable:
    throwable = Throwable(None, None)
    throwable.id = exc_id
    throwable.type = exc_type
    throwable.message = message
    return throwable


class XRayWriter:
    """Records :class:`Span` trees through an ``AWSXRayRecorder`` of its own."""

    def __init__(self, udp: tuple[str, int] | None = None) -> None:
        """Create a writer with a private recorder and an in-memory emitter.

        Args:
            udp: optional (host, port) of an X-Ray daemon to also send documents to.
        """
        logging.getLogger("aws_xray_sdk").setLevel(logging.ERROR)
        self.emitter = MemoryEmitter(udp)
        self.recorder = AWSXRayRecorder()
        self.recorder.configure(
            sampling=False,
            emitter=self.emitter,
            context_missing="LOG_ERROR",
            streaming_threshold=1_000_000,
            plugins=(),
        )

    def record(self, span: Span) -> None:
        """Record one top-level segment document (with its subsegments)."""
        recorder = self.recorder
        segment = recorder.begin_segment(
            name=span.name, traceid=span.trace_id, parent_id=span.parent_id, sampling=1
        )
        segment.id = span.id
        segment.service = {}
        segment.aws = {}
        self._fill(segment, span)
        for child in span.subsegments:
            self._record_sub(child)
        recorder.end_segment(round(span.end, 6))

    def _record_sub(self, span: Span) -> None:
        sub = self.recorder.begin_subsegment(span.name, span.namespace or "local")
        sub.id = span.id
        self._fill(sub, span)
        for child in span.subsegments:
            # the SDK sets parent_id from the parent's id when the child is added
            self._record_sub(child)
        self.recorder.end_subsegment(round(span.end, 6))

    @staticmethod
    def _fill(entity: Any, span: Span) -> None:
        entity.start_time = round(span.start, 6)
        if span.origin:
            entity.origin = span.origin
        if span.resource_arn:
            entity.resource_arn = span.resource_arn
        if span.aws:
            entity.aws = dict(span.aws)
        for key, value in span.http_request.items():
            entity.put_http_meta(key, value)
        if span.http_status is not None:
            entity.put_http_meta("status", span.http_status)
        if span.error:
            entity.add_error_flag()
        if span.fault:
            entity.add_fault_flag()
        if span.throttle:
            entity.add_throttle_flag()
        if span.exception is not None:
            entity.cause = {
                "working_directory": "/var/task",
                "exceptions": [_throwable(*span.exception)],
            }
        for key, value in span.annotations.items():
            entity.put_annotation(key, value)
        if span.links:
            entity.links = list(span.links)


def _latest_end(doc: dict[str, Any]) -> float:
    """The latest ``end_time`` in a document and its subsegments at any depth: an async
    service segment's ``Dwell Time`` and ``Attempt #N`` end after the segment itself, and the
    data (as the analysis reads it) runs until they end."""
    latest = float(doc["end_time"])
    stack = list(doc.get("subsegments", ()))
    while stack:
        sub = stack.pop()
        end = sub.get("end_time")
        if isinstance(end, int | float) and end > latest:
            latest = float(end)
        stack.extend(sub.get("subsegments", ()))
    return latest
