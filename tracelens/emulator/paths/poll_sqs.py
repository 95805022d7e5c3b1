"""SQS event source mappings: batches, visibility, receive counts, redrive, partial batches.

FIFO queues follow lambda-semantics.md §3.2 (R3.18-R3.22): batches of at most 10 taken in
send order per message group (a batch may hold several groups); a group with a message in
flight or waiting to reappear after a failure is blocked, so nothing behind a failing
message is processed until it succeeds, is moved to the DLQ by the redrive policy (the group
then continues, R3.22) or is deleted by retention; the handler stops at the first failing
record and, with ReportBatchItemFailures, returns it and every unprocessed record (R3.21).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from tracelens.emulator.callers import poll_caller
from tracelens.emulator.engine import (
    Run,
    arrivals,
    failure_text,
    record_polled_invocation,
    record_span,
    service_span,
)
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
    log: list[dict[str, Any]] = field(default_factory=list)  # one entry per delivery
    state: str = "queued"  # queued | deleted | dead_lettered | expired
    group: str | None = None  # FIFO MessageGroupId
    producer: Span | None = None  # kept until the end when child links are written
    send_sub: Span | None = None


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
    times = arrivals(rng, caller, run.scenario.start_epoch)
    fifo = queue.spec.fifo
    groups = [f"group-{rng.randrange(caller.groups)}" if fifo else None for _ in times]
    for n, (t, group) in enumerate(zip(times, groups, strict=True)):
        run.clock.at(t, partial(_send, run, queue, producer, t, n in poison, group, caller.links))


def make_queues(run: Run) -> dict[str, _Queue]:
    """Build the live queues that have an event source mapping."""
    out: dict[str, _Queue] = {}
    for m in run.scenario.mappings:
        spec = run.scenario.queues.get(m.source)
        if spec is not None:
            out[spec.name] = _Queue(spec, m, run.arn("sqs", spec.aws_name))
    return out


def _send(
    run: Run, q: _Queue, producer: str, t: float, poison: bool, group: str | None, links: bool
) -> None:
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
            "queue_url": run.queue_url(q.spec.aws_name),
            "message_id": message_id,
            "request_id": ids.uuid(),
        },
    )
    span = Span(producer, ids.entity_id(), t, end, trace_id=trace_id, subsegments=[sub])
    msg = _Message(message_id, len(q.messages), end, poison, trace_id, send_id, end, group=group)
    if links:  # written at the end, with one `child` link per delivery (R4.13)
        msg.producer, msg.send_sub = span, sub
    else:
        run.writer.record(span)
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
    if spec.fifo:
        # R3.19/R3.20: a message in flight (or back in the queue but still invisible after a
        # failure) blocks its whole message group; other groups carry on. Order = send order.
        blocked = {
            m.group
            for m in q.messages
            if m.state == "queued" and m.receive_count > 0 and m.visible_at > now
        }
        waiting = [m for m in waiting if m.group not in blocked]
        waiting.sort(key=lambda m: m.seq)
    else:
        waiting.sort(key=lambda m: (m.visible_at, m.seq))
    while waiting and q.busy < mapping.max_concurrency:
        batch: list[_Message] = []
        while waiting and len(batch) < mapping.batch_size:
            m = waiting.pop(0)
            m.receive_count += 1
            if spec.max_receive_count is not None and m.receive_count > spec.max_receive_count:
                m.state = "dead_lettered"  # R3.12; on a FIFO queue the group continues (R3.22)
                system = {
                    "ApproximateReceiveCount": str(m.receive_count - 1),
                    "DeadLetterQueueSourceArn": q.arn,
                    "AWSTraceHeader": f"Root={m.producer_trace};Parent={m.producer_id};Sampled=1",
                }
                if m.group is not None:
                    system["MessageGroupId"] = m.group
                run.send_to_target(
                    run.arn("sqs", spec.dlq_name),
                    json.dumps({"message": m.seq}),
                    {},
                    kind="redrive",
                    key=m.message_id,
                    condition="maxReceiveCountExceeded",
                    message_id=m.message_id,
                    system_attributes=system,
                )
                continue
            batch.append(m)
        if spec.fifo:  # the groups in this batch are now in flight
            taken = {m.group for m in batch}
            waiting = [m for m in waiting if m.group not in taken]
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
    for m in batch:  # in flight: invisible until deleted or the visibility timeout ends
        m.visible_at = now + vt
    svc_start = now + rng.uniform(0.005, 0.03)
    env = runtime.admit(svc_start)
    if env is None:  # throttled before the function ran: messages come back after the VT
        _release(run, q, svc_start + 0.01)
        return
    record_fails = [m.poison or runtime.fails() for m in batch]
    processed = len(batch)
    if q.spec.fifo and any(record_fails):  # the handler stops at the first failure (R3.21)
        processed = record_fails.index(True) + 1
    ex = runtime.run(env, svc_start + rng.uniform(0.001, 0.01), fail=any(record_fails))
    trace_id = ids.trace_id(svc_start)
    request_id = ids.uuid()
    step = (ex.end - ex.start) / processed
    records: list[Span] = []
    error = ex.error or (runtime.spec.error_type, runtime.spec.error_message)
    for i, (m, bad) in enumerate(zip(batch[:processed], record_fails, strict=False)):
        m.deliveries += 1
        m.failed += bad or ex.timed_out
        m.receive_counts.append(m.receive_count)
        m.log.append(
            {
                "request_id": request_id,
                "start": round(ex.start, 6),
                "end": round(ex.overhead_end, 6),
                "error": failure_text(runtime.spec, error) if (bad or ex.timed_out) else None,
            }
        )
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
                runtime.spec,
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
    for m in batch[:processed]:
        if m.send_sub is not None and len(m.send_sub.links) < MAX_LINKS:
            m.send_sub.links.append(
                {  # shaped like real_traces/aws-iatk/traceWithLinks01.json
                    "trace_id": trace_id,
                    "id": svc.id,
                    "attributes": {
                        "aws.xray.reserved.names": [runtime.spec.name],
                        "aws.xray.reserved.received_event_end_time": round(svc_start, 6),
                        "aws.xray.reserved.type": "AWS::Lambda",
                        "aws.xray.reserved.dwell_end_time": round(svc_start, 6),
                        "aws.xray.reserved.reference_type": "child",
                    },
                }
            )
    record_polled_invocation(
        run,
        runtime,
        ex,
        svc,
        request_id=request_id,
        mode="sqs",
        failed=invocation_failed,
        error=(ex.error or ("BatchProcessingError", "one or more records failed")),
        records=records,
        caller=poll_caller(
            run,
            "sqs",
            q.spec.name,
            run.arn("sqs", q.spec.aws_name),
            runtime.spec.name,
            q.spec.aws_name,
        ),
    )
    failed_from = processed - 1 if any(record_fails[:processed]) else processed
    done = [] if invocation_failed else batch[:failed_from]
    if not q.spec.fifo and not invocation_failed:
        done = [m for m, bad in zip(batch, record_fails, strict=True) if not bad]

    def settle() -> None:  # at the end of the invocation: delete what succeeded
        for m in done:
            m.state = "deleted"

    run.clock.at(svc_end, settle)
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
            if m.producer is not None:
                run.writer.record(m.producer)
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
                    "delivery_log": m.log,
                    "final_receive_count": m.receive_count,
                    "outcome": outcome,
                    **({"group": m.group, "seq": m.seq} if m.group is not None else {}),
                }
            )


def queue_config(run: Run, q: QueueSpec) -> dict[str, Any]:
    """The get-queue-attributes view of a queue (AWS field names, string values)."""
    attrs: dict[str, Any] = {
        "QueueArn": run.arn("sqs", q.aws_name),
        "VisibilityTimeout": str(q.visibility_timeout_s),
        "MessageRetentionPeriod": str(q.retention_s),
    }
    if q.max_receive_count is not None:
        attrs["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": run.arn("sqs", q.dlq_name),
                "maxReceiveCount": q.max_receive_count,
            }
        )
    if q.fifo:
        attrs["FifoQueue"] = "true"
        attrs["ContentBasedDeduplication"] = "false"
    return {"QueueUrl": run.queue_url(q.aws_name), "Attributes": attrs}
