"""Second-pass semantics: FIFO groups, client retries, duplicates, SNS DLQ, callers, links."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Any

import pytest

from tests.emulator.conftest import builtin_result
from tracelens.emulator import EmulationResult, run_scenario
from tracelens.emulator.scenario import parse_scenario
from tracelens.model.vocab import ASYNC_CALLERS, POLL_CALLERS, SYNC_CALLERS


def _walk(entity: dict[str, Any]) -> list[dict[str, Any]]:
    out = [entity]
    for sub in entity.get("subsegments", ()):
        out.extend(_walk(sub))
    return out


def _entities(result: EmulationResult) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Every entity by id, with the top-level document holding it."""
    return {e["id"]: (e, doc) for doc in result.documents for e in _walk(doc)}


# --- 1. SQS FIFO message groups -------------------------------------------------------


def _fifo_records(result: EmulationResult) -> dict[str, list[tuple[float, int, bool, str]]]:
    """Record subsegments per message group: (start, seq, failed, message id)."""
    meta = {m["message_id"]: m for m in result.truth["sqs_messages"]}
    out: dict[str, list[tuple[float, int, bool, str]]] = defaultdict(list)
    for doc in result.documents:
        for e in _walk(doc):
            mid = e.get("annotations", {}).get("message_id")
            if mid in meta:
                m = meta[mid]
                out[m["group"]].append((e["start_time"], m["seq"], bool(e.get("error")), mid))
    return {g: sorted(v) for g, v in out.items()}


def test_fifo_group_makes_no_progress_past_its_failing_message() -> None:
    result = builtin_result("sqs_fifo_blocked_group")
    released = {
        d["key"]: d["time"] for d in result.truth["target_deliveries"] if d["kind"] == "redrive"
    }
    assert released, "the poison message should have been moved to the FIFO DLQ"
    blocked_behind = 0
    for records in _fifo_records(result).values():
        pending: dict[str, int] = {}  # failing message -> its seq, until success or redrive
        for start, seq, failed, mid in records:
            for p in [p for p in pending if released.get(p, math.inf) <= start]:
                del pending[p]
            assert all(seq <= s for s in pending.values()), (
                f"message seq {seq} processed while seq {min(pending.values())} was failing"
            )
            blocked_behind += any(seq > s for s in pending.values())
            if failed:
                pending[mid] = seq
            else:
                pending.pop(mid, None)
    # the poison's group really had messages waiting behind it, processed after the redrive
    poison = next(m for m in result.truth["sqs_messages"] if m["poison"])
    group = _fifo_records(result)[poison["group"]]
    later = [s for start, s, _, _ in group if s > poison["seq"]]
    assert later
    first_fail = min(start for start, _, f, mid in group if f and mid == poison["message_id"])
    after = [
        start
        for start, s, _, _ in group
        if s > poison["seq"] and start > released[poison["message_id"]]
    ]
    assert after, "nothing in the poisoned group was processed after the redrive"
    # other groups kept going while the poisoned one was blocked (R3.20: the group, not the queue)
    others = [
        start
        for g, recs in _fifo_records(result).items()
        if g != poison["group"]
        for start, _, _, _ in recs
        if first_fail < start < released[poison["message_id"]]
    ]
    assert others


def test_fifo_batches_keep_group_order_and_size() -> None:
    result = builtin_result("sqs_fifo_blocked_group")
    meta = {m["message_id"]: m for m in result.truth["sqs_messages"]}
    batches = 0
    for doc in result.documents:
        if doc.get("origin") != "AWS::Lambda::Function":
            continue
        recs = [e for e in _walk(doc) if e.get("annotations", {}).get("event_source") == "aws:sqs"]
        if not recs:
            continue
        batches += 1
        assert len(recs) <= 10  # R3.18
        by_group: dict[str, list[int]] = defaultdict(list)
        for e in sorted(recs, key=lambda e: e["start_time"]):
            m = meta[e["annotations"]["message_id"]]
            by_group[m["group"]].append(m["seq"])
        assert all(seqs == sorted(seqs) for seqs in by_group.values())
    assert batches
    # first deliveries of each group happen in send order
    for records in _fifo_records(result).values():
        firsts: dict[str, tuple[float, int]] = {}
        for start, seq, _, mid in records:
            firsts.setdefault(mid, (start, seq))
        order = [seq for _, seq in sorted(firsts.values())]
        assert order == sorted(order)


