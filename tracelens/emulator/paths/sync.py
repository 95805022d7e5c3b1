"""Synchronous invokes: the caller waits, errors go back to it, Lambda never retries.

The only retries on this path are the caller's own: an ``sdk`` caller with a botocore
retry mode (lambda-semantics.md §1.4) re-sends throttled (429), failed (5xx) and
timed-out (read timeout) invokes; each retry is a new Lambda request with a new request
id, under the same caller ``Lambda`` subsegment, whose ``aws.retries`` counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from tracelens.emulator.callers import sync_caller
from tracelens.emulator.engine import Run, arrivals, function_span, service_span
from tracelens.emulator.xray import Span

if TYPE_CHECKING:
    import random

    from tracelens.emulator.functions import FunctionRuntime
    from tracelens.emulator.scenario import CallerSpec

APIGW_TIMEOUT_S = 29.0
# AWS traces these sync callers itself (their segment is the parent of the Lambda request);
# the others (ALB, Cognito, Lex, Alexa, CloudFront, Firehose) leave the service segment a root.
TRACED_SYNC = frozenset({"api_gateway", "sdk"})
EDGE_PREFIX = "us-east-1."  # Lambda@Edge replicas are named us-east-1.<function>
# botocore retry settings (lambda-semantics.md §1.4, sources S32, S33, S33b, S33c)
STANDARD_MAX_BACKOFF_S = 20.0
RETRY_QUOTA = 500
RETRY_COST = 5
TIMEOUT_RETRY_COST = 10
RETRYABLE = frozenset({"throttled", "service_error", "read_timeout"})


@dataclass
class _Client:
    """One SDK caller's retry state: its jitter generator, retry quota and rate limiter."""

    rng: random.Random
    tokens: int = RETRY_QUOTA
    min_gap: float = 0.0
    next_send: float = 0.0


@dataclass
class _Try:
    request_id: str
    start: float
    end: float  # when the client got the response or gave up (read timeout)
    status: int | None
    outcome: str  # ok | function_error | throttled | service_error | read_timeout
    executed: bool = False  # the function ran (a function segment was written)


@dataclass
class _Call:
    caller: CallerSpec
    client: _Client
    runtime: FunctionRuntime
    t: float
    trace_id: str
    call_start: float
    sub_id: str | None
    tries: list[_Try] = field(default_factory=list)
    quota_used: int = 0


def start(run: Run, caller: CallerSpec, index: int) -> None:
    """Schedule every invoke of a synchronous caller."""
    rng = run.rng(f"caller:{index}")
    client = _Client(run.rng(f"client:{index}"))
    for t in arrivals(rng, caller, run.scenario.start_epoch):
        run.clock.at(t, partial(_begin, run, caller, client, t))


def _begin(run: Run, caller: CallerSpec, client: _Client, t: float) -> None:
    assert caller.function is not None
    runtime = run.runtimes[caller.function]
    ids = run.ids
    trace_id = ids.trace_id(t)
    call_start = t + runtime.rng.uniform(0.001, 0.004)
    sub_id = ids.entity_id() if caller.kind in TRACED_SYNC else None
    call = _Call(caller, client, runtime, t, trace_id, call_start, sub_id)
    send = max(call_start, client.next_send) if caller.retry_mode == "adaptive" else call_start
    run.clock.at(send, lambda: _try(run, call))


def _names(call: _Call) -> tuple[str, str]:
    """The function name and ARN Lambda records (Lambda@Edge: ``us-east-1.<fn>:1``)."""
    spec_name = call.runtime.spec.name
    if call.caller.kind == "cloudfront":
        name = EDGE_PREFIX + spec_name
        return name, call.runtime.arn.rsplit(":", 1)[0] + f":{name}:1"
    return spec_name, call.runtime.arn


