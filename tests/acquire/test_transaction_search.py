"""fetch with CloudWatch Transaction Search on: segment destination, Logs Insights trace ids,
StartTraceRetrieval / ListRetrievedTraces, --source spans, source.json, and the exit-2 cases.

The operations moto 5.2 lacks run against ``_transaction_search_service`` (real HTTP, the
shapes of botocore's models); the Transaction-Search-off side runs against moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from _transaction_search_service import ServiceState, TransactionSearchService, span_event
from test_fetch import ACCOUNT, BASE, make_docs

from tests.cli_helpers import run_cli
from tracelens.acquire.backoff import RetryPolicy
from tracelens.acquire.destination import read_indexing_rules, read_segment_destination
from tracelens.acquire.logs_insights import LogsInsights, second_windows
from tracelens.acquire.transaction_search import fetch_transaction_search
from tracelens.acquire.xray_calls import XRayCalls
from tracelens.commands.fetch import run_fetch
from tracelens.errors import SourceUnavailable
from tracelens.model.trace_ids import otel_form, xray_form

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

WINDOW = (datetime.fromtimestamp(BASE - 60, UTC), datetime.fromtimestamp(BASE + 3600, UTC))
SINCE = ["--since", WINDOW[0].isoformat(), "--until", WINDOW[1].isoformat()]


def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # run_fetch sleeps between polls; the service answers at once
    monkeypatch.setattr("time.sleep", _no_sleep)


@pytest.fixture
def service(aws_env: None) -> Iterator[TransactionSearchService]:
    server = TransactionSearchService(ServiceState()).start()
    try:
        yield server
    finally:
        server.stop()


def _client(service: str, endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def _load(server: TransactionSearchService, docs: list[dict[str, Any]]) -> None:
    server.state.load_documents([json.dumps(d) for d in docs])


def _fetch(server: TransactionSearchService, out: Path, **kwargs: Any) -> Any:
    return fetch_transaction_search(
        xray_client=_client("xray", server.endpoint),
        logs_client=_client("logs", server.endpoint),
        start=WINDOW[0],
        end=WINDOW[1],
        out_dir=out,
        functions=kwargs.pop("functions", ()),
        sleep=_no_sleep,
        retry=RetryPolicy(seed=1),
        **kwargs,
    )


def _lambda_docs(n: int, *, seed: int, fn: str = "orders") -> list[dict[str, Any]]:
    """``make_docs`` plus an AWS::Lambda service segment for every trace (what the
    ``<fn>/LambdaService`` span comes from)."""
    docs = make_docs(n, seed=seed, fn=fn)
    services = {d["trace_id"] for d in docs if d["origin"] == "AWS::Lambda"}
    extra = []
    for i, d in enumerate(d for d in docs if d["origin"] == "AWS::Lambda::Function"):
        if d["trace_id"] not in services:
            extra.append(
                {
                    "id": f"{i + 1:016x}",
                    "name": fn,
                    "trace_id": d["trace_id"],
                    "start_time": d["start_time"] - 0.01,
                    "end_time": d["end_time"] + 0.01,
                    "origin": "AWS::Lambda",
                    "resource_arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{fn}",
                }
            )
    return docs + extra


def _written(path: Path) -> dict[str, dict[str, Any]]:
    traces: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        trace = json.loads(line)
        assert trace["Id"] not in traces, "trace written twice"
        traces[trace["Id"]] = trace
    return traces


def _documents_by_trace(docs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for d in docs:
        out.setdefault(d["trace_id"], {})[d["id"]] = d
    return out


def test_trace_id_forms_convert_both_ways() -> None:
    assert xray_form("6880250e4fc5b1c42f7b40fc4801f9fd") == "1-6880250e-4fc5b1c42f7b40fc4801f9fd"
    assert xray_form("1-6880250E-4fc5b1c42f7b40fc4801f9fd") == (
        "1-6880250e-4fc5b1c42f7b40fc4801f9fd"
    )
    assert otel_form("1-6880250e-4fc5b1c42f7b40fc4801f9fd") == "6880250e4fc5b1c42f7b40fc4801f9fd"
    assert xray_form("6880250e") is None
    assert xray_form("1-6880250e-zz") is None


def test_retrieved_traces_are_written_like_batch_get_traces(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    # GIVEN 23 Lambda traces held only by Transaction Search (retrievals page 5 traces)
    docs = _lambda_docs(23, seed=3)
    _load(service, docs)
    # WHEN fetched through Logs Insights + StartTraceRetrieval
    summary = _fetch(service, tmp_path / "b")
    # THEN every trace is in traces.ndjson with its documents, one trace a line
    traces = _written(tmp_path / "b" / "traces.ndjson")
    want = _documents_by_trace(docs)
    assert set(traces) == set(want)
    for trace_id, trace in traces.items():
        assert set(trace) == {"Id", "Duration", "Segments"}
        got = {s["Id"]: json.loads(s["Document"]) for s in trace["Segments"]}
        assert got == want[trace_id]
    assert summary.path == "transaction-search-xray"
    assert (summary.found, summary.fetched, summary.missing, summary.retrieval_failed) == (
        23,
        23,
        0,
        0,
    )
    assert summary.functions == ("orders",)
    calls = service.state.calls
    # polled through SCHEDULED and RUNNING, paged 5 at a time (23 traces: 5 pages)
    assert calls.count("StartTraceRetrieval") == 1
    assert calls.count("ListRetrievedTraces") == 2 + 5
    assert calls.count("GetQueryResults") == 3


def test_retrieval_ranges_cover_the_window_with_a_margin_but_not_the_future(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    _load(service, _lambda_docs(3, seed=18))
    now = WINDOW[1] + timedelta(minutes=5)
    _fetch(service, tmp_path / "b", now=now)
    (request,) = service.state.retrieval_requests
    assert request["StartTime"] == (WINDOW[0] - timedelta(minutes=15)).timestamp()
    assert request["EndTime"] == now.timestamp()
    assert len(request["TraceIds"]) == 3


def test_function_names_select_the_service_spans_and_ids_go_100_a_call(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    # GIVEN 230 traces of "orders" and 7 of "billing"
    orders = _lambda_docs(230, seed=4)
    billing = _lambda_docs(7, seed=5, fn="billing")
    _load(service, orders + billing)
    # WHEN fetching --function billing, then everything
    only = _fetch(service, tmp_path / "billing", functions=["billing"])
    every = _fetch(service, tmp_path / "all")
    # THEN the function filter holds, and 237 ids take three StartTraceRetrieval calls
    assert set(_written(tmp_path / "billing" / "traces.ndjson")) == {d["trace_id"] for d in billing}
    assert only.fetched == 7
    assert every.fetched == 237
    assert service.state.calls.count("StartTraceRetrieval") == 1 + 3


def test_throttles_are_retried_and_counted(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    _load(service, _lambda_docs(12, seed=6))
    service.state.throttle.update(
        {"StartQuery": 2, "GetQueryResults": 1, "StartTraceRetrieval": 2, "ListRetrievedTraces": 3}
    )
    summary = _fetch(service, tmp_path / "b")
    assert summary.fetched == 12
    assert summary.throttles == 8


def test_in_progress_traces_are_retrieved_once_more_at_the_end(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    # GIVEN 7 traces, 2 of which are still in progress on the first retrieval
    docs = _lambda_docs(7, seed=17)
    _load(service, docs)
    late = sorted({d["trace_id"] for d in docs})[:2]
    service.state.in_progress_once.update(late)
    # WHEN fetched
    summary = _fetch(service, tmp_path / "b", partial_refetch_delay=0.0)
    # THEN they were retrieved again and written complete, once
    traces = _written(tmp_path / "b" / "traces.ndjson")
    want = _documents_by_trace(docs)
    for trace_id in late:
        got = {s["Id"]: json.loads(s["Document"]) for s in traces[trace_id]["Segments"]}
        assert got == want[trace_id]
    assert (summary.fetched, summary.refetched, summary.partial) == (7, 2, 0)
    assert service.state.calls.count("StartTraceRetrieval") == 2


def test_too_many_concurrent_queries_is_waited_out(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    # Logs Insights answers LimitExceededException while the account runs its maximum of
    # concurrent queries: a later StartQuery succeeds, so it is retried like a throttle.
    _load(service, _lambda_docs(3, seed=16))
    service.state.query_limit_hits = 2
    summary = _fetch(service, tmp_path / "b")
    assert summary.fetched == 3
    assert summary.throttles == 2


def test_a_failed_retrieval_is_retried_once_then_reported(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    # GIVEN one retrieval that ends FAILED: the retry succeeds
    _load(service, _lambda_docs(6, seed=7))
    service.state.fail_retrievals = 1
    summary = _fetch(service, tmp_path / "once")
    assert (summary.fetched, summary.retrieval_failed) == (6, 0)
    # GIVEN retrievals that keep failing: the ids are reported, nothing looks complete
    service.state.fail_retrievals = 2
    summary = _fetch(service, tmp_path / "twice")
    assert (summary.fetched, summary.retrieval_failed) == (0, 6)
    assert (
        not (tmp_path / "twice" / "traces.ndjson").exists()
        or not (tmp_path / "twice" / "traces.ndjson").read_text()
    )


def test_a_failed_query_is_run_again(tmp_path: Path, service: TransactionSearchService) -> None:
    _load(service, _lambda_docs(4, seed=8))
    service.state.fail_queries = 1
    summary = _fetch(service, tmp_path / "b")
    assert summary.fetched == 4
    service.state.fail_queries = 2
    with pytest.raises(SourceUnavailable, match="ended Failed twice"):
        _fetch(service, tmp_path / "c")


def test_results_at_the_row_limit_are_split_and_queried_again(
    service: TransactionSearchService,
) -> None:
    # GIVEN 40 traces half a second apart and a row limit of 6
    docs = _lambda_docs(40, seed=9)
    _load(service, docs)
    calls = XRayCalls(_client("logs", service.endpoint), RetryPolicy(), _no_sleep)
    insights = LogsInsights(calls, _no_sleep, limit=6)
    # WHEN the ids of the window are listed
    found = [i for _piece, ids in insights.trace_ids(second_windows([WINDOW]), ()) for i in ids]
    # THEN windows were halved until each answer fit, and every id was found once
    assert sorted(found) == sorted({d["trace_id"] for d in docs})
    assert insights.counts.split > 0
    assert insights.counts.saturated == 0


def test_resume_skips_traces_already_written(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    # GIVEN a fetch interrupted after 9 traces and in the middle of a line
    docs = _lambda_docs(20, seed=10)
    _load(service, docs)
    out = tmp_path / "b"
    _fetch(service, out)
    lines = (out / "traces.ndjson").read_text().splitlines(keepends=True)
    (out / "traces.ndjson").write_text("".join(lines[:9]) + lines[9][:40])
    # WHEN fetched again
    summary = _fetch(service, out)
    # THEN the torn line is cut, the 9 are skipped, the rest written once
    assert summary.skipped == 9
    assert summary.fetched == 11
    assert summary.truncated_bytes == 40
    assert set(_written(out / "traces.ndjson")) == {d["trace_id"] for d in docs}


def test_a_fetch_interrupted_part_way_resumes(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    # GIVEN 230 traces and a fetch that fails after its first retrieval (100 traces)
    docs = _lambda_docs(230, seed=19)
    _load(service, docs)
    service.state.retrievals_allowed = 1
    out = tmp_path / "b"
    with pytest.raises(SourceUnavailable, match="xray:StartTraceRetrieval"):
        _fetch(service, out, concurrency=1)
    assert len(_written(out / "traces.ndjson")) == 100
    # WHEN fetched again
    service.state.retrievals_allowed = None
    summary = _fetch(service, out, concurrency=1)
    # THEN only the other 130 are retrieved, and every trace is there once
    assert (summary.found, summary.skipped, summary.fetched) == (230, 100, 130)
    assert set(_written(out / "traces.ndjson")) == {d["trace_id"] for d in docs}


def test_source_spans_writes_the_span_events(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    # GIVEN 8 traces in aws/spans
    docs = _lambda_docs(8, seed=11)
    _load(service, docs)
    # WHEN fetched with --source spans, cut in the middle of a line, and fetched again
    summary = _fetch(service, tmp_path / "b", spans=True)
    spans_file = tmp_path / "b" / "spans.ndjson"
    first = spans_file.read_text().splitlines(keepends=True)
    spans_file.write_text("".join(first[:5]) + first[5][:30])
    again = _fetch(service, tmp_path / "b", spans=True)
    # THEN spans.ndjson holds each span event once, as aws/spans stores it; no traces.ndjson
    lines = (tmp_path / "b" / "spans.ndjson").read_text().splitlines()
    assert sorted(json.loads(line)["spanId"] for line in lines) == sorted(d["id"] for d in docs)
    assert all(
        json.loads(line) == span_event(_by_id(docs, json.loads(line)["spanId"])) for line in lines
    )
    assert not (tmp_path / "b" / "traces.ndjson").exists()
    assert (summary.path, summary.found, summary.fetched, summary.spans) == (
        "transaction-search-spans",
        8,
        8,
        len(docs),
    )
    assert (again.spans, again.truncated_bytes) == (len(docs) - 5, 30)
    assert summary.functions == ("orders",)


def _by_id(docs: list[dict[str, Any]], span_id: str) -> dict[str, Any]:
    return next(d for d in docs if d["id"] == span_id)


def test_indexing_rules_are_read_and_checked(service: TransactionSearchService) -> None:
    service.state.indexing_rules = [
        {"Name": "Default", "Rule": {"Probabilistic": {"DesiredSamplingPercentage": 5.0}}},
        {
            "Name": "Broken",
            "Rule": {
                "Probabilistic": {
                    "DesiredSamplingPercentage": 150.0,
                    "ActualSamplingPercentage": -1.0,
                }
            },
        },
    ]
    calls = XRayCalls(_client("xray", service.endpoint), RetryPolicy(), _no_sleep)
    rules = read_indexing_rules(calls)
    assert [(r.name, r.desired_percent, r.actual_percent) for r in rules.rules] == [
        ("Broken", None, None),
        ("Default", 5.0, None),
    ]
    assert rules.summary_percent == 5.0
    assert len(rules.notes) == 2
    assert all("outside 0-100" in n for n in rules.notes)


def test_segment_destination_unknown_or_refused(service: TransactionSearchService) -> None:
    calls = XRayCalls(_client("xray", service.endpoint), RetryPolicy(), _no_sleep)
    on = read_segment_destination(calls)
    assert on.transaction_search
    service.state.destination = None
    unknown = read_segment_destination(calls)
    assert unknown.destination is None
    assert unknown.note is not None
    assert "not known" in unknown.note
    service.state.denied.add("GetTraceSegmentDestination")
    refused = read_segment_destination(calls)
    assert refused.note is not None
    assert "xray:GetTraceSegmentDestination" in refused.note


# -- the command --------------------------------------------------------------------------


def test_fetch_command_says_it_switches_and_records_source_json(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    _load(service, _lambda_docs(5, seed=12))
    out = tmp_path / "b"
    result = run_cli("fetch", *SINCE, "-o", out, "--endpoint-url", service.endpoint)
    assert result.exit_code == 0, result.output
    assert "Transaction Search is on" in result.stderr
    assert "BatchGetTraces cannot see these traces" in result.stderr
    source = json.loads((out / "source.json").read_text())
    assert source["path"] == "transaction-search-xray"
    assert source["segment_destination"] == {"Destination": "CloudWatchLogs", "Status": "ACTIVE"}
    assert source["summary_indexing_percent"] == 1.0
    assert source["indexing_rules"][0]["Name"] == "Default"
    assert source["counts"]["fetched"] == 5
    assert source["window"] == {"start": WINDOW[0].isoformat(), "end": WINDOW[1].isoformat()}


@pytest.mark.parametrize(
    ("denied", "needle"),
    [
        ("StartQuery", "logs:StartQuery"),
        ("StartTraceRetrieval", "xray:StartTraceRetrieval"),
        ("ListRetrievedTraces", "xray:ListRetrievedTraces"),
    ],
)
def test_missing_permission_exits_2_naming_it(
    tmp_path: Path, service: TransactionSearchService, denied: str, needle: str
) -> None:
    # GIVEN Transaction Search on and one of the calls it needs refused
    _load(service, _lambda_docs(3, seed=13))
    service.state.denied.add(denied)
    out = tmp_path / "b"
    # WHEN fetched
    result = run_cli("fetch", *SINCE, "-o", out, "--endpoint-url", service.endpoint)
    # THEN exit 2 with one error line naming the IAM action, and no traces file
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert needle in errors[0]
    assert "AccessDenied" in errors[0]
    assert not (out / "traces.ndjson").exists()
    assert not (out / "source.json").exists()


def test_every_retrieval_failing_exits_2(tmp_path: Path, service: TransactionSearchService) -> None:
    _load(service, _lambda_docs(3, seed=14))
    service.state.fail_retrievals = 2
    result = run_cli("fetch", *SINCE, "-o", tmp_path / "b", "--endpoint-url", service.endpoint)
    assert result.exit_code == 2, result.output
    assert "every trace retrieval failed" in result.stderr.splitlines()[-1]
    assert (
        json.loads((tmp_path / "b" / "source.json").read_text())["counts"]["retrieval_failed"] == 3
    )


def test_filter_is_refused_with_transaction_search(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    result = run_cli(
        "fetch",
        *SINCE,
        "--filter",
        "duration > 1",
        "-o",
        tmp_path / "b",
        "--endpoint-url",
        service.endpoint,
    )
    assert result.exit_code == 2
    assert "--filter" in result.stderr.splitlines()[-1]
    assert "--function" in result.stderr.splitlines()[-1]
    assert "StartQuery" not in service.state.calls


def test_source_spans_needs_transaction_search(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    service.state.destination = {"Destination": "XRay", "Status": "ACTIVE"}
    result = run_cli(
        "fetch",
        *SINCE,
        "--source",
        "spans",
        "-o",
        tmp_path / "b",
        "--endpoint-url",
        service.endpoint,
    )
    assert result.exit_code == 2
    assert "segment destination is XRay" in result.stderr.splitlines()[-1]


def test_run_fetch_with_spans_writes_spans_file(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    _load(service, _lambda_docs(4, seed=15))
    summary = run_fetch(
        out_dir=tmp_path / "b",
        since=WINDOW[0],
        until=WINDOW[1],
        endpoint_url=service.endpoint,
        show_progress=False,
        spans=True,
    )
    assert summary.spans == 8
    source = json.loads((tmp_path / "b" / "source.json").read_text())
    assert source["path"] == "transaction-search-spans"
    assert source["counts"]["span_events"] == 8


def test_fetch_clients_leave_every_retry_to_tracelens(service: TransactionSearchService) -> None:
    # botocore's ``max_attempts`` counts retries, not attempts: 1 meant one hidden retry, so a
    # throttle was retried by botocore without backoff and without being counted.
    from botocore.exceptions import ClientError

    from tracelens.acquire.clients import make_clients

    clients = make_clients(
        region="us-east-1", profile=None, endpoint_url=service.endpoint, concurrency=1, side=False
    )
    service.state.throttle.update({"GetTraceSegmentDestination": 1, "StartQuery": 1})
    with pytest.raises(ClientError, match="ThrottledException"):
        clients["xray"].get_trace_segment_destination()
    with pytest.raises(ClientError, match="ThrottlingException"):
        clients["logs"].start_query(
            logGroupName="aws/spans", startTime=1, endTime=2, queryString="fields @message"
        )
    assert service.state.calls == ["GetTraceSegmentDestination", "StartQuery"]


def test_an_empty_fetch_says_what_it_may_mean(
    tmp_path: Path, service: TransactionSearchService
) -> None:
    # GIVEN Transaction Search on and no Lambda service spans in the window
    result = run_cli("fetch", *SINCE, "-o", tmp_path / "b", "--endpoint-url", service.endpoint)
    assert result.exit_code == 0, result.output
    assert "warning: no traces in aws/spans" in result.stderr
    assert "Mode=Active" in result.stderr


def test_an_empty_classic_fetch_with_an_unknown_destination_warns(
    tmp_path: Path, endpoint: str
) -> None:
    # GIVEN moto (no GetTraceSegmentDestination) and no traces
    result = run_cli("fetch", *SINCE, "-o", tmp_path / "b", "--endpoint-url", endpoint)
    assert result.exit_code == 0, result.output
    assert "GetTraceSegmentDestination is not known to this endpoint" in result.stderr
    assert "warning: no traces found" in result.stderr
    assert "xray:GetTraceSegmentDestination" in result.stderr
    source = json.loads((tmp_path / "b" / "source.json").read_text())
    assert source["path"] == "xray"
    assert source["segment_destination"] is None
    assert "not known" in source["notes"][0]


def test_fetch_says_which_path_it_takes_when_transaction_search_is_off() -> None:
    """With the segment destination XRay, fetch still says what it does (issue 14: "fetch works,
    and says what it does, with Transaction Search on and off")."""
    from tracelens.acquire.destination import SegmentDestination
    from tracelens.acquire.fetch_path import PATH_CLASSIC, path_notice

    notice = path_notice(SegmentDestination("XRay", "ACTIVE"), PATH_CLASSIC)
    assert notice is not None
    assert "Transaction Search is off" in notice
    assert "GetTraceSummaries + BatchGetTraces" in notice
