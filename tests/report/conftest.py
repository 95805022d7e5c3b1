"""Fixtures for the dashboard tests: a realistic Report built from the report structs.

``synthetic_report`` simulates async events, SQS messages and stream batches with a seeded
random generator and aggregates them into the ``tracelens.report/1`` structs, so every
number in the Report agrees with every other (attempts with outcomes, chains with details).
Some trace-derived strings are hostile on purpose (``HOSTILE_*``).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from tracelens.report.models import (
    SCHEMA,
    AsyncFates,
    AsyncOutcomes,
    AsyncSection,
    Chain,
    ChainStep,
    Finding,
    FunctionDetail,
    FunctionSummary,
    InputSection,
    Modes,
    PoisonMessage,
    RejectionOut,
    Report,
    ShardPoint,
    SqsSection,
    Stats,
    StreamsSection,
    TimePoint,
)

if TYPE_CHECKING:
    from collections.abc import Callable

#: A function name that is a script tag.
HOSTILE_FUNCTION = "<script>window.__pwned=1</script>"
#: An error message that breaks out of an attribute and runs an event handler.
HOSTILE_ERROR = '"><img src=x onerror="window.__pwned=1">'
#: A message id that tries to close the JSON script block.
HOSTILE_MESSAGE_ID = "</script><script>window.__pwned=1</script>"

T0 = datetime(2026, 11, 28, 1, 0, 0, tzinfo=UTC)
BUCKET_SECONDS = 60

# function -> (has a DLQ?, has config?)
ASYNC_FUNCTIONS: dict[str, tuple[bool, bool]] = {
    "orders-async": (True, True),
    "payments-async": (False, True),
    HOSTILE_FUNCTION: (False, False),
}
SQS_FUNCTION = "sqs-consumer"
STREAM_FUNCTION = "stream-processor"


def iso(moment: datetime) -> str:
    """A contract time string."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def nearest_rank(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, math.ceil(p / 100.0 * len(values)))
    return values[rank - 1]


def stats(values: list[float]) -> Stats:
    """A contract statistic block."""
    if not values:
        return Stats(count=0, min=None, p50=None, p90=None, p99=None, max=None, mean=None)
    ordered = sorted(values)
    return Stats(
        count=len(ordered),
        min=ordered[0],
        p50=nearest_rank(ordered, 50),
        p90=nearest_rank(ordered, 90),
        p99=nearest_rank(ordered, 99),
        max=ordered[-1],
        mean=sum(ordered) / len(ordered),
    )


def log_bucket(ms: float) -> str:
    """Lower bound of the 1-2-5 bucket holding ``ms`` (``"0"`` below 1 ms)."""
    if ms < 1:
        return "0"
    exponent = math.floor(math.log10(ms))
    mantissa = ms / 10**exponent
    lower = 5 if mantissa >= 5 else 2 if mantissa >= 2 else 1
    return f"{lower * 10**exponent:g}"


@dataclass
class _Event:
    function: str
    request_id: str
    enqueued: datetime
    dwell_ms: float
    attempts: list[tuple[datetime, datetime, str | None]] = field(default_factory=list)
    outcome: str = "succeeded"
    fate: str | None = None


def _simulate_async(rng: random.Random, function: str, count: int, minutes: int) -> list[_Event]:
    """Async events of one function with AWS's retry schedule (1 min, then 2 min)."""
    has_dlq, has_config = ASYNC_FUNCTIONS[function]
    events = []
    for n in range(count):
        enqueued = T0 + timedelta(seconds=rng.uniform(0, minutes * 60))
        incident = 0.4 < (enqueued - T0).total_seconds() / (minutes * 60) < 0.6
        dwell = rng.lognormvariate(math.log(30_000 if incident else 150), 1.0)
        event = _Event(function, f"{function[:6]}-req-{n:06d}", enqueued, dwell)
        fail_p = 0.5 if incident else 0.08
        start = enqueued + timedelta(milliseconds=dwell)
        for attempt in range(3):
            end = start + timedelta(milliseconds=rng.uniform(20, 900))
            failed = rng.random() < fail_p
            error = (
                (
                    HOSTILE_ERROR
                    if function == HOSTILE_FUNCTION
                    else "TimeoutError: downstream timed out after 3 s"
                )
                if failed
                else None
            )
            event.attempts.append((start, end, error))
            if not failed:
                event.outcome = "succeeded" if attempt == 0 else "succeeded_after_retry"
                break
            start = end + timedelta(seconds=60 * (attempt + 1) + rng.uniform(0, 5))
        else:
            event.outcome = "retries_exhausted"
        if event.outcome == "retries_exhausted" and n % 7 == 0:
            event.outcome = "event_age_exceeded"
            event.attempts = event.attempts[:2]
        if n % 97 == 5 and event.outcome == "succeeded":
            event.outcome = "in_progress"  # the data ends while its first attempt runs
        if event.outcome in ("retries_exhausted", "event_age_exceeded"):
            if not has_config:
                event.fate = "unknown"
            elif has_dlq:
                event.fate = "missing" if n % 11 == 0 else "sent"
            else:
                event.fate = "dropped"
        events.append(event)
    return events