def _try(run: Run, call: _Call) -> None:
    now = run.clock.now
    runtime = call.runtime
    rng = runtime.rng
    ids = run.ids
    client = call.client
    request_id = ids.uuid()
    name, arn = _names(call)
    if call.caller.retry_mode == "adaptive":
        client.next_send = now + client.min_gap
    svc_start = now + rng.uniform(0.001, 0.003)
    docs: list[Span] = []
    env = None
    status: int | None
    if runtime.service_error():
        svc_end = svc_start + rng.uniform(0.001, 0.004)
        status, outcome = 500, "service_error"
    else:
        env = runtime.admit(svc_start)
        if env is None:
            svc_end = svc_start + rng.uniform(0.001, 0.004)
            status, outcome = 429, "throttled"
        else:
            ex = runtime.run(env, svc_start + rng.uniform(0.005, 0.02), fail=runtime.fails())
            svc_end = ex.overhead_end + rng.uniform(0.0005, 0.002)
            status = 200
            outcome = "function_error" if ex.error is not None else "ok"
    svc = service_span(
        run,
        runtime,
        trace_id=call.trace_id,
        request_id=request_id,
        start=svc_start,
        end=svc_end,
        status=status or 0,
        parent_id=call.sub_id,
        name=name,
        arn=arn,
    )
    if status == 429:  # R4.4: throttle flags on the service segment, no function segment
        svc.throttle = True
        svc.error = True
    elif status == 500:
        svc.fault = True
    docs.append(svc)
    if env is not None:
        docs.append(
            function_span(
                run,
                runtime,
                ex,
                trace_id=call.trace_id,
                parent_id=svc.id,
                failed=ex.error is not None,
                error=ex.error,
                name=name,
                arn=arn,
            )
        )
    for doc in docs:
        run.writer.record(doc)
    run.note_request(
        name,
        request_id,
        "sync" if call.sub_id is not None else "unknown",
        throttled=status == 429
        or (outcome == "function_error" and runtime.spec.failure_flag == "throttle"),
        failed=status != 200 or outcome == "function_error",
        call=f"{call.trace_id}/{call.sub_id}" if call.sub_id is not None else None,
        executions=int(env is not None),
        caller=sync_caller(run, call.caller),
    )
    response = svc_end + rng.uniform(0.0005, 0.002)
    timeout = call.caller.read_timeout_s if call.caller.kind == "sdk" else None
    if timeout is not None and response - now > timeout:
        # R1.13: the client gives up and may retry; the function keeps running
        response, status, outcome = now + timeout, None, "read_timeout"
    call.tries.append(_Try(request_id, now, response, status, outcome, env is not None))
    delay = _retry_delay(call, outcome)
    if delay is None:
        run.clock.at(response, lambda: _finish(run, call))
        return
    nxt = response + delay
    if call.caller.retry_mode == "adaptive":
        nxt = max(nxt, client.next_send)
    run.clock.at(nxt, lambda: _try(run, call))


def _retry_delay(call: _Call, outcome: str) -> float | None:
    """Seconds until the SDK retries, or None when it does not (botocore, §1.4)."""
    caller, client = call.caller, call.client
    mode = caller.retry_mode
    if mode == "adaptive":  # client-side rate limiting (approximation of botocore's CUBIC)
        if outcome == "throttled":
            client.min_gap = min(STANDARD_MAX_BACKOFF_S, max(0.5, 2.0 * client.min_gap))
        else:
            client.min_gap = client.min_gap / 2.0 if client.min_gap > 0.01 else 0.0
    n = len(call.tries)
    if mode == "none" or outcome not in RETRYABLE or n >= caller.total_max_attempts:
        if mode in ("standard", "adaptive") and outcome not in RETRYABLE:
            # success releases the quota the call used, or adds 1 (botocore standard.py)
            client.tokens = min(RETRY_QUOTA, client.tokens + (call.quota_used or 1))
        return None
    if mode == "legacy":  # _retry.json: base "rand", growth factor 2
        return client.rng.random() * 2.0 ** (n - 1)
    cost = TIMEOUT_RETRY_COST if outcome == "read_timeout" else RETRY_COST
    if client.tokens < cost:
        return None  # retry quota exhausted: the error goes back to the caller
    client.tokens -= cost
    call.quota_used = cost
    return client.rng.random() * min(2.0 ** (n - 1), STANDARD_MAX_BACKOFF_S)


