"""Decode input values of every form into validated segment documents.

A *value* is one JSON line of an NDJSON file, one element of a top-level JSON array, or a
whole single-value file. It may be a BatchGetTraces page (``{"Traces": [...]}``), a Trace
(``{"Id", "Segments": [...]}``; each entry ``{"Id", "Document": "<JSON string>" | {...}}`` or
a bare document), a bare segment or subsegment document, a daemon header line, or a list of
these. Documents are decoded once into projected :class:`~tracelens.model.segment.Entity`
structs. A value that does not fit the fast typed decode (a field of an unexpected type) is
decoded generically and each document is checked on its own, so one bad document inside a
BatchGetTraces page costs exactly one rejection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import msgspec

from tracelens.ingest.span_mapping import SpanError, is_span, otlp_spans, span_entity
from tracelens.model.frames import KEYED_BY_TRACE_ID, SUMMARIES
from tracelens.model.segment import DOCUMENT_DECODER, ENTITY_DECODER, Entity
from tracelens.model.trace_ids import XRAY_TRACE_ID

if TYPE_CHECKING:
    from collections.abc import Iterator

_ID = re.compile(r"[0-9a-f]{16}")
# A span's trace id without a time prefix is kept as its 32 hex digits (span_mapping).
_ANY_TRACE_ID = re.compile(r"1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}|[0-9a-f]{32}")
# Wrappers inside wrappers (a log event's message holding a page …) are read this deep.
_MAX_WRAPPING = 4
_MAX_REPAIRS = 32
# Keys of an `aws logs filter-log-events` / `get-log-events` page besides ``events`` (a page
# without events is no rejection).
_LOG_PAGE_KEYS = frozenset(
    {"searchedLogStreams", "nextToken", "nextForwardToken", "nextBackwardToken"}
)

_NO_DOCUMENT_FIELDS = (
    "JSON object is not an X-Ray segment document (it has none of 'id', 'trace_id', 'start_time')"
)
# Keys of a GetTraceSummaries TraceSummary that a BatchGetTraces Trace does not have.
_SUMMARY_KEYS = frozenset(
    {
        "HasFault",
        "HasError",
        "HasThrottle",
        "ResponseTime",
        "IsPartial",
        "EntryPoint",
        "FaultRootCauses",
        "ErrorRootCauses",
        "ResponseTimeRootCauses",
        "MatchedEventTime",
    }
)

# A decoded document, or the reason a document could not be used.
Decoded: TypeAlias = Entity | str


@dataclass(frozen=True, slots=True)
class BadValue:
    """A whole value (line, array element or file) that is not JSON or not an object."""

    reason: str


def check_document(doc: Entity) -> str | None:
    """Return why ``doc`` is not a valid segment document, or None when it is valid.

    Valid means (report-contract.md, "Rejection"): string ``name``; ``id`` of 16 lowercase hex
    digits; ``trace_id`` matching ``1-<8 hex>-<24 hex>`` (or 32 lowercase hex digits, the id
    of a span that carries no time); number ``start_time``; number
    ``end_time`` or ``in_progress: true``.
    """
    if doc.id is None and doc.trace_id is None and doc.start_time is None:
        return _NO_DOCUMENT_FIELDS
    if doc.name is None:
        return "segment document has no string 'name'"
    if doc.id is None or not _ID.fullmatch(doc.id):
        return "segment document has no 'id' of 16 lowercase hex digits"
    if doc.trace_id is None or not _ANY_TRACE_ID.fullmatch(doc.trace_id):
        return "segment document has no 'trace_id' of the form 1-<8 hex>-<24 hex>"
    if doc.start_time is None:
        return "segment document has no numeric 'start_time'"
    if doc.end_time is None and doc.in_progress is not True:
        return "segment document has neither a numeric 'end_time' nor 'in_progress': true"
    return None


def check_document_bytes(body: bytes) -> str | None:
    """Return why ``body`` is not one valid segment document, or None when it is.

    Used by the UDP listener, which writes daemon datagram bodies as they arrive. The
    reason starts with "body is not one JSON object" when ``body`` is not JSON, else with
    "not a segment document".
    """
    results = list(decode_value(body))
    if len(results) != 1:
        return f"not a segment document: the body holds {len(results)} values, not one"
    result = results[0]
    if isinstance(result, BadValue):
        return f"body is not one JSON object: {result.reason}"
    return f"not a segment document: {result}" if isinstance(result, str) else None


def decode_value(raw: bytes | str) -> Iterator[Entity | str | BadValue]:
    """Yield each document in one JSON value: an Entity, a rejection reason, or BadValue."""
    return _decode_value(raw, 0)


def _decode_value(raw: bytes | str, depth: int) -> Iterator[Entity | str | BadValue]:
    try:
        value = ENTITY_DECODER.decode(raw)
    except msgspec.ValidationError:
        yield from _decode_generic(raw, depth)
        return
    except msgspec.DecodeError as exc:
        yield BadValue(_json_error(exc))
        return
    except RecursionError:
        yield BadValue("JSON nested too deeply to read safely")
        return
    except UnicodeDecodeError:
        yield BadValue("not valid UTF-8")
        return
    items = value if isinstance(value, list) else (value,)
    shapes: _Shapes | None = None  # made only for a rejection that needs it
    for index, item in enumerate(items):
        if (
            item.Traces is None
            and item.Segments is None
            and item.Spans is None
            and item.Document is None
        ):
            # A bare document (the common case), or an object of another form.
            if item.format is not None and item.version is not None and item.name is None:
                continue  # a daemon header line is not a document
            reason = check_document(item)
            if reason is None:
                yield item
            elif reason is _NO_DOCUMENT_FIELDS:
                # Not an X-Ray document: perhaps a span or a span wrapper.
                shapes = shapes or _Shapes(raw, depth)
                yield from shapes.results(index if items is value else None)
            else:
                yield reason
            continue
        for result in _documents(item, depth):
            if result.__class__ is str and result == _NO_DOCUMENT_FIELDS:
                shapes = shapes or _Shapes(raw, depth)
                result = shapes.reason(index if items is value else None)
            yield result


class _Shapes:
    """Says what an object that is not a segment document is, decoding its value only then."""

    def __init__(self, raw: bytes | str, depth: int) -> None:
        self._raw = raw
        self._depth = depth
        self._value: object = None
        self._decoded = False

    def _item(self, index: int | None) -> object:
        if not self._decoded:
            self._value = _loads(self._raw)
            self._decoded = True
        item = self._value
        if index is not None and isinstance(item, list) and index < len(item):
            item = item[index]
        return item

    def reason(self, index: int | None) -> str:
        """The rejection reason of the value's object (of its element ``index`` if a list)."""
        return _shape_reason(self._item(index)) or _NO_DOCUMENT_FIELDS

    def results(self, index: int | None) -> list[Decoded]:
        """The entities of the object when it is a span form, else its rejection reason."""
        item = self._item(index)
        if isinstance(item, dict):
            found = _span_forms(item, self._depth)
            if found is not None:
                return found
        return [_shape_reason(item) or _NO_DOCUMENT_FIELDS]