def _chain_of(event: _Event) -> Chain:
    """The retry chain (with timeline steps) of an async event."""
    first = event.attempts[0][0]
    steps = [
        ChainStep(
            kind="dwell",
            start=iso(event.enqueued),
            end=iso(first),
            error=None,
            trace_id=f"1-{int(event.enqueued.timestamp()):08x}-{0:024x}",
        )
    ]
    for index, (start, end, error) in enumerate(event.attempts):
        if index:
            previous_end = event.attempts[index - 1][1]
            steps.append(
                ChainStep(
                    kind="wait", start=iso(previous_end), end=iso(start), error=None, trace_id=None
                )
            )
        steps.append(
            ChainStep(
                kind="attempt",
                start=iso(start),
                end=iso(end),
                error=error,
                trace_id=f"1-{int(start.timestamp()):08x}-{index:024x}",
            )
        )
    return Chain(
        kind="async",
        key=event.request_id,
        function=event.function,
        trace_ids=sorted({s.trace_id for s in steps if s.trace_id}),
        attempts=len(event.attempts),
        outcome=event.outcome,
        fate=event.fate,
        dwell_ms=event.dwell_ms,
        first_start=iso(event.enqueued),
        last_end=iso(event.attempts[-1][1]),
        errors=[e for _, _, e in event.attempts if e],
        steps=steps,
    )