def test_fifo_dlq_keeps_message_id_and_source() -> None:
    result = builtin_result("sqs_fifo_blocked_group")
    dump = result.dlq["ledger-dlq.fifo"]
    assert dump["QueueArn"].endswith(":ledger-dlq.fifo")
    poison = {m["message_id"] for m in result.truth["sqs_messages"] if m["poison"]}
    assert {m["MessageId"] for m in dump["Messages"]} == poison
    for msg in dump["Messages"]:
        assert msg["Attributes"]["DeadLetterQueueSourceArn"].endswith(":ledger.fifo")
        assert msg["Attributes"]["MessageGroupId"].startswith("group-")


# --- 2. client SDK retries ------------------------------------------------------------


def test_client_retries_are_new_requests_under_one_caller_subsegment() -> None:
    result = builtin_result("sync_client_retries")
    entities = _entities(result)
    services = [d for d in result.documents if d.get("origin") == "AWS::Lambda"]
    by_request = {d["aws"]["request_id"]: d for d in services}
    assert len(by_request) == len(services)  # every try has its own request id
    retried = [c for c in result.truth["sync_calls"] if c["retries"] > 0]
    assert {c["retry_mode"] for c in retried} == {"legacy", "standard"}
    for call in result.truth["sync_calls"]:
        docs = [by_request[t["request_id"]] for t in call["tries"]]
        assert {d["trace_id"] for d in docs} == {call["trace_id"]}
        parents = {d["parent_id"] for d in docs}
        assert len(parents) == 1
        sub, _ = entities[parents.pop()]
        assert sub["name"] == "Lambda"
        assert sub["aws"]["retries"] == call["retries"] == len(call["tries"]) - 1
        limit = {"legacy": 5, "standard": 3, "adaptive": 3}[call["retry_mode"]]
        assert len(call["tries"]) <= limit
        for a, b in itertools.pairwise(call["tries"]):
            # only throttles, 5xx and read timeouts are retried, never a function error
            assert a["outcome"] in ("throttled", "service_error", "read_timeout")
            wait = b["start"] - a["end"]
            n = call["tries"].index(a) + 1
            cap = 2.0 ** (n - 1) if call["retry_mode"] == "legacy" else min(2.0 ** (n - 1), 20)
            assert -1e-6 <= wait <= cap + 1e-6


def test_read_timeout_retries_rerun_the_function_while_it_still_runs() -> None:
    result = builtin_result("sync_client_retries")
    fn_by_parent = {
        d["parent_id"]: d for d in result.documents if d.get("origin") == "AWS::Lambda::Function"
    }
    services = {
        d["aws"]["request_id"]: d for d in result.documents if d.get("origin") == "AWS::Lambda"
    }
    overlapping = 0
    for call in result.truth["sync_calls"]:
        tries = call["tries"]
        for a, b in itertools.pairwise(tries):
            if a["outcome"] == "read_timeout":
                assert b["start"] - a["start"] >= 60.0
                first = fn_by_parent[services[a["request_id"]]["id"]]
                second = fn_by_parent[services[b["request_id"]]["id"]]
                overlapping += first["end_time"] > second["start_time"]
    assert overlapping > 0  # R1.13: duplicate executions of one invoke call


