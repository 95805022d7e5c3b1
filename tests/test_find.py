"""``tracelens find`` and ``--filter``: X-Ray filter expressions evaluated offline.

tests/find/traces.ndjson holds six hand-written traces (ids end in 1..6):
  1  orders-api (POST /orders, 200, 0.30 s) -> orders-fn; handler annotations order_id o-1001,
     tenant acme, amount 250, priority true
  2  orders-api (POST, 502 fault, 1.5 s) -> orders-fn faults with ValueError; handler
     annotations o-1002, acme-eu, 99.5, false, and customer c-7 three levels deep
  3  billing-fn Lambda service segment root, throttled (429, error + throttle), 0.05 s
  4  orders-api (GET /orders/o-1004, 404 error, 0.02 s), annotations on the root: o-1004, 10
  5  orders-api still in progress (POST), annotation o-1005
  6  reports-api (GET, 200, 3.0 s); a separately sent subsegment: o-1006, tenant globex
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tracelens
from tests.cli_helpers import one_line_error, run_cli
from tracelens.analysis.filter_expr import parse
from tracelens.analysis.trace_filter import matching_trace_ids
from tracelens.errors import FilterSyntaxError

TRACES = Path(__file__).parent / "find" / "traces.ndjson"
SQS_BUNDLE = Path(__file__).parent.parent / "sample_traces" / "sqs_poison_no_redrive"


def _id(n: int) -> str:
    return f"1-6b000000-00000000000000000000000{n}"


# expression -> the trace numbers it matches (checked by hand against the docstring above)
TABLE = [
    ('annotation.order_id = "o-1001"', [1]),
    ('annotation[order_id] = "o-1002"', [2]),
    ('annotation.order_id != "o-1001"', [2, 4, 5, 6]),
    ('annotation.order_id BEGINSWITH "o-100"', [1, 2, 4, 5, 6]),
    ('annotation.order_id ENDSWITH "6"', [6]),
    ('annotation.tenant CONTAINS "acme"', [1, 2]),
    ('annotation.tenant = "acme"', [1]),
    ("annotation.amount > 50", [1, 2]),
    ("annotation.amount <= 10", [4]),
    ("annotation.amount = 99.5", [2]),
    ('annotation.amount = "250"', []),  # a string never equals a number annotation
    ("annotation.priority = true", [1]),
    ("annotation.priority = false", [2]),
    ("annotation.priority", [1, 2]),  # the key is present
    ("!annotation.order_id", [3]),
    ('annotation.customer = "c-7"', [2]),  # three levels deep
    ("annotation.nowhere", []),
    ("ok", [1, 6]),
    ("!ok", [2, 3, 4, 5]),  # 5 is still in progress: not ok
    ("error", [3, 4]),
    ("fault", [2]),
    ("throttle", [3]),
    ("fault = true OR throttle = true", [2, 3]),
    ("partial", [5]),
    ("ok !partial duration < 1", [1]),
    ("duration >= 1.5", [2, 6]),
    ("duration >= 1 AND duration <= 2", [2]),
    ("responsetime > 1", [2, 6]),
    ("http.status = 404", [4]),
    ("http.status >= 500", [2]),
    ('http.url BEGINSWITH "https://api.example.com/orders/"', [4]),
    ('http.url CONTAINS "/orders"', [1, 2, 4, 5]),
    ('http.method = "GET"', [4, 6]),
    ('service("orders-fn")', [1, 2]),
    ('service("orders-fn") { fault }', [2]),
    ('service("orders-api") { fault = true OR responsetime > 1 }', [2]),
    ('service(id(name: "orders-fn", type: "AWS::Lambda::Function"))', [1, 2]),
    ('service(id(type: "AWS::Lambda"))', [1, 2, 3]),
    ('id(name: "billing-fn", type: "AWS::Lambda")', [3]),
    ("service() { throttle }", [3]),
    ('!service("orders-api")', [3, 6]),
    ('rootcause.fault.exception.name = "ValueError"', [2]),
    ('rootcause.fault.exception.message CONTAINS "positive"', [2]),
    ('rootcause.error.exception.name = "ValueError"', []),
    ('(annotation.tenant = "acme" OR annotation.tenant = "globex") AND !fault', [1, 6]),
    ('annotation.order_id = "o-1004" and error', [4]),
]


@pytest.fixture(scope="module")
def frames() -> tracelens.TraceFrames:
    return tracelens.read_traces([TRACES])


@pytest.mark.parametrize(("expression", "expected"), TABLE)
def test_expression_table(
    frames: tracelens.TraceFrames, expression: str, expected: list[int]
) -> None:
    assert matching_trace_ids(frames, parse(expression)) == [_id(n) for n in expected]


@pytest.mark.parametrize(
    ("expression", "column", "reason"),
    [
        ("annotation.order_id =", 22, "expected a value after '='"),
        ('annotation.id = "x" AND', 24, "expected a keyword"),
        ("fault AND (error", 17, "expected ')' to close the '(' at column 11"),
        ("bogus = 1", 1, "unknown keyword 'bogus'"),
        ('http.status = "x"', 15, "http.status takes a number value"),
        ("duration BEGINSWITH 3", 10, "'BEGINSWITH' does not compare duration"),
        ('annotation.k = "open', 16, "no closing"),
        ("fault # x", 7, "unexpected character '#'"),
        ('service("a") { annotation.k }', 16, "not supported inside service()"),
        ("responsetime", 13, "expected an operator after 'responsetime'"),
        ("", 1, "the expression is empty"),
        ("fault)", 6, "unexpected ')'"),
    ],
)
def test_syntax_errors_name_the_column(expression: str, column: int, reason: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse(expression)
    assert caught.value.column == column
    assert reason in str(caught.value)
    assert str(caught.value).startswith(f"filter expression, column {column}: ")


def test_cli_syntax_error_is_one_line() -> None:
    result = run_cli("find", "annotation.order_id =", TRACES)
    one_line_error(result, "filter expression, column 22: expected a value after '='")


def _find_json(*args: str | Path) -> dict[str, object]:
    result = run_cli("find", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_find_json_rows() -> None:
    document = _find_json('annotation.tenant CONTAINS "acme"', TRACES)
    assert document["schema"] == "tracelens.find/1"
    assert document["matched"] == 2
    assert document["traces_searched"] == 6
    rows = document["traces"]
    assert isinstance(rows, list)
    assert [r["trace_id"] for r in rows] == [_id(1), _id(2)]
    assert rows[0]["functions"] == ["orders-fn"]
    assert rows[0]["request_ids"] == ["r-0001"]
    assert rows[0]["outcomes"] == ["request succeeded"]
    assert rows[1]["outcomes"] == ["request failed"]
    assert rows[0]["duration_ms"] == 300.0


def test_one_and_several_partitions_agree() -> None:
    expression = 'annotation.order_id = "o-1005" OR ok OR service("billing-fn")'
    one = _find_json(expression, TRACES, "--partitions", "1")
    several = _find_json(expression, TRACES, "--partitions", "4")
    assert one == several
    assert one["matched"] == 4


def test_limit_and_csv() -> None:
    result = run_cli("find", "annotation.order_id", TRACES, "--format", "csv", "--limit", "2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("trace_id,start,duration_ms")
    assert [line.split(",")[0] for line in lines[1:]] == [_id(1), _id(2)]
    assert "5 traces match (of 6 traces searched); the first 2" in result.stderr


def test_no_match_is_exit_0_and_unknown_key_is_reported() -> None:
    result = run_cli("find", 'annotation.order_ref = "x"', TRACES)
    assert result.exit_code == 0
    assert "0 traces match" in result.stdout
    assert "annotation.order_ref appears in no document" in result.stderr


def test_text_never_cuts_trace_ids() -> None:
    result = run_cli("find", "annotation.order_id", TRACES)
    assert result.exit_code == 0
    for n in (1, 2, 4, 5, 6):
        assert _id(n) in result.stdout


def test_sample_bundle_sqs_outcomes() -> None:
    document = _find_json("annotation.receive_count >= 3", SQS_BUNDLE)
    rows = document["traces"]
    assert isinstance(rows, list)
    assert rows
    assert all(r["functions"] == ["order-consumer"] for r in rows)
    assert all(any(o.startswith("sqs ") for o in r["outcomes"]) for r in rows)


def test_analyze_filter_analyses_only_matching_traces() -> None:
    result = run_cli("analyze", TRACES, "--format", "json", "--filter", 'service("orders-fn")')
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["input"]["traces"] == 2
    assert any("--filter" in note for note in report["input"]["notes"])


def test_analyze_filter_no_match_is_exit_2() -> None:
    result = run_cli("analyze", TRACES, "--filter", 'annotation.order_id = "none"')
    one_line_error(result, "no trace matches")


def test_analyze_filter_syntax_error_is_exit_2() -> None:
    one_line_error(run_cli("analyze", TRACES, "--filter", "fault AND"), "column 10")


def test_dashboard_filter(tmp_path: Path) -> None:
    out = tmp_path / "d.html"
    result = run_cli("dashboard", SQS_BUNDLE, "-o", out, "--filter", "annotation.receive_count > 1")
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    nothing = run_cli("dashboard", SQS_BUNDLE, "-o", out, "--filter", "throttle")
    one_line_error(nothing, "no trace matches")


def test_explain_by_annotation() -> None:
    result = run_cli("explain", "annotation.order_id=o-1002", TRACES)
    assert result.exit_code == 0, result.output
    assert f"Story of trace {_id(2)}" in result.stdout
    assert "ValueError: amount must be positive" in result.stdout
    number = run_cli("explain", "annotation.amount=250", TRACES)
    assert f"Story of trace {_id(1)}" in number.stdout
    quoted = run_cli("explain", 'annotation.amount="250"', TRACES)  # text: no such value
    one_line_error(quoted, "has that annotation value")


def test_explain_by_annotation_in_several_traces() -> None:
    result = run_cli("explain", "annotation.event_source=aws:sqs", SQS_BUNDLE)
    line = one_line_error(result, "'annotation.event_source=aws:sqs' is in ", " traces: 1-")
    assert "tracelens find" in line
    one_line_error(
        run_cli("explain", "annotation.nope=x", TRACES), "nothing found for 'annotation.nope=x'"
    )


def test_analyze_filter_same_for_any_number_of_partitions() -> None:
    args = ("analyze", SQS_BUNDLE, "--format", "json", "--filter", "annotation.receive_count > 1")
    one = run_cli(*args, "--partitions", "1")
    several = run_cli(*args, "--partitions", "3")
    assert one.exit_code == several.exit_code == 0
    assert one.stdout == several.stdout
    assert json.loads(one.stdout)["input"]["traces"] == 29
