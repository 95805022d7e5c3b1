"""truth.json: what really happened, and the totals the analyser must recover from the traces."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from tracelens.emulator.scenario import ASYNC_CALLERS

if TYPE_CHECKING:
    from tracelens.emulator.engine import Run


def observed_outcome(event: dict[str, Any], data_end: float) -> str:
    """Classify an async event the way the report contract does, from its true attempts.

    Args:
        event: a truth async event.
        data_end: the latest end time of any document in the bundle.

    Returns:
        One of the contract's outcomes.
    """
    attempts = event["attempts"]
    last_failed = not attempts or attempts[-1]["error"] is not None
    if not last_failed:
        return "succeeded" if len(attempts) == 1 else "succeeded_after_retry"
    if len(attempts) >= event["max_retry_attempts"] + 1:
        return "retries_exhausted"
    if data_end > event["enqueued"] + event["max_event_age_s"]:
        return "event_age_exceeded"
    return "in_progress"


def build_truth(run: Run, data_end: float) -> dict[str, Any]:
    """Assemble truth.json: every event, message and batch, plus contract-keyed totals.

    Args:
        run: the finished run.
        data_end: the latest end time of any document written.

    Returns:
        The truth document (plain JSON types, deterministic order).
    """
    s = run.scenario
    totals: dict[str, Any] = {}
    events = sorted(run.async_events, key=lambda e: (e["enqueued"], e["request_id"]))
    for e in events:
        e["outcome"] = observed_outcome(e, data_end)
        bad = e["outcome"] in ("retries_exhausted", "event_age_exceeded")
        e["fate"] = ("sent" if e["target"] else "dropped") if bad else None
    has_async = any(c.kind in ASYNC_CALLERS for c in s.callers)
    if has_async:
        outcomes = Counter(e["outcome"] for e in events)
        fates = Counter(e["fate"] for e in events if e["fate"])
        attempts = Counter(str(len(e["attempts"])) for e in events)
        totals["async"] = {
            "events": len(events),
            "outcomes": {k: outcomes.get(k, 0) for k in _OUTCOMES},
            "fates": {k: fates.get(k, 0) for k in ("sent", "missing", "dropped", "unknown")},
            "attempts": dict(sorted(attempts.items(), key=lambda kv: int(kv[0]))),
        }
    messages = sorted(run.sqs_messages, key=lambda m: (m["sent"], m["message_id"]))
    if any(m in s.queues for m in (x.source for x in s.mappings)):
        seen = [m for m in messages if m["deliveries"] > 0]
        counts = [c for m in seen for c in m["receive_counts"]]
        totals["sqs"] = {
            "messages": len(seen),
            "deliveries": sum(m["deliveries"] for m in seen),
            "redelivered_messages": sum(1 for m in seen if m["deliveries"] > 1),
            "max_deliveries": max((m["deliveries"] for m in seen), default=0),
            "max_receive_count": max(counts) if counts else None,
            "poison_messages": sum(
                1
                for m in seen
                if m["failed_deliveries"] >= 2 and m["failed_deliveries"] == m["deliveries"]
            ),
        }
    batches = [run.stream_batches[k] for k in sorted(run.stream_batches)]
    if any(m in s.streams for m in (x.source for x in s.mappings)):
        invoked = [b for b in batches if b["attempts"]]
        totals["streams"] = {
            "batches": len(invoked),
            "retried_batches": sum(1 for b in invoked if len(b["attempts"]) > 1),
            "max_attempts": max((len(b["attempts"]) for b in invoked), default=0),
        }
    totals["functions"] = {
        name: {
            "requests": t.requests,
            "invocations": t.invocations,
            "cold_starts": t.cold_starts,
            "failed_invocations": t.failed_invocations,
        }
        for name, t in sorted(run.tallies.items())
        if t.requests or t.invocations
    }
    return {
        "scenario": s.name,
        "seed": run.seed,
        "data_end": round(data_end, 6),
        "totals": totals,
        "async_events": events,
        "sqs_messages": messages,
        "stream_batches": batches,
        "sync_calls": run.sync_calls,
        "target_deliveries": sorted(
            run.target_deliveries, key=lambda d: (d["time"], d["target"], d["key"])
        ),
    }


_OUTCOMES = (
    "succeeded",
    "succeeded_after_retry",
    "retries_exhausted",
    "event_age_exceeded",
    "in_progress",
)
