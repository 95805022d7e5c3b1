"""Asynchronous invokes: 202, Lambda's internal queue, retries, DLQ / destination or drop.

At-least-once duplicates (lambda-semantics.md R2.10-R2.12): with a function's
``duplicate_rate``, an event whose attempt succeeded is delivered once more with the same
request id and no error. A duplicate is not a retry, so it is no ``Attempt #N`` (attempts
stay within ``MaximumRetryAttempts + 1``): it is a second ``AWS::Lambda::Function`` segment
under the same ``Attempt`` subsegment, i.e. one more invocation of the same request as the
report contract counts invocations. The truth lists it under the event's ``duplicates``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from tracelens.emulator.callers import async_caller
from tracelens.emulator.engine import (
    Run,
    arrivals,
    failure_text,
    function_span,
    iso_time,
    mark_failed,
    service_span,
)
from tracelens.emulator.xray import Span

if TYPE_CHECKING:
    from tracelens.emulator.functions import FunctionRuntime
    from tracelens.emulator.scenario import CallerSpec

THROTTLE_BACKOFF_MAX_S = 300.0
TRACED_ASYNC = {"sns": "AWS::SNS", "eventbridge": "AWS::Events", "sdk_event": None}


@dataclass
class _Event:
    runtime: FunctionRuntime
    caller: CallerSpec
    request_id: str
    trace_id: str
    received: float
    accepted: float
    parent_id: str | None
    payload: dict[str, Any]
    attempts: list[Span] = field(default_factory=list)
    functions: list[Span] = field(default_factory=list)
    errors: list[tuple[str, str] | None] = field(default_factory=list)
    throttles: int = 0
    first_attempt: float | None = None
    duplicates: list[tuple[float, float]] = field(default_factory=list)


def start(run: Run, caller: CallerSpec, index: int) -> None:
    """Schedule every event of an asynchronous caller."""
    rng = run.rng(f"caller:{index}")
    for n, t in enumerate(arrivals(rng, caller, run.scenario.start_epoch)):
        run.clock.at(t, partial(_receive, run, caller, t, n))


def _receive(run: Run, caller: CallerSpec, t: float, n: int) -> None:
    assert caller.function is not None
    runtime = run.runtimes[caller.function]
    rng = runtime.rng
    ids = run.ids
    trace_id = ids.trace_id(t)
    parent_id: str | None = None
    request_id = ids.uuid()
    svc_start = t + rng.uniform(0.002, 0.01)
    if caller.kind in TRACED_ASYNC:
        name = caller.name or caller.kind
        caller_span = Span(
            name,
            ids.entity_id(),
            t,
            svc_start + 0.02,
            trace_id=trace_id,
            origin=TRACED_ASYNC[caller.kind],
        )
        if caller.kind == "sns":
            caller_span.resource_arn = run.arn("sns", name)
        if caller.kind == "sdk_event":
            sub = Span(
                "Lambda",
                ids.entity_id(),
                t + 0.001,
                svc_start + 0.015,
                namespace="aws",
                http_status=202,
                aws={
                    "operation": "Invoke",
                    "function_name": runtime.spec.name,
                    "invocation_type": "Event",
                    "region": run.scenario.region,
                    "request_id": request_id,
                    "resource_names": [runtime.spec.name],
                    "status_code": 202,
                },
            )
            caller_span.subsegments.append(sub)
            parent_id = sub.id
        else:
            parent_id = caller_span.id
        run.writer.record(caller_span)
    event = _Event(
        runtime,
        caller,
        request_id,
        trace_id,
        svc_start,
        svc_start + rng.uniform(0.003, 0.012),
        parent_id,
        {"source": caller.kind, "id": n},
    )
    run.clock.at(svc_start + rng.uniform(0.01, 0.08), lambda: _dispatch(run, event))


def _dispatch(run: Run, ev: _Event) -> None:
    now = run.clock.now
    spec = ev.runtime.spec
    rng = ev.runtime.rng
    expiry = ev.received + spec.max_event_age_s
    if now >= expiry:
        _finish(run, ev, "EventAgeExceeded", expiry)
        return
    if ev.runtime.limit == 0:
        _finish(run, ev, "ZeroReservedConcurrency", now)
        return
    env = None if ev.runtime.service_error() else ev.runtime.admit(now)
    if env is None:  # throttles and Lambda 5xx: backoff from 1 s to 5 min (R2.5, §2.8)
        ev.throttles += 1
        delay = min(THROTTLE_BACKOFF_MAX_S, 2.0 ** (ev.throttles - 1)) * rng.uniform(0.8, 1.2)
        if now + delay >= expiry:
            run.clock.at(expiry, lambda: _finish(run, ev, "EventAgeExceeded", expiry))
        else:
            run.clock.at(now + delay, lambda: _dispatch(run, ev))
        return
    n = len(ev.attempts) + 1
    if ev.first_attempt is None:
        ev.first_attempt = now
    ex = ev.runtime.run(env, now + rng.uniform(0.001, 0.01), fail=ev.runtime.fails())
    failed = ex.error is not None
    attempt = Span(
        f"Attempt #{n}",
        run.ids.entity_id(),
        now,
        ex.overhead_end + rng.uniform(0.0005, 0.002),
        http_status=200,
    )
    if failed and ex.error is not None:
        mark_failed(run, attempt, spec, ex.error)
    ev.attempts.append(attempt)
    ev.errors.append(ex.error)
    ev.functions.append(
        function_span(
            run,
            ev.runtime,
            ex,
            trace_id=ev.trace_id,
            parent_id=attempt.id,
            failed=failed,
            error=ex.error,
        )
    )
    rate = spec.duplicate_rate
    if not failed and rate > 0 and rng.random() < rate:
        at = now + rng.uniform(0.05, 5.0)
        run.clock.at(at, lambda: _duplicate(run, ev, attempt))
    elif not failed:
        run.clock.at(attempt.end, lambda: _finish(run, ev, "Success", attempt.end))
    elif n > spec.max_retry_attempts:
        run.clock.at(attempt.end, lambda: _finish(run, ev, "RetriesExhausted", attempt.end))
    else:
        wait = (60.0 if n == 1 else 120.0) + rng.uniform(0.0, 1.0)
        if attempt.end + wait >= expiry:
            run.clock.at(expiry, lambda: _finish(run, ev, "EventAgeExceeded", expiry))
        else:
            run.clock.at(attempt.end + wait, lambda: _dispatch(run, ev))


def _duplicate(run: Run, ev: _Event, attempt: Span) -> None:
    """Deliver a successfully processed event once more (same request id, no error)."""
    now = run.clock.now
    runtime = ev.runtime
    env = None if runtime.service_error() else runtime.admit(now)
    end = attempt.end
    if env is not None:
        ex = runtime.run(env, now + runtime.rng.uniform(0.001, 0.01), fail=False)
        ev.functions.append(
            function_span(
                run,
                runtime,
                ex,
                trace_id=ev.trace_id,
                parent_id=attempt.id,
                failed=False,
                error=None,
            )
        )
        ev.duplicates.append((now, ex.overhead_end))
        end = max(end, ex.overhead_end)
    run.clock.at(end, lambda: _finish(run, ev, "Success", attempt.end))


def _finish(run: Run, ev: _Event, condition: str, at: float) -> None:
    runtime = ev.runtime
    spec = runtime.spec
    svc = service_span(
        run,
        runtime,
        trace_id=ev.trace_id,
        request_id=ev.request_id,
        start=ev.received,
        end=ev.accepted,
        status=202,
        parent_id=ev.parent_id,
    )
    dwell_end = ev.first_attempt if ev.first_attempt is not None else at
    svc.subsegments.append(Span("Dwell Time", run.ids.entity_id(), ev.received, dwell_end))
    svc.subsegments.extend(ev.attempts)
    if ev.throttles:
        svc.annotations["throttled_tries"] = ev.throttles
    run.writer.record(svc)
    for fn in ev.functions:
        run.writer.record(fn)
    run.note_request(
        spec.name,
        ev.request_id,
        "async",
        throttled=spec.failure_flag == "throttle" and any(ev.errors),
        executions=len(ev.functions),
        caller=async_caller(run, ev.caller),
    )
    last_error = next((e for e in reversed(ev.errors) if e is not None), None)
    if condition != "Success":
        body = json.dumps(ev.payload, separators=(",", ":"))
        if spec.dlq:
            run.send_to_target(
                spec.dlq,
                body,
                kind="dlq",
                key=ev.request_id,
                condition=condition,
                attributes={
                    "RequestID": {"StringValue": ev.request_id, "DataType": "String"},
                    "ErrorCode": {
                        "StringValue": "200" if ev.attempts else "429",
                        "DataType": "Number",
                    },
                    "ErrorMessage": {
                        "StringValue": (last_error[1] if last_error else condition)[:1024],
                        "DataType": "String",
                    },
                },
            )
        if spec.on_failure:
            record: dict[str, Any] = {
                "version": "1.0",
                "timestamp": iso_time(at),
                "requestContext": {
                    "requestId": ev.request_id,
                    "functionArn": f"{runtime.arn}:$LATEST",
                    "condition": condition,
                    "approximateInvokeCount": len(ev.attempts),
                },
                "requestPayload": ev.payload,
            }
            if ev.attempts:
                record["responseContext"] = {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled",
                }
                if last_error:
                    record["responsePayload"] = {
                        "errorMessage": last_error[1],
                        "errorType": last_error[0],
                    }
            run.send_to_target(
                spec.on_failure,
                json.dumps(record, separators=(",", ":")),
                {},
                kind="on_failure",
                key=ev.request_id,
                condition=condition,
            )
    run.async_events.append(
        {
            "request_id": ev.request_id,
            "function": spec.name,
            "caller": ev.caller.kind,
            "trace_id": ev.trace_id,
            "enqueued": round(ev.received, 6),
            "dwell_end": round(dwell_end, 6),
            "throttled_tries": ev.throttles,
            "attempts": [
                {
                    "n": i + 1,
                    "start": round(a.start, 6),
                    "end": round(a.end, 6),
                    "error": failure_text(spec, e) if e else None,
                }
                for i, (a, e) in enumerate(zip(ev.attempts, ev.errors, strict=True))
            ],
            "condition": condition,
            "ended": round(at, 6),
            "max_retry_attempts": spec.max_retry_attempts,
            "max_event_age_s": spec.max_event_age_s,
            "target": bool(spec.dlq or spec.on_failure),
            "sent_to": (
                [t for t in (spec.dlq, spec.on_failure) if t] if condition != "Success" else []
            ),
            "duplicates": [{"start": round(a, 6), "end": round(b, 6)} for a, b in ev.duplicates],
        }
    )
