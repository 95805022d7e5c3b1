"""Form detection never drops valid lines: a first NDJSON line too long to check at once.

The first lines of a file are checked one at a time up to ReadLimits.detect_bytes (16 MB); a
longer first line is read as a stream. When that line turns out to be followed by more lines,
the file is NDJSON: every line is its own value, with its own line number.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from _docs import async_request, batch_page, seg

from tracelens.ingest import read_traces
from tracelens.ingest.files import expand_paths
from tracelens.ingest.processes import plan
from tracelens.ingest.reading import DEFAULT_LIMITS, ReadLimits

SAMPLE = Path(__file__).parents[2] / "sample_traces" / "async_retry_storm" / "traces.ndjson"
BIG_TRACE = "1-6b094690-00000000000000000000beef"
BIG = 17 * 1024 * 1024


def _big_line(*, valid: bool) -> bytes:
    """One segment document of more than 17 MB on one line (a large annotation)."""
    doc = seg(
        "big-fn",
        "00000000000000b1" if valid else "not-a-hex-id",
        trace_id=BIG_TRACE,
        origin="AWS::Lambda::Function",
        annotations={"blob": "x" * BIG},
    )
    return json.dumps(doc).encode() + b"\n"


@pytest.fixture(scope="module")
def sample_lines() -> bytes:
    data = SAMPLE.read_bytes()
    assert data.count(b"\n") == 538
    return data


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory, sample_lines: bytes) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("long")
    files = {}
    for valid in (True, False):
        body = _big_line(valid=valid) + sample_lines
        assert len(body) > BIG
        plain = folder / f"{'valid' if valid else 'invalid'}.ndjson"
        plain.write_bytes(body)
        packed = folder / f"{'valid' if valid else 'invalid'}.ndjson.gz"
        packed.write_bytes(gzip.compress(body, compresslevel=1))
        files[plain.name] = plain
        files[packed.name] = packed
    return files


def _counts(
    path: Path, workers: int = 1, limits: ReadLimits = DEFAULT_LIMITS
) -> tuple[int, int, list[int | None]]:
    frames = read_traces([path], workers=workers, limits=limits)
    lines = [r.line for r in frames.stats.rejections]
    return frames.stats.documents, frames.stats.rejected, lines


@pytest.mark.parametrize("name", ["valid.ndjson", "valid.ndjson.gz"])
def test_long_valid_first_line_is_one_document_and_the_rest_are_read(
    big_files: dict[str, Path], name: str
) -> None:
    # GIVEN a 17 MB valid first line followed by the 538 lines of a sample bundle
    # WHEN it is read in this process
    # THEN every line is a document
    assert _counts(big_files[name]) == (539, 0, [])


@pytest.mark.parametrize("name", ["invalid.ndjson", "invalid.ndjson.gz"])
def test_long_invalid_first_line_is_one_rejection_at_line_1(
    big_files: dict[str, Path], name: str
) -> None:
    assert _counts(big_files[name]) == (538, 1, [1])


@pytest.mark.parametrize(
    "name", ["valid.ndjson", "valid.ndjson.gz", "invalid.ndjson", "invalid.ndjson.gz"]
)
def test_long_first_line_fed_to_reader_processes(big_files: dict[str, Path], name: str) -> None:
    # GIVEN the same files, large enough to be read by reader processes (fed through pipes)
    limits = ReadLimits(parallel_min_bytes=0, chunk_bytes=64 * 1024)
    assert [task.fed for task in plan([big_files[name]], 2, limits=limits)] == [True]
    # THEN the counts and rejection lines are those of reading in one process
    expected = (539, 0, []) if name.startswith("valid") else (538, 1, [1])
    assert _counts(big_files[name], workers=2, limits=limits) == expected


def test_long_first_line_read_whole_by_a_reader_process(
    big_files: dict[str, Path], tmp_path: Path
) -> None:
    # GIVEN two files read whole by reader processes (each below the size for feeding)
    other = tmp_path / "other.ndjson"
    other.write_text("".join(json.dumps(d) + "\n" for d in async_request()))
    big = big_files["valid.ndjson"]
    limits = ReadLimits(parallel_min_bytes=big.stat().st_size + 1)
    tasks = plan(expand_paths([big, other]), 2, limits=limits)
    assert [(task.fed, task.end) for task in tasks] == [(False, None), (False, None)]
    frames = read_traces([big, other], workers=2, limits=limits)
    assert (frames.stats.documents, frames.stats.rejected) == (539 + 3, 0)


def _small_limits(workers: int) -> ReadLimits:
    """First lines checked up to 1000 bytes; with several workers, every file goes to reader
    processes (fed in 2000-byte chunks)."""
    if workers > 1:
        return ReadLimits(parallel_min_bytes=0, chunk_bytes=2000, detect_bytes=1000)
    return ReadLimits(detect_bytes=1000)


@pytest.mark.parametrize("workers", [1, 2])
def test_first_line_page_too_long_to_check_then_lines(tmp_path: Path, workers: int) -> None:
    # GIVEN a BatchGetTraces page on the first line, longer than the detection limit, with one
    # bad document inside, then NDJSON lines (one of them broken)
    docs = [d for n in range(20) for d in async_request(f"1-6437350a-{n:024x}")]
    docs[4] = {"id": "not-hex", "name": "bad", "trace_id": docs[3]["trace_id"]}
    page = json.dumps(batch_page(docs))
    rest = [json.dumps(d) for d in async_request("1-6437350a-00000000000000000000ffff")]
    rest.insert(1, "{broken")
    path = tmp_path / "mixed.ndjson"
    path.write_text(page + "\n\n" + "\n".join(rest) + "\n")
    frames = read_traces([path], workers=workers, limits=_small_limits(workers))
    # THEN the page's documents and every later line are read, rejections with their lines
    assert frames.stats.documents == 59 + 3
    assert [r.line for r in frames.stats.rejections] == [1, 4]


@pytest.mark.parametrize("workers", [1, 2])
def test_pretty_value_followed_by_more_is_still_one_broken_value(
    tmp_path: Path, workers: int
) -> None:
    # GIVEN a pretty-printed page (several lines) followed by something else
    docs = async_request()
    path = tmp_path / "page.json"
    path.write_text(json.dumps(batch_page(docs), indent=2) + "\n{}\n")
    limits = ReadLimits(parallel_min_bytes=0) if workers > 1 else DEFAULT_LIMITS
    frames = read_traces([path], workers=workers, limits=limits)
    # THEN it is one value with extra data after it, as before: one rejection
    assert frames.stats.documents == 3
    assert frames.stats.rejected == 1
    assert "extra data" in frames.stats.rejections[0].reason


def _page_line(count: int) -> tuple[str, int]:
    """A compact BatchGetTraces page of ``count`` requests, and its number of documents."""
    docs = [d for n in range(count) for d in async_request(f"1-6437350a-{n:024x}")]
    return json.dumps(batch_page(docs)), len(docs)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("gzipped", [False, True])
def test_long_first_line_cut_short_then_lines(tmp_path: Path, workers: int, gzipped: bool) -> None:
    # GIVEN a first line too long to check, a page cut in its 11th trace (a writer that
    # stopped), then NDJSON lines
    page, _ = _page_line(20)
    cut = page.index('{"Id": "1-6437350a-00000000000000000000000a"') + 200
    rest = [json.dumps(d) for d in async_request("1-6437350a-00000000000000000000ffff")]
    text = "\n" + page[:cut] + "\n" + "\n".join(rest) + "\n"
    path = tmp_path / "cut.ndjson"
    if gzipped:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    frames = read_traces([path], workers=workers, limits=_small_limits(workers))
    # THEN the ten whole traces of the cut line are used, the cut is one rejection at its
    # line, and every later line is read
    assert frames.stats.documents == 30 + 3
    assert [r.line for r in frames.stats.rejections] == [2]


@pytest.mark.parametrize("workers", [1, 2])
def test_long_single_line_page_alone(tmp_path: Path, workers: int) -> None:
    page, count = _page_line(20)
    path = tmp_path / "page.json"
    path.write_text(page)
    frames = read_traces([path], workers=workers, limits=_small_limits(workers))
    assert (frames.stats.documents, frames.stats.rejected) == (count, 0)
