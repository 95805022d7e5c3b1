"""Every input form of ARCHITECTURE.md decodes to the same frames (hypothesis round trips)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from _docs import async_request, batch_page, write_gzip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tracelens.ingest import read_traces
from tracelens.model import schema as col

if TYPE_CHECKING:
    from collections.abc import Callable

HEX = "0123456789abcdef"
ids = st.text(HEX, min_size=16, max_size=16)
names = st.sampled_from(
    [
        "Dwell Time",
        "Attempt #1",
        "Attempt #2",
        "Invocation",
        "Initialization",
        "Overhead",
        "DynamoDB",
        "attempt",
        "## handler",
        "SQS record",
    ]
)
times = st.floats(min_value=1.6e9, max_value=1.8e9, allow_nan=False)


@st.composite
def subsegment(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    start = draw(times)
    sub: dict[str, Any] = {
        "id": draw(ids),
        "name": draw(names),
        "start_time": start,
        "end_time": start + draw(st.floats(0, 100)),
    }
    if draw(st.booleans()):
        sub["error"] = True
    if draw(st.integers(0, 4)) == 0:
        sub["annotations"] = {
            "event_source": "aws:sqs",
            "message_id": draw(ids),
            "receive_count": draw(st.integers(1, 9)),
        }
    if depth < 3 and draw(st.booleans()):
        sub["subsegments"] = draw(st.lists(subsegment(depth + 1), max_size=3))
    return sub


@st.composite
def document(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(times)
    trace = f"1-{draw(st.text(HEX, min_size=8, max_size=8))}-{draw(st.text(HEX, min_size=24, max_size=24))}"
    doc: dict[str, Any] = {
        "name": draw(st.sampled_from(["fn-a", "fn-b", "api/dev"])),
        "id": draw(ids),
        "trace_id": trace,
        "start_time": start,
        "origin": draw(
            st.sampled_from(["AWS::Lambda", "AWS::Lambda::Function", "AWS::ApiGateway::Stage"])
        ),
        "subsegments": draw(st.lists(subsegment(), max_size=4)),
    }
    if draw(st.booleans()):
        doc["end_time"] = start + 1.5
    else:
        doc["in_progress"] = True
    return doc


def _lines(docs: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(d) + "\n" for d in docs)


WRITERS: dict[str, Callable[[list[dict[str, Any]]], str]] = {
    "batch_page_encoded": lambda docs: json.dumps(batch_page(docs)),
    "batch_page_decoded": lambda docs: json.dumps(batch_page(docs, encoded=False)),
    "batch_page_pretty": lambda docs: json.dumps(batch_page(docs), indent=2),
    "trace_per_line": lambda docs: _lines(batch_page(docs)["Traces"]),
    "trace_list": lambda docs: json.dumps(batch_page(docs)["Traces"]),
    "segments_as_bare_docs": lambda docs: json.dumps(
        [
            {"Id": t["Id"], "Segments": [json.loads(s["Document"]) for s in t["Segments"]]}
            for t in batch_page(docs)["Traces"]
        ]
    ),
    "ndjson_documents": _lines,
    "json_list_of_documents": lambda docs: json.dumps(docs, indent=1),
    "daemon_datagrams": lambda docs: "".join(
        '{"format":"json","version":1}\n' + json.dumps(d) + "\n" for d in docs
    ),
}


def _frame(path: Path) -> pl.DataFrame:
    frames = read_traces([path], workers=1)
    return frames.entities.sort(col.TRACE_ID, col.ID, col.KIND, col.START)


def _unique_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in docs:
        seen.setdefault((doc["trace_id"], doc["id"]), doc)
    return list(seen.values())


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(docs=st.lists(document(), min_size=1, max_size=6))
def test_every_form_gives_the_same_frames(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    # GIVEN random documents written in every input form (and gzipped)
    docs = _unique_docs(docs)
    reference = _frame(Path(write_gzip(tmp_path / "ref.gz", _lines(docs))))
    # THEN each form decodes to exactly the same entity rows
    for name, writer in WRITERS.items():
        text = writer(docs)
        plain = tmp_path / f"{name}.json"
        plain.write_text(text)
        assert_frame_equal(_frame(plain), reference)
        assert_frame_equal(_frame(write_gzip(tmp_path / f"{name}.gz", text)), reference)
    # AND every subsegment the analyses use becomes a row, with its parent link
    assert reference.filter(pl.col(col.TOP)).height == len(docs)


def test_single_pretty_document_fills_the_file(tmp_path: Path) -> None:
    docs = async_request()
    path = tmp_path / "one.json"
    path.write_text(json.dumps(docs[0], indent=4))
    entities = read_traces([path]).entities
    assert sorted(entities.get_column(col.KIND).to_list()) == [
        "attempt",
        "attempt",
        "dwell",
        "service",
    ]


@pytest.mark.parametrize("encoded", [True, False])
def test_async_request_shape(tmp_path: Path, encoded: bool) -> None:
    path = tmp_path / "page.json"
    path.write_text(json.dumps(batch_page(async_request(), encoded=encoded)))
    entities = read_traces([path]).entities
    attempts = entities.filter(pl.col(col.KIND) == col.KIND_ATTEMPT).sort(col.ATTEMPT)
    assert attempts.get_column(col.ATTEMPT).to_list() == [1, 2]
    assert attempts.get_column(col.ERROR).to_list() == [True, False]
    assert attempts.get_column(col.DOC_ID).unique().to_list() == ["5e00000000000001"]
    invocation = entities.filter(pl.col(col.KIND) == col.KIND_INVOCATION).sort(col.DOC_ID)
    assert invocation.get_column(col.CAUSE).to_list() == ["ValueError: boom", None]
    functions = entities.filter(pl.col(col.KIND) == col.KIND_FUNCTION).sort(col.START)
    assert functions.get_column(col.PARENT_ID).to_list() == ["a100000000000001", "a100000000000002"]
    # times keep microsecond precision in UTC
    service = entities.filter(pl.col(col.KIND) == col.KIND_SERVICE).row(0, named=True)
    assert service[col.START].isoformat() == "2023-04-12T22:47:38+00:00"
    assert entities.schema == col.ENTITIES
