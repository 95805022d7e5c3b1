"""Synchronous invokes: the caller waits, errors go back to it, Lambda never retries."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from tracelens.emulator.engine import Run, arrivals, function_span, service_span
from tracelens.emulator.xray import Span

if TYPE_CHECKING:
    from tracelens.emulator.scenario import CallerSpec

APIGW_TIMEOUT_S = 29.0


def start(run: Run, caller: CallerSpec, index: int) -> None:
    """Schedule every invoke of a synchronous caller."""
    rng = run.rng(f"caller:{index}")
    for t in arrivals(rng, caller, run.scenario.start_epoch):
        run.clock.at(t, partial(_invoke, run, caller, t))


def _invoke(run: Run, caller: CallerSpec, t: float) -> None:
    assert caller.function is not None
    runtime = run.runtimes[caller.function]
    ids = run.ids
    rng = runtime.rng
    trace_id = ids.trace_id(t)
    request_id = ids.uuid()
    traced = caller.kind in ("api_gateway", "sdk")
    call_start = t + rng.uniform(0.001, 0.004)
    svc_start = call_start + rng.uniform(0.001, 0.003)
    env = runtime.admit(svc_start)
    docs: list[Span] = []
    if env is None:
        svc_end = svc_start + rng.uniform(0.001, 0.004)
        status, lambda_status = 429, 429
        function_error = None
    else:
        failed = runtime.fails()
        ex = runtime.run(env, svc_start + rng.uniform(0.005, 0.02), fail=failed)
        failed = ex.error is not None
        svc_end = ex.overhead_end + rng.uniform(0.0005, 0.002)
        status, lambda_status = 200, 200
        function_error = "Unhandled" if failed else None
    caller_sub_id = ids.entity_id() if traced else None
    svc = service_span(
        run,
        runtime,
        trace_id=trace_id,
        request_id=request_id,
        start=svc_start,
        end=svc_end,
        status=status,
        parent_id=caller_sub_id,
    )
    docs.append(svc)
    if env is not None:
        docs.append(
            function_span(
                run, runtime, ex, trace_id=trace_id, parent_id=svc.id, failed=failed, error=ex.error
            )
        )
    if traced and caller_sub_id is not None:
        call_end = svc_end + rng.uniform(0.0005, 0.002)
        aws = {
            "operation": "Invoke",
            "function_name": runtime.spec.name,
            "invocation_type": "RequestResponse",
            "region": run.scenario.region,
            "request_id": request_id,
            "resource_names": [runtime.spec.name],
            "status_code": lambda_status,
        }
        if function_error:
            aws["function_error"] = function_error
        sub = Span(
            "Lambda",
            caller_sub_id,
            call_start,
            call_end,
            namespace="aws",
            aws=aws,
            http_status=lambda_status,
        )
        if caller.kind == "api_gateway":
            api = caller.name or "api"
            end = call_end + rng.uniform(0.0005, 0.002)
            gw_status = 200 if lambda_status == 200 and not function_error else 502
            if lambda_status == 429:
                gw_status = 500
            if end - t > APIGW_TIMEOUT_S:  # integration timeout; Lambda keeps running
                end = t + APIGW_TIMEOUT_S
                sub.end = end
                gw_status = 504
            docs.append(
                Span(
                    f"{api}/prod",
                    ids.entity_id(),
                    t,
                    end,
                    trace_id=trace_id,
                    origin="AWS::ApiGateway::Stage",
                    resource_arn=f"arn:aws:apigateway:{run.scenario.region}::/restapis/{api}/stages/prod",
                    aws={
                        "api_gateway": {
                            "rest_api_id": api,
                            "stage": "prod",
                            "request_id": ids.uuid(),
                        }
                    },
                    http_request={
                        "method": "POST",
                        "url": f"https://{api}.execute-api.example/prod/",
                    },
                    http_status=gw_status,
                    subsegments=[sub],
                )
            )
        else:
            docs.append(
                Span(
                    caller.name or "sdk-client",
                    ids.entity_id(),
                    t,
                    call_end + 0.0005,
                    trace_id=trace_id,
                    subsegments=[sub],
                )
            )
    for doc in docs:
        run.writer.record(doc)
