"""Running a scenario: wire the paths to one virtual clock, run it, assemble the result."""

from __future__ import annotations

from typing import Any

from tracelens.emulator.clock import VirtualClock
from tracelens.emulator.engine import FunctionTally, Run
from tracelens.emulator.functions import FunctionRuntime
from tracelens.emulator.ids import IdGenerator
from tracelens.emulator.paths import asynchronous, poll_sqs, poll_stream, sync
from tracelens.emulator.result import EmulationResult
from tracelens.emulator.scenario import Scenario, arn_service
from tracelens.emulator.truth import build_truth
from tracelens.emulator.xray import XRayWriter
from tracelens.model.vocab import ASYNC_CALLERS, SYNC_CALLERS


class LambdaEmulator:
    """A discrete-event emulator of Lambda's sync, async and poll-based invoke paths."""

    def __init__(
        self, scenario: Scenario, *, seed: int, udp: tuple[str, int] | None = None
    ) -> None:
        """Prepare a run.

        Args:
            scenario: the validated scenario.
            seed: the seed; the same scenario and seed give byte-identical output.
            udp: optional (host, port) of an X-Ray daemon to also send documents to.
        """
        self.scenario = scenario
        self.seed = seed
        self.udp = udp

    def run(self) -> EmulationResult:
        """Run the scenario to completion and return the result."""
        s = self.scenario
        writer = XRayWriter(self.udp)
        run = Run(
            scenario=s,
            seed=self.seed,
            clock=VirtualClock(s.start_epoch),
            ids=IdGenerator(self.seed, s.name),
            writer=writer,
            runtimes={},
            tallies={},
        )
        for name, spec in s.functions.items():
            run.runtimes[name] = FunctionRuntime(
                spec, run.rng(f"function:{name}"), run.arn("lambda", name)
            )
            run.tallies[name] = FunctionTally()
        queues = poll_sqs.make_queues(run)
        shards = poll_stream.make_shards(run)
        for index, caller in enumerate(s.callers):
            if caller.kind in SYNC_CALLERS:
                sync.start(run, caller, index)
            elif caller.kind in ASYNC_CALLERS:
                asynchronous.start(run, caller, index)
            elif caller.kind == "sqs":
                poll_sqs.start(run, queues, caller, index)
            else:
                poll_stream.start(run, shards, caller, index)
        try:
            run.clock.run()
        finally:
            writer.emitter.close()
        poll_sqs.collect(run, queues)
        lines = writer.emitter.sorted_lines()
        data_end = writer.emitter.max_end or s.start_epoch
        return EmulationResult(
            scenario=s.name,
            seed=self.seed,
            lines=lines,
            config=_config(run),
            dlq=_dumps(run),
            truth=build_truth(run, data_end),
        )


def _config(run: Run) -> dict[str, Any]:
    s = run.scenario
    functions: dict[str, Any] = {}
    for name, spec in s.functions.items():
        arn = run.runtimes[name].arn
        fn: dict[str, Any] = {
            "FunctionName": name,
            "FunctionArn": arn,
            "Runtime": "python3.12",
            "Handler": "app.handler",
            "Timeout": int(spec.timeout_s),
            "MemorySize": 512,
            "TracingConfig": {"Mode": "Active"},
            "EventInvokeConfig": {
                "FunctionArn": f"{arn}:$LATEST",
                "MaximumRetryAttempts": spec.max_retry_attempts,
                "MaximumEventAgeInSeconds": spec.max_event_age_s,
                "DestinationConfig": {
                    "OnSuccess": {},
                    "OnFailure": {"Destination": spec.on_failure} if spec.on_failure else {},
                },
            },
        }
        if spec.dlq:
            fn["DeadLetterConfig"] = {"TargetArn": spec.dlq}
        if spec.reserved_concurrency is not None:
            fn["ReservedConcurrentExecutions"] = spec.reserved_concurrency
        functions[name] = fn
    queues = {run.arn("sqs", q.aws_name): poll_sqs.queue_config(run, q) for q in s.queues.values()}
    mappings: list[dict[str, Any]] = []
    for m in s.mappings:
        if m.source in s.queues:
            mappings.append(
                {
                    "EventSourceArn": run.arn("sqs", s.queues[m.source].aws_name),
                    "FunctionArn": run.runtimes[m.function].arn,
                    "BatchSize": m.batch_size,
                    "MaximumBatchingWindowInSeconds": int(m.batching_window_s),
                    "FunctionResponseTypes": ["ReportBatchItemFailures"]
                    if m.report_batch_item_failures
                    else [],
                    "ScalingConfig": {"MaximumConcurrency": max(2, m.max_concurrency)},
                    "State": "Enabled",
                }
            )
        else:
            mappings.append(poll_stream.stream_config(run, m, s.streams[m.source]))
    return {
        "functions": functions,
        "queues": dict(sorted(queues.items())),
        "EventSourceMappings": mappings,
    }


def _dumps(run: Run) -> dict[str, dict[str, Any]]:
    s = run.scenario
    targets: set[str] = set(run.dlq_messages)
    for spec in s.functions.values():
        targets.update(t for t in (spec.dlq, spec.on_failure) if t)
    for m in s.mappings:
        if m.on_failure:
            targets.add(m.on_failure)
    for q in s.queues.values():
        if q.max_receive_count is not None:
            targets.add(run.arn("sqs", q.dlq_name))
    out: dict[str, dict[str, Any]] = {}
    for arn in sorted(targets):
        service = arn_service(arn)
        if service == "sqs":
            out[arn.rsplit(":", 1)[1]] = {
                "QueueArn": arn,
                "Messages": run.dlq_messages.get(arn, []),
            }
        elif service == "sns":  # an SNS-shaped dump: the notifications a subscriber got
            out[arn.rsplit(":", 1)[1]] = {
                "TopicArn": arn,
                "Notifications": run.sns_messages.get(arn, []),
            }
    return out
