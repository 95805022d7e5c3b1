"""The emulation run: shared state of one scenario run and the spans every path shares."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tracelens.emulator.scenario import arn_service
from tracelens.emulator.xray import Span, XRayWriter

if TYPE_CHECKING:
    from tracelens.emulator.clock import VirtualClock
    from tracelens.emulator.functions import Execution, FunctionRuntime
    from tracelens.emulator.ids import IdGenerator
    from tracelens.emulator.scenario import CallerSpec, FunctionSpec, Scenario

# What stands around a resource name in the ARNs ``Run.arn`` writes, by service (others: none).
_ARN_RESOURCE = {
    "lambda": ("function:", ""),
    "kinesis": ("stream/", ""),
    "dynamodb": ("table/", "/stream/2026-11-01T00:00:00.000"),
}


@dataclass
class FunctionTally:
    """Per-function counts, as the report contract defines them."""

    requests: int = 0
    invocations: int = 0
    cold_starts: int = 0
    failed_invocations: int = 0


@dataclass
class Run:
    """Everything one scenario run shares: clock, ids, recorder, runtimes and the truth."""

    scenario: Scenario
    seed: int
    clock: VirtualClock
    ids: IdGenerator
    writer: XRayWriter
    runtimes: dict[str, FunctionRuntime]
    tallies: dict[str, FunctionTally]
    async_events: list[dict[str, Any]] = field(default_factory=list)
    sqs_messages: list[dict[str, Any]] = field(default_factory=list)
    stream_batches: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    dlq_messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sns_messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    target_deliveries: list[dict[str, Any]] = field(default_factory=list)
    sync_calls: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def note_request(
        self,
        name: str,
        request_id: str,
        mode: str,
        *,
        throttled: bool = False,
        failed: bool | None = None,
        call: str | None = None,
        executions: int = 0,
        caller: dict[str, Any] | None = None,
    ) -> None:
        """Note one Lambda request for the truth (one ``AWS::Lambda`` service segment).

        Args:
            name: the function name Lambda records.
            request_id: its request id.
            mode: the invoke path the report contract gives it (``sync``, ``async``,
                ``sqs``, ``stream``, ``unknown``).
            throttled: Lambda answered 429 (definition D1).
            failed: whether the request failed (D2); None for async events, decided by
                their outcome when the truth is built.
            call: the logical call of a sync request (``trace_id/parent_id``, D4).
            executions: function segments written under this request.
            caller: who called (``emulator.callers``): the caller kind and name, and what
                the traces and config tell (``attributed``).
        """
        self.requests.append(
            {
                "function": name,
                "request_id": request_id,
                "mode": mode,
                "throttled": throttled,
                "failed": failed,
                "call": call,
                "executions": executions,
                "caller": caller,
            }
        )

    def tally(self, name: str) -> FunctionTally:
        """Return the tally of a function name as Lambda records it (created on first use)."""
        tally = self.tallies.get(name)
        if tally is None:
            tally = self.tallies[name] = FunctionTally()
        return tally

    def rng(self, purpose: str) -> random.Random:
        """Return a generator seeded by the run seed and a purpose label."""
        return random.Random(f"{self.seed}:{purpose}")

    def arn(self, service: str, resource: str) -> str:
        """Return an ARN in the scenario's region and account."""
        s = self.scenario
        prefix, suffix = _ARN_RESOURCE.get(service, ("", ""))
        return f"arn:aws:{service}:{s.region}:{s.account}:{prefix}{resource}{suffix}"

    def queue_url(self, name: str) -> str:
        """Return the SQS queue URL of a queue name."""
        s = self.scenario
        return f"https://sqs.{s.region}.amazonaws.com/{s.account}/{name}"

    def send_to_target(
        self,
        target_arn: str,
        body: str,
        attributes: dict[str, Any],
        *,
        kind: str,
        key: str,
        condition: str,
        message_id: str | None = None,
        system_attributes: dict[str, str] | None = None,
    ) -> None:
        """Deliver a DLQ message or failure record to its target and note it in the truth.

        SQS targets keep the message as ``receive-message`` shows it, SNS topics as the
        notification a subscriber receives; EventBridge, Lambda and S3 targets are only
        recorded in the truth (``target_deliveries``).

        Args:
            target_arn: the queue, topic, bus, function or bucket ARN.
            body: the message body (original event or invocation record, as JSON).
            attributes: SQS-style message attributes (``StringValue``/``DataType``).
            kind: ``dlq``, ``on_failure`` or ``redrive``.
            key: the request id, message id or shard/sequence the delivery is about.
            condition: why it was sent (e.g. ``RetriesExhausted``).
            message_id: keep this message id (SQS redrive keeps it); new one if None.
            system_attributes: extra SQS system attributes (e.g. ``DeadLetterQueueSourceArn``).
        """
        now = self.clock.now
        service = arn_service(target_arn)
        self.target_deliveries.append(
            {
                "time": round(now, 6),
                "target": target_arn,
                "type": {"events": "eventbridge"}.get(service, service),
                "kind": kind,
                "key": key,
                "condition": condition,
            }
        )
        if service == "sns":
            self._publish(target_arn, body, attributes)
            return
        if service != "sqs":
            return
        millis = str(int(now * 1000))
        msg: dict[str, Any] = {
            "MessageId": message_id or self.ids.uuid(),
            "ReceiptHandle": self.ids.hex(64),
            "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
            "Body": body,
            "Attributes": {
                "SenderId": "AROAEXAMPLELAMBDASERVICE",
                "ApproximateFirstReceiveTimestamp": millis,
                "ApproximateReceiveCount": "1",
                "SentTimestamp": millis,
                **(system_attributes or {}),
            },
        }
        if attributes:
            msg["MessageAttributes"] = attributes
            msg["MD5OfMessageAttributes"] = hashlib.md5(
                json.dumps(attributes, sort_keys=True).encode()
            ).hexdigest()
        self.dlq_messages.setdefault(target_arn, []).append(msg)

    def _publish(self, topic_arn: str, body: str, attributes: dict[str, Any]) -> None:
        """Keep an SNS notification as an SQS/HTTP subscriber receives it (not raw delivery)."""
        region = self.scenario.region
        self.sns_messages.setdefault(topic_arn, []).append(
            {
                "Type": "Notification",
                "MessageId": self.ids.uuid(),
                "TopicArn": topic_arn,
                "Message": body,
                "Timestamp": iso_time(self.clock.now),
                "SignatureVersion": "1",
                "Signature": "EXAMPLE",
                "SigningCertURL": f"https://sns.{region}.amazonaws.com/"
                "SimpleNotificationService-example.pem",
                "UnsubscribeURL": f"https://sns.{region}.amazonaws.com/"
                f"?Action=Unsubscribe&SubscriptionArn={topic_arn}:example",
                "MessageAttributes": {
                    k: {"Type": v["DataType"], "Value": v["StringValue"]}
                    for k, v in sorted(attributes.items())
                },
            }
        )


