"""OTLP trace export requests as OTLP/JSON lines: protobuf bodies converted, JSON bodies checked.

What ``listen`` writes to ``otlp.ndjson`` is one ``ExportTraceServiceRequest`` a line in the
OTLP/JSON encoding (OTLP specification, "JSON Protobuf Encoding"): the proto3 JSON mapping
with lowerCamelCase keys, enums as integers, and ``traceId`` / ``spanId`` / ``parentSpanId``
as hex strings instead of the mapping's base64. Of the choices the encoding allows, these lines
always use lowercase hex and write 64-bit integers (the nanosecond times, ``intValue``) as
JSON integers, never as decimal strings or through a float. Keys come in field-number order, so
the same request always gives the same bytes.

A JSON body is decoded into the protobuf message and converted back, so what is written is
always in that one form whatever the sender chose (uppercase hex, int64 as strings, enum
names); fields this version of the schema does not know are dropped, as the specification
tells receivers to ignore them.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

#: The bytes fields OTLP/JSON spells as hex (every other bytes field stays base64).
_HEX_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})

#: Their JSON keys, with the byte length a base64 spelling must decode to.
_ID_KEYS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}

_INT64_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")

#: The enum names ``json_format`` would take for a span's ``kind`` and its ``status.code``.
_KIND_NAMES = frozenset(Span.SpanKind.keys())
_CODE_NAMES = frozenset(Status.StatusCode.keys())


@dataclass(frozen=True, slots=True)
class OtlpRequest:
    """One decoded trace export request.

    Attributes:
        line: The request as one OTLP/JSON line, without the newline.
        spans: Spans it carries.
    """

    line: bytes
    spans: int


def message_to_json(message: Message) -> dict[str, Any]:
    """Convert a protobuf message of the OTLP schema to its OTLP/JSON object.

    Only fields that are set appear (proto3 leaves out defaults: a root span has no
    ``parentSpanId``, a span of kind 0 no ``kind``); a set member of a ``oneof`` appears even
    when it is the default (``{"stringValue": ""}``).

    Args:
        message: Any message of the OTLP protobuf schema.

    Returns:
        The JSON object, keys in field-number order.
    """
    out: dict[str, Any] = {}
    fields = cast("list[tuple[FieldDescriptor, Any]]", message.ListFields())
    for field, value in sorted(fields, key=lambda item: int(item[0].number)):
        if field.is_repeated:
            out[field.json_name] = [_value(field, item) for item in value]
        else:
            out[field.json_name] = _value(field, value)
    return out


def _value(field: FieldDescriptor, value: Any) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return message_to_json(value)
    if kind == FieldDescriptor.TYPE_BYTES:
        raw = bytes(value)
        if field.name in _HEX_FIELDS:
            return raw.hex()
        return base64.b64encode(raw).decode("ascii")
    if kind in _INT64_TYPES or kind == FieldDescriptor.TYPE_ENUM:
        return int(value)
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return number
    return value


def count_spans(request: ExportTraceServiceRequest) -> int:
    """Spans in a request, over every resource and scope.

    Args:
        request: The request.

    Returns:
        The count.
    """
    return sum(len(scope.spans) for res in request.resource_spans for scope in res.scope_spans)


def _encode(request: ExportTraceServiceRequest) -> OtlpRequest:
    line = msgspec.json.encode(message_to_json(request))
    return OtlpRequest(line=line, spans=count_spans(request))


def decode_protobuf(body: bytes) -> tuple[OtlpRequest | None, str | None]:
    """Decode a binary protobuf ``ExportTraceServiceRequest`` and convert it to OTLP/JSON.

    Args:
        body: The serialized message (uncompressed).

    Returns:
        (request, None), or (None, reason) when the bytes are not such a message.
    """
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        return None, f"not a protobuf ExportTraceServiceRequest: {exc}"
    return _encode(request), None


def decode_json(body: bytes) -> tuple[OtlpRequest | None, str | None]:
    """Check an OTLP/JSON ``ExportTraceServiceRequest`` and bring it to the one written form.

    Ids must be hex (any case; an even number of digits); ids spelled in base64, as the
    generic protobuf JSON mapping writes them, are accepted when they decode to the id's
    length (16 bytes for a trace id, 8 for a span id). 64-bit integers may be numbers or
    decimal strings, enums integers or names.

    Args:
        body: The JSON text (uncompressed).

    Returns:
        (request, None), or (None, reason) when the body is not such a request.
    """
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    reason = _prepare(data)
    if reason is not None:
        return None, reason
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        return None, f"not an OTLP/JSON ExportTraceServiceRequest: {exc}"
    return _encode(request), None


def _prepare(request: dict[str, Any]) -> str | None:
    """Ready a decoded JSON request for ``json_format``, in place; the reason if it cannot be.

    Respells the hex ids of spans and links as base64, and checks the two enums, which
    ``json_format`` would otherwise read loosely (``1.5`` and ``true`` as 1, an unknown name
    as absent). Walks only where the schema puts them (``resourceSpans[].scopeSpans[].spans[]``,
    their ``links[]`` and ``status``); a value of the wrong shape on the way is left for
    ``json_format`` to reject.
    """
    for res in _objects(request.get("resourceSpans")):
        for scope in _objects(res.get("scopeSpans")):
            for span in _objects(scope.get("spans")):
                reason = _fix_ids(span) or _check_enum(span, "kind", _KIND_NAMES)
                status = span.get("status")
                if reason is None and isinstance(status, dict):
                    reason = _check_enum(status, "code", _CODE_NAMES)
                for link in _objects(span.get("links")):
                    reason = reason or _fix_ids(link)
                if reason is not None:
                    return reason
    return None


def _check_enum(obj: dict[str, Any], key: str, names: frozenset[str]) -> str | None:
    value = obj.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return None
    if isinstance(value, str) and value in names:
        return None
    return f"{key} {value!r:.40} is neither an integer nor one of {sorted(names)}"


def _objects(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _fix_ids(obj: dict[str, Any]) -> str | None:
    for key, size in _ID_KEYS.items():
        text = obj.get(key)
        if not isinstance(text, str):
            continue
        raw = _id_bytes(text, size)
        if raw is None:
            return f"{key} {text[:40]!r} is neither hex nor base64 of {size} bytes"
        obj[key] = base64.b64encode(raw).decode("ascii")
    return None


def _id_bytes(text: str, size: int) -> bytes | None:
    if len(text) % 2 == 0 and all(c in _HEX_DIGITS for c in text):
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


__all__ = [
    "OtlpRequest",
    "count_spans",
    "decode_json",
    "decode_protobuf",
    "message_to_json",
]
