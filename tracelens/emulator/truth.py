"""truth.json: what really happened, and the figures the analyser must recover from the traces.

Every figure is computed from what the emulator did (its attempts, deliveries, requests and
target deliveries), under the report contract's definitions (with the 2026-11-29
amendments), never by running tracelens' analysis. Times are epoch seconds rounded to the
microsecond as in the documents; durations are milliseconds computed from those rounded
times, as an analyser reading the documents sees them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from tracelens.model.vocab import ASYNC_CALLERS
from tracelens.model.vocab import ASYNC_OUTCOMES as _OUTCOMES
from tracelens.model.vocab import BAD_OUTCOMES as BAD_OUTCOMES

if TYPE_CHECKING:
    from tracelens.emulator.engine import Run
    from tracelens.emulator.scenario import QueueSpec

#: A failed async attempt may be retried about 1 min then 2 min after it (lambda-semantics
#: R2.x): an event is ``in_progress`` only while the data ends within this window (D6).
RETRY_WINDOW_S = 180.0
HIGH_DWELL_MS = 60_000.0
SYNC_THROTTLED_CRITICAL = 0.10
DUMPED_TARGETS = ("sqs", "sns")  # target types the bundle writes a dump of


def micros(t: float) -> int:
    """Epoch seconds (rounded to the microsecond) as integer microseconds."""
    return round(t * 1_000_000)


def span_ms(start: float, end: float) -> float:
    """``end - start`` in milliseconds, exact to the microsecond."""
    return (micros(end) - micros(start)) / 1000.0


def observed_outcome(event: dict[str, Any], data_end: float) -> str:
    """Classify an async event as the report contract (amended by D6) does, with its config.

    A failed last attempt with retries left is ``in_progress`` while the data ends within
    :data:`RETRY_WINDOW_S` after that attempt's end, or later while the event was still
    being throttled when the data ends (an event with no attempt: while the data ends
    before its age limit); otherwise the event ended, by age when the emulator ended it by
    age or the age limit passed before the data ends. An event Lambda ended at once because
    the function's reserved concurrency is 0 (``condition`` ``ZeroReservedConcurrency``)
    shows only a 202 and a short ``Dwell Time`` in the traces: as the data shows it, the
    event left the queue without running, so it counts as ``event_age_exceeded`` once the
    data goes on past :data:`RETRY_WINDOW_S` after its ``Dwell Time`` ended (before that, or
    before its age limit, it is in progress).

    Args:
        event: a truth async event.
        data_end: the latest end time of any document or subsegment in the bundle.

    Returns:
        One of the contract's outcomes.
    """
    attempts = event["attempts"]
    last_failed = not attempts or attempts[-1]["error"] is not None
    if not last_failed:
        return "succeeded" if len(attempts) == 1 else "succeeded_after_retry"
    if len(attempts) >= event["max_retry_attempts"] + 1:
        return "retries_exhausted"
    expired = data_end > event["enqueued"] + event["max_event_age_s"]
    if not attempts:
        dwell_end = event.get("dwell_end")
        left_queue = dwell_end is not None and data_end > dwell_end + RETRY_WINDOW_S
        return "event_age_exceeded" if expired or left_queue else "in_progress"
    if data_end <= attempts[-1]["end"] + RETRY_WINDOW_S:
        return "event_age_exceeded" if expired else "in_progress"
    if event["ended"] > data_end:  # still being throttled when the data ends (D6)
        return "in_progress"
    return "event_age_exceeded" if event["condition"] == "EventAgeExceeded" else "retries_exhausted"


def delivery_outcome(failures: int, successes: int, deliveries: int, failed_label: str) -> str:
    """Outcome of an SQS message or stream batch from its deliveries (report contract)."""
    if successes:
        if failures:
            return "succeeded_after_retry"
        return "redelivered" if deliveries > 1 else "succeeded"
    return failed_label if failures >= 2 else "failed"


def build_truth(run: Run, data_end: float) -> dict[str, Any]:
    """Assemble truth.json: every event, message, batch and request, figures and findings.

    Args:
        run: the finished run.
        data_end: the latest end time of any document or subsegment written.

    Returns:
        The truth document (plain JSON types, deterministic order).
    """
    s = run.scenario
    events = _async_events(run, data_end)
    messages = sorted(run.sqs_messages, key=lambda m: (m["sent"], m["message_id"]))
    batches = [run.stream_batches[k] for k in sorted(run.stream_batches)]
    totals: dict[str, Any] = {}
    if any(c.kind in ASYNC_CALLERS for c in s.callers):
        totals["async"] = _async_totals(events)
    if any(m in s.queues for m in (x.source for x in s.mappings)):
        totals["sqs"] = _sqs_totals(run, messages, data_end)
    if any(m in s.streams for m in (x.source for x in s.mappings)):
        totals["streams"] = _stream_totals(run, batches, data_end)
    requests = _requests(run, events)
    sync = [r for r in requests if r["mode"] == "sync"]
    if sync:
        totals["sync"] = _sync_totals(sync)
    per_function: dict[str, Counter[str]] = defaultdict(Counter)
    for r in requests:
        per_function[r["function"]]["throttles"] += r["throttled"]
        per_function[r["function"]]["failed_requests"] += r["failed"]
    totals["functions"] = {
        name: {
            "requests": t.requests,
            "invocations": t.invocations,
            "cold_starts": t.cold_starts,
            "failed_invocations": t.failed_invocations,
            "throttles": per_function[name]["throttles"],
            "failed_requests": per_function[name]["failed_requests"],
        }
        for name, t in sorted(run.tallies.items())
        if t.requests or t.invocations
    }
    chains = _chains(run, events, messages, batches, data_end)
    return {
        "scenario": s.name,
        "seed": run.seed,
        "data_end": round(data_end, 6),
        "totals": totals,
        "chains": chains,
        "findings": _findings(run, events, messages, batches, requests, data_end),
        "async_events": events,
        "sqs_messages": messages,
        "stream_batches": batches,
        "sync_calls": run.sync_calls,
        "requests": requests,
        "target_deliveries": sorted(
            run.target_deliveries, key=lambda d: (d["time"], d["target"], d["key"])
        ),
    }


def _async_events(run: Run, data_end: float) -> list[dict[str, Any]]:
    dumped = {
        d["key"]
        for d in run.target_deliveries
        if d["type"] in DUMPED_TARGETS and d["kind"] in ("dlq", "on_failure")
    }
    events = sorted(run.async_events, key=lambda e: (e["enqueued"], e["request_id"]))
    for e in events:
        attempts = e["attempts"]
        e["dwell_ms"] = span_ms(e["enqueued"], e["dwell_end"])
        e["retry_delays_ms"] = [span_ms(a["end"], b["start"]) for a, b in pairwise(attempts)]
        e["ended_badly"] = e["condition"] != "Success"
        e["outcome"] = observed_outcome(e, data_end)
        bad = e["outcome"] in BAD_OUTCOMES
        if not bad:
            e["fate"] = e["fate_evidence"] = None
        elif e["request_id"] in dumped:
            e["fate"], e["fate_evidence"] = "sent", "dump"
        else:
            e["fate"], e["fate_evidence"] = ("sent" if e["target"] else "dropped"), "config"
    return events


def _async_totals(events: list[dict[str, Any]]) -> dict[str, Any]:
    outcomes = Counter(e["outcome"] for e in events)
    fates = Counter(e["fate"] for e in events if e["fate"])
    evidence = Counter(e["fate_evidence"] for e in events if e["fate_evidence"])
    attempts = Counter(str(len(e["attempts"])) for e in events)
    return {
        "events": len(events),
        "outcomes": {k: outcomes.get(k, 0) for k in _OUTCOMES},
        "fates": {k: fates.get(k, 0) for k in ("sent", "missing", "dropped", "unknown")},
        "fates_evidence": {k: evidence.get(k, 0) for k in ("dump", "config", "none")},
        "attempts": dict(sorted(attempts.items(), key=lambda kv: int(kv[0]))),
    }


def _is_poison(m: dict[str, Any]) -> bool:
    return bool(m["failed_deliveries"] >= 2 and m["failed_deliveries"] == m["deliveries"])


def _sqs_totals(run: Run, messages: list[dict[str, Any]], data_end: float) -> dict[str, Any]:
    seen = [m for m in messages if m["deliveries"] > 0]
    counts = [c for m in seen for c in m["receive_counts"]]
    queues = {q.name: q for q in run.scenario.queues.values()}
    fates = Counter(fate for m in seen if (fate := _sqs_fate(m, queues, data_end)))
    return {
        "messages": len(seen),
        "deliveries": sum(m["deliveries"] for m in seen),
        "redelivered_messages": sum(1 for m in seen if m["deliveries"] > 1),
        "max_deliveries": max((m["deliveries"] for m in seen), default=0),
        "max_receive_count": max(counts) if counts else None,
        "poison_messages": sum(1 for m in seen if _is_poison(m)),
        "fates": {k: fates.get(k, 0) for k in ("dlq", "retention_deleted", "in_queue", "unknown")},
    }


def _sqs_fate(m: dict[str, Any], queues: dict[str, QueueSpec], data_end: float) -> str | None:
    """Where a poison message is when the data ends (None for other messages)."""
    if not _is_poison(m):
        return None
    # SQS moves a message at the receive after its maxReceiveCount-th: the traces show that
    # coming once a traced delivery carried that receive count. A move whose last receives
    # were throttled (no trace) cannot be seen, so the message stays in the queue as the data
    # shows it.
    queue = queues[m["queue"]]
    limit = queue.max_receive_count
    if m["outcome"] == "dead_lettered" and limit and max(m["receive_counts"]) >= limit:
        return "dlq"
    if m["outcome"] == "expired" and data_end >= m["sent"] + queue.retention_s:
        return "retention_deleted"
    return "in_queue"


_ENDED = ("RetryAttemptsExhausted", "RecordAgeExceeded")


def _stream_fate(run: Run, batch: dict[str, Any], data_end: float) -> str | None:
    """Sent to the mapping's on-failure destination or discarded (None: not ended, or ended
    as the data does not show it: ``aged_out_after_data``)."""
    if not batch["attempts"] or batch["outcome"] not in _ENDED:
        return None
    if aged_out_after_data(batch, data_end):
        return None
    return "sent" if _stream_target(run, batch) else "discarded"


def aged_out_after_data(batch: dict[str, Any], data_end: float) -> bool:
    """The batch was discarded for its record age at or after the end of the data.

    The traces carry no record's arrival time, so only the passing of the first attempt's
    start + MaximumRecordAgeInSeconds shows an age limit; a batch Lambda discards at its next
    poll after the last document is, as the data shows it, still being retried
    (``in_progress``), like an async event inside its retry window (D6).
    """
    ended = float(batch.get("ended", 0.0))
    return batch["outcome"] == "RecordAgeExceeded" and ended >= data_end


def _stream_totals(run: Run, batches: list[dict[str, Any]], data_end: float) -> dict[str, Any]:
    invoked = [b for b in batches if b["attempts"]]
    fates = Counter(fate for b in invoked if (fate := _stream_fate(run, b, data_end)))
    return {
        "batches": len(invoked),
        "retried_batches": sum(1 for b in invoked if len(b["attempts"]) > 1),
        "max_attempts": max((len(b["attempts"]) for b in invoked), default=0),
        "fates": {k: fates.get(k, 0) for k in ("sent", "discarded", "unknown")},
    }


def _stream_target(run: Run, batch: dict[str, Any]) -> bool:
    return any(
        m.on_failure
        for m in run.scenario.mappings
        if m.source == batch["stream"] and m.function == batch["function"]
    )


def _requests(run: Run, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every Lambda request with its mode, throttled (D1) and failed (D2) flags."""
    outcome = {e["request_id"]: e["outcome"] for e in events}
    out = []
    for r in run.requests:
        if r["failed"] is None:  # an async event: its outcome decides (D2)
            failed = outcome[r["request_id"]] in BAD_OUTCOMES
        else:
            failed = r["failed"] or r["throttled"]
        out.append({**r, "failed": bool(failed)})
    return sorted(out, key=lambda r: (r["function"], r["request_id"]))