def iso_time(t: float) -> str:
    """Return epoch seconds as an ISO-8601 UTC time with milliseconds (AWS record style)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def arrivals(rng: random.Random, caller: CallerSpec, start: float) -> list[float]:
    """Arrival times of a caller's events: ``count`` uniform draws over its window, sorted."""
    begin = start + caller.start_s
    return sorted(begin + rng.random() * caller.duration_s for _ in range(caller.count))


def function_span(
    run: Run,
    runtime: FunctionRuntime,
    ex: Execution,
    *,
    trace_id: str,
    parent_id: str,
    failed: bool,
    error: tuple[str, str] | None,
    records: list[Span] | None = None,
    name: str | None = None,
    arn: str | None = None,
) -> Span:
    """Build the ``AWS::Lambda::Function`` segment of one invocation and count it.

    Args:
        run: the run.
        runtime: the function.
        ex: the execution's phase times.
        trace_id: the trace the invocation belongs to.
        parent_id: the service segment or Attempt subsegment id.
        failed: whether the invocation failed (flags on the segment and Invocation).
        error: (type, message) recorded as the Invocation's cause when failed.
        records: per-record subsegments to nest under Invocation.
        name: the name Lambda records, if not the function's (Lambda@Edge replicas).
        arn: the ARN Lambda records, if not the function's.

    Returns:
        The span, ready for :meth:`XRayWriter.record`.
    """
    ids = run.ids
    name = name or runtime.spec.name
    arn = arn or runtime.arn
    subs: list[Span] = []
    if ex.init_start is not None:
        subs.append(
            Span(
                "Initialization",
                ids.entity_id(),
                ex.init_start,
                ex.start - 0.0001,
                aws={"function_arn": arn},
            )
        )
    invocation = Span(
        "Invocation",
        ids.entity_id(),
        ex.start,
        ex.end,
        aws={"function_arn": arn},
        subsegments=records or [],
    )
    if failed and error is not None:
        mark_failed(run, invocation, runtime.spec, error)
    subs.append(invocation)
    subs.append(
        Span("Overhead", ids.entity_id(), ex.end, ex.overhead_end, aws={"function_arn": arn})
    )
    span = Span(
        name,
        ids.entity_id(),
        ex.start,
        ex.overhead_end,
        trace_id=trace_id,
        parent_id=parent_id,
        origin="AWS::Lambda::Function",
        aws={
            "account_id": run.scenario.account,
            "function_arn": arn,
            "resource_names": [name],
            "cloudwatch_logs": [{"log_group": f"/aws/lambda/{name}"}],
        },
        subsegments=subs,
    )
    if failed:
        _flag(span, runtime.spec.failure_flag)
    tally = run.tally(name)
    tally.invocations += 1
    tally.cold_starts += ex.cold
    tally.failed_invocations += failed
    return span


