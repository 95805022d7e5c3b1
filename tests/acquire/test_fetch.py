"""Tests for tracelens.acquire (X-Ray fetch, side inputs) against moto in server mode (a real HTTP endpoint)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tracelens.acquire.backoff import RetryPolicy
from tracelens.acquire.fetch import fetch_traces
from tracelens.acquire.resume import prepare_resume
from tracelens.acquire.windows import resolve_window, split_window
from tracelens.acquire.xray_filter import build_filter_expression
from tracelens.commands.fetch import run_fetch
from tracelens.errors import SourceUnavailable

if TYPE_CHECKING:
    from pathlib import Path

BASE = 1_700_000_000  # 2023-11-14T22:13:20Z
ACCOUNT = "123456789012"


def _no_sleep(_: float) -> None:
    return None


def make_docs(n: int, *, seed: int, base: int = BASE, fn: str = "orders") -> list[dict[str, Any]]:
    """One AWS::Lambda::Function document per trace (plus a service segment for a few)."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        start = base + i * 0.5
        trace_id = f"1-{int(start):08x}-{rng.getrandbits(96):024x}"
        fn_id = f"{rng.getrandbits(64):016x}"
        arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{fn}"
        if i % 100 == 0:
            svc_id = f"{rng.getrandbits(64):016x}"
            docs.append(
                {
                    "id": svc_id,
                    "name": fn,
                    "trace_id": trace_id,
                    "start_time": start,
                    "end_time": start + 0.2,
                    "origin": "AWS::Lambda",
                    "resource_arn": arn,
                    "aws": {"request_id": f"req-{i}"},
                }
            )
        docs.append(
            {
                "id": fn_id,
                "name": fn,
                "trace_id": trace_id,
                "start_time": start + 0.01,
                "end_time": start + 0.19,
                "origin": "AWS::Lambda::Function",
                "aws": {"function_arn": arn, "account_id": ACCOUNT},
                "subsegments": [
                    {
                        "id": f"{rng.getrandbits(64):016x}",
                        "name": "Invocation",
                        "start_time": start + 0.02,
                        "end_time": start + 0.18,
                    }
                ],
            }
        )
    return docs


def put(client: Any, docs: list[dict[str, Any]]) -> None:
    for i in range(0, len(docs), 50):
        resp = client.put_trace_segments(
            TraceSegmentDocuments=[json.dumps(d) for d in docs[i : i + 50]]
        )
        assert resp["UnprocessedTraceSegments"] == []


def read_bundle(path: Path) -> dict[str, dict[str, Any]]:
    traces: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        trace = json.loads(line)
        assert trace["Id"] not in traces, "trace written twice"
        traces[trace["Id"]] = trace
    return traces


