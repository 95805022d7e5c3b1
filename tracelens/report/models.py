"""The renderer-agnostic Report: the ``tracelens.report/1`` contract as typed structs.

Field names and meanings follow ``report-contract.md`` exactly; every renderer (text, JSON,
Markdown, HTML) reads only these types. Times are ISO-8601 UTC strings with microseconds,
durations are milliseconds.
"""

from __future__ import annotations

import msgspec

from tracelens.model.vocab import (
    ChainFate,
    ChainKind,
    ChainOutcome,
    FateEvidence,
    Severity,
    SqsEvidence,
    SqsFate,
    StepKind,
    StreamEvidence,
)

SCHEMA = "tracelens.report/1"


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    """A statistic block; every field is null when ``count`` is 0."""

    count: int
    min: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None
    mean: float | None


class RejectionOut(msgspec.Struct, frozen=True, kw_only=True):
    """One rejected line or document."""

    file: str
    line: int | None
    reason: str


class AcquisitionOut(msgspec.Struct, frozen=True, kw_only=True):
    """How ``fetch`` found the traces (a bundle's source.json)."""

    #: ``xray`` (GetTraceSummaries + BatchGetTraces), ``transaction-search-xray`` (Logs
    #: Insights over aws/spans + StartTraceRetrieval) or ``transaction-search-spans``.
    path: str
    #: ``XRay`` or ``CloudWatchLogs`` (GetTraceSegmentDestination); None when unknown.
    segment_destination: str | None
    #: ``PENDING`` or ``ACTIVE``; None when unknown.
    segment_destination_status: str | None
    #: The share of traces X-Ray indexes as trace summaries (GetIndexingRules, the Default
    #: rule): the sampling GetTraceSummaries sees with Transaction Search on; None when unknown
    #: or not applicable (destination XRay).
    summary_indexing_percent: float | None
    #: One sentence saying how the traces were found and what GetTraceSummaries saw.
    note: str


class InputSection(msgspec.Struct, frozen=True, kw_only=True):
    """What was read."""

    files: list[str]
    documents: int
    duplicates: int
    rejected: int
    rejections: list[RejectionOut]
    traces: int
    start: str | None
    end: str | None
    config: bool
    dlq_dumps: int
    #: How side inputs were read, one sentence each, in the order they were read (e.g. a
    #: dump without ``QueueArn`` taken as the only configured DLQ, a dump that cannot be
    #: compared).
    notes: list[str] = msgspec.field(default_factory=list)
    #: How fetch found the traces, when a bundle holds its source.json; else None.
    acquisition: AcquisitionOut | None = None


class Modes(msgspec.Struct, frozen=True, kw_only=True):
    """Requests of one function by invoke path."""

    sync: int
    # ``async`` is a keyword, so the attribute is renamed on the wire.
    async_: int = msgspec.field(name="async")
    sqs: int
    stream: int
    unknown: int


class FunctionSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One function's requests, invocations and failures."""

    name: str
    arn: str | None
    requests: int
    invocations: int
    cold_starts: int
    failed_invocations: int
    # requests that failed: throttled, refused by Lambda (4xx/5xx), an async event that
    # ended badly, or a last invocation that failed (definition D2)
    failed_requests: int = 0
    throttles: int  # throttled requests (D1)
    modes: Modes
    duration_ms: Stats
    #: Its callers with the most requests (at most 3), as "kind name" (see ``callers``),
    #: most requests first.
    top_callers: list[str] = msgspec.field(default_factory=list)


class CallerSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The requests one caller made to one function on one invoke path (``callers[]``).

    ``kind`` is the caller kind (``api_gateway``, ``sns``, ``sqs``, ``sdk``, ...) or
    ``unknown``, then ``reason`` says why; ``candidates`` lists the event source ARNs when
    several mappings of the function could have sent the requests.
    """

    function: str
    path: str  # invoke path: sync, async, sqs, stream or unknown
    kind: str
    name: str | None  # stage, topic, bus, queue, stream (table), function or client name
    arn: str | None
    reason: str | None = None
    candidates: list[str] = msgspec.field(default_factory=list)
    requests: int
    failed: int  # failed requests (D2)
    throttled: int  # throttled requests (D1)
    dwell_p99_ms: float | None = None  # async: p99 dwell of the caller's events
    #: Async events, SQS messages and stream batches the caller started, by outcome / fate.
    outcomes: dict[str, int] = msgspec.field(default_factory=dict)
    fates: dict[str, int] = msgspec.field(default_factory=dict)


class SyncSection(msgspec.Struct, frozen=True, kw_only=True):
    """Synchronous requests (invoke path ``sync``): failures, throttles and client retries.

    ``succeeded + failed == requests`` and ``throttled <= failed``. ``client_retries`` counts
    the extra Lambda requests a caller made for one logical call (same trace and caller
    subsegment); ``duplicate_executions`` the calls in which the function ran more than once.
    """

    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    throttled: int = 0
    client_retries: int = 0
    duplicate_executions: int = 0


class AsyncOutcomes(msgspec.Struct, frozen=True, kw_only=True):
    """Async events by outcome."""

    succeeded: int
    succeeded_after_retry: int
    retries_exhausted: int
    event_age_exceeded: int
    in_progress: int


class AsyncFates(msgspec.Struct, frozen=True, kw_only=True):
    """Fates of async events that ended badly."""

    sent: int
    missing: int
    dropped: int
    unknown: int


class AsyncFatesEvidence(msgspec.Struct, frozen=True, kw_only=True):
    """Async events that ended badly, by how their fate is known.

    ``dump``: the request id was checked against a comparable DLQ / destination dump;
    ``config``: the config alone names a target (or none); ``none``: no config, or only a
    dump without request ids.
    """

    dump: int = 0
    config: int = 0
    none: int = 0


class AsyncSection(msgspec.Struct, frozen=True, kw_only=True):
    """Asynchronous invocations: dwell, attempts, retries, outcomes, fates."""

    events: int
    dwell_ms: Stats
    attempts: dict[str, int]
    retry_delay_ms: Stats
    outcomes: AsyncOutcomes
    fates: AsyncFates
    fates_evidence: AsyncFatesEvidence = msgspec.field(default_factory=AsyncFatesEvidence)


class PoisonMessage(msgspec.Struct, frozen=True, kw_only=True):
    """An SQS message with at least two failed deliveries and no successful one."""

    message_id: str
    function: str
    deliveries: int
    first_seen: str
    last_seen: str
    last_error: str | None
    fate: SqsFate | None = None


class SqsFates(msgspec.Struct, frozen=True, kw_only=True):
    """Poison messages by fate."""

    dlq: int = 0  # deliveries (or receive count) reached the RedrivePolicy maxReceiveCount
    retention_deleted: int = 0  # the data runs past first delivery + MessageRetentionPeriod
    in_queue: int = 0  # still being redelivered when the data ends
    unknown: int = 0  # no queue attributes in the config, or gone past retention (redrive)


class SqsSection(msgspec.Struct, frozen=True, kw_only=True):
    """SQS messages and their deliveries."""

    messages: int
    deliveries: int
    redelivered_messages: int
    max_deliveries: int
    max_receive_count: int | None
    deliveries_histogram: dict[str, int]
    poison_messages: list[PoisonMessage]
    evidence: SqsEvidence
    fates: SqsFates = msgspec.field(default_factory=SqsFates)


class StreamFates(msgspec.Struct, frozen=True, kw_only=True):
    """Stream batches that ended badly (retries, record age or retention), by fate."""

    sent: int = 0  # the mapping has an on-failure destination
    discarded: int = 0  # it has none: the records are lost
    unknown: int = 0  # see ``StreamsSection.fate_unknown_reasons``


class StreamsSection(msgspec.Struct, frozen=True, kw_only=True):
    """Kinesis and DynamoDB stream batches."""

    batches: int
    retried_batches: int
    max_attempts: int
    evidence: StreamEvidence
    fates: StreamFates = msgspec.field(default_factory=StreamFates)
    #: Failed batches within every limit of their mapping when the data ends (shard blocked).
    still_retrying: int = 0
    fate_unknown_reasons: list[str] = msgspec.field(default_factory=list)  # sorted


class ChainStep(msgspec.Struct, frozen=True, kw_only=True):
    """One interval of a chain's timeline (for the retry-chain Gantt chart)."""

    kind: StepKind
    start: str
    end: str | None
    error: str | None  # "Type: message" of a failed attempt
    trace_id: str | None


class Chain(msgspec.Struct, frozen=True, kw_only=True):
    """An async event, SQS message or stream batch that was retried or ended badly."""

    kind: ChainKind
    key: str
    function: str
    trace_ids: list[str]
    # X-Ray console URL of each trace id (same order); [] when no function ARN names a region
    trace_urls: list[str] = msgspec.field(default_factory=list)
    attempts: int
    outcome: ChainOutcome
    fate: ChainFate | None
    fate_evidence: FateEvidence | None = None  # null when fate is null
    dwell_ms: float | None
    first_start: str
    last_end: str | None
    errors: list[str]
    steps: list[ChainStep] = msgspec.field(default_factory=list)  # extension: timeline


class AffectedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An async event, SQS message or stream batch that did not end well: one to replay.

    Its outcome is not ``succeeded``, ``succeeded_after_retry`` or ``redelivered``: it ended
    badly (whatever its fate) or its end is not known when the data ends. The fields are the
    columns of ``analyze --affected FILE``, in order.
    """

    function: str
    path: ChainKind
    caller: str | None = None  # "kind name" of its request's caller (see ``callers``)
    # the async event's request id; for SQS and streams the Lambda request of the last
    # delivery (its logs), null if no delivery had one
    request_id: str | None
    message_id: str | None  # SQS message id; null without message id annotations
    shard_id: str | None  # stream batches with record annotations
    sequence_number: str | None  # lowest sequence number of the batch, leading zeros dropped
    outcome: ChainOutcome
    fate: ChainFate | None
    fate_evidence: FateEvidence | None  # async events with a fate; else null
    first_time: str  # async: enqueue time; SQS / streams: start of the first delivery
    last_time: str | None  # end of the last attempt; null while one is still open
    attempts: int
    last_error: str | None  # "Type: message" of the last failed attempt
    trace_ids: list[str]


class ErrorTypeCount(msgspec.Struct, frozen=True, kw_only=True):
    """How many failures of one function had one exception type."""

    type: str
    count: int


class FunctionImpact(msgspec.Struct, frozen=True, kw_only=True):
    """When a function's failures began and ended, and their exception types.

    A failure is a failed invocation, a failed request with no failed invocation (throttled
    or refused by Lambda), or an SQS record that failed inside an invocation that succeeded
    (partial batch response); a retried event counts once per failed attempt.
    """

    function: str
    failures: int
    first_failure: str  # start of the first failure
    last_failure: str  # start of the last failure
    errors_by_type: list[ErrorTypeCount]  # most first, then by type


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """Something a person should act on."""

    severity: Severity
    code: str
    function: str | None
    count: int
    message: str
    examples: list[str]


class TimePoint(msgspec.Struct, frozen=True, kw_only=True):
    """Dwell percentiles of the async events enqueued in one time bucket."""

    start: str  # bucket start
    count: int
    p50: float | None
    p90: float | None
    p99: float | None


class ShardPoint(msgspec.Struct, frozen=True, kw_only=True):
    """Stream batches of one shard that started in one time bucket."""

    shard_id: str
    start: str  # bucket start
    batches: int
    retried: int


class FunctionDetail(msgspec.Struct, frozen=True, kw_only=True):
    """Per-function aggregates behind the dashboard (an extension of the contract).

    Everything is aggregated (no raw rows), so the dashboard stays small for any input.
    """

    function: str
    events: int  # async events
    dwell_quantiles_ms: list[float]  # p0, p1, ..., p100 by nearest rank; [] with no dwell
    dwell_histogram_ms: dict[str, int]  # lower bound of a 1-2-5 log bucket in ms -> events
    dwell_over_time: list[TimePoint]  # sorted by start
    attempts: dict[str, int]  # events by attempts observed
    attempts_by_outcome: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    # outcome -> attempts observed -> events (for the fate-flow sankey)
    outcomes: AsyncOutcomes
    fates: AsyncFates
    deliveries_histogram: dict[str, int]  # SQS messages by deliveries
    poison_messages: int
    stream_batches: list[ShardPoint]  # sorted by shard_id, then start


class FunctionTimeline(msgspec.Struct, frozen=True, kw_only=True):
    """One function's series: one value per bucket of ``Timeline`` (see analysis.timeline)."""

    function: str
    requests: list[int]
    failed: list[int]
    throttled: list[int]
    cold_starts: list[int]
    dwell_p99_ms: list[float | None]  # null: no async event with a dwell in the bucket
    ended_badly: list[int]  # async events that ended retries_exhausted / event_age_exceeded
    sqs_redeliveries: list[int]
    stream_retries: list[int]


class Timeline(msgspec.Struct, frozen=True, kw_only=True):
    """Per function and time bucket, over the data's window (an extension of the contract)."""

    bucket_seconds: int = 1
    start: str | None = None  # the first bucket's start; None without data
    buckets: int = 0
    functions: list[FunctionTimeline] = msgspec.field(default_factory=list)  # by function


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """The whole analysis report (schema ``tracelens.report/1``)."""

    schema: str
    generated_by: str
    input: InputSection
    functions: list[FunctionSummary]
    sync: SyncSection = msgspec.field(default_factory=SyncSection)
    async_: AsyncSection = msgspec.field(name="async")
    sqs: SqsSection
    streams: StreamsSection
    chains: list[Chain]
    findings: list[Finding]
    details: list[FunctionDetail] = msgspec.field(default_factory=list)  # sorted by function
    bucket_seconds: int = 60  # width of the time buckets in ``details``
    timeline: Timeline = msgspec.field(default_factory=Timeline)
    #: Every async event, SQS message and stream batch that did not end well; sorted by
    #: first_time, path, key (request id, message id or shard/sequence), function.
    affected: list[AffectedEvent] = msgspec.field(default_factory=list)
    impact: list[FunctionImpact] = msgspec.field(default_factory=list)  # sorted by function
    #: Who called: one entry per (function, path, caller); sorted by function, requests (most
    #: first), kind, name, ARN, reason and path.
    callers: list[CallerSummary] = msgspec.field(default_factory=list)