def record_polled_invocation(
    run: Run,
    runtime: FunctionRuntime,
    ex: Execution,
    svc: Span,
    *,
    request_id: str,
    mode: str,
    failed: bool,
    error: tuple[str, str] | None,
    records: list[Span],
    caller: dict[str, Any] | None = None,
) -> None:
    """Write one invocation by an event source mapping (SQS or stream): the service segment
    ``svc``, the function segment under it (built here), and the request for the truth."""
    fn = function_span(
        run,
        runtime,
        ex,
        trace_id=svc.trace_id,
        parent_id=svc.id,
        failed=failed,
        error=error,
        records=records,
    )
    run.writer.record(svc)
    run.writer.record(fn)
    run.note_request(
        runtime.spec.name,
        request_id,
        mode,
        throttled=failed and runtime.spec.failure_flag == "throttle",
        failed=failed,
        executions=1,
        caller=caller,
    )


def service_span(
    run: Run,
    runtime: FunctionRuntime,
    *,
    trace_id: str,
    request_id: str,
    start: float,
    end: float,
    status: int,
    parent_id: str | None = None,
    name: str | None = None,
    arn: str | None = None,
) -> Span:
    """Build an ``AWS::Lambda`` service segment (one Lambda request) and count the request."""
    name = name or runtime.spec.name
    run.tally(name).requests += 1
    return Span(
        name,
        run.ids.entity_id(),
        start,
        end,
        trace_id=trace_id,
        parent_id=parent_id,
        origin="AWS::Lambda",
        resource_arn=arn or runtime.arn,
        aws={"request_id": request_id},
        http_status=status,
    )


def record_span(
    run: Run,
    name: str,
    start: float,
    end: float,
    annotations: dict[str, str | int | float | bool],
    error: tuple[str, str] | None,
    spec: FunctionSpec,
) -> Span:
    """Build one per-record subsegment with the contract's record annotations."""
    span = Span(name, run.ids.entity_id(), start, end, annotations=annotations)
    if error is not None:
        mark_failed(run, span, spec, error)
    return span


#: What the report shows for a failure that recorded no cause, by the flag it carries.
NO_CAUSE_TEXT = {
    "throttle": "Throttled",
    "fault": "Fault (no cause recorded)",
    "error": "Error (no cause recorded)",
}


def _flag(span: Span, flag: str) -> None:
    if flag == "throttle":
        span.throttle = True
    elif flag == "fault":
        span.fault = True
    else:
        span.error = True


def mark_failed(run: Run, span: Span, spec: FunctionSpec, error: tuple[str, str]) -> None:
    """Flag a failed attempt, invocation or record as the function's ``failure_flag`` says.

    The exception becomes the span's cause unless the function's ``failure_cause`` is off.
    """
    _flag(span, spec.failure_flag)
    if spec.failure_cause:
        span.exception = (run.ids.entity_id(), error[0], error[1])


def failure_text(spec: FunctionSpec, error: tuple[str, str]) -> str:
    """The "Type: message" text of a failure, or the report's label when no cause was kept."""
    if spec.failure_cause:
        return f"{error[0]}: {error[1]}"
    return NO_CAUSE_TEXT[spec.failure_flag]
