"""Look into fetched traces: the record written per trace, ``in_progress`` documents, functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from tracelens.model.side import function_name_from_arn


def trace_record(trace: Mapping[str, Any]) -> dict[str, Any]:
    """The Trace object as written: Id, Duration, LimitExceeded, Segments[{Id, Document}].

    Args:
        trace: A BatchGetTraces Trace object.

    Returns:
        The fields kept, in that order.
    """
    segments = [
        {"Id": s.get("Id"), "Document": s.get("Document")}
        for s in trace.get("Segments", [])
        if isinstance(s, Mapping)
    ]
    return {
        "Id": trace.get("Id"),
        "Duration": trace.get("Duration"),
        "LimitExceeded": bool(trace.get("LimitExceeded", False)),
        "Segments": segments,
    }


class _DocProbe(msgspec.Struct):
    """The few fields of a segment document the fetcher looks at."""

    origin: str | None = None
    name: str | None = None
    in_progress: bool | None = None
    aws: dict[str, Any] | None = None
    subsegments: list[_SubProbe] | None = None


class _SubProbe(msgspec.Struct):
    in_progress: bool | None = None
    subsegments: list[_SubProbe] | None = None


_DOC_DECODER = msgspec.json.Decoder(_DocProbe)


def _sub_in_progress(subs: list[_SubProbe] | None) -> bool:
    stack = list(subs or ())
    while stack:
        sub = stack.pop()
        if sub.in_progress:
            return True
        stack.extend(sub.subsegments or ())
    return False


def inspect_trace(trace: Mapping[str, Any]) -> tuple[bool, set[str]]:
    """Say whether a trace has ``in_progress`` documents, and which functions it shows.

    Args:
        trace: A BatchGetTraces Trace object (``Document`` a JSON string or an object).

    Returns:
        (in progress anywhere, Lambda function names from ``AWS::Lambda::Function``
        documents' ``aws.function_arn``, else their ``name``).
    """
    in_progress = False
    functions: set[str] = set()
    for segment in trace.get("Segments", []):
        document = segment.get("Document") if isinstance(segment, Mapping) else None
        if isinstance(document, Mapping):
            document = msgspec.json.encode(document)
        if not isinstance(document, str | bytes):
            continue
        text = document.encode() if isinstance(document, str) else document
        if b"in_progress" not in text and b"AWS::Lambda::Function" not in text:
            continue
        try:
            probe = _DOC_DECODER.decode(text)
        except msgspec.DecodeError:
            continue
        if probe.in_progress or _sub_in_progress(probe.subsegments):
            in_progress = True
        if probe.origin == "AWS::Lambda::Function":
            arn = (probe.aws or {}).get("function_arn")
            name = function_name_from_arn(arn) if isinstance(arn, str) else None
            name = name or probe.name
            if name:
                functions.add(name)
    return in_progress, functions


__all__ = ["inspect_trace", "trace_record"]
