"""X-Ray segment documents as CloudWatch ``aws/spans`` log events (what Transaction Search keeps).

Every X-Ray to span decision of the emulator is in this module; the rules are the ones of
``SPANS_CONTRACT.md`` (the agreement with the span reader in ``tracelens.ingest``), which
follow what real Transaction Search data shows for converted Lambda segments:

- one span per entity: each top-level document and each nested subsegment at any depth, a
  nested subsegment's ``parentSpanId`` being the enclosing entity's id;
- the Lambda service segment (``origin`` ``AWS::Lambda``) is ``<fn>/LambdaService``, the
  function segment ``<fn>/LambdaExecutionEnvironment``, their ``Initialization``,
  ``Invocation`` and ``Overhead`` subsegments ``Init/…``, ``Invocation/…`` and
  ``Overhead/…``; every other subsegment has the name ``""`` and keeps its X-Ray name in
  ``_aws.xray.name`` (as ``Dwell Time`` and ``Attempt #N`` do);
- times are integer nanoseconds, ``round(Fraction(seconds) * 10**9)``, so ``ns / 10**9``
  gives back exactly the document's float;
- before each complete Lambda service segment the writer puts the in-progress snapshot
  Lambda sends when the request arrives (same ``spanId``, no end, ``aws.xray.inprogress``).
  The snapshot holds what is known then: ids, name, start, request id, ARN, annotations and
  links; never the outcome (HTTP status, failure flags, status ``ERROR``, exceptions).

Fields of the documents that the contract does not map (``aws.account_id``,
``aws.queue_url``, ``cause.working_directory``, exception ids …) are not written.

Output order follows the documents (bundle order: start time, then id); a document's spans
are its snapshot (if any), itself, then its subsegments depth first. Keys are written in a
fixed order and JSON compactly, so the same documents always give the same bytes.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from tracelens.errors import EmulatorError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

SERVICE_ORIGIN = "AWS::Lambda"
FUNCTION_ORIGIN = "AWS::Lambda::Function"
SERVICE_SUFFIX = "/LambdaService"
FUNCTION_SUFFIX = "/LambdaExecutionEnvironment"
#: Span names of a function segment's own subsegments, by X-Ray name.
FUNCTION_PARTS = {
    "Initialization": "Init" + FUNCTION_SUFFIX,
    "Invocation": "Invocation" + FUNCTION_SUFFIX,
    "Overhead": "Overhead" + FUNCTION_SUFFIX,
}
LAMBDA_PLATFORM = "aws_lambda"

_XRAY_TRACE_ID = re.compile(r"1-([0-9a-f]{8})-([0-9a-f]{24})")
#: ``aws`` block keys carried as span attributes, and their attribute names.
_AWS_ATTRIBUTES = (
    ("request_id", "aws.request_id"),
    ("operation", "aws.operation"),
    ("function_arn", "aws.lambda.function_arn"),
)
#: Attributes that state an outcome: a snapshot taken when the request arrives has none.
_OUTCOME_ATTRIBUTES = (
    "http.response.status_code",
    "aws.xray.error",
    "aws.xray.fault",
    "aws.xray.throttle",
)


def to_nanos(seconds: float) -> int:
    """Seconds since the epoch as exact integer nanoseconds (``ns / 10**9`` gives it back)."""
    return round(Fraction(seconds) * 10**9)


def otel_trace_id(trace_id: object) -> str:
    """``1-xxxxxxxx-yyyy…`` (24 hex) as the 32 lowercase hex digits of an OTel trace id.

    Raises:
        EmulatorError: not an X-Ray trace id.
    """
    match = _XRAY_TRACE_ID.fullmatch(trace_id) if isinstance(trace_id, str) else None
    if match is None:
        raise EmulatorError(f"{trace_id!r}: not an X-Ray trace id (1-8hex-24hex)")
    return match.group(1) + match.group(2)


def _kind(doc: dict[str, Any], *, segment: bool) -> str:
    if segment:
        return "SERVER"
    return "CLIENT" if doc.get("namespace") in ("aws", "remote") else "INTERNAL"


def _span_name(doc: dict[str, Any], *, segment: bool, parent_origin: str | None) -> str:
    name = str(doc.get("name", ""))
    origin = doc.get("origin")
    if segment:
        if origin == SERVICE_ORIGIN:
            return name + SERVICE_SUFFIX
        if origin == FUNCTION_ORIGIN:
            return name + FUNCTION_SUFFIX
        return name
    if parent_origin == FUNCTION_ORIGIN and name in FUNCTION_PARTS:
        return FUNCTION_PARTS[name]
    return ""


def _resource(doc: dict[str, Any], *, segment: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if segment and "name" in doc:
        attributes["service.name"] = doc["name"]
    if segment and doc.get("origin") in (SERVICE_ORIGIN, FUNCTION_ORIGIN):
        attributes["cloud.platform"] = LAMBDA_PLATFORM
    if doc.get("resource_arn"):
        attributes["cloud.resource_id"] = doc["resource_arn"]
    return {"attributes": attributes}


def _attributes(doc: dict[str, Any], *, segment: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    origin = doc.get("origin")
    if segment and origin and origin not in (SERVICE_ORIGIN, FUNCTION_ORIGIN):
        out["aws.xray.origin"] = origin
    if doc.get("in_progress") is True:
        out["aws.xray.inprogress"] = True
    for flag in ("error", "fault", "throttle"):
        if doc.get(flag) is True:
            out[f"aws.xray.{flag}"] = True
    http = doc.get("http") or {}
    request = http.get("request") or {}
    if "method" in request:
        out["http.request.method"] = request["method"]
    if "url" in request:
        out["url.full"] = request["url"]
    status = (http.get("response") or {}).get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        out["http.response.status_code"] = status
    aws = doc.get("aws") or {}
    for key, attribute in _AWS_ATTRIBUTES:
        if aws.get(key) is not None:
            out[attribute] = aws[key]
    annotations = doc.get("annotations") or {}
    for key, value in annotations.items():
        out[key] = value
    if annotations:
        out["aws.xray.annotation_keys"] = sorted(annotations)
    return out


def _exceptions(cause: object) -> list[dict[str, Any]]:
    if not isinstance(cause, dict):
        return []
    return [exc for exc in cause.get("exceptions") or () if isinstance(exc, dict)]


def _events(doc: dict[str, Any], time_ns: int) -> list[dict[str, Any]]:
    events = []
    for exc in _exceptions(doc.get("cause")):
        attributes = {}
        if exc.get("type") is not None:
            attributes["exception.type"] = exc["type"]
        if exc.get("message") is not None:
            attributes["exception.message"] = exc["message"]
        events.append({"name": "exception", "timeUnixNano": time_ns, "attributes": attributes})
    return events


def _xray(doc: dict[str, Any], *, segment: bool) -> dict[str, Any]:
    xray: dict[str, Any] = {"name": doc.get("name", "")}
    xray["type"] = "segment" if segment else "subsegment"
    namespace = doc.get("namespace")
    if not segment and namespace in ("aws", "remote"):
        xray["namespace"] = namespace
    cause = doc.get("cause")
    if isinstance(cause, str) and cause:
        xray["cause"] = {"id": cause}
    else:
        first = _exceptions(cause)[:1]
        message = first[0].get("message") or first[0].get("type") if first else None
        if message is not None:
            xray["cause"] = {"message": message}
    return {"xray": xray}


def _links(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "traceId": otel_trace_id(link.get("trace_id")),
            "spanId": link.get("id"),
            "attributes": dict(link.get("attributes") or {}),
        }
        for link in doc.get("links") or ()
        if isinstance(link, dict)
    ]


def _span(
    doc: dict[str, Any],
    trace_id: str,
    parent_id: str | None,
    *,
    segment: bool,
    parent_origin: str | None,
) -> dict[str, Any]:
    """One entity as one span (its subsegments not included)."""
    start = to_nanos(doc["start_time"])
    in_progress = doc.get("in_progress") is True or doc.get("end_time") is None
    end = None if in_progress else to_nanos(doc["end_time"])
    span: dict[str, Any] = {"resource": _resource(doc, segment=segment), "traceId": trace_id}
    span["spanId"] = doc["id"]
    if parent_id is not None:
        span["parentSpanId"] = parent_id
    span["name"] = _span_name(doc, segment=segment, parent_origin=parent_origin)
    span["kind"] = _kind(doc, segment=segment)
    span["startTimeUnixNano"] = start
    attributes = _attributes(doc, segment=segment)
    if end is not None:
        span["endTimeUnixNano"] = end
        span["durationNano"] = end - start
    else:
        attributes["aws.xray.inprogress"] = True
    span["attributes"] = attributes
    failed = doc.get("error") is True or doc.get("fault") is True
    span["status"] = {"code": "ERROR" if failed else "UNSET"}
    events = _events(doc, start if end is None else end)
    if events:
        span["events"] = events
    links = _links(doc)
    if links:
        span["links"] = links
    span["_aws"] = _xray(doc, segment=segment)
    return span


def snapshot(span: dict[str, Any]) -> dict[str, Any]:
    """The in-progress event Lambda writes for a service segment when the request arrives.

    Same span, no end or duration, ``aws.xray.inprogress`` true, and none of the outcome:
    no HTTP status, failure flags, exception events or cause; status ``UNSET``.
    """
    attributes = {
        key: value for key, value in span["attributes"].items() if key not in _OUTCOME_ATTRIBUTES
    }
    attributes["aws.xray.inprogress"] = True
    xray = {key: value for key, value in span["_aws"]["xray"].items() if key != "cause"}
    out: dict[str, Any] = {}
    for key, value in span.items():
        if key in ("endTimeUnixNano", "durationNano", "events"):
            continue
        if key == "attributes":
            value = attributes
        elif key == "status":
            value = {"code": "UNSET"}
        elif key == "_aws":
            value = {"xray": xray}
        out[key] = value
    return out


def document_spans(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The spans of one top-level X-Ray document, in file order.

    A Lambda service segment's in-progress snapshot comes first (unless the document itself
    is in progress), then the document's span, then every nested subsegment depth first.

    Raises:
        EmulatorError: the document has no valid trace id, or an entity lacks an id or start.
    """
    trace_id = otel_trace_id(doc.get("trace_id"))
    segment = doc.get("type") != "subsegment"
    out: list[dict[str, Any]] = []
    try:
        top = _span(doc, trace_id, doc.get("parent_id"), segment=segment, parent_origin=None)
        if segment and doc.get("origin") == SERVICE_ORIGIN and "endTimeUnixNano" in top:
            out.append(snapshot(top))
        out.append(top)
        stack = [(child, doc) for child in reversed(doc.get("subsegments") or ())]
        while stack:
            child, parent = stack.pop()
            parent_origin = parent.get("origin") if parent is doc and segment else None
            out.append(
                _span(child, trace_id, parent["id"], segment=False, parent_origin=parent_origin)
            )
            stack.extend(
                (grandchild, child) for grandchild in reversed(child.get("subsegments") or ())
            )
    except (KeyError, TypeError) as exc:
        raise EmulatorError(f"{doc.get('id')!r}: cannot write as spans: {exc}") from exc
    return out


def encode(span: dict[str, Any]) -> str:
    """One span as one compact JSON line (no newline)."""
    return json.dumps(span, separators=(",", ":"))


def span_lines(document_lines: Iterable[str]) -> Iterator[str]:
    """The ``spans.ndjson`` lines of X-Ray document lines given in bundle order.

    Raises:
        EmulatorError: a line is not a document the writer can convert.
    """
    for line in document_lines:
        doc = json.loads(line)
        if not isinstance(doc, dict):
            raise EmulatorError("a trace line is not a JSON object")
        for span in document_spans(doc):
            yield encode(span)
