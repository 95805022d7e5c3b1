"""Typed side inputs: function, queue and mapping settings, DLQ and destination dumps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Lambda's defaults for asynchronous invocation (get-function-event-invoke-config).
DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE_SECONDS = 21600


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """The settings of one function that decide what happens to its failed async events."""

    name: str
    arn: str | None = None
    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age_seconds: int = DEFAULT_MAXIMUM_EVENT_AGE_SECONDS
    dlq_arn: str | None = None  # DeadLetterConfig.TargetArn
    on_failure_arn: str | None = None  # EventInvokeConfig.DestinationConfig.OnFailure.Destination

    @property
    def failure_targets(self) -> tuple[str, ...]:
        """ARNs that receive events which ended badly (DLQ first, then on-failure)."""
        return tuple(arn for arn in (self.dlq_arn, self.on_failure_arn) if arn)


@dataclass(frozen=True, slots=True)
class RedrivePolicy:
    """An SQS queue's ``RedrivePolicy`` attribute, parsed."""

    dead_letter_target_arn: str | None
    max_receive_count: int | None


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One SQS queue's attributes."""

    arn: str
    url: str | None = None
    redrive_policy: RedrivePolicy | None = None
    visibility_timeout_seconds: int | None = None
    message_retention_seconds: int | None = None  # MessageRetentionPeriod


@dataclass(frozen=True, slots=True)
class EventSourceMapping:
    """One list-event-source-mappings entry."""

    event_source_arn: str
    function_arn: str | None = None
    batch_size: int | None = None
    function_response_types: tuple[str, ...] = ()
    bisect_batch_on_function_error: bool = False
    parallelization_factor: int = 1  # batches read from one shard at a time (AWS default 1)
    maximum_retry_attempts: int | None = None
    maximum_record_age_seconds: int | None = None
    on_failure_arn: str | None = None  # DestinationConfig.OnFailure.Destination

    @property
    def function_name(self) -> str | None:
        """The function name from ``FunctionArn`` (``...:function:NAME[:qualifier]``)."""
        return function_name_from_arn(self.function_arn)


@dataclass(frozen=True, slots=True)
class DlqMessage:
    """One message Lambda wrote to a dead-letter queue (its message attributes)."""

    request_id: str
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class DestinationRecord:
    """One on-failure destination record (async or stream)."""

    request_id: str
    condition: str | None = None
    approximate_invoke_count: int | None = None
    destination_arn: str | None = None  # the QueueArn of the dump it came from, if known
    function_arn: str | None = None
    batch_info: bool = False  # a stream record (KinesisBatchInfo / DDBStreamBatchInfo)


@dataclass(frozen=True, slots=True)
class SideDump:
    """The contents of one DLQ or on-failure destination, as dumped by the user."""

    source: str  # the file it was read from
    queue_arn: str | None
    dlq_messages: tuple[DlqMessage, ...] = ()
    destination_records: tuple[DestinationRecord, ...] = ()
    #: Messages (or records) the file holds, comparable or not.
    messages: int = 0
    #: Request ids can be checked against it: false for a dump of messages without
    #: ``RequestID`` message attributes (``receive-message`` without
    #: ``--message-attribute-names All``), whose events get ``fate_evidence: none``.
    comparable: bool = True
    #: ``ApproximateNumberOfMessages`` of the queue when it was dumped, if recorded
    #: (``fetch --with-dlq`` records it); a larger number than ``messages`` makes it partial.
    expected_messages: int | None = None

    @property
    def request_ids(self) -> frozenset[str]:
        """Every request id in this dump."""
        return frozenset(m.request_id for m in self.dlq_messages) | frozenset(
            r.request_id for r in self.destination_records
        )


@dataclass(frozen=True, slots=True)
class Acquisition:
    """How ``fetch`` found the traces of a bundle (its ``source.json``).

    Attributes:
        path: ``xray`` (GetTraceSummaries + BatchGetTraces), ``transaction-search-xray``
            (Logs Insights ids + StartTraceRetrieval) or ``transaction-search-spans``.
        segment_destination: ``XRay`` or ``CloudWatchLogs``; None when unknown.
        segment_destination_status: ``PENDING`` or ``ACTIVE``; None when unknown.
        summary_indexing_percent: The share of traces indexed as trace summaries (the
            ``Default`` indexing rule); None when unknown or not applicable.
        file: The source.json read.
    """

    path: str
    segment_destination: str | None
    segment_destination_status: str | None
    summary_indexing_percent: float | None
    file: str


@dataclass(frozen=True, slots=True)
class SideInputs:
    """Everything read besides traces: config.json contents and DLQ / destination dumps."""

    functions: Mapping[str, FunctionConfig] = field(default_factory=dict)
    queues: Mapping[str, QueueConfig] = field(default_factory=dict)
    mappings: tuple[EventSourceMapping, ...] = ()
    dumps: tuple[SideDump, ...] = ()
    config_files: tuple[str, ...] = ()
    #: How side inputs were interpreted, one sentence each, shown in every report format
    #: (e.g. which configured DLQ a dump without ``QueueArn`` was taken to be).
    notes: tuple[str, ...] = ()
    #: How fetch found the traces (a bundle's source.json), if a bundle has one.
    acquisition: Acquisition | None = None

    @property
    def has_config(self) -> bool:
        """Whether any config.json was read."""
        return bool(self.config_files)

    def queue_for(self, function: str) -> QueueConfig | None:
        """The configured SQS queue a function consumes via an event source mapping, if any."""
        for mapping in sorted(self.mappings, key=lambda m: m.event_source_arn):
            if mapping.function_name == function and mapping.event_source_arn in self.queues:
                return self.queues[mapping.event_source_arn]
        return None

    def stream_functions(self) -> frozenset[str]:
        """Functions with a Kinesis or DynamoDB Streams event source mapping."""
        return frozenset(
            name
            for m in self.mappings
            if (name := m.function_name)
            and (":kinesis:" in m.event_source_arn or ":dynamodb:" in m.event_source_arn)
        )


def function_name_from_arn(arn: str | None) -> str | None:
    """The function name inside a Lambda function ARN, without a version or alias qualifier."""
    if not arn:
        return None
    parts = arn.split(":")
    if len(parts) >= 7 and parts[5] == "function":
        return parts[6]
    return None