def expected(docs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for d in docs:
        out.setdefault(d["trace_id"], {})[d["id"]] = d
    return out


def assert_matches(traces: dict[str, dict[str, Any]], docs: list[dict[str, Any]]) -> None:
    want = expected(docs)
    assert set(traces) == set(want)
    for trace_id, trace in traces.items():
        assert set(trace) == {"Id", "Duration", "LimitExceeded", "Segments"}
        got = {s["Id"]: json.loads(s["Document"]) for s in trace["Segments"]}
        assert all(isinstance(s["Document"], str) for s in trace["Segments"])
        assert got == want[trace_id]


WINDOW = (datetime.fromtimestamp(BASE - 60, UTC), datetime.fromtimestamp(BASE + 3600, UTC))


def test_fetch_more_than_one_page_matches_what_was_put(
    tmp_path: Path, client_factory: Any, summary_pager: Any
) -> None:
    # GIVEN 1,201 traces in moto and summaries paged at 1,000 per page
    client = client_factory("xray")
    docs = make_docs(1201, seed=1)
    put(client, docs)
    pager = summary_pager(1000)
    pager.install(client)
    # WHEN fetched
    summary = fetch_traces(
        client=client,
        start=WINDOW[0],
        end=WINDOW[1],
        out_dir=tmp_path,
        filter_expression=None,
        functions=(),
        sleep=_no_sleep,
    )
    # THEN both pages were read and every document came back unchanged
    assert pager.served == 1
    assert summary.summary_pages == 2
    assert summary.found == summary.fetched == 1201
    assert summary.functions == ("orders",)
    assert summary.partial == summary.limit_exceeded == summary.missing == 0
    assert_matches(read_bundle(tmp_path / "traces.ndjson"), docs)
    # 241 BatchGetTraces calls of <= 5 ids + 2 summary calls
    assert summary.api_calls == 2 + 241
    # and the bundle reads back through ingest
    from tracelens.ingest import read_traces

    stats = read_traces([tmp_path], workers=1).stats
    assert (stats.documents, stats.rejected) == (len(docs), 0)


def test_window_split_into_six_hour_pieces(tmp_path: Path, client_factory: Any) -> None:
    client = client_factory("xray")
    early = make_docs(3, seed=2, base=BASE)
    late = make_docs(4, seed=3, base=BASE + 10 * 3600)
    put(client, early + late)
    summary = fetch_traces(
        client=client,
        start=datetime.fromtimestamp(BASE - 60, UTC),
        end=datetime.fromtimestamp(BASE + 13 * 3600, UTC),
        out_dir=tmp_path,
        filter_expression=None,
        functions=(),
        sleep=_no_sleep,
    )
    assert summary.windows == 3
    assert summary.fetched == 7
    assert_matches(read_bundle(tmp_path / "traces.ndjson"), early + late)


def test_throttling_is_retried_with_seeded_backoff(
    tmp_path: Path, client_factory: Any, throttler: Any
) -> None:
    client = client_factory("xray")
    docs = make_docs(40, seed=4)
    put(client, docs)
    batch_throttle = throttler("BatchGetTraces", 6, code="ThrottlingException")
    batch_throttle.install(client)
    summary_5xx = throttler("GetTraceSummaries", 2, code="ServiceUnavailable", status=503)
    summary_5xx.install(client)
    sleeps: list[float] = []
    summary = fetch_traces(
        client=client,
        start=WINDOW[0],
        end=WINDOW[1],
        out_dir=tmp_path,
        filter_expression=None,
        functions=(),
        concurrency=1,
        sleep=sleeps.append,
        retry=RetryPolicy(seed=7),
    )
    assert batch_throttle.raised == 6
    assert summary_5xx.raised == 2
    assert summary.throttles == 8
    assert summary.fetched == 40
    assert_matches(read_bundle(tmp_path / "traces.ndjson"), docs)
    # full jitter: each sleep is within [0, min(cap, base * 2**attempt)], reproducible by seed
    assert len(sleeps) == 8
    assert all(0 <= s <= 0.2 * 2**5 for s in sleeps)
    rng = random.Random(7)
    ceilings = [0.2, 0.4] + [0.2 * 2**k for k in range(6)]  # summary retries, then batches
    assert sleeps == pytest.approx([rng.uniform(0, c) for c in ceilings])


def test_throttling_gives_up_with_one_clear_error(
    tmp_path: Path, client_factory: Any, throttler: Any
) -> None:
    client = client_factory("xray")
    put(client, make_docs(3, seed=5))
    throttler("BatchGetTraces", 100).install(client)
    with pytest.raises(SourceUnavailable, match=r"BatchGetTraces failed: ThrottledException"):
        fetch_traces(
            client=client,
            start=WINDOW[0],
            end=WINDOW[1],
            out_dir=tmp_path,
            filter_expression=None,
            functions=(),
            sleep=_no_sleep,
            retry=RetryPolicy(max_attempts=3, seed=1),
        )


def test_access_denied_is_not_retried(tmp_path: Path, client_factory: Any, throttler: Any) -> None:
    client = client_factory("xray")
    denied = throttler("GetTraceSummaries", 1, code="AccessDeniedException", status=403)
    denied.install(client)
    with pytest.raises(SourceUnavailable, match="GetTraceSummaries failed: AccessDenied"):
        fetch_traces(
            client=client,
            start=WINDOW[0],
            end=WINDOW[1],
            out_dir=tmp_path,
            filter_expression=None,
            functions=(),
            sleep=_no_sleep,
        )
    assert denied.raised == 1


def test_resume_after_interrupted_run(tmp_path: Path, client_factory: Any) -> None:
    # GIVEN a complete fetch whose file is then cut in the middle of a line
    client = client_factory("xray")
    docs = make_docs(60, seed=6)
    put(client, docs)
    args: dict[str, Any] = {
        "client": client,
        "start": WINDOW[0],
        "end": WINDOW[1],
        "out_dir": tmp_path,
        "filter_expression": None,
        "functions": (),
        "sleep": _no_sleep,
    }
    fetch_traces(**args)
    path = tmp_path / "traces.ndjson"
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1 + 25  # 25 bytes into the next line
    path.write_bytes(data[:cut])
    complete_lines = data[:cut].count(b"\n")
    # WHEN fetched again
    summary = fetch_traces(**args)
    # THEN the torn line was removed, present traces skipped, the rest fetched once
    assert summary.truncated_bytes == 25
    assert summary.skipped == complete_lines
    assert summary.fetched == 60 - complete_lines
    assert_matches(read_bundle(path), docs)


def test_prepare_resume_on_missing_and_torn_files(tmp_path: Path) -> None:
    assert prepare_resume(tmp_path / "nope.ndjson") == (set(), 0)
    path = tmp_path / "t.ndjson"
    path.write_bytes(b'{"Id":"1-a"}\n{"Id":"1-b"}\n{"Id":"1-')
    assert prepare_resume(path) == ({"1-a", "1-b"}, 9)
    assert path.read_bytes() == b'{"Id":"1-a"}\n{"Id":"1-b"}\n'
    path.write_bytes(b'{"Id":"1-')
    assert prepare_resume(path) == (set(), 9)
    assert path.read_bytes() == b""


def test_unprocessed_ids_are_retried(tmp_path: Path, client_factory: Any) -> None:
    client = client_factory("xray")
    docs = make_docs(5, seed=8)
    put(client, docs)
    calls: list[list[str]] = []

    def hold_back_first(parsed: dict[str, Any], **_: Any) -> None:
        calls.append([t["Id"] for t in parsed["Traces"]])
        if len(calls) == 1:
            moved = parsed["Traces"].pop(0)
            parsed["UnprocessedTraceIds"].append(moved["Id"])

    client.meta.events.register("after-call.xray.BatchGetTraces", hold_back_first)
    summary = fetch_traces(
        client=client,
        start=WINDOW[0],
        end=WINDOW[1],
        out_dir=tmp_path,
        filter_expression=None,
        functions=(),
        sleep=_no_sleep,
    )
    assert len(calls) == 2
    assert len(calls[1]) == 1
    assert summary.fetched == 5
    assert summary.missing == 0
    assert_matches(read_bundle(tmp_path / "traces.ndjson"), docs)


def test_partial_and_limit_exceeded_traces(tmp_path: Path, client_factory: Any) -> None:
    # GIVEN one trace with an in_progress document, one summarised as IsPartial,
    # one over the size limit
    client = client_factory("xray")
    docs = make_docs(6, seed=9)
    fn_docs = [d for d in docs if d["origin"] == "AWS::Lambda::Function"]
    stuck = fn_docs[0]
    open_doc = {
        "id": "00000000000000aa",
        "name": "child",
        "trace_id": stuck["trace_id"],
        "start_time": stuck["start_time"] + 0.05,
        "in_progress": True,
        "parent_id": stuck["id"],
        "type": "subsegment",
    }
    put(client, docs)
    put(client, [open_doc])
    flagged, big = fn_docs[1]["trace_id"], fn_docs[2]["trace_id"]

    def mark_partial(parsed: dict[str, Any], **_: Any) -> None:
        for s in parsed["TraceSummaries"]:
            s["IsPartial"] = s["Id"] == flagged

    batch_ids: list[list[str]] = []

    def mark_limit(parsed: dict[str, Any], **_: Any) -> None:
        batch_ids.append(sorted(t["Id"] for t in parsed["Traces"]))
        for t in parsed["Traces"]:
            t["LimitExceeded"] = t["Id"] == big

    client.meta.events.register("after-call.xray.GetTraceSummaries", mark_partial)
    client.meta.events.register("after-call.xray.BatchGetTraces", mark_limit)
    delays: list[float] = []
    # WHEN fetched
    summary = fetch_traces(
        client=client,
        start=WINDOW[0],
        end=WINDOW[1],
        out_dir=tmp_path,
        filter_expression=None,
        functions=(),
        sleep=delays.append,
        partial_refetch_delay=3.0,
    )
    # THEN both partial traces were fetched once more at the end; the one still in progress
    # is written and counted as partial; the big one is kept and counted
    assert delays == [3.0]
    assert summary.refetched == 2
    assert batch_ids[-1] == sorted([stuck["trace_id"], flagged])
    assert summary.partial == 1
    assert summary.limit_exceeded == 1
    traces = read_bundle(tmp_path / "traces.ndjson")
    assert len(traces) == 6
    assert traces[big]["LimitExceeded"] is True
    put_for_stuck = [d for d in docs if d["trace_id"] == stuck["trace_id"]] + [open_doc]
    assert {s["Id"] for s in traces[stuck["trace_id"]]["Segments"]} == {
        d["id"] for d in put_for_stuck
    }


def test_filter_expression_building() -> None:
    assert build_filter_expression(None, ()) is None
    assert build_filter_expression(" ", ()) is None
    assert build_filter_expression(None, ["b", "a"]) == 'service("a") OR service("b")'
    assert build_filter_expression("responsetime > 5", ["a"]) == (
        '(responsetime > 5) AND service("a")'
    )
    assert build_filter_expression("error", ["a", "b"]) == (
        '(error) AND (service("a") OR service("b"))'
    )
    with pytest.raises(SourceUnavailable, match="not a Lambda function name"):
        build_filter_expression(None, ['x") OR service("y'])


def test_filter_expression_is_sent(tmp_path: Path, client_factory: Any) -> None:
    client = client_factory("xray")
    sent: list[str | None] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        sent.append(params.get("FilterExpression"))
        params.pop("FilterExpression", None)  # moto 5.2 answers 500 to any filter

    client.meta.events.register("provide-client-params.xray.GetTraceSummaries", capture)
    put(client, make_docs(2, seed=10))
    summary = fetch_traces(
        client=client,
        start=WINDOW[0],
        end=WINDOW[1],
        out_dir=tmp_path,
        filter_expression="error",
        functions=["orders"],
        sleep=_no_sleep,
    )
    assert sent == ['(error) AND service("orders")']
    assert summary.fetched == 2


def test_split_window_and_resolve() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    pieces = split_window(t0, t0 + timedelta(hours=13))
    assert [(b - a) for a, b in pieces] == [timedelta(hours=6)] * 2 + [timedelta(hours=1)]
    assert pieces[0][0] == t0
    assert pieces[-1][1] == t0 + timedelta(hours=13)
    with pytest.raises(SourceUnavailable):
        split_window(t0, t0)
    start, end = resolve_window(last="90m", since=None, until=None, now=t0)
    assert (start, end) == (t0 - timedelta(minutes=90), t0)
    start, end = resolve_window(last=None, since=datetime(2023, 12, 31), until=None, now=t0)
    assert start == datetime(2023, 12, 31, tzinfo=UTC)
    assert end == t0
    with pytest.raises(SourceUnavailable, match="exactly one"):
        resolve_window(last="1h", since=t0, until=None, now=t0)
    with pytest.raises(SourceUnavailable, match="duration"):
        resolve_window(last="an hour", since=None, until=None, now=t0)


def test_run_fetch_with_config_and_dlq(
    tmp_path: Path, endpoint: str, client_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function with an on-failure destination and an SQS event source whose
    # redrive DLQ holds a message, plus its traces (moto 5.2 keeps no DeadLetterConfig;
    # test_dlq_targets covers that path)
    import io
    import zipfile

    from tracelens.ingest.side import read_side_inputs

    sqs = client_factory("sqs")
    lam = client_factory("lambda")
    iam = client_factory("iam")
    xray = client_factory("xray")

    def queue(name: str, **attrs: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return url, arn

    _, fail_arn = queue("orders-failures")
    redrive_url, redrive_arn = queue("source-redrive", VisibilityTimeout="0")
    _, source_arn = queue(
        "orders-source",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": redrive_arn, "maxReceiveCount": "3"}),
    )
    sqs.send_message(
        QueueUrl=redrive_url,
        MessageBody='{"order": 1}',
        MessageAttributes={"RequestID": {"DataType": "String", "StringValue": "req-1"}},
    )
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("h.py", "def handler(e, c):\n    return e\n")
    lam.create_function(
        FunctionName="orders",
        Runtime="python3.12",
        Role=role,
        Handler="h.handler",
        Code={"ZipFile": buf.getvalue()},
    )
    lam.put_function_event_invoke_config(
        FunctionName="orders",
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": fail_arn}},
    )
    lam.create_event_source_mapping(EventSourceArn=source_arn, FunctionName="orders", BatchSize=10)
    put(xray, make_docs(3, seed=11))
    # WHEN run as the command would
    summary = run_fetch(
        out_dir=tmp_path,
        since=WINDOW[0],
        until=WINDOW[1],
        region="us-east-1",
        endpoint_url=endpoint,
        with_dlq=True,
        dlq_polls=2,
    )
    # THEN traces, config.json and the DLQ dumps are in the bundle
    assert summary.fetched == 3
    err = capsys.readouterr().err
    assert "3 traces written" in err
    assert "testing" not in err
    config = json.loads((tmp_path / "config.json").read_text())
    fn = config["functions"]["orders"]
    assert fn["FunctionArn"].endswith(":function:orders")
    assert fn["EventInvokeConfig"]["MaximumRetryAttempts"] == 1
    assert [m["EventSourceArn"] for m in config["EventSourceMappings"]] == [source_arn]
    assert set(config["queues"]) == {source_arn, redrive_arn, fail_arn}
    assert config["queues"][source_arn]["Attributes"]["QueueArn"] == source_arn
    dumps = sorted(p.name for p in (tmp_path / "dlq").iterdir())
    assert dumps == ["orders-failures.json", "source-redrive.json"]
    redrive = json.loads((tmp_path / "dlq" / "source-redrive.json").read_text())
    assert redrive["QueueArn"] == redrive_arn
    assert [m["Body"] for m in redrive["Messages"]] == ['{"order": 1}']
    # not deleted: still receivable
    again = sqs.receive_message(QueueUrl=redrive_url, AttributeNames=["All"])
    assert len(again["Messages"]) == 1
    assert int(again["Messages"][0]["Attributes"]["ApproximateReceiveCount"]) >= 2
    # and the bundle's side files are readable by analyze
    side = read_side_inputs([tmp_path], config=None, dlq=[])
    assert side.functions["orders"].on_failure_arn == fail_arn
    assert side.queues[source_arn].redrive_policy is not None
    assert {d.queue_arn for d in side.dumps} == {fail_arn, redrive_arn}
    assert [r.request_id for d in side.dumps for r in d.dlq_messages] == ["req-1"]
    assert "secret" not in (tmp_path / "config.json").read_text().lower()


def test_dlq_targets() -> None:
    from tracelens.acquire.aws_side import dlq_targets, sqs_queue_parts

    q = "arn:aws:sqs:us-east-1:123456789012:"
    config = {
        "functions": {
            "a": {
                "DeadLetterConfig": {"TargetArn": q + "a-dlq"},
                "EventInvokeConfig": {
                    "DestinationConfig": {"OnFailure": {"Destination": q + "a-fail"}}
                },
            },
            "b": {"DeadLetterConfig": {"TargetArn": "arn:aws:sns:us-east-1:1:topic"}},
        },
        "EventSourceMappings": [
            {"DestinationConfig": {"OnFailure": {"Destination": q + "stream-fail"}}}
        ],
        "queues": {
            q + "src": {
                "Attributes": {
                    "RedrivePolicy": json.dumps(
                        {"deadLetterTargetArn": q + "src-dlq", "maxReceiveCount": 3}
                    )
                }
            }
        },
    }
    assert dlq_targets(config) == sorted(
        q + n for n in ("a-dlq", "a-fail", "stream-fail", "src-dlq")
    )
    assert sqs_queue_parts(q + "x") == ("123456789012", "x")
    assert sqs_queue_parts("arn:aws:sns:us-east-1:1:topic") is None


def test_import_tracelens_does_not_import_boto3() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tracelens, tracelens.acquire.fetch, tracelens.acquire.udp, "
        "tracelens.acquire.aws_side, tracelens.commands.fetch; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False False"
