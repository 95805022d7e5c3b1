"""Every OpenTelemetry span → X-Ray mapping decision, in one module (a correction is one edit).

A span arrives in the canonical ``aws/spans`` shape (``SPANS_CONTRACT.md``; design note
``otel-lambda-shapes.md`` §1.1): flat ``attributes``, ``resource.attributes``, string ``kind``
and ``status.code``, hex ids, integer nanosecond times, X-Ray leftovers in ``_aws.xray``.
OTLP/JSON requests (``resourceSpans``) are first turned into that shape by ``otlp_spans``.
``span_entity`` then makes one :class:`~tracelens.model.segment.Entity` of it: a top-level
segment for the Lambda service and function segments and other segments, else an
independently sent subsegment whose ``parent_id`` is the ``parentSpanId``. The normaliser
and merge (``tracelens.ingest.normalise``, ``tracelens.ingest.merge``) attach those to their
owners, so spans give the same rows as the nested X-Ray documents.

What was verified against real data and what is inferred is listed in README.md, "Span
inputs".
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING

from tracelens.model.segment import (
    AwsInfo,
    Cause,
    ExceptionInfo,
    Http,
    HttpRequest,
    HttpResponse,
    Link,
    SpanEntity,
)
from tracelens.model.trace_ids import HEX_TRACE_ID, XRAY_TRACE_ID

if TYPE_CHECKING:
    from collections.abc import Iterator

SERVICE_ORIGIN = "AWS::Lambda"
FUNCTION_ORIGIN = "AWS::Lambda::Function"
SERVICE_SUFFIX = "/LambdaService"
FUNCTION_SUFFIX = "/LambdaExecutionEnvironment"
#: Span-name prefixes (before ``/LambdaExecutionEnvironment``) of a function segment's own
#: subsegments, and their X-Ray names. Real 2026 data says ``Init``; classic X-Ray
#: ``Initialization``.
FUNCTION_PARTS = {
    "Init": "Initialization",
    "Initialization": "Initialization",
    "Invocation": "Invocation",
    "Overhead": "Overhead",
}

#: The collector's rule for keeping an X-Ray trace id (design note §3): the first 8 hex digits
#: as epoch seconds lie within [start − 28 days, start + 5 minutes].
MAX_ID_AGE_NS = 28 * 86400 * 10**9
MAX_ID_AHEAD_NS = 300 * 10**9

_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
_DIGITS = re.compile(r"[0-9]+")

#: ``messaging.system`` spellings of SQS (semconv, botocore instrumentation, Java agent ≤ 2.3).
SQS_SYSTEMS = frozenset({"aws_sqs", "aws.sqs", "AmazonSQS"})

#: OTLP's integer span kinds (opentelemetry-proto ``trace.proto``).
_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
#: OTLP's integer status codes.
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


class SpanError(ValueError):
    """A span that cannot be used; the message is the rejection reason."""


# --- trace ids ----------------------------------------------------------------------------


def xray_trace_id(hex32: str, start_ns: int | None) -> str:
    """The trace id tracelens keeps for the 32 hex digits of an OTel trace id.

    The X-Ray form ``1-<8>-<24>`` when the first 8 digits, read as epoch seconds, lie within
    [start − 28 days, start + 5 minutes] of the span's start (the collector's rule); else the
    32 lowercase digits unchanged (an id from the OTLP endpoint need not carry a time). No
    time is ever derived from an id.
    """
    digits = hex32.lower()
    if start_ns is not None:
        epoch_ns = int(digits[:8], 16) * 10**9
        if start_ns - MAX_ID_AGE_NS <= epoch_ns <= start_ns + MAX_ID_AHEAD_NS:
            return f"1-{digits[:8]}-{digits[8:]}"
    return digits


def _trace_id(value: object, start_ns: int | None, what: str) -> str:
    if value is None or value == "":
        raise SpanError(f"span has no {what}")
    if not isinstance(value, str):
        raise SpanError(f"span {what} is not a string")
    if XRAY_TRACE_ID.fullmatch(value):
        return value.lower()
    digits = value if HEX_TRACE_ID.fullmatch(value) else _from_base64(value, 16)
    if digits is None:
        raise SpanError(f"span {what} is not 32 hex digits nor 1-<8 hex>-<24 hex>")
    return xray_trace_id(digits, start_ns)


def _span_id(value: object, what: str) -> str:
    if value is None or value == "":
        raise SpanError(f"span has no {what}")
    if not isinstance(value, str):
        raise SpanError(f"span {what} is not a string")
    if _HEX16.fullmatch(value):
        return value.lower()
    digits = _from_base64(value, 8)
    if digits is None:
        raise SpanError(f"span {what} is not 16 hex digits")
    return digits


def _from_base64(value: str, size: int) -> str | None:
    """The hex of a base64 id (protobuf's generic JSON) when it decodes to ``size`` bytes."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == size else None


# --- times --------------------------------------------------------------------------------


def _nanos(span: dict[str, object], key: str, *, required: bool) -> int | None:
    """An integer nanosecond time; OTLP/JSON may spell it as a decimal string."""
    value = span.get(key)
    if value is None:
        if required:
            raise SpanError(f"span has no {key}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SpanError(f"span {key} is not an integer number of nanoseconds")
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise SpanError(f"span {key} is not an integer number of nanoseconds")
        value = int(value)
    if value < 0:
        raise SpanError(f"span {key} is negative")
    return value


def _seconds(ns: int) -> float:
    # int / int is correctly rounded: it gives back exactly the float the nanoseconds came from.
    return ns / 10**9


# --- OTLP/JSON ----------------------------------------------------------------------------


def any_value(value: object) -> object:
    """The plain value of an OTLP ``AnyValue`` (``stringValue``, ``intValue``, …)."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "intValue" in value:
        number = value["intValue"]
        if isinstance(number, str) and re.fullmatch(r"-?[0-9]+", number):
            return int(number)
        return number
    if "doubleValue" in value:
        return value["doubleValue"]
    if "arrayValue" in value:
        array = value["arrayValue"]
        items = array.get("values") if isinstance(array, dict) else None
        return [any_value(item) for item in items] if isinstance(items, list) else []
    if "kvlistValue" in value:
        kvlist = value["kvlistValue"]
        return key_values(kvlist.get("values") if isinstance(kvlist, dict) else None)
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def key_values(value: object) -> dict[str, object]:
    """A flat map of an OTLP ``KeyValue`` list; a map already flat is returned as it is."""
    if isinstance(value, dict):
        return value
    out: dict[str, object] = {}
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                out[item["key"]] = any_value(item.get("value"))
    return out


def otlp_spans(request: dict[str, object]) -> Iterator[dict[str, object] | str]:
    """The spans of an OTLP/JSON ``ExportTraceServiceRequest``, each in the canonical shape
    (or a rejection reason for an entry that is not an object)."""
    resource_spans = request.get("resourceSpans")
    if not isinstance(resource_spans, list):
        yield "OTLP request: 'resourceSpans' is not a list"
        return
    for resource_span in resource_spans:
        if not isinstance(resource_span, dict):
            yield "OTLP request: a 'resourceSpans' entry is not an object"
            continue
        resource = resource_span.get("resource")
        attributes = key_values(resource.get("attributes")) if isinstance(resource, dict) else {}
        scope_spans = resource_span.get(
            "scopeSpans", resource_span.get("instrumentationLibrarySpans")
        )
        for scope_span in scope_spans if isinstance(scope_spans, list) else ():
            if not isinstance(scope_span, dict):
                yield "OTLP request: a 'scopeSpans' entry is not an object"
                continue
            scope = scope_span.get("scope", scope_span.get("instrumentationLibrary"))
            spans = scope_span.get("spans")
            for span in spans if isinstance(spans, list) else ():
                if not isinstance(span, dict):
                    yield "OTLP request: a span is not an object"
                    continue
                yield {**span, "resource": {"attributes": attributes}, "scope": scope}


# --- one span -----------------------------------------------------------------------------


def _kind(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return _KINDS.get(value, "UNSPECIFIED")
    if isinstance(value, str):
        return value.upper().removeprefix("SPAN_KIND_")
    return "UNSPECIFIED"


def _status_code(value: object) -> str:
    code = value.get("code") if isinstance(value, dict) else None
    if isinstance(code, int) and not isinstance(code, bool):
        return _STATUS.get(code, "UNSET")
    if isinstance(code, str):
        return code.upper().removeprefix("STATUS_CODE_")
    return "UNSET"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, str) and _DIGITS.fullmatch(value) and len(value) < 19:
        return int(value)
    return None


def _first(attributes: dict[str, object], *keys: str) -> object:
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return value
    return None


def _names(span: dict[str, object], xray: dict[str, object]) -> tuple[str, str | None, str]:
    """(X-Ray name, Lambda origin or None, ``segment``/``subsegment``/"" when not said)."""
    span_name = span.get("name")
    name = span_name if isinstance(span_name, str) else ""
    xray_name = _text(xray.get("name"))
    xray_type = xray.get("type")
    said = xray_type if xray_type in ("segment", "subsegment") else ""
    prefix, slash, suffix = name.rpartition("/")
    if slash and "/" + suffix == SERVICE_SUFFIX and said != "subsegment":
        return xray_name or prefix, SERVICE_ORIGIN, "segment"
    if slash and "/" + suffix == FUNCTION_SUFFIX:
        part = FUNCTION_PARTS.get(prefix)
        if part is not None and said != "segment":
            return FUNCTION_PARTS.get(xray_name or "", part), None, "subsegment"
        if said != "subsegment":
            return xray_name or prefix, FUNCTION_ORIGIN, "segment"
    if xray_name is not None:
        if said == "subsegment" and xray_name == "Init":
            return "Initialization", None, said
        return xray_name, None, said
    return name, None, said


def _failure(
    attributes: dict[str, object], status: str, http_status: int | None
) -> tuple[bool, bool, bool]:
    """(error, fault, throttle): X-Ray's flags when the span kept them, else from the status."""
    flags = (
        attributes.get("aws.xray.error"),
        attributes.get("aws.xray.fault"),
        attributes.get("aws.xray.throttle"),
    )
    if any(flag is not None for flag in flags):
        return flags[0] is True, flags[1] is True, flags[2] is True
    if status != "ERROR":
        return False, False, False
    if http_status == 429:
        return True, False, True
    if http_status is not None and 400 <= http_status < 500:
        return True, False, False
    return False, True, False


def _cause(span: dict[str, object], xray: dict[str, object]) -> str | Cause | None:
    exceptions = []
    events = span.get("events")
    for event in events if isinstance(events, list) else ():
        if isinstance(event, dict) and event.get("name") == "exception":
            attributes = key_values(event.get("attributes"))
            exceptions.append(
                ExceptionInfo(
                    type=_text(attributes.get("exception.type")),
                    message=_text(attributes.get("exception.message")),
                )
            )
    if exceptions:
        return Cause(exceptions=exceptions)
    cause = xray.get("cause")
    if isinstance(cause, dict):
        message = _text(cause.get("message"))
        if message is not None:
            return Cause(exceptions=[ExceptionInfo(message=message)])
        return _text(cause.get("id"))
    return None


def _annotations(attributes: dict[str, object]) -> dict[str, object] | None:
    keys = attributes.get("aws.xray.annotation_keys")
    if not isinstance(keys, list):
        return None
    notes = {key: attributes[key] for key in keys if isinstance(key, str) and key in attributes}
    return notes or None


def _links(span: dict[str, object], start_ns: int) -> list[Link] | None:
    links = span.get("links")
    if not isinstance(links, list) or not links:
        return None
    out = []
    for link in links:
        if not isinstance(link, dict):
            raise SpanError("span link is not an object")
        trace_id = _trace_id(link.get("traceId"), start_ns, "link traceId")
        out.append(
            Link(
                trace_id=trace_id,
                id=_span_id(link.get("spanId"), "link spanId"),
                attributes=key_values(link.get("attributes")) or None,
            )
        )
    return out


def _is_sdk_invocation(kind: str, attributes: dict[str, object], xray: dict[str, object]) -> bool:
    """An SDK span of one Lambda invocation (design note §3, §5): a SERVER span with
    ``faas.invocation_id`` / ``faas.execution``, or ADOT's LOCAL_ROOT with ``PlatformType``
    ``AWS::Lambda``; never a span converted from an X-Ray segment."""
    if xray or kind != "SERVER":
        return False
    if "faas.invocation_id" in attributes or "faas.execution" in attributes:
        return True
    return (
        attributes.get("aws.span.kind") == "LOCAL_ROOT"
        and attributes.get("PlatformType") == "AWS::Lambda"
    )


def _function_of_arn(arn: str | None) -> str | None:
    parts = arn.split(":") if arn else []
    return parts[6] if len(parts) >= 7 and parts[5] == "function" and parts[6] else None


def _sdk_function(
    attributes: dict[str, object], resource: dict[str, object]
) -> tuple[str | None, str | None]:
    """(function name, ARN) of an SDK invocation span: ``faas.name``, else the function of
    ``cloud.resource_id`` or ``faas.id``, else ``service.name``."""
    both = {**resource, **attributes}
    arn = _text(both.get("cloud.resource_id"))
    faas_id = _text(both.get("faas.id"))
    arn = arn if _function_of_arn(arn) else faas_id if _function_of_arn(faas_id) else arn
    name = _text(both.get("faas.name")) or _function_of_arn(arn) or _text(both.get("service.name"))
    return name, arn


def _sqs_record(kind: str, attributes: dict[str, object]) -> dict[str, object] | None:
    """The record fields of an SDK consumer span that names one SQS message."""
    message_id = attributes.get("messaging.message.id")
    if kind != "CONSUMER" or attributes.get("messaging.system") not in SQS_SYSTEMS:
        return None
    if not isinstance(message_id, str) or not message_id:
        return None
    return {"event_source": "aws:sqs", "messaging_message_id": message_id}


def span_entity(span: dict[str, object]) -> SpanEntity:
    """One span in the canonical shape as an X-Ray entity (a segment or an independently sent
    subsegment).

    Raises:
        SpanError: the span cannot be used (the message is the rejection reason).
    """
    start_ns = _nanos(span, "startTimeUnixNano", required=True)
    trace_id = _trace_id(span.get("traceId"), start_ns, "traceId")
    span_id = _span_id(span.get("spanId"), "spanId")
    parent = span.get("parentSpanId")
    parent_id = None if parent is None or parent == "" else _span_id(parent, "parentSpanId")
    end_ns = _nanos(span, "endTimeUnixNano", required=False)
    duration = _nanos(span, "durationNano", required=False)
    assert start_ns is not None
    if end_ns is None and duration is not None:
        end_ns = start_ns + duration
    if end_ns is not None and end_ns < start_ns:
        raise SpanError("span starts after it ends (startTimeUnixNano > endTimeUnixNano)")
    attributes = key_values(span.get("attributes"))
    resource = span.get("resource")
    resource_attributes = (
        key_values(resource.get("attributes")) if isinstance(resource, dict) else {}
    )
    aws_block = span.get("_aws")
    xray = aws_block.get("xray") if isinstance(aws_block, dict) else None
    if not isinstance(xray, dict):
        xray = {}
    name, lambda_origin, said = _names(span, xray)
    kind = _kind(span.get("kind"))
    # What _aws.xray says; else a root or a SERVER span is a segment.
    is_segment = said == "segment" if said else parent_id is None or kind == "SERVER"
    origin = lambda_origin or _text(attributes.get("aws.xray.origin"))
    in_progress = attributes.get("aws.xray.inprogress") is True or end_ns is None
    http_status = _int(_first(attributes, "http.response.status_code", "http.status_code"))
    method = _text(_first(attributes, "http.request.method", "http.method"))
    url = _text(_first(attributes, "url.full", "http.url"))
    error, fault, throttle = _failure(attributes, _status_code(span.get("status")), http_status)
    request_id = _text(_first(attributes, "aws.request_id", "aws.request.id"))
    operation = _text(attributes.get("aws.operation"))
    function_arn = _text(attributes.get("aws.lambda.function_arn"))
    arn = _text(_first(resource_attributes, "cloud.resource_id", "aws.xray.resource_arn"))
    sdk_invocation = _is_sdk_invocation(kind, attributes, xray)
    if sdk_invocation:
        # An invocation seen from inside the function: a function segment whose request id is
        # the invocation id (the merge drops it again under a converted function segment).
        function, arn = _sdk_function(attributes, resource_attributes)
        name = function or name
        origin = FUNCTION_ORIGIN
        is_segment = True
        request_id = _text(_first(attributes, "faas.invocation_id", "faas.execution")) or request_id
    return SpanEntity(
        name=name,
        id=span_id,
        trace_id=trace_id,
        parent_id=parent_id,
        type="segment" if is_segment else "subsegment",
        origin=origin if is_segment else None,
        start_time=_seconds(start_ns),
        end_time=None if end_ns is None else _seconds(end_ns),
        in_progress=True if in_progress else None,
        error=error or None,
        fault=fault or None,
        throttle=throttle or None,
        cause=_cause(span, xray),
        http=Http(
            request=HttpRequest(url=url, method=method) if url or method else None,
            response=HttpResponse(status=http_status) if http_status is not None else None,
        )
        if http_status is not None or url or method
        else None,
        aws=AwsInfo(request_id=request_id, function_arn=function_arn, operation=operation)
        if request_id or function_arn or operation
        else None,
        resource_arn=arn if is_segment else None,
        annotations=_annotations(attributes),
        links=_links(span, start_ns),
        namespace=_text(xray.get("namespace")),
        sdk_invocation=sdk_invocation,
        cold_start=sdk_invocation and attributes.get("faas.coldstart") is True,
        record=None if is_segment else _sqs_record(kind, attributes),
    )


def is_span(value: dict[str, object]) -> bool:
    """Whether a JSON object is one span (it has a ``traceId`` or ``spanId`` key)."""
    return "traceId" in value or "spanId" in value