def _finish(run: Run, call: _Call) -> None:
    """Write the caller's segment (API Gateway stage or SDK client) and the call's truth."""
    if call.caller.retry_mode != "none":
        run.sync_calls.append(_truth(call))
    if call.sub_id is None:
        return
    runtime = call.runtime
    ids = run.ids
    rng = runtime.rng
    last = call.tries[-1]
    name, _ = _names(call)
    status = last.status
    aws: dict[str, Any] = {
        "operation": "Invoke",
        "function_name": name,
        "invocation_type": "RequestResponse",
        "region": run.scenario.region,
        "resource_names": [name],
    }
    if call.caller.kind == "sdk":  # the X-Ray SDK records botocore's RetryAttempts
        aws["retries"] = len(call.tries) - 1
    if status is not None:
        aws["request_id"] = last.request_id
        aws["status_code"] = status
    if last.outcome == "function_error":
        aws["function_error"] = "Unhandled"
    call_end = last.end if last.outcome == "read_timeout" else last.end + rng.uniform(0.0, 0.001)
    sub = Span(
        "Lambda",
        call.sub_id,
        call.call_start,
        call_end,
        namespace="aws",
        aws=aws,
        http_status=status,
    )
    error = _CLIENT_ERRORS.get(last.outcome)
    if error is not None:
        sub.exception = (ids.entity_id(), error[0], error[1].format(fn=name, region=aws["region"]))
        sub.fault = last.outcome != "throttled"
        sub.throttle = sub.error = last.outcome == "throttled"
    t = call.t
    if call.caller.kind == "api_gateway":
        api = call.caller.name or "api"
        end = call_end + rng.uniform(0.0005, 0.002)
        gw_status = 200 if status == 200 and last.outcome == "ok" else 502
        if status == 429:
            gw_status = 500
        if end - t > APIGW_TIMEOUT_S:  # integration timeout; Lambda keeps running
            end = t + APIGW_TIMEOUT_S
            sub.end = end
            gw_status = 504
        run.writer.record(
            Span(
                f"{api}/prod",
                ids.entity_id(),
                t,
                end,
                trace_id=call.trace_id,
                origin="AWS::ApiGateway::Stage",
                resource_arn=f"arn:aws:apigateway:{run.scenario.region}::/restapis/{api}/stages/prod",
                aws={
                    "api_gateway": {"rest_api_id": api, "stage": "prod", "request_id": ids.uuid()}
                },
                http_request={"method": "POST", "url": f"https://{api}.execute-api.example/prod/"},
                http_status=gw_status,
                subsegments=[sub],
            )
        )
    else:
        run.writer.record(
            Span(
                call.caller.name or "sdk-client",
                ids.entity_id(),
                t,
                call_end + 0.0005,
                trace_id=call.trace_id,
                subsegments=[sub],
            )
        )


_CLIENT_ERRORS = {
    "throttled": ("TooManyRequestsException", "Rate Exceeded."),
    "service_error": ("ServiceException", "An internal error occurred."),
    "read_timeout": (
        "ReadTimeoutError",
        'Read timeout on endpoint URL: "https://lambda.{region}.amazonaws.com/2015-03-31/'
        'functions/{fn}/invocations"',
    ),
}


def _truth(call: _Call) -> dict[str, Any]:
    return {
        "caller": call.caller.kind,
        "name": call.caller.name,
        "function": call.runtime.spec.name,
        "retry_mode": call.caller.retry_mode,
        "trace_id": call.trace_id,
        "start": round(call.call_start, 6),
        "retries": len(call.tries) - 1,
        "result": call.tries[-1].outcome,
        "tries": [
            {
                "request_id": x.request_id,
                "start": round(x.start, 6),
                "end": round(x.end, 6),
                "status": x.status,
                "outcome": x.outcome,
                "executed": x.executed,
            }
            for x in call.tries
        ],
    }