def test_retry_options_are_validated() -> None:
    base: dict[str, Any] = {"name": "x", "functions": {"f": {}}}
    with pytest.raises(Exception, match=r"callers\[0\]\.retry_mode"):
        parse_scenario(
            {**base, "callers": [{"kind": "api_gateway", "function": "f", "retry_mode": "legacy"}]},
            "<t>",
        )
    with pytest.raises(Exception, match=r"callers\[0\]\.retry_mode"):
        parse_scenario(
            {**base, "callers": [{"kind": "sdk", "function": "f", "retry_mode": "always"}]}, "<t>"
        )


# --- 3. async at-least-once duplicates ------------------------------------------------


def test_async_duplicates_reuse_the_request_and_attempt_without_error() -> None:
    result = builtin_result("async_retry_storm")
    dups = [e for e in result.truth["async_events"] if e["duplicates"]]
    assert dups
    entities = _entities(result)
    fns_by_parent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in result.documents:
        if d.get("origin") == "AWS::Lambda::Function":
            fns_by_parent[d["parent_id"]].append(d)
    for event in dups:
        services = [
            d
            for d in result.documents
            if d.get("origin") == "AWS::Lambda" and d["aws"]["request_id"] == event["request_id"]
        ]
        assert len(services) == 1  # one request, one service segment
        attempts = [s for s in services[0]["subsegments"] if s["name"].startswith("Attempt #")]
        assert len(attempts) == len(event["attempts"])
        last = attempts[-1]
        fns = fns_by_parent[last["id"]]
        assert len(fns) == 1 + len(event["duplicates"])
        assert not any(f.get("error") for f in fns)
        assert all(entities[f["parent_id"]][1]["trace_id"] == event["trace_id"] for f in fns)
        assert event["outcome"] in ("succeeded", "succeeded_after_retry")


def test_duplicates_are_off_by_default() -> None:
    result = builtin_result("async_dropped")
    assert not any(e["duplicates"] for e in result.truth["async_events"])


# --- 4. SNS DLQ and other destinations ------------------------------------------------


def test_sns_dlq_dump_and_destinations_in_truth() -> None:
    result = builtin_result("async_sns_dlq")
    dump = result.dlq["doc-indexer-dlq"]
    assert dump["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:doc-indexer-dlq"
    bad = {
        e["request_id"]
        for e in result.truth["async_events"]
        if e["function"] == "doc-indexer" and e["fate"] == "sent"
    }
    assert bad
    got = {n["MessageAttributes"]["RequestID"]["Value"] for n in dump["Notifications"]}
    assert got == bad
    for n in dump["Notifications"]:
        assert n["Type"] == "Notification"
        assert n["MessageAttributes"]["ErrorCode"] == {"Type": "Number", "Value": "200"}
    types = {(d["type"], d["kind"]) for d in result.truth["target_deliveries"]}
    assert types == {("sns", "dlq"), ("eventbridge", "on_failure"), ("lambda", "on_failure")}
    mail = {e["request_id"] for e in result.truth["async_events"] if e["function"] == "mail-router"}
    lambda_keys = {d["key"] for d in result.truth["target_deliveries"] if d["type"] == "lambda"}
    assert lambda_keys
    assert lambda_keys <= mail


def test_dlq_must_be_sqs_or_sns() -> None:
    with pytest.raises(Exception, match=r"functions\.f\.dlq"):
        parse_scenario(
            {
                "name": "x",
                "functions": {"f": {"dlq": "arn:aws:lambda:us-east-1:1:function:g"}},
                "callers": [{"kind": "s3", "function": "f"}],
            },
            "<t>",
        )


# --- 5. every caller by name ----------------------------------------------------------

ISSUE_CALLERS = {
    "sync": {"api_gateway", "alb", "cognito", "lex", "alexa", "cloudfront", "firehose", "sdk"},
    "async": {
        "sns",
        "s3",
        "ses",
        "cloudformation",
        "cloudwatch_logs",
        "eventbridge",
        "codecommit",
        "config",
        "sdk_event",
    },
    "poll": {"sqs", "kinesis", "dynamodb"},
}
TRACED_PARENT = {
    "api_gateway": "AWS::ApiGateway::Stage",
    "sdk": "RequestResponse",
    "sns": "AWS::SNS",
    "eventbridge": "AWS::Events",
    "sdk_event": "Event",
}


def test_scenarios_name_every_caller_of_issue_3() -> None:
    assert ISSUE_CALLERS == {"sync": SYNC_CALLERS, "async": ASYNC_CALLERS, "poll": POLL_CALLERS}


def _caller_scenario(kind: str) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "c", "functions": {"fn": {"timeout_s": 10}}}
    if kind in POLL_CALLERS:
        if kind == "sqs":
            data["queues"] = {"src": {}}
        else:
            data["streams"] = {"src": {"kind": kind}}
        data["mappings"] = [{"source": "src", "function": "fn", "batch_size": 5}]
        data["callers"] = [{"kind": kind, "target": "src", "count": 4}]
    else:
        data["callers"] = [{"kind": kind, "function": "fn", "count": 4, "name": "src"}]
    return data