def _shape_reason(value: object) -> str | None:
    """SUMMARIES or KEYED_BY_TRACE_ID when ``value`` has that shape, else None.

    GetTraceSummaries output is ``{"TraceSummaries": [...]}`` (each page, as the CLI writes
    it); a TraceSummary alone has a trace ``Id`` and keys such as ``HasFault`` but no
    ``Segments``.
    """
    if not isinstance(value, dict) or not value:
        return None
    if "TraceSummaries" in value:
        return SUMMARIES
    trace_id = value.get("Id")
    if (
        "Segments" not in value
        and isinstance(trace_id, str)
        and XRAY_TRACE_ID.fullmatch(trace_id)
        and not _SUMMARY_KEYS.isdisjoint(value)
    ):
        return SUMMARIES
    if all(isinstance(key, str) and XRAY_TRACE_ID.fullmatch(key) for key in value):
        return KEYED_BY_TRACE_ID
    return None


def _json_error(exc: Exception) -> str:
    text = str(exc)
    if "UTF-8" in text or "utf-8" in text:
        return "not valid UTF-8"
    if "truncated" in text.lower():
        return f"truncated JSON ({text})"
    return f"not valid JSON ({text})"


def _documents(value: Entity, depth: int) -> Iterator[Decoded]:
    """Unwrap BatchGetTraces / ListRetrievedTraces pages and Trace objects (a value with
    ``Traces``, ``Segments``, ``Spans`` or ``Document``); yield the documents inside."""
    entries: list[Entity]
    if value.Traces is not None:
        entries = [
            entry for trace in value.Traces for entry in (trace.Segments or trace.Spans or ())
        ]
    elif value.Segments is not None:
        entries = value.Segments
    elif value.Spans is not None:
        entries = value.Spans
    else:
        entries = [value]
    for entry in entries:
        document = entry.Document
        if isinstance(document, str):
            yield from _decode_document_string(document, depth)
        else:
            doc = entry if document is None else document
            reason = check_document(doc)
            yield reason if reason is not None else doc


