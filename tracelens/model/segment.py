"""Typed, projected X-Ray segment documents: only the fields analyses use are decoded.

One struct serves every level (top-level segment, independently sent subsegment, nested
subsegment) and also the BatchGetTraces wrappers (``Traces``, ``Segments``, ``Document``), so
a line of any input form is decoded in a single msgspec pass.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

# An integer the rows can hold (a 64-bit column). A larger one fails the typed decode, and the
# field is then dropped like any other of an unexpected type (tracelens.ingest.decode).
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class ExceptionInfo(msgspec.Struct, gc=False):
    """One entry of ``cause.exceptions``."""

    type: str | None = None
    message: str | None = None


class Cause(msgspec.Struct, gc=False):
    """``cause`` as an object (it may also be a bare 16-char exception id string)."""

    exceptions: list[ExceptionInfo] | None = None


class HttpResponse(msgspec.Struct, gc=False):
    """``http.response``."""

    status: Int64 | None = None


class HttpRequest(msgspec.Struct, gc=False):
    """``http.request``."""

    url: str | None = None
    method: str | None = None


class Http(msgspec.Struct, gc=False):
    """``http``."""

    request: HttpRequest | None = None
    response: HttpResponse | None = None


class AwsInfo(msgspec.Struct, gc=False):
    """The ``aws`` block fields tracelens uses."""

    request_id: str | None = None
    function_arn: str | None = None
    operation: str | None = None


class Link(msgspec.Struct, gc=False):
    """An X-Ray span link (``links[]`` on segments and subsegments)."""

    trace_id: str | None = None
    id: str | None = None
    attributes: dict[str, object] | None = None


# The value of an absent ``subsegments``: Raw is immutable, so every Child shares it.
_NO_CHILDREN = msgspec.Raw(b"")


class Child(msgspec.Struct, gc=False):
    """A nested subsegment. Its own children stay undecoded bytes until they are needed."""

    name: str | None = None
    id: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    in_progress: bool | None = None
    error: bool | None = None
    fault: bool | None = None
    throttle: bool | None = None
    cause: str | Cause | None = None
    annotations: dict[str, object] | None = None
    links: list[Link] | None = None
    namespace: str | None = None  # "aws" on AWS SDK calls (a caller's ``Lambda`` Invoke)
    aws: AwsInfo | None = None
    # Decoded on demand (see tracelens.ingest.normalise): most nested subsegments are SDK
    # calls that no analysis reads, and skipping them is the cheapest way through a document.
    subsegments: msgspec.Raw = _NO_CHILDREN


class Noted(msgspec.Struct, gc=False):
    """A nested subsegment read only for its annotations (and its own children's)."""

    annotations: dict[str, object] | None = None
    subsegments: msgspec.Raw = _NO_CHILDREN


class Entity(msgspec.Struct, gc=False):
    """A segment, subsegment or BatchGetTraces wrapper, projected to the fields tracelens reads."""

    name: str | None = None
    id: str | None = None
    trace_id: str | None = None
    parent_id: str | None = None
    type: str | None = None
    origin: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    in_progress: bool | None = None
    inferred: bool | None = None
    error: bool | None = None
    fault: bool | None = None
    throttle: bool | None = None
    cause: str | Cause | None = None
    http: Http | None = None
    aws: AwsInfo | None = None
    resource_arn: str | None = None
    annotations: dict[str, object] | None = None
    links: list[Link] | None = None
    namespace: str | None = None  # "aws" on AWS SDK calls (an independently sent subsegment)
    subsegments: list[Child] | None = None
    # BatchGetTraces wrappers: a page {"Traces": [...]}, a Trace {"Id", "Segments": [...]},
    # a segment entry {"Id", "Document": "<JSON string>" | {...}}. ListRetrievedTraces pages
    # say "Spans" for "Segments" (their Documents are segment documents, or spans when
    # TraceFormat is OTEL).
    Traces: list[Entity] | None = None
    Segments: list[Entity] | None = None
    Spans: list[Entity] | None = None
    Document: str | Entity | None = None
    # Daemon datagram header line: {"format": "json", "version": 1}.
    format: str | None = None
    version: int | None = None


class SpanEntity(Entity, gc=False):
    """An entity made from an OpenTelemetry span (``tracelens.ingest.span_mapping``), never
    decoded from JSON: its class marks the rows read from spans."""

    # An SDK span (ADOT, OTel Lambda instrumentation) taken for an invocation: it is one only
    # when its parent is no function segment (``tracelens.ingest.merge``).
    sdk_invocation: bool = False
    # faas.coldstart of such a span.
    cold_start: bool = False
    # The record fields (``event_source``, ``messaging_message_id``) of an SDK consumer span
    # that names one message.
    record: dict[str, object] | None = None


ENTITY_DECODER = msgspec.json.Decoder(Entity | list[Entity])
DOCUMENT_DECODER = msgspec.json.Decoder(Entity)
CHILDREN_DECODER = msgspec.json.Decoder(list[Child])
NOTES_DECODER = msgspec.json.Decoder(list[Noted])
