"""The caller of every emulated request, for the truth: who called, and what traces tell.

``caller`` is what the emulator did (its caller kind and name); ``attributed`` is what the
X-Ray documents it writes (and the bundle's config.json) can tell, following real X-Ray
(xray-lambda-shapes.md): API Gateway and SDK clients are traced, SNS and EventBridge leave
their own segment, Lambda@Edge is recognisable by its replica name, an SQS queue or a stream
is named by the function's event source mapping; every other caller leaves nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracelens.emulator.engine import Run
    from tracelens.emulator.scenario import CallerSpec


def _entry(kind: str, name: str | None, seen: tuple[str, str | None, str | None]) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": name,
        "attributed": {"kind": seen[0], "name": seen[1], "arn": seen[2]},
    }


def sync_caller(run: Run, caller: CallerSpec) -> dict[str, Any]:
    """A sync caller: API Gateway (its stage), an SDK client (its segment), Lambda@Edge."""
    if caller.kind == "api_gateway":
        api = caller.name or "api"
        arn = f"arn:aws:apigateway:{run.scenario.region}::/restapis/{api}/stages/prod"
        return _entry(caller.kind, caller.name, ("api_gateway", f"{api}/prod", arn))
    if caller.kind == "sdk":
        return _entry(caller.kind, caller.name, ("sdk", caller.name or "sdk-client", None))
    if caller.kind == "cloudfront":
        return _entry(caller.kind, caller.name, ("cloudfront", None, None))
    return _entry(caller.kind, caller.name, ("unknown", None, None))


def async_caller(run: Run, caller: CallerSpec) -> dict[str, Any]:
    """An async caller: SNS (its topic), EventBridge, an SDK client; the rest untraced."""
    name = caller.name or caller.kind
    if caller.kind == "sns":
        return _entry(caller.kind, caller.name, ("sns", name, run.arn("sns", name)))
    if caller.kind == "eventbridge":
        return _entry(caller.kind, caller.name, ("eventbridge", name, None))
    if caller.kind == "sdk_event":
        return _entry(caller.kind, caller.name, ("sdk", name, None))
    return _entry(caller.kind, caller.name, ("unknown", None, None))


def poll_caller(
    run: Run, kind: str, source: str, arn: str, function: str, display: str
) -> dict[str, Any]:
    """An SQS queue or a stream: named by the event source mapping when it is the function's
    only one of that kind (stream records say which kind), else ambiguous (kind only)."""
    mappings = 0
    for m in run.scenario.mappings:
        if m.function != function:
            continue
        if m.source in run.scenario.queues:
            mappings += kind == "sqs"
        elif m.source in run.scenario.streams:
            mappings += run.scenario.streams[m.source].kind == kind
    seen = (kind, display, arn) if mappings == 1 else (kind, None, None)
    return _entry(kind, source, seen)
