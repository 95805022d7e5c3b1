"""build_report: every contract key, formats, sorting, determinism."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from tests.analysis.conftest import TraceBuilder, trace_id
from tracelens.analysis import analyse
from tracelens.analysis.details import bucket_seconds
from tracelens.model.frames import IngestStats, Rejection, TraceFrames
from tracelens.model.side import FunctionConfig, SideInputs
from tracelens.report.build import build_report, compact_number, iso

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _frames() -> TraceFrames:
    b = TraceBuilder()
    b.async_event("a", trace_id(1), "r1", 0.0, [(0.2, 0.5, False)], dwell=0.2)
    b.async_event(
        "a",
        trace_id(2),
        "r2",
        10.0,
        [(10.1, 10.2, True), (70.2, 70.3, True), (190.3, 190.4, True)],
        dwell=0.00005,
    )
    b.async_event("a", trace_id(3), "r3", 20.0, [(90.0, 90.5, False)], dwell=70.0)
    svc = b.service("sync", trace_id(4), 1.0, 2.0, request_id="s1", parent_id="00000000000000aa")
    b.function("sync", trace_id(4), svc, 1.1, 1.9, cold=True)
    frames = b.frames()
    stats = IngestStats(
        files=("b.ndjson", "a.ndjson"),
        documents=12,
        duplicates=1,
        rejected=1,
        rejections=(Rejection(file="a.ndjson", line=3, reason="bad"),),
    )
    return TraceFrames(entities=frames.entities, links=frames.links, stats=stats)


def _report_dict() -> dict[str, Any]:
    side = SideInputs(functions={"a": FunctionConfig(name="a")}, config_files=("c.json",))
    report = build_report(analyse(_frames(), side), generated_by="tracelens test")
    decoded: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(report))
    return decoded


def test_contract_keys_and_values() -> None:
    r = _report_dict()
    assert set(r) >= {
        "schema",
        "generated_by",
        "input",
        "functions",
        "async",
        "sqs",
        "streams",
        "chains",
        "findings",
        "details",
        "bucket_seconds",
    }
    assert r["input"]["files"] == ["a.ndjson", "b.ndjson"]
    assert (r["input"]["config"], r["input"]["dlq_dumps"], r["input"]["traces"]) == (True, 0, 4)
    assert TIME.match(r["input"]["start"])
    assert TIME.match(r["input"]["end"])
    assert [f["name"] for f in r["functions"]] == ["a", "sync"]
    a = r["async"]
    assert a["events"] == 3
    assert a["attempts"] == {"1": 2, "3": 1}
    assert a["outcomes"]["retries_exhausted"] == 1
    assert a["fates"]["dropped"] == 1
    assert a["dwell_ms"]["count"] == 3
    assert a["dwell_ms"]["max"] == pytest.approx(70_000.0)
    # No SQS data: an all-null stats-free section, evidence none, empty histograms.
    assert r["sqs"]["deliveries_histogram"] == {}
    assert r["sqs"]["max_receive_count"] is None
    assert r["sqs"]["evidence"] == "none"
    assert r["streams"]["evidence"] == "none"
    assert r["functions"][1]["modes"]["sync"] == 1
    assert r["functions"][1]["cold_starts"] == 1


def test_chains_and_findings_sorted() -> None:
    r = _report_dict()
    (chain,) = r["chains"]
    assert (chain["key"], chain["outcome"], chain["fate"], chain["attempts"]) == (
        "r2",
        "retries_exhausted",
        "dropped",
        3,
    )
    assert chain["errors"] == ["ValueError: boom"] * 3
    assert [s["kind"] for s in chain["steps"]] == [
        "dwell",
        "attempt",
        "wait",
        "attempt",
        "wait",
        "attempt",
    ]
    assert all(TIME.match(s["start"]) for s in chain["steps"])
    order = {"critical": 0, "warning": 1, "info": 2}
    keys = [(order[f["severity"]], f["code"], f["function"] or "") for f in r["findings"]]
    assert keys == sorted(keys)
    codes = {f["code"] for f in r["findings"]}
    assert {"ASYNC_EVENTS_DROPPED", "HIGH_DWELL", "INPUT_REJECTED", "COLD_STARTS"} <= codes


def test_stats_all_null_when_empty() -> None:
    r = _report_dict()
    assert r["async"]["retry_delay_ms"]["count"] == 2
    sync = r["functions"][1]
    assert sync["duration_ms"]["count"] == 1
    empty = build_report(analyse(TraceFrames.empty(), SideInputs()), generated_by="t")
    block = msgspec.to_builtins(empty.async_.dwell_ms)
    assert block == {
        "count": 0,
        "min": None,
        "p50": None,
        "p90": None,
        "p99": None,
        "max": None,
        "mean": None,
    }
    assert empty.functions == []
    assert empty.details == []


def test_details() -> None:
    r = _report_dict()
    (detail,) = r["details"]
    assert detail["function"] == "a"
    assert detail["events"] == 3
    assert len(detail["dwell_quantiles_ms"]) == 101
    assert detail["dwell_histogram_ms"] == {"0": 1, "200": 1, "50000": 1}
    assert detail["attempts_by_outcome"]["retries_exhausted"] == {"3": 1}
    assert sum(p["count"] for p in detail["dwell_over_time"]) == 3
    assert r["bucket_seconds"] == 1  # events enqueued over 20 s


def test_deterministic_bytes() -> None:
    side = SideInputs()
    first = msgspec.json.encode(build_report(analyse(_frames(), side), generated_by="x"))
    second = msgspec.json.encode(build_report(analyse(_frames(), side), generated_by="x"))
    assert first == second


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.1, "0.1"), (0.5, "0.5"), (1.0, "1"), (2000.0, "2000"), (1e6, "1000000"), (0.0, "0")],
)
def test_compact_number(value: float, text: str) -> None:
    assert compact_number(value) == text


def test_iso() -> None:
    assert iso(datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC)) == "2026-11-28T01:02:03.456789Z"
    assert iso(None) is None


@pytest.mark.parametrize(
    ("span", "width"),
    [(30, 1), (59, 1), (60, 5), (3000, 60), (4 * 3600, 300), (30 * 86400, 86400)],
)
def test_bucket_seconds(span: int, width: int) -> None:
    start = datetime(2026, 11, 28, tzinfo=UTC)
    end = datetime.fromtimestamp(start.timestamp() + span, tz=UTC)
    assert bucket_seconds(start, end) == width


def test_matches_shipped_json_schema() -> None:
    import json
    from pathlib import Path

    import jsonschema

    import tracelens.report

    schema_path = Path(tracelens.report.__file__).parent / "report.schema.json"
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(_report_dict(), schema)
    empty = build_report(analyse(TraceFrames.empty(), SideInputs()), generated_by="tracelens t")
    jsonschema.validate(msgspec.json.decode(msgspec.json.encode(empty)), schema)
