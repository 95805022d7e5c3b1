"""Spans as input: every span form gives the same frames as the equivalent X-Ray documents."""

from __future__ import annotations

import base64
import copy
import json
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from _docs import TRACE, async_request, seg, write_gzip, write_lines
from _spans import to_spans
from polars.testing import assert_frame_equal

from tracelens.ingest import read_traces
from tracelens.model import schema as col

if TYPE_CHECKING:
    from pathlib import Path

    from tracelens.model.frames import TraceFrames

CALLER_TRACE = "1-6437350a-aaaaaaaaaaaaaaaaaaaaaaaa"
T0 = 1681339658.0


def caller_docs() -> list[dict[str, Any]]:
    """An API Gateway stage calling a function synchronously (a nested Lambda Invoke call), the
    function cold, with a record subsegment, annotations and a link."""
    api = seg(
        "api/dev",
        "ab00000000000001",
        trace_id=CALLER_TRACE,
        start=T0,
        end=T0 + 2,
        origin="AWS::ApiGateway::Stage",
        http={"request": {"method": "GET", "url": "https://x/dev/a"}, "response": {"status": 200}},
        annotations={"tenant": "t-1"},
        subsegments=[
            {
                "id": "ab00000000000002",
                "name": "handler",
                "start_time": T0 + 0.01,
                "end_time": T0 + 1.9,
                "subsegments": [
                    {
                        "id": "ab00000000000003",
                        "name": "Lambda",
                        "namespace": "aws",
                        "start_time": T0 + 0.02,
                        "end_time": T0 + 1.8,
                        "aws": {"operation": "Invoke"},
                    },
                    {
                        "id": "ab00000000000009",
                        "name": "DynamoDB",
                        "namespace": "aws",
                        "start_time": T0 + 0.02,
                        "end_time": T0 + 0.03,
                        "annotations": {"table": "orders"},
                    },
                ],
            }
        ],
    )
    service = seg(
        "sync-fn",
        "ab00000000000004",
        trace_id=CALLER_TRACE,
        start=T0 + 0.03,
        end=T0 + 1.7,
        origin="AWS::Lambda",
        parent_id="ab00000000000003",
        resource_arn="arn:aws:lambda:us-east-1:123456789012:function:sync-fn",
        aws={"request_id": "req-sync"},
        http={"response": {"status": 200}},
    )
    function = seg(
        "sync-fn",
        "ab00000000000005",
        trace_id=CALLER_TRACE,
        start=T0 + 0.04,
        end=T0 + 1.6,
        origin="AWS::Lambda::Function",
        parent_id="ab00000000000004",
        resource_arn="arn:aws:lambda:us-east-1:123456789012:function:sync-fn",
        subsegments=[
            {
                "id": "ab00000000000006",
                "name": "Initialization",
                "start_time": T0,
                "end_time": T0 + 0.04,
            },
            {
                "id": "ab00000000000007",
                "name": "Invocation",
                "start_time": T0 + 0.05,
                "end_time": T0 + 1.5,
                "fault": True,
                "cause": {"exceptions": [{"type": "KeyError", "message": "x"}]},
                "links": [
                    {
                        "trace_id": "1-64373500-bbbbbbbbbbbbbbbbbbbbbbbb",
                        "id": "cc00000000000001",
                        "attributes": {"aws.xray.reserved.reference_type": "parent"},
                    }
                ],
                "subsegments": [
                    {
                        "id": "ab00000000000008",
                        "name": "record",
                        "start_time": T0 + 0.06,
                        "end_time": T0 + 1.4,
                        "annotations": {
                            "event_source": "aws:sqs",
                            "message_id": "m-1",
                            "receive_count": 2,
                        },
                    },
                    # Names that mean something only directly under a Lambda segment.
                    {
                        "id": "ab0000000000000a",
                        "name": "Attempt #1",
                        "start_time": T0 + 0.07,
                        "end_time": T0 + 0.08,
                    },
                    {
                        "id": "ab0000000000000b",
                        "name": "Invocation",
                        "start_time": T0 + 0.07,
                        "end_time": T0 + 0.08,
                    },
                ],
            },
            {
                "id": "ab0000000000000c",
                "name": "Overhead",
                "start_time": T0 + 1.5,
                "end_time": T0 + 1.6,
            },
        ],
    )
    return [api, service, function]