def _async_detail(function: str, events: list[_Event]) -> FunctionDetail:
    """The dashboard aggregates of one async function."""
    dwells = sorted(e.dwell_ms for e in events)
    buckets: dict[datetime, list[float]] = {}
    for event in events:
        offset = int((event.enqueued - T0).total_seconds() // BUCKET_SECONDS) * BUCKET_SECONDS
        buckets.setdefault(T0 + timedelta(seconds=offset), []).append(event.dwell_ms)
    over_time = [
        TimePoint(
            start=iso(start),
            count=len(values),
            p50=nearest_rank(sorted(values), 50),
            p90=nearest_rank(sorted(values), 90),
            p99=nearest_rank(sorted(values), 99),
        )
        for start, values in sorted(buckets.items())
    ]
    outcomes = Counter(e.outcome for e in events)
    fates = Counter(e.fate for e in events if e.fate)
    return FunctionDetail(
        function=function,
        events=len(events),
        dwell_quantiles_ms=[nearest_rank(dwells, p) if p else dwells[0] for p in range(101)],
        dwell_histogram_ms=dict(sorted(Counter(log_bucket(d) for d in dwells).items())),
        dwell_over_time=over_time,
        attempts={str(k): v for k, v in sorted(Counter(len(e.attempts) for e in events).items())},
        outcomes=_outcomes(outcomes),
        fates=_fates(fates),
        deliveries_histogram={},
        poison_messages=0,
        stream_batches=[],
    )


def _outcomes(counts: Counter[str]) -> AsyncOutcomes:
    return AsyncOutcomes(
        succeeded=counts["succeeded"],
        succeeded_after_retry=counts["succeeded_after_retry"],
        retries_exhausted=counts["retries_exhausted"],
        event_age_exceeded=counts["event_age_exceeded"],
        in_progress=counts["in_progress"],
    )


def _fates(counts: Counter[str]) -> AsyncFates:
    return AsyncFates(
        sent=counts["sent"],
        missing=counts["missing"],
        dropped=counts["dropped"],
        unknown=counts["unknown"],
    )


def _empty_detail(function: str) -> dict[str, object]:
    return {
        "function": function,
        "events": 0,
        "dwell_quantiles_ms": [],
        "dwell_histogram_ms": {},
        "dwell_over_time": [],
        "attempts": {},
        "outcomes": _outcomes(Counter()),
        "fates": _fates(Counter()),
    }


def _summary(
    name: str,
    requests: int,
    invocations: int,
    failed: int,
    modes: dict[str, int],
    rng: random.Random,
) -> FunctionSummary:
    durations = [rng.uniform(20, 900) for _ in range(min(invocations, 500))]
    return FunctionSummary(
        name=name,
        arn=f"arn:aws:lambda:eu-west-1:123456789012:function:{name}",
        requests=requests,
        invocations=invocations,
        cold_starts=max(1, invocations // 40),
        failed_invocations=failed,
        failed_requests=failed,
        throttles=failed // 10,
        modes=Modes(
            sync=modes.get("sync", 0),
            async_=modes.get("async", 0),
            sqs=modes.get("sqs", 0),
            stream=modes.get("stream", 0),
            unknown=0,
        ),
        duration_ms=stats(durations),
    )


def synthetic_report(*, events: int = 600, seed: int = 7, minutes: int = 30) -> Report:
    """A consistent Report of ``events`` async events over several functions.

    Args:
        events: Async events in total (split over the async functions).
        seed: Seed of the random generator.
        minutes: Length of the simulated window.

    Returns:
        The report, with details, chains with steps, poison messages and findings.
    """
    rng = random.Random(seed)
    per_function = events // len(ASYNC_FUNCTIONS)
    all_events: list[_Event] = []
    details: list[FunctionDetail] = []
    summaries: list[FunctionSummary] = []
    for function in ASYNC_FUNCTIONS:
        simulated = _simulate_async(rng, function, per_function, minutes)
        all_events.extend(simulated)
        details.append(_async_detail(function, simulated))
        attempts = sum(len(e.attempts) for e in simulated)
        failed = sum(1 for e in simulated for _, _, err in e.attempts if err)
        summaries.append(
            _summary(function, len(simulated), attempts, failed, {"async": len(simulated)}, rng)
        )
    chains = [
        _chain_of(e)
        for e in all_events
        if len(e.attempts) > 1 or e.outcome in ("retries_exhausted", "event_age_exceeded")
    ]

    # SQS: most messages once, some redelivered, a few poison (every delivery failed).
    messages = max(50, events // 10)
    deliveries: Counter[int] = Counter()
    poison: list[PoisonMessage] = []
    for n in range(messages):
        first = T0 + timedelta(seconds=rng.uniform(0, minutes * 60))
        count = 1 if n % 9 else rng.randint(2, 5)
        deliveries[count] += 1
        message_id = HOSTILE_MESSAGE_ID if n == 9 else f"msg-{n:05d}"
        last = first + timedelta(seconds=30 * (count - 1))
        if count >= 2:
            chains.append(
                Chain(
                    kind="sqs",
                    key=message_id,
                    function=SQS_FUNCTION,
                    trace_ids=[],
                    attempts=count,
                    fate=None,
                    outcome="poison" if n % 27 == 0 or n == 9 else "redelivered",
                    dwell_ms=None,
                    first_start=iso(first),
                    last_end=iso(last),
                    errors=["ValueError: cannot parse order"] * (count - 1),
                    steps=[],
                )
            )
        if (count >= 2 and n % 27 == 0) or n == 9:
            poison.append(
                PoisonMessage(
                    message_id=message_id,
                    function=SQS_FUNCTION,
                    deliveries=count,
                    first_seen=iso(first),
                    last_seen=iso(last),
                    last_error=HOSTILE_ERROR if n == 9 else "ValueError: cannot parse order",
                )
            )
    poison.sort(key=lambda p: (p.first_seen, p.message_id))
    sqs_detail = FunctionDetail(
        **_empty_detail(SQS_FUNCTION),  # type: ignore[arg-type]
        deliveries_histogram={str(k): v for k, v in sorted(deliveries.items())},
        poison_messages=len(poison),
        stream_batches=[],
    )

    # Streams: four shards, one batch per shard per minute, retries during the incident.
    points: list[ShardPoint] = []
    retried_total = 0
    for shard in range(4):
        for minute in range(minutes):
            retried = 1 if shard == 2 and 12 <= minute <= 18 else 0
            retried_total += retried
            start = T0 + timedelta(minutes=minute)
            points.append(
                ShardPoint(
                    shard_id=f"shardId-{shard:012d}", start=iso(start), batches=1, retried=retried
                )
            )
            if retried:
                chains.append(
                    Chain(
                        kind="stream",
                        key=f"shardId-{shard:012d}/{1000 + minute}",
                        function=STREAM_FUNCTION,
                        trace_ids=[],
                        attempts=3,
                        outcome="retried",
                        fate=None,
                        dwell_ms=None,
                        first_start=iso(start),
                        last_end=iso(start + timedelta(seconds=40)),
                        errors=["KeyError: 'customer_id'"] * 2,
                        steps=[
                            ChainStep(
                                kind="attempt",
                                start=iso(start + timedelta(seconds=15 * i)),
                                end=iso(start + timedelta(seconds=15 * i + 5)),
                                error="KeyError: 'customer_id'" if i < 2 else None,
                                trace_id=None,
                            )
                            for i in range(3)
                        ],
                    )
                )
    stream_detail = FunctionDetail(
        **_empty_detail(STREAM_FUNCTION),  # type: ignore[arg-type]
        deliveries_histogram={},
        poison_messages=0,
        stream_batches=points,
    )
    delivered = sum(k * v for k, v in deliveries.items())
    summaries.append(
        _summary(SQS_FUNCTION, messages, delivered, delivered - messages, {"sqs": delivered}, rng)
    )
    summaries.append(
        _summary(
            STREAM_FUNCTION,
            len(points),
            len(points) + 2 * retried_total,
            2 * retried_total,
            {"stream": len(points)},
            rng,
        )
    )

    outcomes = Counter(e.outcome for e in all_events)
    fates = Counter(e.fate for e in all_events if e.fate)
    findings = [
        Finding(
            severity="critical",
            code="ASYNC_EVENTS_DROPPED",
            function="payments-async",
            count=fates_of(all_events, "payments-async", "dropped"),
            message="Events that failed every retry were dropped: configure a DLQ or an "
            "on-failure destination.",
            examples=[e.request_id for e in all_events if e.fate == "dropped"][:5],
        ),
        Finding(
            severity="critical",
            code="SQS_POISON_MESSAGE",
            function=SQS_FUNCTION,
            count=len(poison),
            message="Messages failed on every delivery: add a redrive "
            "policy or handle the bad input.",
            examples=[p.message_id for p in poison][:5],
        ),
        Finding(
            severity="warning",
            code="ASYNC_RETRIES_EXHAUSTED",
            function=HOSTILE_FUNCTION,
            count=fates_of(all_events, HOSTILE_FUNCTION, "unknown"),
            message=f"Retries exhausted; last error {HOSTILE_ERROR}",
            examples=[HOSTILE_ERROR],
        ),
        Finding(
            severity="warning",
            code="INPUT_REJECTED",
            function=None,
            count=1,
            message="1 line could not be read.",
            examples=[],
        ),
        Finding(
            severity="warning",
            code="STREAM_BATCH_RETRIED",
            function=STREAM_FUNCTION,
            count=retried_total,
            message="A batch was retried whole and blocked its shard.",
            examples=[c.key for c in chains if c.kind == "stream"][:5],
        ),
        Finding(
            severity="info",
            code="SQS_REDELIVERY",
            function=SQS_FUNCTION,
            count=sum(v for k, v in deliveries.items() if k > 1),
            message="Messages were delivered more than once.",
            examples=[],
        ),
    ]
    chains.sort(key=lambda c: (c.first_start, c.kind, c.key))
    all_dwell = [e.dwell_ms for e in all_events]
    retry_delays = [
        (b[0] - a[1]).total_seconds() * 1000
        for e in all_events
        for a, b in zip(e.attempts, e.attempts[1:], strict=False)
    ]
    return Report(
        schema=SCHEMA,
        generated_by="tracelens 0.1.0",
        input=InputSection(
            files=["bundle/traces.ndjson", HOSTILE_FUNCTION + ".ndjson"],
            documents=events * 4,
            duplicates=0,
            rejected=1,
            rejections=[RejectionOut(file="bundle/traces.ndjson", line=3, reason=HOSTILE_ERROR)],
            traces=events * 2,
            start=iso(T0),
            end=iso(T0 + timedelta(minutes=minutes + 10)),
            config=True,
            dlq_dumps=1,
        ),
        functions=sorted(summaries, key=lambda s: s.name),
        async_=AsyncSection(
            events=len(all_events),
            dwell_ms=stats(all_dwell),
            attempts={
                str(k): v for k, v in sorted(Counter(len(e.attempts) for e in all_events).items())
            },
            retry_delay_ms=stats(retry_delays),
            outcomes=_outcomes(outcomes),
            fates=_fates(fates),
        ),
        sqs=SqsSection(
            messages=messages,
            deliveries=delivered,
            redelivered_messages=sum(v for k, v in deliveries.items() if k > 1),
            max_deliveries=max(deliveries),
            max_receive_count=max(deliveries),
            deliveries_histogram={str(k): v for k, v in sorted(deliveries.items())},
            poison_messages=poison,
            evidence="annotations",
        ),
        streams=StreamsSection(
            batches=len(points),
            retried_batches=retried_total,
            max_attempts=3,
            evidence="annotations",
        ),
        chains=chains,
        findings=findings,
        details=sorted([*details, sqs_detail, stream_detail], key=lambda d: d.function),
        bucket_seconds=BUCKET_SECONDS,
    )


def fates_of(events: list[_Event], function: str, fate: str) -> int:
    """How many events of a function had a fate."""
    return sum(1 for e in events if e.function == function and e.fate == fate)


@pytest.fixture(scope="session")
def dashboard_report() -> Report:
    """A realistic Report: async retries, DLQ, drops, poison messages, stream retries."""
    return synthetic_report()


@pytest.fixture(scope="session")
def report_factory() -> Callable[..., Report]:
    """``synthetic_report`` itself, for tests that need another size or seed."""
    return synthetic_report
