"""End to end: the same emulated traces fetched with Transaction Search off (moto: classic
GetTraceSummaries + BatchGetTraces) and on (the local Transaction Search service) give the same
report, apart from ``input.acquisition`` that says how each was fetched."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from _transaction_search_service import ServiceState, TransactionSearchService

from tests.cli_helpers import run_cli
from tracelens.emulator import load_scenario, run_scenario, write_bundle

if TYPE_CHECKING:
    from pathlib import Path


def _analyze(bundle: Path, emulated: Path) -> dict[str, Any]:
    dlq = [arg for p in sorted((emulated / "dlq").glob("*.json")) for arg in ("--dlq", str(p))]
    result = run_cli(
        "analyze", bundle, "--config", emulated / "config.json", *dlq, "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize(
    "scenario", ["async_retry_storm", "healthy_api", "sqs_redrive_partial_batch"]
)
def test_transaction_search_on_and_off_give_the_same_report(
    tmp_path: Path,
    endpoint: str,
    client_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
    scenario: str,
) -> None:
    monkeypatch.setattr("time.sleep", lambda _s: None)
    # GIVEN an emulated incident, stored once in X-Ray (moto) and once behind Transaction Search
    emulated = tmp_path / "emulated"
    write_bundle(run_scenario(load_scenario(scenario), seed=3), emulated)
    documents = (emulated / "traces.ndjson").read_text().splitlines()
    xray = client_factory("xray")
    for start in range(0, len(documents), 50):
        xray.put_trace_segments(TraceSegmentDocuments=documents[start : start + 50])
    service = TransactionSearchService(ServiceState()).start()
    service.state.load_documents(documents)
    times = [json.loads(d)["start_time"] for d in documents]
    since = datetime.fromtimestamp(min(times), UTC) - timedelta(minutes=1)
    until = datetime.fromtimestamp(max(times), UTC) + timedelta(minutes=10)
    window = ["--since", since.isoformat(), "--until", until.isoformat()]
    try:
        # WHEN fetched from each
        off = run_cli("fetch", *window, "-o", tmp_path / "off", "--endpoint-url", endpoint)
        on = run_cli("fetch", *window, "-o", tmp_path / "on", "--endpoint-url", service.endpoint)
    finally:
        service.stop()
    assert off.exit_code == 0, off.stderr
    assert on.exit_code == 0, on.stderr
    assert "GetTraceSegmentDestination is not known to this endpoint" in off.stderr
    assert "Transaction Search is on" in on.stderr
    # THEN the two reports agree on everything but how the traces were fetched
    report_off = _analyze(tmp_path / "off", emulated)
    report_on = _analyze(tmp_path / "on", emulated)
    acquisition_off = report_off["input"].pop("acquisition")
    acquisition_on = report_on["input"].pop("acquisition")
    for report in (report_off, report_on):
        report["input"].pop("files")
    assert report_on == report_off
    assert report_on["input"]["documents"] == len(documents)
    assert acquisition_off["path"] == "xray"
    assert acquisition_off["segment_destination"] is None
    assert acquisition_on == {
        "path": "transaction-search-xray",
        "segment_destination": "CloudWatchLogs",
        "segment_destination_status": "ACTIVE",
        "summary_indexing_percent": 1.0,
        "note": acquisition_on["note"],
    }
    assert "StartTraceRetrieval" in acquisition_on["note"]
    assert "only the 1% of traces" in acquisition_on["note"]


#: ``input`` fields that describe the files rather than the traces (as in
#: tests/emulator/test_spans_roundtrip.py), plus how the traces were fetched.
FILE_FIELDS = ("files", "documents", "duplicates", "acquisition")


@pytest.mark.parametrize("scenario", ["async_retry_storm", "sqs_redrive_partial_batch"])
def test_source_spans_gives_the_report_of_the_xray_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr("time.sleep", lambda _s: None)
    # GIVEN an emulated incident as X-Ray documents and as the aws/spans events Transaction
    # Search would store for it (emulate --format both)
    emulated = tmp_path / "emulated"
    write_bundle(run_scenario(load_scenario(scenario), seed=3), emulated, trace_format="both")
    span_lines = (emulated / "spans.ndjson").read_text().splitlines()
    documents = (emulated / "traces.ndjson").read_text().splitlines()
    service = TransactionSearchService(ServiceState()).start()
    service.state.load_span_lines(span_lines)
    times = [json.loads(d)["start_time"] for d in documents]
    since = datetime.fromtimestamp(min(times), UTC) - timedelta(minutes=1)
    until = datetime.fromtimestamp(max(times), UTC) + timedelta(minutes=10)
    window = ["--since", since.isoformat(), "--until", until.isoformat()]
    try:
        # WHEN fetched with --source spans
        fetched = run_cli(
            "fetch",
            *window,
            "--source",
            "spans",
            "-o",
            tmp_path / "spans",
            "--endpoint-url",
            service.endpoint,
        )
    finally:
        service.stop()
    assert fetched.exit_code == 0, fetched.stderr
    # THEN spans.ndjson holds every event, byte for byte, once
    got = (tmp_path / "spans" / "spans.ndjson").read_text().splitlines()
    assert sorted(got) == sorted(set(span_lines))
    # AND its report is that of the X-Ray documents, apart from the file fields
    want = _analyze(emulated / "traces.ndjson", emulated)
    report = _analyze(tmp_path / "spans", emulated)
    assert report["input"]["acquisition"]["path"] == "transaction-search-spans"
    for r in (want, report):
        for key in FILE_FIELDS:
            r["input"].pop(key, None)
    assert report == want