def all_docs() -> list[dict[str, Any]]:
    return [*async_request(), *caller_docs()]


def _sorted(frames: TraceFrames) -> tuple[pl.DataFrame, pl.DataFrame]:
    entities = frames.entities.with_columns(pl.all().cast(pl.String)).sort(pl.all())
    links = frames.links.with_columns(pl.all().cast(pl.String)).sort(pl.all())
    return entities, links


def assert_same_frames(left: TraceFrames, right: TraceFrames) -> None:
    l_entities, l_links = _sorted(left)
    r_entities, r_links = _sorted(right)
    assert_frame_equal(l_entities, r_entities)
    assert_frame_equal(l_links, r_links)


@pytest.fixture
def docs_frames(tmp_path: Path) -> TraceFrames:
    return read_traces([write_lines(tmp_path / "docs.ndjson", all_docs())])


def test_aws_spans_events_give_the_documents_rows(tmp_path: Path, docs_frames: TraceFrames) -> None:
    # GIVEN the documents' entities as aws/spans events, one a line
    path = write_lines(tmp_path / "spans.ndjson", to_spans(all_docs()))
    # WHEN they are read
    frames = read_traces([path])
    # THEN the rows are those of the documents
    assert frames.stats.rejected == 0
    assert_same_frames(frames, docs_frames)
    kinds = frames.entities.get_column(col.KIND).cast(pl.String).to_list()
    assert kinds.count(col.KIND_ATTEMPT) == 2
    assert kinds.count(col.KIND_INVOCATION) == 3
    assert kinds.count(col.KIND_CALL) == 1


def _any(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_any(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": _kv(value)}}
    return {"stringValue": value}


def _kv(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _any(value)} for key, value in attributes.items()]


_KIND = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3}
_STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}


def to_otlp(spans: list[dict[str, Any]], *, base64_ids: bool = False) -> dict[str, Any]:
    """An OTLP/JSON request holding ``spans`` (one resource each), as the collector writes it."""

    def ident(value: str) -> str:
        return base64.b64encode(bytes.fromhex(value)).decode() if base64_ids else value

    resource_spans = []
    for span in spans:
        otlp: dict[str, Any] = {
            "traceId": ident(span["traceId"]),
            "spanId": ident(span["spanId"]),
            "parentSpanId": ident(span["parentSpanId"]) if "parentSpanId" in span else "",
            "name": span["name"],
            "kind": _KIND[span["kind"]],
            "startTimeUnixNano": str(span["startTimeUnixNano"]),
            "attributes": _kv(span["attributes"]),
            "status": {"code": _STATUS[span["status"]["code"]]},
            "_aws": span["_aws"],
        }
        if "endTimeUnixNano" in span:
            otlp["endTimeUnixNano"] = str(span["endTimeUnixNano"])
        if "events" in span:
            otlp["events"] = [
                {
                    **event,
                    "timeUnixNano": str(event["timeUnixNano"]),
                    "attributes": _kv(event["attributes"]),
                }
                for event in span["events"]
            ]
        if "links" in span:
            otlp["links"] = [
                {
                    "traceId": ident(link["traceId"]),
                    "spanId": ident(link["spanId"]),
                    "attributes": _kv(link["attributes"]),
                }
                for link in span["links"]
            ]
        resource_spans.append(
            {
                "resource": {"attributes": _kv(span["resource"]["attributes"])},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": [otlp]}],
            }
        )
    return {"resourceSpans": resource_spans}


def _events(spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "events": [
            {
                "logStreamName": "default",
                "timestamp": span["startTimeUnixNano"] // 10**6,
                "message": json.dumps(span),
                "ingestionTime": span["startTimeUnixNano"] // 10**6 + 5,
                "eventId": f"{n:056d}",
            }
            for n, span in enumerate(spans)
        ],
        "searchedLogStreams": [],
    }


