"""SQS event source mappings: batches, visibility, receive counts, redrive, partial batches."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from tracelens.emulator.engine import Run, arrivals, function_span, record_span, service_span
from tracelens.emulator.xray import Span

if TYPE_CHECKING:
    from tracelens.emulator.scenario import CallerSpec, MappingSpec, QueueSpec

MAX_LINKS = 20


@dataclass
class _Message:
    message_id: str
    seq: int
    sent: float
    poison: bool
    producer_trace: str
    producer_id: str
    visible_at: float
    receive_count: int = 0
    deliveries: int = 0
    failed: int = 0
    receive_counts: list[int] = field(default_factory=list)
    state: str = "queued"  # queued | deleted | dead_lettered | expired


@dataclass
class _Queue:
    spec: QueueSpec
    mapping: MappingSpec
    arn: str
    messages: list[_Message] = field(default_factory=list)
    busy: int = 0
    polls: set[float] = field(default_factory=set)


def start(run: Run, queues: dict[str, _Queue], caller: CallerSpec, index: int) -> None:
    """Schedule every message a producer sends to its queue."""
    assert caller.target is not None
    queue = queues[caller.target]
    rng = run.rng(f"caller:{index}")
    producer = caller.name or "producer"
    poison = set(caller.poison)
    for n, t in enumerate(arrivals(rng, caller, run.scenario.start_epoch)):
        run.clock.at(t, partial(_send, run, queue, producer, t, n in poison))


def make_queues(run: Run) -> dict[str, _Queue]:
    """Build the live queues that have an event source mapping."""
    out: dict[str, _Queue] = {}
    for m in run.scenario.mappings:
        spec = run.scenario.queues.get(m.source)
        if spec is not None:
            out[spec.name] = _Queue(spec, m, run.arn("sqs", spec.name))
    return out


def _send(run: Run, q: _Queue, producer: str, t: float, poison: bool) -> None:
    ids = run.ids
    trace_id = ids.trace_id(t)
    message_id = ids.uuid()
    send_id = ids.entity_id()
    end = t + 0.004 + (len(q.messages) % 7) * 0.0003
    sub = Span(
        "SQS",
        send_id,
        t + 0.001,
        end - 0.0005,
        namespace="aws",
        http_status=200,
        aws={
            "operation": "SendMessage",
            "region": run.scenario.region,
            "queue_url": run.queue_url(q.spec.name),
            "message_id": message_id,
            "request_id": ids.uuid(),
        },
    )
    run.writer.record(Span(producer, ids.entity_id(), t, end, trace_id=trace_id, subsegments=[sub]))
    msg = _Message(message_id, len(q.messages), end, poison, trace_id, send_id, end)
    q.messages.append(msg)
    _schedule_poll(run, q, end + q.mapping.batching_window_s)


def _schedule_poll(run: Run, q: _Queue, t: float) -> None:
    t = max(t, run.clock.now)
    if t in q.polls:
        return
    q.polls.add(t)
    run.clock.at(t, lambda: _poll(run, q, t))


def _poll(run: Run, q: _Queue, key: float) -> None:
    q.polls.discard(key)
    now = run.clock.now
    spec, mapping = q.spec, q.mapping
    waiting = []
    for m in q.messages:
        if m.state != "queued":
            continue
        if now - m.sent >= spec.retention_s:
            m.state = "expired"
            continue
        if m.visible_at <= now:
            waiting.append(m)
    waiting.sort(key=lambda m: (m.visible_at, m.seq))
    while waiting and q.busy < mapping.max_concurrency:
        batch: list[_Message] = []
        while waiting and len(batch) < mapping.batch_size:
            m = waiting.pop(0)
            m.receive_count += 1
            if spec.max_receive_count is not None and m.receive_count > spec.max_receive_count:
                m.state = "dead_lettered"
                run.send_to_target(
                    run.arn("sqs", f"{spec.name}-dlq"),
                    json.dumps({"message": m.seq}),
                    {"DeadLetterQueueSourceArn": {"StringValue": q.arn, "DataType": "String"}},
                )
                continue
            batch.append(m)
        if batch:
            _invoke(run, q, batch)
    later = [m.visible_at for m in q.messages if m.state == "queued" and m.visible_at > now]
    if later:
        _schedule_poll(run, q, min(later))


def _invoke(run: Run, q: _Queue, batch: list[_Message]) -> None:
    now = run.clock.now
    ids = run.ids
    runtime = run.runtimes[q.mapping.function]
    rng = runtime.rng
    vt = q.spec.visibility_timeout_s
    q.busy += 1
    svc_start = now + rng.uniform(0.005, 0.03)
    env = runtime.admit(svc_start)
    if env is None:  # throttled before the function ran: messages come back after the VT
        for m in batch:
            m.visible_at = now + vt
        _release(run, q, svc_start + 0.01)
        return
    record_fails = [m.poison or runtime.fails() for m in batch]
    ex = runtime.run(env, svc_start + rng.uniform(0.001, 0.01), fail=any(record_fails))
    trace_id = ids.trace_id(svc_start)
    request_id = ids.uuid()
    step = (ex.end - ex.start) / len(batch)
    records: list[Span] = []
    error = ex.error or (runtime.spec.error_type, runtime.spec.error_message)
    for i, (m, bad) in enumerate(zip(batch, record_fails, strict=True)):
        m.deliveries += 1
        m.failed += bad or ex.timed_out
        m.receive_counts.append(m.receive_count)
        records.append(
            record_span(
                run,
                "SQS record",
                ex.start + i * step,
                ex.start + (i + 1) * step,
                {
                    "event_source": "aws:sqs",
                    "message_id": m.message_id,
                    "receive_count": m.receive_count,
                },
                error if (bad or ex.timed_out) else None,
            )
        )
    partial = q.mapping.report_batch_item_failures and not ex.timed_out
    invocation_failed = ex.timed_out or (any(record_fails) and not partial)
    svc_end = ex.overhead_end + rng.uniform(0.0005, 0.002)
    svc = service_span(
        run,
        runtime,
        trace_id=trace_id,
        request_id=request_id,
        start=svc_start,
        end=svc_end,
        status=200,
    )
    svc.links = [
        {
            "trace_id": m.producer_trace,
            "id": m.producer_id,
            "attributes": {
                "aws.xray.reserved.reference_type": "parent",
                "aws.xray.reserved.type": "AWS::SQS::Queue",
                "aws.xray.reserved.dwell_end_time": round(svc_start, 6),
            },
        }
        for m in batch[:MAX_LINKS]
    ]
    fn = function_span(
        run,
        runtime,
        ex,
        trace_id=trace_id,
        parent_id=svc.id,
        failed=invocation_failed,
        error=(ex.error or ("BatchProcessingError", "one or more records failed")),
        records=records,
    )
    run.writer.record(svc)
    run.writer.record(fn)
    for m, bad in zip(batch, record_fails, strict=True):
        if invocation_failed or bad:
            m.visible_at = now + vt
        else:
            m.state = "deleted"
    _release(run, q, svc_end)


def _release(run: Run, q: _Queue, t: float) -> None:
    def free() -> None:
        q.busy -= 1
        _schedule_poll(run, q, run.clock.now)

    run.clock.at(t, free)


def collect(run: Run, queues: dict[str, _Queue]) -> None:
    """Write each message's truth once the run is over."""
    for name in sorted(queues):
        q = queues[name]
        for m in q.messages:
            outcome = {"deleted": "succeeded", "queued": "in_queue"}.get(m.state, m.state)
            run.sqs_messages.append(
                {
                    "message_id": m.message_id,
                    "queue": name,
                    "function": q.mapping.function,
                    "poison": m.poison,
                    "sent": round(m.sent, 6),
                    "deliveries": m.deliveries,
                    "failed_deliveries": m.failed,
                    "receive_counts": m.receive_counts,
                    "final_receive_count": m.receive_count,
                    "outcome": outcome,
                }
            )


def queue_config(run: Run, q: QueueSpec) -> dict[str, Any]:
    """The get-queue-attributes view of a queue (AWS field names, string values)."""
    attrs: dict[str, Any] = {
        "QueueArn": run.arn("sqs", q.name),
        "VisibilityTimeout": str(q.visibility_timeout_s),
        "MessageRetentionPeriod": str(q.retention_s),
    }
    if q.max_receive_count is not None:
        attrs["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": run.arn("sqs", f"{q.name}-dlq"),
                "maxReceiveCount": q.max_receive_count,
            }
        )
    return {"QueueUrl": run.queue_url(q.name), "Attributes": attrs}