def _sync_totals(sync: list[dict[str, Any]]) -> dict[str, Any]:
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sync:
        calls[r["call"]].append(r)
    failed = sum(r["failed"] for r in sync)
    return {
        "requests": len(sync),
        "succeeded": len(sync) - failed,
        "failed": failed,
        "throttled": sum(r["throttled"] for r in sync),
        "client_retries": sum(len(rs) - 1 for rs in calls.values()),
        "duplicate_executions": sum(
            1 for rs in calls.values() if sum(r["executions"] for r in rs) > 1
        ),
    }


def _chains(
    run: Run,
    events: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    batches: list[dict[str, Any]],
    data_end: float,
) -> list[dict[str, Any]]:
    """Every async event, SQS message or stream batch retried or ended badly (contract)."""
    queues = {q.name: q for q in run.scenario.queues.values()}
    chains: list[dict[str, Any]] = []
    for e in events:
        if len(e["attempts"]) > 1 or e["outcome"] in BAD_OUTCOMES:
            chains.append(
                {
                    "kind": "async",
                    "key": e["request_id"],
                    "function": e["function"],
                    "attempts": len(e["attempts"]),
                    "outcome": e["outcome"],
                    "fate": e["fate"],
                    "fate_evidence": e["fate_evidence"],
                    "dwell_ms": e["dwell_ms"],
                    "errors": [a["error"] for a in e["attempts"] if a["error"] is not None],
                    "retry_delays_ms": e["retry_delays_ms"],
                }
            )
    for m in messages:
        log = sorted(m["delivery_log"], key=lambda d: (d["start"], d["request_id"]))
        if not log:  # never delivered (e.g. every poll throttled): no trace shows it
            continue
        failures = sum(d["error"] is not None for d in log)
        outcome = delivery_outcome(failures, len(log) - failures, len(log), "poison")
        if len(log) > 1 or outcome in ("poison", "failed"):
            chains.append(
                {
                    "kind": "sqs",
                    "key": m["message_id"],
                    "function": m["function"],
                    "attempts": len(log),
                    "outcome": outcome,
                    "fate": _sqs_fate(m, queues, data_end),
                    "fate_evidence": None,
                    "dwell_ms": None,
                    "errors": [d["error"] for d in log if d["error"] is not None],
                }
            )
    for b in batches:
        attempts = b["attempts"]
        if not attempts:
            continue
        failures = sum(a["error"] is not None for a in attempts)
        outcome = delivery_outcome(failures, len(attempts) - failures, len(attempts), "failed")
        if aged_out_after_data(b, data_end):
            outcome = "in_progress"
        if len(attempts) > 1 or outcome in ("failed", "in_progress"):
            chains.append(
                {
                    "kind": "stream",
                    "key": stream_key(b),
                    "function": b["function"],
                    "attempts": len(attempts),
                    "outcome": outcome,
                    "fate": _stream_fate(run, b, data_end),
                    "fate_evidence": None,
                    "dwell_ms": None,
                    "errors": [a["error"] for a in attempts if a["error"] is not None],
                }
            )
    return sorted(chains, key=lambda c: (c["kind"], c["function"], c["key"]))


