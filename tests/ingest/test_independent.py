"""Independently sent subsegments give the rows of the same subsegments nested in their segment."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import polars as pl
from _docs import TRACE, async_request, seg, write_lines
from test_spans import all_docs, assert_same_frames

from tracelens.ingest import read_traces
from tracelens.model import schema as col

if TYPE_CHECKING:
    from pathlib import Path


def split_out(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every nested subsegment of ``docs`` sent on its own (as the X-Ray daemon may)."""
    out = []
    for doc in copy.deepcopy(docs):
        stack = [(child, doc["id"]) for child in doc.pop("subsegments", [])]
        out.append(doc)
        while stack:
            child, parent = stack.pop()
            stack.extend((c, child["id"]) for c in child.pop("subsegments", []))
            out.append(
                {**child, "type": "subsegment", "trace_id": doc["trace_id"], "parent_id": parent}
            )
    return out


def test_split_out_subsegments_give_the_nested_rows(tmp_path: Path) -> None:
    # GIVEN documents, and the same documents with every subsegment sent independently
    nested = read_traces([write_lines(tmp_path / "nested.ndjson", all_docs())])
    # WHEN the split ones are read
    split = read_traces([write_lines(tmp_path / "split.ndjson", split_out(all_docs()))])
    # THEN the rows are the same: attempt numbers, call rows, annotations on the segment, and
    # no row for subsegments that would have none nested
    assert_same_frames(split, nested)


def test_an_independent_lambda_invoke_is_the_callers_call(tmp_path: Path) -> None:
    caller = seg("caller", "0000000000000001", origin="AWS::Lambda::Function")
    call = {
        "type": "subsegment",
        "trace_id": TRACE,
        "parent_id": caller["id"],
        "id": "0000000000000002",
        "name": "Lambda",
        "namespace": "aws",
        "aws": {"operation": "Invoke"},
        "start_time": 1681339658.25,
        "end_time": 1681339658.4,
    }
    frames = read_traces([write_lines(tmp_path / "d.ndjson", [caller, call])])
    row = frames.entities.filter(pl.col(col.ID) == call["id"]).row(0, named=True)
    assert (row[col.KIND], row[col.TOP], row[col.DOC_ID], row[col.OPERATION]) == (
        col.KIND_CALL,
        False,
        caller["id"],
        "Invoke",
    )


def test_an_attempt_name_away_from_a_service_segment_is_no_attempt(tmp_path: Path) -> None:
    service, function, _ = async_request()
    stray = {
        "type": "subsegment",
        "trace_id": TRACE,
        "parent_id": function["id"],
        "id": "0000000000000009",
        "name": "Attempt #3",
        "start_time": 1681339659.0,
        "end_time": 1681339659.5,
    }
    frames = read_traces([write_lines(tmp_path / "d.ndjson", [service, function, stray])])
    attempts = frames.entities.filter(pl.col(col.KIND) == col.KIND_ATTEMPT)
    assert sorted(attempts.get_column(col.ATTEMPT).to_list()) == [1, 2]
    assert frames.entities.filter(pl.col(col.ID) == stray["id"]).is_empty()