def _insights(spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "results": [
            [
                {"field": "@timestamp", "value": "2023-04-12 22:47:38.000"},
                {"field": "@message", "value": json.dumps(span)},
                {"field": "@ptr", "value": "abc"},
            ]
            for span in spans
        ],
        "statistics": {"recordsMatched": float(len(spans))},
        "status": "Complete",
    }


def _retrieved(docs_or_spans: list[dict[str, Any]], trace_format: str) -> dict[str, Any]:
    return {
        "RetrievalStatus": "COMPLETE",
        "TraceFormat": trace_format,
        "Traces": [
            {
                "Id": TRACE,
                "Duration": 1.0,
                "Spans": [
                    {"Id": item.get("id", item.get("spanId")), "Document": json.dumps(item)}
                    for item in docs_or_spans
                ],
            }
        ],
    }


def _write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value, indent=2))
    return path


FORMS = {
    "filter-log-events": lambda s, p: _write_json(p, _events(s)),
    "get-log-events": lambda s, p: write_lines(
        p, [{"events": _events(s)["events"], "nextForwardToken": "f/1"}]
    ),
    "insights-results": lambda s, p: _write_json(p, _insights(s)),
    "insights-export": lambda s, p: write_lines(
        p, [{"@timestamp": "2023-04-12 22:47:38.000", "@message": json.dumps(x)} for x in s]
    ),
    "insights-export-objects": lambda s, p: write_lines(p, [{"@message": x} for x in s]),
    "span-array": lambda s, p: _write_json(p, s),
    "retrieved-otel-spans": lambda s, p: write_lines(p, [_retrieved(s, "OTEL")]),
    "retrieved-otel-otlp": lambda s, p: write_lines(
        p,
        [
            {
                **_retrieved([], "OTEL"),
                "Traces": [
                    {
                        "Id": TRACE,
                        "Spans": [
                            {"Id": x["spanId"], "Document": json.dumps(to_otlp([x]))} for x in s
                        ],
                    }
                ],
            }
        ],
    ),
    "otlp-lines": lambda s, p: write_lines(p, [to_otlp(s[:5]), to_otlp(s[5:])]),
    "otlp-base64-ids": lambda s, p: write_lines(p, [to_otlp(s, base64_ids=True)]),
    "gzip": lambda s, p: write_gzip(p, "".join(json.dumps(x) + "\n" for x in s)),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_span_form_gives_the_documents_rows(
    tmp_path: Path, docs_frames: TraceFrames, form: str
) -> None:
    # GIVEN the documents' spans in one of the wrapper forms
    path = FORMS[form](to_spans(all_docs()), tmp_path / "input")
    # WHEN the file is read
    frames = read_traces([path])
    # THEN nothing is rejected and the rows are those of the documents
    assert [r.reason for r in frames.stats.rejections] == []
    assert_same_frames(frames, docs_frames)


def test_retrieved_xray_pages_are_segment_documents(
    tmp_path: Path, docs_frames: TraceFrames
) -> None:
    path = write_lines(tmp_path / "page.json", [_retrieved(all_docs(), "XRAY")])
    assert_same_frames(read_traces([path]), docs_frames)


def test_a_directory_of_spans_and_gzip(tmp_path: Path, docs_frames: TraceFrames) -> None:
    spans = to_spans(all_docs())
    folder = tmp_path / "in"
    folder.mkdir()
    write_lines(folder / "a.ndjson", spans[:7])
    write_gzip(folder / "b.json.gz", "".join(json.dumps(x) + "\n" for x in spans[7:]))
    assert_same_frames(read_traces([folder]), docs_frames)


@pytest.mark.parametrize("snapshot_first", [True, False])
def test_in_progress_snapshot_and_complete_span_are_one_row(
    tmp_path: Path, snapshot_first: bool
) -> None:
    # GIVEN Lambda's in-progress snapshot of a service segment and the completed span
    docs = async_request()
    spans = to_spans(docs)
    complete = spans[0]
    snapshot = copy.deepcopy(complete)
    del snapshot["endTimeUnixNano"], snapshot["durationNano"]
    snapshot["attributes"] = {"aws.request_id": "req-1", "aws.xray.inprogress": True}
    ordered = [snapshot, complete] if snapshot_first else [complete, snapshot]
    frames = read_traces([write_lines(tmp_path / "s.ndjson", [*ordered, *spans[1:]])])
    # THEN the completed one is the only row, the snapshot a duplicate
    assert frames.stats.duplicates == 1
    service = frames.entities.filter(pl.col(col.KIND) == col.KIND_SERVICE)
    assert service.height == 1
    assert service.row(0, named=True)[col.IN_PROGRESS] is False
    assert service.row(0, named=True)[col.HTTP_STATUS] == 202
    docs_frames = read_traces([write_lines(tmp_path / "d.ndjson", docs)])
    assert_same_frames(frames, docs_frames)


def test_an_in_progress_span_alone_is_in_progress(tmp_path: Path) -> None:
    span = to_spans([seg("fn", "0000000000000001", end=None, origin="AWS::Lambda")])[0]
    assert "endTimeUnixNano" not in span
    frames = read_traces([write_lines(tmp_path / "s.ndjson", [span])])
    row = frames.entities.row(0, named=True)
    assert (row[col.KIND], row[col.IN_PROGRESS], row[col.END]) == (col.KIND_SERVICE, True, None)


@pytest.mark.parametrize("spans_first", [True, False])
def test_a_trace_given_as_documents_and_as_spans_is_counted_once(
    tmp_path: Path, docs_frames: TraceFrames, spans_first: bool
) -> None:
    # GIVEN a bundle holding every entity twice: as X-Ray documents and as spans
    docs = write_lines(tmp_path / "segments.ndjson", all_docs())
    spans = to_spans(all_docs())
    span_file = write_lines(tmp_path / "spans.ndjson", spans)
    # WHEN both files are read (in either order)
    frames = read_traces([span_file, docs] if spans_first else [docs, span_file])
    # THEN every row is there once; the form read first wins: after the documents every span
    # is a duplicate, after the spans every document (its subsegments go with it)
    assert_same_frames(frames, docs_frames)
    assert frames.stats.documents == len(all_docs()) + len(spans)
    assert frames.stats.duplicates == (len(all_docs()) if spans_first else len(spans))


def test_an_independent_span_of_a_nested_attempt_is_one_row(tmp_path: Path) -> None:
    # GIVEN the service document with its attempts nested, and Attempt #1 again as a span
    docs = async_request()
    attempt_span = next(s for s in to_spans(docs) if s["_aws"]["xray"]["name"] == "Attempt #1")
    frames = read_traces([write_lines(tmp_path / "mix.ndjson", [*docs, attempt_span])])
    # THEN one attempt row, one duplicate
    attempts = frames.entities.filter(pl.col(col.KIND) == col.KIND_ATTEMPT)
    assert sorted(attempts.get_column(col.ATTEMPT).to_list()) == [1, 2]
    assert frames.stats.duplicates == 1


def test_a_file_mixing_documents_and_spans_is_read_whole(tmp_path: Path) -> None:
    docs = async_request()
    spans = to_spans(caller_docs())
    values = [docs[0], *spans[:4], docs[1], *spans[4:], docs[2]]
    frames = read_traces([write_lines(tmp_path / "mix.ndjson", values)])
    assert frames.stats.rejected == 0
    expected = read_traces([write_lines(tmp_path / "d.ndjson", all_docs())])
    assert_same_frames(frames, expected)


def test_a_bundle_with_spans_otlp_and_source_files(
    tmp_path: Path, docs_frames: TraceFrames
) -> None:
    from tracelens.model import bundle

    # GIVEN a bundle: some entities as spans, the rest as OTLP requests, and fetch's side file
    spans = to_spans(all_docs())
    root = tmp_path / "bundle"
    root.mkdir()
    write_lines(bundle.spans_path(root), spans[:9])
    write_lines(bundle.otlp_path(root), [to_otlp(spans[9:])])
    bundle.source_path(root).write_text(json.dumps({"source": "spans", "traceId": "x"}))
    # WHEN the bundle is read THEN it is the documents' rows, and source.json is no input
    frames = read_traces([root])
    assert frames.stats.rejected == 0
    assert len(frames.stats.files) == 2
    assert_same_frames(frames, docs_frames)
