"""The fixed vocabularies of tracelens: severities, outcomes, fates, modes and kinds.

Each word here is also a value on the wire (the report contract) or in an analysis frame, so
the types are ``StrEnum`` (when a rank belongs to the value) or ``Literal`` aliases of plain
strings: msgspec and polars see the same strings either way.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal, get_args


class Severity(StrEnum):
    """How urgently a finding needs a person; ``rank`` orders them, most urgent first."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical, 1 for warning, 2 for info (sort key: most urgent first)."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK: Final = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def severity_rank(value: str) -> int:
    """The rank of a severity spelled as a string (e.g. read from a report); 9 if unknown."""
    try:
        return Severity(value).rank
    except ValueError:
        return 9


#: How an async event ended (report-contract ``async.outcomes``).
AsyncOutcome = Literal[
    "succeeded", "succeeded_after_retry", "retries_exhausted", "event_age_exceeded", "in_progress"
]
#: Where an async event that ended badly went.
AsyncFate = Literal["sent", "missing", "dropped", "unknown"]
#: What an async fate rests on: a comparable dump, the config alone, or neither.
FateEvidence = Literal["dump", "config", "none"]
#: How an SQS message that failed on every delivery ended.
SqsFate = Literal["dlq", "retention_deleted", "in_queue", "unknown"]
#: How the deliveries of an SQS message or stream batch ended; ``poison`` (SQS) and ``failed``
#: (streams) are at least two failed deliveries and no successful one.
DeliveryOutcome = Literal[
    "succeeded", "succeeded_after_retry", "redelivered", "poison", "in_progress", "failed"
]
#: Where the records of a stream batch that ended badly went.
StreamFate = Literal["sent", "discarded", "unknown"]
#: Which limit ended a failed stream batch.
StreamEndedBy = Literal["retries", "record_age", "retention"]
#: The outcome of any chain (async event, SQS message or stream batch).
ChainOutcome = AsyncOutcome | DeliveryOutcome
#: The fate of any chain.
ChainFate = AsyncFate | SqsFate | StreamFate
#: The invoke path of a request.
Mode = Literal["sync", "async", "sqs", "stream", "unknown"]
#: What a chain follows.
ChainKind = Literal["async", "sqs", "stream"]
#: One interval of a chain's timeline.
StepKind = Literal["dwell", "attempt", "wait"]
#: How SQS deliveries were linked to messages.
SqsEvidence = Literal["annotations", "links", "none"]
#: How stream batches were found.
StreamEvidence = Literal["annotations", "traces", "none"]
#: One thing that happened in an ``explain`` story.
StoryKind = Literal[
    "segment",
    "enqueue",
    "request",
    "dwell",
    "wait",
    "attempt",
    "invocation",
    "delivery",
    "outcome",
    "fate",
    "dlq",
]
#: What an emulated caller is: a sync service, an async service, or a producer into a queue
#: or stream that a poller reads.
SyncCaller = Literal[
    "api_gateway", "alb", "cognito", "lex", "alexa", "cloudfront", "firehose", "sdk"
]
AsyncCaller = Literal[
    "sns",
    "s3",
    "ses",
    "cloudformation",
    "cloudwatch_logs",
    "eventbridge",
    "codecommit",
    "config",
    "sdk_event",
]
PollCaller = Literal["sqs", "kinesis", "dynamodb"]
CallerKind = SyncCaller | AsyncCaller | PollCaller

ASYNC_OUTCOMES: Final[tuple[AsyncOutcome, ...]] = get_args(AsyncOutcome)
BAD_OUTCOMES: Final[tuple[AsyncOutcome, ...]] = ("retries_exhausted", "event_age_exceeded")
ASYNC_FATES: Final[tuple[AsyncFate, ...]] = get_args(AsyncFate)
FATE_EVIDENCE: Final[tuple[FateEvidence, ...]] = get_args(FateEvidence)
SQS_FATES: Final[tuple[SqsFate, ...]] = get_args(SqsFate)
STREAM_FATES: Final[tuple[StreamFate, ...]] = get_args(StreamFate)
STREAM_ENDED_BY: Final[tuple[StreamEndedBy, ...]] = get_args(StreamEndedBy)
MODES: Final[tuple[Mode, ...]] = get_args(Mode)
SYNC_CALLERS: Final[frozenset[SyncCaller]] = frozenset(get_args(SyncCaller))
ASYNC_CALLERS: Final[frozenset[AsyncCaller]] = frozenset(get_args(AsyncCaller))
POLL_CALLERS: Final[frozenset[PollCaller]] = frozenset(get_args(PollCaller))