def _decode_document_string(text: str, depth: int) -> Iterator[Decoded]:
    """Decode a double-encoded ``Document`` string (the BatchGetTraces API form; in an OTEL
    ListRetrievedTraces page, a span or an OTLP request)."""
    try:
        doc = DOCUMENT_DECODER.decode(text)
    except msgspec.ValidationError:
        yield from _generic_document(_loads(text), depth)
        return
    except msgspec.DecodeError as exc:
        yield f"Document string: {_json_error(exc)}"
        return
    except RecursionError:
        yield "Document nested too deeply to read safely"
        return
    reason = check_document(doc)
    if reason is _NO_DOCUMENT_FIELDS:
        yield from _generic_document(_loads(text), depth)
        return
    yield reason if reason is not None else doc


def _generic_document(value: object, depth: int) -> list[Decoded]:
    """A Document decoded generically: a span form, or a segment document."""
    if isinstance(value, dict):
        found = _span_forms(value, depth)
        if found is not None:
            return found
    return [_convert_generic(value)]


# --- spans and the wrappers around them -----------------------------------------------------


def _span_forms(value: dict[str, object], depth: int) -> list[Decoded] | None:
    """The entities of an object of a span form, or None when it is no span form."""
    if "@message" in value:
        # A Logs Insights export line (its other fields may be flattened span keys).
        return _message(value["@message"], depth)
    if is_span(value):
        return [_span(value)]
    if "resourceSpans" in value:
        return [_span(span) if isinstance(span, dict) else span for span in otlp_spans(value)]
    events = value.get("events")
    if isinstance(events, list) and (
        any(isinstance(event, dict) and "message" in event for event in events)
        or (not events and not _LOG_PAGE_KEYS.isdisjoint(value))
    ):
        # aws logs filter-log-events / get-log-events output.
        return [
            result
            for event in events
            for result in _message(event.get("message") if isinstance(event, dict) else None, depth)
        ]
    results = value.get("results")
    if isinstance(results, list) and all(isinstance(row, list) for row in results):
        # Logs Insights GetQueryResults output: rows of {"field", "value"}.
        out: list[Decoded] = []
        for row in results:
            message = next(
                (
                    cell.get("value")
                    for cell in row
                    if isinstance(cell, dict) and cell.get("field") == "@message"
                ),
                None,
            )
            out.extend(_message(message, depth))
        return out
    return None


def _span(span: dict[str, object]) -> Decoded:
    try:
        return span_entity(span)
    except SpanError as exc:
        return str(exc)


def _message(message: object, depth: int) -> list[Decoded]:
    """The entities of one log event's message (a JSON string, or an object already)."""
    if depth >= _MAX_WRAPPING:
        return ["log event message: wrappers nested too deeply"]
    if isinstance(message, dict):
        found = _span_forms(message, depth + 1)
        return found if found is not None else [_convert_generic(message)]
    if not isinstance(message, str):
        return ["log event has no string 'message'"]
    out: list[Decoded] = []
    for result in _decode_value(message, depth + 1):
        if isinstance(result, BadValue):
            out.append(f"log event message: {result.reason}")
        else:
            out.append(result)
    return out


def _loads(text: str | bytes) -> object:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        return BadValue(_json_error(exc))
    except RecursionError:
        return BadValue("JSON nested too deeply to read safely")
    except UnicodeDecodeError:
        return BadValue("not valid UTF-8")