@pytest.mark.parametrize("kind", sorted(SYNC_CALLERS | ASYNC_CALLERS | POLL_CALLERS))
def test_every_caller_on_its_path(kind: str) -> None:
    result = run_scenario(parse_scenario(_caller_scenario(kind), "<t>"), seed=5)
    entities = _entities(result)
    services = [d for d in result.documents if d.get("origin") == "AWS::Lambda"]
    assert services
    name = "us-east-1.fn" if kind == "cloudfront" else "fn"
    for svc in services:
        assert svc["name"] == name
        status = svc["http"]["response"]["status"]
        subs = [s["name"] for s in svc.get("subsegments", ())]
        if kind in ASYNC_CALLERS:
            assert status == 202
            assert "Dwell Time" in subs
        else:
            assert status == 200
            assert not subs  # sync and poll service segments have no subsegments
        if kind in TRACED_PARENT:
            parent, doc = entities[svc["parent_id"]]
            assert doc["trace_id"] == svc["trace_id"]
            assert TRACED_PARENT[kind] in (
                doc.get("origin"),
                parent.get("aws", {}).get("invocation_type"),
            )
        else:
            assert "parent_id" not in svc  # AWS does not trace this caller: a root
    if kind in POLL_CALLERS:
        sources = {
            e["annotations"]["event_source"]
            for d in result.documents
            for e in _walk(d)
            if "event_source" in e.get("annotations", {})
        }
        assert sources == {f"aws:{kind}"}
    tallies = result.truth["totals"]["functions"]
    assert set(tallies) == {name}
    assert tallies[name]["requests"] == len(services)


# --- 6. producer-side child links -----------------------------------------------------


def test_producer_child_links_point_at_consumer_requests() -> None:
    result = builtin_result("sqs_fifo_blocked_group")
    entities = _entities(result)
    deliveries = {m["message_id"]: m["deliveries"] for m in result.truth["sqs_messages"]}
    seen = 0
    for doc in result.documents:
        for e in _walk(doc):
            if e.get("aws", {}).get("operation") != "SendMessage":
                continue
            links = e.get("links", [])
            assert len(links) == min(20, deliveries[e["aws"]["message_id"]])
            for link in links:
                attrs = link["attributes"]
                assert attrs["aws.xray.reserved.reference_type"] == "child"
                assert attrs["aws.xray.reserved.type"] == "AWS::Lambda"
                assert attrs["aws.xray.reserved.names"] == ["ledger-writer"]
                consumer, _ = entities[link["id"]]
                assert consumer["origin"] == "AWS::Lambda"
                assert consumer["trace_id"] == link["trace_id"] != doc["trace_id"]
                back = [x["id"] for x in consumer["links"]]
                assert e["id"] in back  # the consumer's mirror `parent` link
                seen += 1
    assert seen >= 120


def test_links_are_off_by_default() -> None:
    result = builtin_result("sqs_redrive_partial_batch")
    for doc in result.documents:
        for e in _walk(doc):
            if e.get("aws", {}).get("operation") == "SendMessage":
                assert "links" not in e
