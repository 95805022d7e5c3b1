"""Builders of X-Ray segment documents for ingest tests."""

from __future__ import annotations

import gzip
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

TRACE = "1-6437350a-5611b044040fc7224c4790b6"


def seg(
    name: str,
    seg_id: str,
    *,
    trace_id: str = TRACE,
    start: float = 1681339658.203,
    end: float | None = 1681339658.5,
    **fields: Any,
) -> dict[str, Any]:
    """A segment document with the required fields."""
    doc: dict[str, Any] = {"name": name, "id": seg_id, "trace_id": trace_id, "start_time": start}
    if end is None:
        doc["in_progress"] = True
    else:
        doc["end_time"] = end
    doc.update(fields)
    return doc


def async_request(trace_id: str = TRACE, *, failed_first: bool = True) -> list[dict[str, Any]]:
    """An async Lambda request with two attempts, as xray-lambda-shapes.md §4.2 expects."""
    t0 = 1681339658.0
    attempts = [
        {
            "id": "a100000000000001",
            "name": "Attempt #1",
            "start_time": t0 + 1,
            "end_time": t0 + 2,
            **({"error": True} if failed_first else {}),
        },
        {
            "id": "a100000000000002",
            "name": "Attempt #2",
            "start_time": t0 + 62,
            "end_time": t0 + 63,
        },
    ]
    service = seg(
        "my-fn",
        "5e00000000000001",
        trace_id=trace_id,
        start=t0,
        end=t0 + 0.02,
        origin="AWS::Lambda",
        resource_arn="arn:aws:lambda:us-east-1:123456789012:function:my-fn",
        aws={"request_id": "req-1"},
        http={"response": {"status": 202}},
        subsegments=[
            {"id": "d100000000000001", "name": "Dwell Time", "start_time": t0, "end_time": t0 + 1},
            *attempts,
        ],
    )
    functions = [
        seg(
            "my-fn",
            f"f10000000000000{n}",
            trace_id=trace_id,
            start=a["start_time"],
            end=a["end_time"],
            origin="AWS::Lambda::Function",
            parent_id=a["id"],
            subsegments=[
                {
                    "id": f"b10000000000000{n}",
                    "name": "Invocation",
                    "start_time": a["start_time"],
                    "end_time": a["end_time"],
                    **(
                        {
                            "error": True,
                            "cause": {"exceptions": [{"type": "ValueError", "message": "boom"}]},
                        }
                        if a.get("error")
                        else {}
                    ),
                },
            ],
        )
        for n, a in enumerate(attempts, start=1)
    ]
    return [service, *functions]


def batch_page(docs: list[dict[str, Any]], *, encoded: bool = True) -> dict[str, Any]:
    """A BatchGetTraces response holding ``docs`` grouped by trace."""
    traces: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        traces.setdefault(doc["trace_id"], []).append(doc)
    return {
        "Traces": [
            {
                "Id": trace_id,
                "Duration": 1.0,
                "LimitExceeded": False,
                "Segments": [
                    {"Id": d["id"], "Document": json.dumps(d) if encoded else d} for d in members
                ],
            }
            for trace_id, members in traces.items()
        ],
        "UnprocessedTraceIds": [],
    }


def write_lines(path: Path, values: list[Any]) -> Path:
    path.write_text("".join(json.dumps(v) + "\n" for v in values))
    return path


def write_gzip(path: Path, text: str) -> Path:
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    return path