def stream_key(batch: dict[str, Any]) -> str:
    """The report's key of a stream batch: ``shard_id/lowest sequence number``."""
    return f"{batch['shard_id']}/{int(batch['first_sequence_number'])}"


def _finding(code: str, severity: str, function: str | None, count: int) -> dict[str, Any]:
    return {"code": code, "severity": severity, "function": function, "count": count}


def _findings(
    run: Run,
    events: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    batches: list[dict[str, Any]],
    requests: list[dict[str, Any]],
    data_end: float,
) -> list[dict[str, Any]]:
    """The findings a report with the scenario's config and complete dumps must raise.

    Codes decided by the truth: every async, SQS, stream, sync and cold-start code of the
    contract and D5. ``ASYNC_EVENTS_MISSING_FROM_DLQ``, ``ASYNC_FATE_UNKNOWN``,
    ``LAMBDA_NOT_REACHED``, ``DLQ_DUMP_NOT_COMPARABLE`` and ``INPUT_REJECTED`` never apply
    to a complete bundle (the emulator writes no inferred segments and every dump is
    complete and comparable).
    """
    s = run.scenario
    out: list[dict[str, Any]] = []
    by_fn: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_fn[e["function"]].append(e)
    for fn, evs in sorted(by_fn.items()):
        counts = Counter(e["outcome"] for e in evs)
        dropped = sum(e["fate"] == "dropped" for e in evs)
        if dropped:
            out.append(_finding("ASYNC_EVENTS_DROPPED", "critical", fn, dropped))
        if counts["retries_exhausted"]:
            out.append(
                _finding("ASYNC_RETRIES_EXHAUSTED", "warning", fn, counts["retries_exhausted"])
            )
        if counts["event_age_exceeded"]:
            out.append(
                _finding("ASYNC_EVENT_AGE_EXCEEDED", "warning", fn, counts["event_age_exceeded"])
            )
        dwell = sorted(e["dwell_ms"] for e in evs)
        p99 = dwell[max(0, (len(dwell) * 99 + 99) // 100 - 1)]
        if p99 > HIGH_DWELL_MS:
            high = sum(d > HIGH_DWELL_MS for d in dwell)
            out.append(_finding("HIGH_DWELL", "warning", fn, high))
    redrive = {
        m.function: s.queues[m.source].max_receive_count is not None
        for m in s.mappings
        if m.source in s.queues
    }
    msgs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in messages:
        if m["deliveries"]:
            msgs[m["function"]].append(m)
    for fn, ms in sorted(msgs.items()):
        poison = sum(_is_poison(m) for m in ms)
        if poison:
            severity = "warning" if redrive.get(fn, True) else "critical"
            out.append(_finding("SQS_POISON_MESSAGE", severity, fn, poison))
        again = sum(m["deliveries"] > 1 for m in ms)
        if again:
            out.append(_finding("SQS_REDELIVERY", "info", fn, again))
    invoked: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for b in batches:
        if b["attempts"]:
            invoked[b["function"]].append(b)
    for fn, bs in sorted(invoked.items()):
        retried = sum(len(b["attempts"]) > 1 for b in bs)
        if retried:
            out.append(_finding("STREAM_BATCH_RETRIED", "warning", fn, retried))
        # Records of a batch that ended by retries or record age left the stream unprocessed
        # either way (an on-failure destination gets the batch's metadata, not its records):
        # critical when some were discarded with no destination at all.
        fates = Counter(fate for b in bs if (fate := _stream_fate(run, b, data_end)))
        if fates:
            severity = "critical" if fates["discarded"] else "warning"
            out.append(_finding("STREAM_RECORDS_DISCARDED", severity, fn, fates.total()))
    sync: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in requests:
        if r["mode"] == "sync":
            sync[r["function"]].append(r)
    for fn, rs in sorted(sync.items()):
        throttled = sum(r["throttled"] for r in rs)
        if throttled:
            severity = "critical" if throttled >= SYNC_THROTTLED_CRITICAL * len(rs) else "warning"
            out.append(_finding("SYNC_THROTTLED", severity, fn, throttled))
        failures = sum(r["failed"] and not r["throttled"] for r in rs)
        if failures:
            out.append(_finding("SYNC_FAILURES", "warning", fn, failures))
        calls: dict[str, int] = Counter()
        for r in rs:
            calls[r["call"]] += r["executions"]
        duplicates = sum(n > 1 for n in calls.values())
        if duplicates:
            out.append(_finding("SYNC_DUPLICATE_EXECUTIONS", "warning", fn, duplicates))
    for fn, t in sorted(run.tallies.items()):
        if t.cold_starts:
            out.append(_finding("COLD_STARTS", "info", fn, t.cold_starts))
    return sorted(out, key=lambda f: (f["code"], f["function"] or ""))


#: Finding codes whose every occurrence the truth decides (see :func:`_findings`).
DECIDED_FINDINGS = (
    "ASYNC_EVENTS_DROPPED",
    "ASYNC_EVENTS_MISSING_FROM_DLQ",
    "ASYNC_RETRIES_EXHAUSTED",
    "ASYNC_EVENT_AGE_EXCEEDED",
    "ASYNC_FATE_UNKNOWN",
    "HIGH_DWELL",
    "SQS_POISON_MESSAGE",
    "SQS_REDELIVERY",
    "STREAM_BATCH_RETRIED",
    "STREAM_RECORDS_DISCARDED",
    "SYNC_THROTTLED",
    "SYNC_FAILURES",
    "SYNC_DUPLICATE_EXECUTIONS",
    "LAMBDA_NOT_REACHED",
    "DLQ_DUMP_NOT_COMPARABLE",
    "COLD_STARTS",
    "INPUT_REJECTED",
)