# --- the slow path: a value with an unexpected field type --------------------------------------


def _decode_generic(raw: bytes | str, depth: int) -> Iterator[Entity | str | BadValue]:
    value = _loads(raw)
    if isinstance(value, BadValue):
        yield value
        return
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, dict):
            yield BadValue(f"JSON value is a {_json_type(item)}, not an object")
            continue
        yield from _generic_documents(item, depth)


def _generic_documents(value: dict[str, object], depth: int) -> Iterator[Decoded]:
    traces = value.get("Traces")
    if isinstance(traces, list):
        for trace in traces:
            if not isinstance(trace, dict):
                continue
            entries = trace.get("Segments", trace.get("Spans"))
            if isinstance(entries, list):
                yield from _generic_entries(entries, depth)
        return
    segments = value.get("Segments", value.get("Spans"))
    if isinstance(segments, list):
        yield from _generic_entries(segments, depth)
        return
    if "Document" in value:
        yield from _generic_entries([value], depth)
        return
    if "format" in value and "version" in value and "name" not in value:
        return
    found = _span_forms(value, depth)
    if found is not None:
        yield from found
        return
    yield _shape_reason(value) or _convert_generic(value)


def _generic_entries(entries: list[object], depth: int) -> Iterator[Decoded]:
    for entry in entries:
        if not isinstance(entry, dict):
            yield f"Segments entry is a {_json_type(entry)}, not an object"
            continue
        document = entry.get("Document", entry)
        if isinstance(document, str):
            yield from _decode_document_string(document, depth)
        else:
            yield from _generic_document(document, depth)


def _convert_generic(value: object) -> Decoded:
    """Check the required fields on a plain dict, then convert it, dropping bad optional fields."""
    if isinstance(value, BadValue):
        return value.reason
    if not isinstance(value, dict):
        return f"segment document is a {_json_type(value)}, not an object"
    reason = _check_required(value)
    if reason is not None:
        return reason
    for _ in range(_MAX_REPAIRS):
        try:
            doc = DOCUMENT_DECODER.decode(msgspec.json.encode(value))
        except msgspec.ValidationError as exc:
            if not _drop_at_path(value, str(exc)):
                return f"segment document field has an unexpected type ({exc})"
            continue
        except RecursionError:
            return "segment document nested too deeply to read safely"
        reason = check_document(doc)
        return reason if reason is not None else doc
    return "segment document has too many fields of unexpected types"


def _check_required(value: dict[str, object]) -> str | None:
    def number(key: str) -> bool:
        item = value.get(key)
        return isinstance(item, int | float) and not isinstance(item, bool)

    if not isinstance(value.get("name"), str):
        return "segment document has no string 'name'"
    if not number("start_time"):
        return "segment document has no numeric 'start_time'"
    if not number("end_time") and value.get("in_progress") is not True:
        return "segment document has neither a numeric 'end_time' nor 'in_progress': true"
    for key in ("id", "trace_id"):
        if not isinstance(value.get(key), str):
            return f"segment document has no string '{key}'"
    return None


_PATH = re.compile(r"at `\$((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)`")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def _drop_at_path(value: dict[str, object], message: str) -> bool:
    """Remove the optional field msgspec complained about; False if it cannot be removed."""
    match = _PATH.search(message)
    if match is None or not match.group(1):
        return False
    steps = [(m.group(1), m.group(2)) for m in _STEP.finditer(match.group(1))]
    target: object = value
    for key, index in steps[:-1]:
        if key is not None and isinstance(target, dict):
            target = target.get(key)
        elif index is not None and isinstance(target, list) and int(index) < len(target):
            target = target[int(index)]
        else:
            return False
    last_key, last_index = steps[-1]
    if last_key is not None and isinstance(target, dict) and last_key in target:
        if target is value and last_key in _REQUIRED:
            return False
        del target[last_key]
        return True
    if last_index is not None and isinstance(target, list) and int(last_index) < len(target):
        del target[int(last_index)]
        return True
    return False


_REQUIRED = frozenset({"name", "id", "trace_id", "start_time", "end_time", "in_progress"})


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"
