"""FrameBuilder: row order and content whatever order documents are added in."""

from __future__ import annotations

import msgspec
import polars as pl

from tests.ingest._docs import async_request, seg
from tracelens.ingest.normalise import FILE, POS, SUB, FrameBuilder
from tracelens.model import schema as col
from tracelens.model.segment import DOCUMENT_DECODER, Entity

_LINK = {
    "trace_id": "1-6437350a-5611b044040fc7224c4790b7",
    "id": "f000000000000001",
    "attributes": {"aws.xray.reserved.reference_type": "child", "aws.xray.reserved.type": "x"},
}


def _documents() -> list[Entity]:
    """A service segment with attempts, a function segment with a record child, a linked one."""
    function = seg(
        "fn",
        "f900000000000001",
        origin="AWS::Lambda::Function",
        subsegments=[
            {"id": "b100000000000001", "name": "Invocation", "start_time": 1681339658.3},
            {
                "id": "b100000000000002",
                "name": "record",
                "start_time": 1681339658.31,
                "end_time": 1681339658.32,
                "annotations": {"event_source": "aws:sqs", "message_id": "m-1"},
                "links": [_LINK],
            },
        ],
    )
    plain = seg("caller", "c100000000000001", links=[_LINK])
    raw = [*async_request(), function, plain]
    return [DOCUMENT_DECODER.decode(msgspec.json.encode(doc)) for doc in raw]


def _take(keys: list[tuple[int, int, int]], docs: list[Entity]) -> tuple[pl.DataFrame, ...]:
    builder = FrameBuilder()
    for doc, (file, pos, sub) in zip(docs, keys, strict=True):
        builder.add(doc, file=file, pos=pos, sub=sub)
    return builder.take()


def test_rows_follow_their_document_in_reading_order() -> None:
    docs = _documents()
    rows, links = _take([(0, index, 0) for index in range(len(docs))], docs)
    assert rows.get_column(col.TOP).to_list()[0] is True
    # Every sub row carries the trace id, document id and ordering fields of its document.
    for doc_id, group in rows.group_by(col.DOC_ID, maintain_order=True):
        assert group.get_column(col.TOP).to_list()[0] is True
        assert group.get_column(col.ID).to_list()[0] == doc_id[0]
        assert group.select(pl.col(POS).n_unique()).item() == 1
    assert rows.get_column(POS).is_sorted()
    assert links.height == 2
    assert links.get_column(col.DOC_ID).to_list() == ["f900000000000001", "c100000000000001"]


def test_documents_added_out_of_order_give_the_rows_of_reading_order() -> None:
    docs = _documents()
    keys = [(0, index, 0) for index in range(len(docs))]
    expected_rows, expected_links = _take(keys, docs)
    order = list(reversed(range(len(docs))))
    rows, links = _take([keys[i] for i in order], [docs[i] for i in order])
    assert rows.equals(expected_rows)
    # Links keep the order they were added in.
    assert links.sort(col.DOC_ID).equals(expected_links.sort(col.DOC_ID))


def test_documents_with_equal_positions_keep_their_rows_apart_as_before() -> None:
    # Two documents at the same (file, pos, sub): their top rows come first, then the sub
    # rows of each, in the order they were added (a stable sort on the position).
    docs = _documents()
    rows, _ = _take([(1, 5, 0)] * len(docs), docs)
    tops = rows.get_column(col.TOP).to_list()
    assert tops == sorted(tops, reverse=True)
    assert rows.filter(pl.col(col.TOP)).get_column(col.ID).to_list() == [d.id for d in docs]
    assert rows.select(FILE, POS, SUB).unique().height == 1


def test_take_starts_over() -> None:
    docs = _documents()
    builder = FrameBuilder()
    builder.add(docs[0], file=0, pos=9, sub=0)
    builder.take()
    builder.add(docs[1], file=0, pos=1, sub=0)  # earlier than the last batch: a new batch
    rows, links = builder.take()
    assert builder.pending == 0
    assert rows.filter(pl.col(col.TOP)).get_column(col.ID).to_list() == [docs[1].id]
    assert links.is_empty()
    empty_rows, empty_links = builder.take()
    assert empty_rows.is_empty()
    assert empty_rows.schema == rows.schema
    assert empty_links.is_empty()
    assert empty_links.schema == links.schema


def _call(call_id: str, **extra: object) -> dict[str, object]:
    return {
        "id": call_id,
        "name": "Lambda",
        "namespace": "aws",
        "start_time": 1681339658.3,
        "end_time": 1681339658.4,
        "aws": {"operation": "Invoke", "request_id": "r-1"},
        **extra,
    }


def test_lambda_invoke_subsegments_become_call_rows_at_any_depth() -> None:
    """A caller's ``Lambda`` Invoke subsegment is a ``call`` row whose doc_id is the caller."""
    gateway = seg("shop-api/prod", "a100000000000001", subsegments=[_call("c100000000000001")])
    function = seg(
        "caller-fn",
        "f100000000000001",
        origin="AWS::Lambda::Function",
        subsegments=[
            {
                "id": "b100000000000001",
                "name": "Invocation",
                "start_time": 1681339658.3,
                "end_time": 1681339658.5,
                "subsegments": [
                    _call("c100000000000002"),
                    # another Lambda API call (not an invoke) and a non-AWS "Lambda" are no calls
                    _call("c100000000000003", aws={"operation": "GetFunction"}),
                    {**_call("c100000000000004"), "namespace": "remote"},
                ],
            }
        ],
    )
    docs = [DOCUMENT_DECODER.decode(msgspec.json.encode(doc)) for doc in (gateway, function)]
    rows, _ = _take([(0, 0, 0), (0, 1, 0)], docs)
    calls = rows.filter(pl.col(col.KIND) == col.KIND_CALL)
    assert calls.select(col.ID, col.PARENT_ID, col.DOC_ID, col.OPERATION).rows() == [
        ("c100000000000001", "a100000000000001", "a100000000000001", "Invoke"),
        ("c100000000000002", "b100000000000001", "f100000000000001", "Invoke"),
    ]
