"""Bad input costs one rejection each, with file, line and reason; the rest is still read."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import polars as pl
import pytest
from _docs import async_request, batch_page, seg, write_lines

from tracelens.errors import NoUsableInput, SourceUnavailable
from tracelens.ingest import read_traces
from tracelens.ingest.reading import DEFAULT_LIMITS, ReadLimits
from tracelens.model import schema as col

if TYPE_CHECKING:
    from pathlib import Path

GOOD = seg("svc", "0000000000000001")


def _read(path: Path) -> tuple[int, list[tuple[int | None, str]]]:
    frames = read_traces([path], workers=1)
    reasons = [(r.line, r.reason) for r in frames.stats.rejections]
    assert all(r.file == str(path) for r in frames.stats.rejections)
    assert frames.stats.rejected == len(reasons)
    return frames.stats.documents, reasons


def test_each_broken_line_is_one_rejection(tmp_path: Path) -> None:
    # GIVEN an NDJSON file with one good line between every kind of bad line
    bad_lines = [
        b'{"name": "a", "id": "00000000000000',  # truncated
        b'{"name": "big", "subsegments": ['
        + b'{"name": "x", "id": "1"},' * 150_000,  # 3 MB, truncated
        b"[1, 2, 3]",  # JSON, but not objects
        b'"just a string"',
        json.dumps({k: v for k, v in GOOD.items() if k != "name"}).encode(),  # no name
        json.dumps({**GOOD, "id": "XYZ"}).encode(),  # bad id
        json.dumps({**GOOD, "trace_id": "1-abc"}).encode(),  # bad trace id
        json.dumps({**GOOD, "start_time": "yesterday"}).encode(),  # wrong type
        json.dumps({k: v for k, v in GOOD.items() if k != "end_time"}).encode(),  # neither
        b'{"name": "\xff\xfe", "id": "0000000000000002"}',  # not UTF-8
        b'{"name": "deep", "id": "0000000000000003", "trace_id": "'
        + GOOD["trace_id"].encode()
        + b'", "start_time": 1, "end_time": 2, "subsegments": '
        + b'[{"name": "n", "id": "x", "start_time": 1, "subsegments": ' * 5000
        + b"[]"
        + b"}]" * 5000
        + b"}",
    ]
    good = json.dumps(GOOD).encode()
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b"\n".join([good, *bad_lines, good.replace(b"01", b"02", 1)]) + b"\n")
    # WHEN it is read
    documents, reasons = _read(path)
    # THEN every bad line costs exactly one rejection at its own line, and both good ones are used
    assert documents == 2
    assert [line for line, _ in reasons] == list(range(2, 2 + len(bad_lines)))
    text = " | ".join(reason for _, reason in reasons)
    for expected in (
        "truncated",
        "not an object",
        "'name'",
        "'id'",
        "'trace_id'",
        "'start_time'",
        "'end_time'",
        "UTF-8",
        "nested too deeply",
    ):
        assert expected in text


def test_one_bad_document_inside_a_page_costs_one(tmp_path: Path) -> None:
    page = batch_page(async_request())
    page["Traces"][0]["Segments"].append({"Id": "x", "Document": '{"name": "half"'})
    page["Traces"][0]["Segments"].append({"Id": "y", "Document": json.dumps({"name": 5})})
    page["Traces"][0]["Segments"].append(
        {"Id": "z", "Document": {**GOOD, "id": "0000000000000009", "error": "yes"}}
    )
    path = write_lines(tmp_path / "page.ndjson", [page])
    documents, reasons = _read(path)
    # the decoded Document with an odd optional field type is still valid by the contract
    assert documents == 4
    assert len(reasons) == 2
    assert all(line == 1 for line, _ in reasons)


def test_empty_file_is_one_rejection_and_alone_is_unusable(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"  \n")
    with pytest.raises(NoUsableInput, match="empty file"):
        read_traces([empty])
    good = write_lines(tmp_path / "good.ndjson", [GOOD])
    frames = read_traces([empty, good])
    assert frames.stats.rejected == 1
    assert frames.stats.documents == 1


def test_single_value_file_that_fails_to_parse_counts_once(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "svc",\n  "id": ')
    with pytest.raises(NoUsableInput):
        read_traces([path])
    other = "1-6437350a-000000000000000000000001"
    page = json.dumps(batch_page(async_request() + async_request(other)), indent=2)
    cut = tmp_path / "cut.json"
    cut.write_text(page[: len(page) * 2 // 3])
    frames = read_traces([cut])
    assert frames.stats.rejected == 1
    assert frames.stats.documents >= 1  # what came before the cut is still used


def test_missing_paths_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="no such file"):
        read_traces([tmp_path / "nope.json"])
    with pytest.raises(SourceUnavailable, match="no file matches"):
        read_traces([str(tmp_path / "*.ndjson")])


def test_rejections_list_is_capped_at_100(tmp_path: Path) -> None:
    path = tmp_path / "many.ndjson"
    path.write_text("not json\n" * 150 + json.dumps(GOOD) + "\n")
    frames = read_traces([path])
    assert frames.stats.rejected == 150
    assert len(frames.stats.rejections) == 100
    assert frames.stats.rejections[-1].line == 100


def test_localstack_payloads_are_not_traces(real_traces: Path) -> None:
    path = real_traces / "localstack" / "test_lambda_destinations.snapshot.json"
    with pytest.raises(NoUsableInput, match="not an X-Ray segment document"):
        read_traces([path])


def test_valid_document_of_any_size(tmp_path: Path) -> None:
    subs = [
        {
            "id": f"{i:016x}",
            "name": "DynamoDB",
            "start_time": 1.0,
            "end_time": 2.0,
            "metadata": {"blob": "x" * 200},
        }
        for i in range(20_000)
    ]
    doc = seg("svc", "0000000000000001", origin="AWS::Lambda::Function", subsegments=subs)
    path = write_lines(tmp_path / "big.ndjson", [doc])
    frames = read_traces([path])
    assert frames.stats.rejected == 0
    assert frames.entities.filter(frames.entities[col.TOP]).height == 1


@pytest.mark.parametrize(
    "text",
    [
        "a,b,c\n1,2,3\n\n4,5,6\n",  # CSV
        "2026-11-29 INFO started\n2026-11-29 ERROR {boom}\n\n[warn] slow\n",  # a text log
        "[warn] slow\n2026-11-29 INFO started\n\n2026-11-29 ERROR {boom}\n",  # starts with [
    ],
)
@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_that_is_not_json_costs_one_rejection_per_line(
    tmp_path: Path, text: str, workers: int
) -> None:
    path = tmp_path / "not.json"
    path.write_text(text)
    # with several workers, each file is fed to reader processes
    limits = ReadLimits(parallel_min_bytes=0) if workers > 1 else DEFAULT_LIMITS
    with pytest.raises(NoUsableInput):
        read_traces([path], workers=workers, limits=limits)
    good = write_lines(tmp_path / "good.ndjson", [GOOD])
    frames = read_traces([path, good], workers=workers, limits=limits)
    assert [(r.file, r.line) for r in frames.stats.rejections] == [
        (str(path), 1),
        (str(path), 2),
        (str(path), 4),
    ]
    assert frames.stats.rejected == 3


SUMMARY = {
    "Id": "1-59602603-23fc5b688855d396af79b496",
    "Duration": 3.232,
    "ResponseTime": 3.232,
    "HasError": False,
    "HasFault": False,
    "HasThrottle": False,
    "Http": {"HttpStatus": 200, "HttpMethod": "POST"},
    "Annotations": {},
}
SUMMARIES = "is trace summaries output, not segments: fetch the traces with `tracelens fetch`"


@pytest.mark.parametrize(
    "text",
    [
        # aws xray get-trace-summaries, as the CLI writes it
        json.dumps(
            {"TraceSummaries": [SUMMARY], "ApproximateTime": 1499473304.0, "TracesProcessed": 1},
            indent=4,
        ),
        # its pages, one per line
        "".join(json.dumps({"TraceSummaries": [SUMMARY], "NextToken": "x"}) + "\n" for _ in "ab"),
        # --query TraceSummaries: a list of summaries
        json.dumps([SUMMARY, SUMMARY], indent=2),
        # one summary per line
        json.dumps(SUMMARY) + "\n" + json.dumps(SUMMARY) + "\n",
    ],
)
def test_trace_summaries_are_not_segments(tmp_path: Path, text: str) -> None:
    path = tmp_path / "summaries.json"
    path.write_text(text)
    # alone: exit 2 with what to do instead
    with pytest.raises(NoUsableInput) as caught:
        read_traces([path])
    assert str(caught.value) == f"{path} {SUMMARIES}"
    # with usable traces: a rejection with that reason, the rest analysed
    good = write_lines(tmp_path / "good.ndjson", [GOOD])
    frames = read_traces([path, good])
    assert frames.stats.documents == 1
    assert frames.stats.rejections
    assert all(
        r.reason == "trace summaries output, not segments: fetch the traces with `tracelens fetch`"
        for r in frames.stats.rejections
    )


def test_a_dict_keyed_by_trace_id_is_not_segments(tmp_path: Path) -> None:
    path = tmp_path / "by_trace.json"
    keyed = {SUMMARY["Id"]: SUMMARY, "1-59602603-23fc5b688855d396af79b497": SUMMARY}
    path.write_text(json.dumps(keyed, indent=2))
    with pytest.raises(NoUsableInput) as caught:
        read_traces([path])
    assert str(caught.value).startswith(f"{path} is an object keyed by trace id, not segments")
    assert "tracelens fetch" in str(caught.value)
    frames = read_traces([path, write_lines(tmp_path / "good.ndjson", [GOOD])])
    assert frames.stats.rejected == 1
    assert frames.stats.rejections[0].reason.startswith("an object keyed by trace id")


def test_integers_too_large_for_a_column_are_unknown(tmp_path: Path) -> None:
    # GIVEN numbers that do not fit a 64-bit integer where the rows hold integers: an HTTP
    # status, an "Attempt #N" number, record receive counts (as text and as a JSON number)
    huge = 2**63
    service = seg(
        "fn",
        "00000000000000a1",
        origin="AWS::Lambda",
        http={"response": {"status": huge}},
        subsegments=[
            {"id": "0000000000000002", "name": f"Attempt #{huge}", "start_time": 1, "end_time": 2},
            {"id": "0000000000000003", "name": "Attempt #2", "start_time": 3, "end_time": 4},
        ],
    )
    records = [
        {"id": f"000000000000001{n}", "name": "r", "start_time": 1, "end_time": 2,
         "annotations": {"event_source": "aws:sqs", "message_id": f"m{n}", "receive_count": count}}
        for n, count in enumerate([str(huge), 2**64 - 1, "3"])
    ]  # fmt: skip
    function = seg("fn", "0000000000000004", origin="AWS::Lambda::Function", subsegments=records)
    path = write_lines(
        tmp_path / "big.ndjson",
        [service, function, {**GOOD, "http": {"response": {"status": 200}}}],
    )
    # WHEN it is read THEN each such number is unknown (null) and everything else is read
    frames = read_traces([path], workers=1)
    assert frames.stats.documents == 3
    assert frames.stats.rejected == 0
    rows = frames.entities
    assert rows.filter(pl.col(col.TOP)).get_column(col.HTTP_STATUS).to_list() == [None, None, 200]
    attempts = rows.filter(pl.col(col.KIND) == col.KIND_ATTEMPT)
    assert attempts.get_column(col.ATTEMPT).to_list() == [None, 2]
    receives = rows.filter(pl.col(col.KIND) == col.KIND_RECORD)
    assert receives.get_column(col.RECEIVE_COUNT).to_list() == [None, None, 3]
