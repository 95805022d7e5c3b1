"""Duplicates, independent subsegments, links and the real traces in ../shared/real_traces."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from _docs import TRACE, async_request, batch_page, seg, write_gzip, write_lines

from tests.conftest import require_shared
from tracelens.errors import SourceUnavailable
from tracelens.ingest import read_traces
from tracelens.ingest.files import expand_paths
from tracelens.ingest.merge import ingest_stats, settle
from tracelens.ingest.processes import plan, read_in_processes
from tracelens.ingest.reading import ReadLimits
from tracelens.model import schema as col


def _real(path: str) -> Path:
    # ../shared next to the repository root; missing: skip, or fail under CI (tests/conftest.py)
    return require_shared(f"real_traces/{path}")


@pytest.mark.parametrize("complete_first", [True, False])
def test_complete_document_supersedes_in_progress(tmp_path: Path, complete_first: bool) -> None:
    partial = seg("svc", "0000000000000001", end=None, origin="AWS::Lambda")
    complete = seg("svc", "0000000000000001", end=1681339659.0, origin="AWS::Lambda", error=True)
    docs = [complete, partial] if complete_first else [partial, complete]
    frames = read_traces([write_lines(tmp_path / "d.ndjson", docs)])
    assert frames.stats.documents == 2
    assert frames.stats.duplicates == 1
    row = frames.entities.row(0, named=True)
    assert frames.entities.height == 1
    assert row[col.IN_PROGRESS] is False
    assert row[col.ERROR] is True


def test_first_complete_document_wins_across_files(tmp_path: Path) -> None:
    first = write_lines(tmp_path / "a.ndjson", [seg("svc", "0000000000000001", error=True)])
    second = write_lines(tmp_path / "b.ndjson", [seg("svc", "0000000000000001")])
    frames = read_traces([first, second])
    assert frames.stats.duplicates == 1
    assert frames.entities.get_column(col.ERROR).to_list() == [True]


def test_independent_subsegments_attach_to_their_segment(tmp_path: Path) -> None:
    # GIVEN a service segment whose second attempt and a function's records arrive separately
    service, function_one, _ = async_request()
    service["subsegments"] = service["subsegments"][:2]
    attempt = {
        **async_request()[0]["subsegments"][2],
        "type": "subsegment",
        "trace_id": TRACE,
        "parent_id": service["id"],
    }
    handler = {
        "type": "subsegment",
        "trace_id": TRACE,
        "parent_id": "b100000000000001",
        "id": "c000000000000001",
        "name": "## handler",
        "start_time": 1.0,
        "end_time": 2.0,
        "subsegments": [
            {
                "id": "c000000000000002",
                "name": "record",
                "start_time": 1.0,
                "end_time": 2.0,
                "error": True,
                "annotations": {"event_source": "aws:sqs", "message_id": "m-1", "receive_count": 3},
            }
        ],
    }
    frames = read_traces(
        [write_lines(tmp_path / "d.ndjson", [handler, attempt, service, function_one])]
    )
    rows = frames.entities
    # THEN the attempt belongs to the service segment, the record to the function segment
    got = rows.filter(pl.col(col.KIND) == col.KIND_ATTEMPT).sort(col.ATTEMPT)
    assert got.get_column(col.DOC_ID).to_list() == [service["id"], service["id"]]
    record = rows.filter(pl.col(col.KIND) == col.KIND_RECORD).row(0, named=True)
    assert record[col.DOC_ID] == function_one["id"]
    assert (record[col.MESSAGE_ID], record[col.RECEIVE_COUNT], record[col.ERROR]) == (
        "m-1",
        3,
        True,
    )


def test_record_annotation_alias_and_links_on_subsegments(tmp_path: Path) -> None:
    doc = seg(
        "consumer",
        "0000000000000001",
        origin="AWS::Lambda::Function",
        subsegments=[
            {
                "id": "0000000000000002",
                "name": "Invocation",
                "start_time": 1.0,
                "end_time": 2.0,
                "links": [
                    {
                        "trace_id": "1-654c0558-630340be09e985eb352a72e6",
                        "id": "2acd99f6ce4d0822",
                        "attributes": {
                            "aws.xray.reserved.reference_type": "parent",
                            "aws.xray.reserved.dwell_end_time": 1699480920.181,
                        },
                    }
                ],
                "subsegments": [
                    {
                        "id": "0000000000000003",
                        "name": "r",
                        "start_time": 1.0,
                        "end_time": 2.0,
                        "annotations": {"messaging_message_id": "abc", "event_source": "aws:sqs"},
                    }
                ],
            }
        ],
    )
    frames = read_traces([write_lines(tmp_path / "d.ndjson", [doc])])
    assert frames.entities.filter(pl.col(col.KIND) == col.KIND_RECORD)[
        col.MESSAGE_ID
    ].to_list() == ["abc"]
    link = frames.links.row(0, named=True)
    assert link[col.REFERENCE_TYPE] == "parent"
    assert link[col.DOC_ID] == "0000000000000001"
    assert link[col.DWELL_END].isoformat() == "2023-11-08T22:02:00.181000+00:00"


def test_sdk_retries_and_go_attempts_are_not_lambda_attempts(tmp_path: Path) -> None:
    doc = seg(
        "fn",
        "0000000000000001",
        origin="AWS::Lambda::Function",
        subsegments=[
            {
                "id": "0000000000000002",
                "name": "Invocation",
                "start_time": 1.0,
                "end_time": 2.0,
                "subsegments": [
                    {
                        "id": "0000000000000003",
                        "name": "DynamoDB",
                        "start_time": 1.0,
                        "end_time": 2.0,
                        "aws": {"retries": 3},
                        "subsegments": [
                            {
                                "id": "0000000000000004",
                                "name": "attempt",
                                "start_time": 1.0,
                                "end_time": 2.0,
                            }
                        ],
                    }
                ],
            }
        ],
    )
    frames = read_traces([write_lines(tmp_path / "d.ndjson", [doc])])
    assert frames.entities.get_column(col.KIND).to_list() == ["function", "invocation"]


def test_parallel_ranges_equal_sequential_reading(tmp_path: Path) -> None:
    lines = []
    for n in range(300):
        trace = f"1-6437350a-{n:024x}"
        lines.extend(json.dumps(d) for d in async_request(trace))
        if n % 50 == 0:
            lines.append("{broken")
    path = tmp_path / "big.ndjson"
    path.write_text("\n".join(lines) + "\n")
    sequential = read_traces([path], workers=1)
    tasks = plan([path], 3, limits=ReadLimits(parallel_min_bytes=0))
    assert len(tasks) == 3
    parts = read_in_processes(tasks, 3, tmp_path)
    entities, _, duplicates = settle(parts, 0)
    stats = ingest_stats(parts, files=[str(path)], duplicates=duplicates)
    assert entities.equals(sequential.entities)
    assert stats == sequential.stats
    assert [r.line for r in stats.rejections] == [
        i + 1 for i, line in enumerate(lines) if line == "{broken"
    ]


def test_many_files_of_every_form_read_in_processes_as_in_one(tmp_path: Path) -> None:
    # GIVEN a directory of pages, gzip, NDJSON split into ranges, broken and empty files,
    # with documents repeated across files (the first file read wins)
    def request(n: int) -> list[dict[str, object]]:
        return async_request(f"1-6437350a-{n:024x}")

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_page.json").write_text(json.dumps(batch_page(request(1) + request(2)), indent=2))
    write_gzip(folder / "b_lines.ndjson.gz", "".join(json.dumps(d) + "\n" for d in request(3)))
    big = [json.dumps(d) for n in range(4, 60) for d in request(n)]
    big.insert(7, "{broken")
    (folder / "c_big.ndjson").write_text("\n".join(big) + "\n")
    (folder / "d_empty.json").write_text("")
    (folder / "e_repeat.ndjson").write_text("".join(json.dumps(d) + "\n" for d in request(1)))
    (folder / "f_bad.json").write_text('{"Traces": [{"Id": 1, ')
    sequential = read_traces([folder], workers=1)
    # WHEN the same directory is read by reader processes
    limits = ReadLimits(parallel_min_bytes=0)
    # (the plain NDJSON files in two ranges each)
    assert len(plan(expand_paths([folder]), 2, limits=limits)) == 8
    parallel = read_traces([folder], workers=2, limits=limits)
    # THEN the frames and the counts are the same, rejections with file and line
    assert parallel.entities.equals(sequential.entities)
    assert parallel.links.equals(sequential.links)
    assert parallel.stats == sequential.stats
    assert parallel.stats.duplicates > 0
    assert {(Path(r.file).name, r.line) for r in parallel.stats.rejections} >= {
        ("c_big.ndjson", 8),
        ("d_empty.json", None),
    }


@pytest.mark.parametrize("form", ["page", "gzip_lines", "gzip_truncated", "broken_value"])
def test_large_files_fed_to_reader_processes_read_as_in_one(tmp_path: Path, form: str) -> None:
    # GIVEN one file that cannot be split in byte ranges: one JSON value, or gzip
    docs = [d for n in range(40) for d in async_request(f"1-6437350a-{n:024x}")]
    docs[5] = {"id": "not-hex", "name": "bad id", "trace_id": docs[4]["trace_id"]}
    lines = [json.dumps(d) for d in docs]
    path = tmp_path / "big"
    if form == "page":
        path.write_text(json.dumps(batch_page(docs), indent=1))
    elif form == "broken_value":
        # Not one JSON value: NDJSON whose first lines are cut, read as lines after all
        path.write_text('{"Traces": [\n{"cut\n{"cut\n' + "\n".join(lines) + "\n")
    else:
        write_gzip(path, "\n".join(lines) + "\n")
        if form == "gzip_truncated":
            path.write_bytes(path.read_bytes()[:-400])
    sequential = read_traces([path], workers=1)
    # WHEN it is split here and fed in many small chunks to two reader processes
    limits = ReadLimits(parallel_min_bytes=0, chunk_bytes=2000)
    assert [task.fed for task in plan([path], 2, limits=limits)] == [True]
    parallel = read_traces([path], workers=2, limits=limits)
    # THEN rows, counts and rejections (with their lines) are those of one process
    assert parallel.entities.equals(sequential.entities)
    assert parallel.links.equals(sequential.links)
    assert parallel.stats == sequential.stats
    assert parallel.stats.documents > 30
    assert parallel.stats.rejected >= 1


def test_a_file_a_reader_process_cannot_open_is_one_clear_error(tmp_path: Path) -> None:
    # GIVEN reading planned for three files, one of which is gone when its reader runs
    paths = [write_lines(tmp_path / f"{n}.ndjson", async_request()) for n in "abc"]
    tasks = plan(paths, 2)
    paths[1].unlink()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # WHEN the reader processes run, THEN the reader's own message is raised
    with pytest.raises(SourceUnavailable, match=r"b\.ndjson: cannot read"):
        read_in_processes(tasks, 2, scratch)


def test_iatk_step_functions_trace_has_only_inferred_lambda_segments() -> None:
    frames = read_traces([_real("aws-iatk/trace01.json")])
    kinds = frames.entities.filter(pl.col(col.ORIGIN) == "AWS::Lambda").get_column(col.KIND)
    assert kinds.len() > 0
    assert set(kinds.to_list()) == {col.KIND_INFERRED}
    assert frames.stats.rejected == 0
    assert frames.traces == 1


def test_iatk_trace_with_links() -> None:
    frames = read_traces([_real("aws-iatk/traceWithLinks01.json")])
    kinds = sorted(frames.entities.get_column(col.KIND).to_list())
    assert kinds == ["function", "initialization", "invocation", "service"]
    assert frames.links.get_column(col.REFERENCE_TYPE).to_list() == ["child"]
    # the cold start's Initialization begins before its function segment: not clamped
    init = frames.entities.filter(pl.col(col.KIND) == col.KIND_INITIALIZATION).row(0, named=True)
    fn = frames.entities.filter(pl.col(col.KIND) == col.KIND_FUNCTION).row(0, named=True)
    assert init[col.START] < fn[col.START]
    assert fn[col.START].microsecond == 909590  # 1699480919.9095895 at microsecond precision


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("serverSample.txt", lambda r: r[col.HTTP_STATUS] == 200),
        (
            "minCauseIsExceptionId.txt",
            lambda r: r[col.CAUSE] == "abcdefghijklmnop" and r[col.FAULT],
        ),
        ("minInProgress.txt", lambda r: r[col.IN_PROGRESS] and r[col.END] is None),
        ("indepSubsegment.txt", lambda r: r[col.KIND] == col.KIND_SUBSEGMENT),
        ("awsValidAwsFields.txt", lambda r: r[col.KIND] == col.KIND_SEGMENT),
    ],
)
def test_opentelemetry_documents(name: str, check: object) -> None:
    frames = read_traces([_real(f"opentelemetry-collector-contrib/{name}")])
    assert frames.stats.rejected == 0
    assert callable(check)
    assert check(frames.entities.row(0, named=True))
