"""X-Ray segment documents as spans, written by hand after SPANS_CONTRACT.md, for ingest tests.

Independent of the emulator's writer on purpose: the reader is checked against the contract,
not against one implementation of it.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

SERVICE = "AWS::Lambda"
FUNCTION = "AWS::Lambda::Function"
PARTS = {"Initialization": "Init", "Invocation": "Invocation", "Overhead": "Overhead"}


def ns(seconds: float) -> int:
    return round(Fraction(seconds) * 10**9)


def hex_id(trace_id: str) -> str:
    return trace_id[2:10] + trace_id[11:]


def _span(
    doc: dict[str, Any],
    trace_id: str,
    parent: str | None,
    *,
    segment: bool,
    parent_origin: str | None,
) -> dict[str, Any]:
    name = doc["name"]
    origin = doc.get("origin")
    attributes: dict[str, Any] = {}
    resource: dict[str, Any] = {}
    if segment:
        resource["service.name"] = name
        if origin == SERVICE:
            span_name = name + "/LambdaService"
        elif origin == FUNCTION:
            span_name = name + "/LambdaExecutionEnvironment"
        else:
            span_name = name
            if origin:
                attributes["aws.xray.origin"] = origin
        if origin in (SERVICE, FUNCTION):
            resource["cloud.platform"] = "aws_lambda"
        kind = "SERVER"
    else:
        span_name = (
            f"{PARTS[name]}/LambdaExecutionEnvironment"
            if parent_origin == FUNCTION and name in PARTS
            else ""
        )
        kind = "CLIENT" if doc.get("namespace") in ("aws", "remote") else "INTERNAL"
    if doc.get("resource_arn"):
        resource["cloud.resource_id"] = doc["resource_arn"]
    for flag in ("error", "fault", "throttle"):
        if doc.get(flag):
            attributes[f"aws.xray.{flag}"] = True
    http = doc.get("http", {})
    if "status" in http.get("response", {}):
        attributes["http.response.status_code"] = http["response"]["status"]
    if "method" in http.get("request", {}):
        attributes["http.request.method"] = http["request"]["method"]
    if "url" in http.get("request", {}):
        attributes["url.full"] = http["request"]["url"]
    aws = doc.get("aws", {})
    for key, attribute in (
        ("request_id", "aws.request_id"),
        ("operation", "aws.operation"),
        ("function_arn", "aws.lambda.function_arn"),
    ):
        if key in aws:
            attributes[attribute] = aws[key]
    notes = doc.get("annotations") or {}
    attributes.update(notes)
    if notes:
        attributes["aws.xray.annotation_keys"] = sorted(notes)
    span: dict[str, Any] = {
        "resource": {"attributes": resource},
        "traceId": hex_id(trace_id),
        "spanId": doc["id"],
        "name": span_name,
        "kind": kind,
        "startTimeUnixNano": ns(doc["start_time"]),
        "attributes": attributes,
        "status": {"code": "ERROR" if doc.get("error") or doc.get("fault") else "UNSET"},
    }
    if parent is not None:
        span["parentSpanId"] = parent
    if doc.get("in_progress"):
        attributes["aws.xray.inprogress"] = True
    else:
        span["endTimeUnixNano"] = ns(doc["end_time"])
        span["durationNano"] = span["endTimeUnixNano"] - span["startTimeUnixNano"]
    xray: dict[str, Any] = {"name": name, "type": "segment" if segment else "subsegment"}
    if doc.get("namespace"):
        xray["namespace"] = doc["namespace"]
    cause = doc.get("cause")
    if isinstance(cause, dict) and cause.get("exceptions"):
        first = cause["exceptions"][0]
        xray["cause"] = {"message": first.get("message") or first.get("type")}
        span["events"] = [
            {
                "name": "exception",
                "timeUnixNano": span.get("endTimeUnixNano", span["startTimeUnixNano"]),
                "attributes": {
                    f"exception.{key}": exc[key] for key in ("type", "message") if key in exc
                },
            }
            for exc in cause["exceptions"]
        ]
    elif isinstance(cause, str):
        xray["cause"] = {"id": cause}
    if doc.get("links"):
        span["links"] = [
            {
                "traceId": hex_id(link["trace_id"]),
                "spanId": link["id"],
                "attributes": link.get("attributes", {}),
            }
            for link in doc["links"]
        ]
    span["_aws"] = {"xray": xray}
    return span


def to_spans(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One span per entity of ``docs`` (documents, then their subsegments depth first)."""
    out = []
    for doc in docs:
        trace_id = doc["trace_id"]
        segment = doc.get("type") != "subsegment"
        out.append(_span(doc, trace_id, doc.get("parent_id"), segment=segment, parent_origin=None))
        stack = [
            (child, doc["id"], doc.get("origin")) for child in reversed(doc.get("subsegments", []))
        ]
        while stack:
            child, parent, parent_origin = stack.pop()
            out.append(_span(child, trace_id, parent, segment=False, parent_origin=parent_origin))
            stack.extend((c, child["id"], None) for c in reversed(child.get("subsegments", [])))
    return out
