"""Trace ids of spans: the X-Ray form where the id carries the span's time, else 32 hex."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from _docs import TRACE, async_request, write_lines
from _spans import ns, to_spans

from tracelens.analysis.explain import resolve_key
from tracelens.ingest import read_traces
from tracelens.ingest.span_mapping import xray_trace_id
from tracelens.model import schema as col

if TYPE_CHECKING:
    from pathlib import Path

DIGITS = "6437350a5611b044040fc7224c4790b6"  # 0x6437350a = 1681339658 s
START = ns(1681339658.0)
DAY = 86400 * 10**9


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (START, "1-6437350a-5611b044040fc7224c4790b6"),
        (START + 28 * DAY, "1-6437350a-5611b044040fc7224c4790b6"),  # id 28 days old
        (START + 28 * DAY + 1, DIGITS),  # older: no time prefix
        (START - 300 * 10**9, "1-6437350a-5611b044040fc7224c4790b6"),  # id 5 minutes ahead
        (START - 300 * 10**9 - 1, DIGITS),
        (None, DIGITS),
    ],
)
def test_the_x_ray_form_only_when_the_id_carries_the_span_time(
    start: int | None, expected: str
) -> None:
    assert xray_trace_id(DIGITS, start) == expected


def _random_id_spans() -> list[dict[str, Any]]:
    spans = to_spans(async_request())
    for span in spans:
        span["traceId"] = "ffffffff" + span["traceId"][8:]  # year 2106: a random W3C id
    return spans


def test_a_random_trace_id_is_kept_as_32_hex(tmp_path: Path) -> None:
    frames = read_traces([write_lines(tmp_path / "s.ndjson", _random_id_spans())])
    assert frames.stats.rejected == 0
    ids = set(frames.entities.get_column(col.TRACE_ID).cast(pl.String).to_list())
    assert ids == {"ffffffff" + TRACE[11:]}
    assert frames.entities.filter(pl.col(col.KIND) == col.KIND_ATTEMPT).height == 2


def test_both_spellings_find_the_trace(tmp_path: Path) -> None:
    frames = read_traces([write_lines(tmp_path / "s.ndjson", to_spans(async_request()))])
    assert resolve_key(frames, DIGITS) == TRACE
    assert resolve_key(frames, DIGITS.upper()) == TRACE
    random = read_traces([write_lines(tmp_path / "r.ndjson", _random_id_spans())])
    hex_id = "ffffffff" + TRACE[11:]
    assert resolve_key(random, f"1-ffffffff-{TRACE[11:]}") == hex_id


def test_no_console_link_for_a_32_hex_trace_id(tmp_path: Path) -> None:
    # GIVEN an async request whose ARN names a region, once with each kind of trace id
    reports = {}
    for name, spans in (("xray", to_spans(async_request())), ("hex", _random_id_spans())):
        path = write_lines(tmp_path / f"{name}.ndjson", spans)
        out = subprocess.run(
            [sys.executable, "-m", "tracelens", "analyze", str(path), "--format", "json"],
            capture_output=True,
            check=True,
        )
        reports[name] = json.loads(out.stdout)
    # THEN the X-Ray form gets a console link, the 32-hex id none
    xray_chain = reports["xray"]["chains"][0]
    hex_chain = reports["hex"]["chains"][0]
    assert xray_chain["trace_ids"] == [TRACE]
    assert xray_chain["trace_urls"][0].endswith(TRACE)
    assert hex_chain["trace_ids"] == ["ffffffff" + TRACE[11:]]
    assert hex_chain["trace_urls"] == []
