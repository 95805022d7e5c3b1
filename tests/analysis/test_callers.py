"""Who called: attribution of every request compared with the emulator's truth, and by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

import polars as pl
import pytest

from tests.emulator.conftest import BUILTINS, builtin_result
from tracelens.analysis import analyse
from tracelens.analysis import callers as callers_mod
from tracelens.emulator import run_scenario, write_bundle
from tracelens.emulator.scenario import parse_scenario
from tracelens.ingest import read_traces
from tracelens.ingest.side import read_side_inputs
from tracelens.model.vocab import AsyncCaller, PollCaller, SyncCaller

if TYPE_CHECKING:
    from pathlib import Path

    from tracelens.analysis.pipeline import AnalysisResults
    from tracelens.emulator import EmulationResult

SEED = 2


def _analyse(path: Path, *, config: bool = True) -> AnalysisResults:
    frames = read_traces([path / "traces.ndjson"] if not config else [path])
    side = read_side_inputs([path] if config else [], config=None, dlq=())
    return analyse(frames, side)


def _mismatches(result: EmulationResult, results: AnalysisResults) -> list[str]:
    """Requests whose attributed caller differs from what truth says the traces tell."""
    got = {
        row["request"]: (
            row[callers_mod.CALLER_KIND],
            row[callers_mod.CALLER_NAME],
            row[callers_mod.CALLER_ARN],
        )
        for row in results.request_callers.iter_rows(named=True)
    }
    problems = []
    for request in result.truth["requests"]:
        seen = request["caller"]["attributed"]
        want = (seen["kind"], seen["name"], seen["arn"])
        have = got.pop(request["request_id"], None)
        if have != want:
            problems.append(f"{request['function']} {request['request_id']}: {have} != {want}")
    problems.extend(f"not in truth: {key} {value}" for key, value in sorted(got.items()))
    return problems


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_scenario_attributes_callers_as_truth_says(name: str, tmp_path: Path) -> None:
    result = builtin_result(name, SEED)
    write_bundle(result, tmp_path)
    problems = _mismatches(result, _analyse(tmp_path))
    assert not problems, "\n".join(problems[:20])


def _every_kind() -> dict[str, Any]:
    """One function per caller kind the emulator supports, plus a function fed by two queues."""
    push = [*sorted(get_args(SyncCaller)), *sorted(get_args(AsyncCaller))]
    functions: dict[str, Any] = {f"fn-{kind}": {"duration_ms": 20} for kind in push}
    functions |= {f"fn-{kind}": {"duration_ms": 20} for kind in get_args(PollCaller)}
    functions["fn-two-queues"] = {"duration_ms": 20}
    callers: list[dict[str, Any]] = [
        {"kind": kind, "function": f"fn-{kind}", "name": f"{kind}-caller", "count": 4}
        for kind in push
    ]
    callers += [
        {"kind": "sqs", "target": "q1", "count": 4},
        {"kind": "sqs", "target": "q2", "count": 4},
        {"kind": "sqs", "target": "q3", "count": 4},
        {"kind": "kinesis", "target": "ks", "count": 4},
        {"kind": "dynamodb", "target": "ds", "count": 4},
    ]
    return {
        "name": "every-caller",
        "functions": functions,
        "queues": {"q1": {}, "q2": {}, "q3": {}},
        "streams": {"ks": {"kind": "kinesis"}, "ds": {"kind": "dynamodb"}},
        "mappings": [
            {"source": "q1", "function": "fn-sqs"},
            {"source": "q2", "function": "fn-two-queues"},
            {"source": "q3", "function": "fn-two-queues"},
            {"source": "ks", "function": "fn-kinesis"},
            {"source": "ds", "function": "fn-dynamodb"},
        ],
        "callers": callers,
    }


def test_every_caller_kind_is_attributed_as_truth_says(tmp_path: Path) -> None:
    result = run_scenario(parse_scenario(_every_kind(), "<every-caller>"), seed=SEED)
    write_bundle(result, tmp_path)
    results = _analyse(tmp_path)
    assert not _mismatches(result, results)
    kinds = {r["caller"]["kind"] for r in result.truth["requests"]}
    assert kinds == set(get_args(SyncCaller)) | set(get_args(AsyncCaller)) | set(
        get_args(PollCaller)
    )
    summary = results.callers
    row = summary.filter(pl.col("function") == "fn-two-queues").row(0, named=True)
    assert row[callers_mod.CALLER_KIND] == "sqs"
    assert row[callers_mod.CALLER_NAME] is None
    assert row[callers_mod.CALLER_REASON] == callers_mod.REASON_AMBIGUOUS
    assert row[callers_mod.CANDIDATES] == [
        "arn:aws:sqs:us-east-1:123456789012:q2",
        "arn:aws:sqs:us-east-1:123456789012:q3",
    ]
    untraced = summary.filter(pl.col("function") == "fn-s3").row(0, named=True)
    assert untraced[callers_mod.CALLER_KIND] == "unknown"
    assert untraced[callers_mod.CALLER_REASON] == callers_mod.REASON_UNTRACED_ASYNC
    alb = summary.filter(pl.col("function") == "fn-alb").row(0, named=True)
    assert alb[callers_mod.CALLER_REASON] == callers_mod.REASON_UNTRACED_SYNC


def test_without_config_poll_callers_are_unknown_with_the_reason(tmp_path: Path) -> None:
    result = builtin_result("sqs_poison_no_redrive", SEED)
    write_bundle(result, tmp_path)
    summary = _analyse(tmp_path, config=False).callers
    assert summary.get_column(callers_mod.CALLER_REASON).to_list() == [callers_mod.REASON_NO_CONFIG]
    assert summary.get_column(callers_mod.CALLER_KIND).to_list() == ["sqs"]


T = "1-6747c1a0-000000000000000000000001"


def _row(
    id_: str,
    kind: str,
    *,
    doc: str | None = None,
    parent: str | None = None,
    name: str | None = None,
    origin: str | None = None,
    arn: str | None = None,
) -> dict[str, Any]:
    return {
        "trace_id": T,
        "id": id_,
        "parent_id": parent,
        "doc_id": doc or id_,
        "kind": kind,
        "top": doc is None,
        "name": name,
        "origin": origin,
        "arn": arn,
    }


def test_parent_callers_by_hand() -> None:
    """Each shape of parent gives its caller, and an unknown one says why."""
    stage = "arn:aws:apigateway:us-east-1::/restapis/abc/stages/prod"
    topic = "arn:aws:sns:us-east-1:123456789012:orders"
    fn_arn = "arn:aws:lambda:us-east-1:123456789012:function:caller-fn"
    rows = [
        _row("a1", "segment", name="abc/prod", origin="AWS::ApiGateway::Stage", arn=stage),
        _row("c1", "call", doc="a1", parent="a1", name="Lambda"),
        _row("f1", "function", name="caller-fn", origin="AWS::Lambda::Function", arn=fn_arn),
        _row("c2", "call", doc="f1", parent="i1", name="Lambda"),
        _row("s1", "segment", name="orders", origin="AWS::SNS", arn=topic),
        _row("e1", "segment", name="batch-host", origin="AWS::EC2::Instance"),
        _row("g1", "segment", name="checkout"),
        _row("c3", "call", doc="g1", parent="g1", name="Lambda"),
    ]
    entities = pl.DataFrame(rows)
    parents = ["c1", "c2", "s1", "e1", "c3", "gone"]
    services = pl.DataFrame({"trace_id": [T] * len(parents), "parent_id": parents})
    got = callers_mod.parent_callers(entities.lazy(), services.lazy()).collect()
    assert got.sort("parent_id").select(
        "parent_id",
        callers_mod.CALLER_KIND,
        callers_mod.CALLER_NAME,
        callers_mod.CALLER_ARN,
        callers_mod.CALLER_REASON,
    ).rows() == sorted(
        [
            ("c1", "api_gateway", "abc/prod", stage, None),
            ("c2", "sdk", "caller-fn", fn_arn, None),
            ("s1", "sns", "orders", topic, None),
            (
                "e1",
                "unknown",
                "batch-host",
                None,
                "the caller segment's origin AWS::EC2::Instance is not a caller tracelens knows",
            ),
            ("c3", "sdk", "checkout", None, None),
            ("gone", "unknown", None, None, callers_mod.REASON_MISSING_PARENT),
        ]
    )


def test_source_names_from_arns() -> None:
    assert callers_mod.source_name("arn:aws:sqs:us-east-1:1:orders.fifo") == "orders.fifo"
    assert callers_mod.source_name("arn:aws:kinesis:us-east-1:1:stream/clicks") == "clicks"
    arn = "arn:aws:dynamodb:us-east-1:1:table/inventory/stream/2026-11-01T00:00:00.000"
    assert callers_mod.source_name(arn) == "inventory"


def test_lambda_at_edge_is_cloudfront_and_partitions_agree(tmp_path: Path) -> None:
    """A Lambda@Edge replica (us-east-1.<fn>) is attributed to CloudFront; one and five
    partitions give the same callers."""
    from tracelens.engine.run import EngineOptions, analyse_paths

    data = {
        "name": "edge",
        "functions": {"viewer": {"duration_ms": 5}, "api": {"duration_ms": 5}},
        "callers": [
            {"kind": "cloudfront", "function": "viewer", "count": 6},
            {"kind": "api_gateway", "name": "shop", "function": "api", "count": 9},
            {"kind": "sns", "name": "topic", "function": "api", "count": 7},
        ],
    }
    result = run_scenario(parse_scenario(data, "<edge>"), seed=SEED)
    write_bundle(result, tmp_path)
    side = read_side_inputs([tmp_path], config=None, dlq=())
    one = analyse_paths([tmp_path], side, EngineOptions(partitions=1))
    five = analyse_paths([tmp_path], side, EngineOptions(partitions=5))
    assert one.callers.equals(five.callers)
    assert one.request_callers.equals(five.request_callers)
    kinds = one.callers.select("function", callers_mod.CALLER_KIND, "requests").rows()
    assert kinds == [
        ("api", "api_gateway", 9),
        ("api", "sns", 7),
        ("us-east-1.viewer", "cloudfront", 6),
    ]
