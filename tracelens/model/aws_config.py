"""AWS's own configuration outputs as msgspec types, with AWS's ranges as constraints.

Field names are AWS's (``rename``); unknown fields are ignored, so full AWS CLI output can be
pasted. Only the fields tracelens uses are declared, each with the type and range AWS gives
it, so a value AWS itself would never return is rejected instead of silently analysed.

Ranges, from botocore's service models (checked against botocore 1.44.8):

* ``botocore/data/lambda/2015-03-31/service-2.json``, shapes ``MaximumRetryAttempts``
  (integer, min 0, max 2), ``MaximumEventAgeInSeconds`` (60..21600), ``Timeout`` (1..5400:
  900 for most functions, but the Lambda guide's "Configure Lambda function timeout" allows
  5,400 s for Lambda Managed Instances, so a real 900+ value is not rejected),
  ``BatchSize`` (1..10000), ``MaximumRecordAgeInSeconds`` (-1..604800; the member's documentation
  in the same model adds that values from 0 to 59 are not allowed: -1 means infinite) and
  ``MaximumRetryAttemptsEventSourceMapping`` (-1..10000).
* ``botocore/data/sqs/2012-11-05/service-2.json``: ``QueueAttributeMap`` values are strings
  (converted here); the ranges are in the ``SetQueueAttributes`` documentation:
  ``VisibilityTimeout`` 0..43200, ``MessageRetentionPeriod`` 60..1209600. The model gives no
  range for ``RedrivePolicy.maxReceiveCount``; SQS rejects values outside 1..1000.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

# --- Lambda ---------------------------------------------------------------------------------

MaximumRetryAttempts = Annotated[int, msgspec.Meta(ge=0, le=2)]
MaximumEventAgeInSeconds = Annotated[int, msgspec.Meta(ge=60, le=21600)]
Timeout = Annotated[int, msgspec.Meta(ge=1, le=5400)]
BatchSize = Annotated[int, msgspec.Meta(ge=1, le=10000)]
#: -1 (infinite) or 60..604800; the gap 0..59 is checked in ``EventSourceMappingConfiguration``.
MaximumRecordAgeInSeconds = Annotated[
    int, msgspec.Meta(ge=-1, le=604800, extra={"allowed": "-1 or 60-604800"})
]
MaximumRetryAttemptsEventSourceMapping = Annotated[int, msgspec.Meta(ge=-1, le=10000)]
#: botocore's lambda model (2015-03-31): ``ParallelizationFactor`` min 1, max 10.
ParallelizationFactor = Annotated[int, msgspec.Meta(ge=1, le=10)]

#: The shortest MaximumRecordAgeInSeconds other than -1.
MINIMUM_RECORD_AGE_SECONDS = 60


class _Aws(msgspec.Struct, rename="pascal", forbid_unknown_fields=False):
    """AWS output: PascalCase names, unknown fields ignored."""


class Destination(_Aws):
    """``OnFailure`` / ``OnSuccess``: ``{}`` when no destination is set."""

    destination: str | None = None


class DestinationConfig(_Aws):
    """``DestinationConfig`` of an event invoke config or an event source mapping."""

    on_failure: Destination | None = None
    on_success: Destination | None = None


class DeadLetterConfig(_Aws):
    """``DeadLetterConfig`` of a function configuration."""

    target_arn: str | None = None


class FunctionEventInvokeConfig(_Aws):
    """``aws lambda get-function-event-invoke-config`` output (one entry of the list form)."""

    function_arn: str | None = None
    maximum_retry_attempts: MaximumRetryAttempts | None = None
    maximum_event_age_in_seconds: MaximumEventAgeInSeconds | None = None
    destination_config: DestinationConfig | None = None


class FunctionConfiguration(_Aws):
    """``aws lambda get-function-configuration`` output, one ``list-functions`` entry, or a
    ``functions.<name>`` entry of tracelens' config.json (which adds ``EventInvokeConfig``).
    """

    function_name: str | None = None
    function_arn: str | None = None
    timeout: Timeout | None = None
    dead_letter_config: DeadLetterConfig | None = None
    event_invoke_config: FunctionEventInvokeConfig | None = None


class EventSourceMappingConfiguration(_Aws):
    """One ``aws lambda list-event-source-mappings`` entry (or get-event-source-mapping)."""

    uuid: str | None = msgspec.field(default=None, name="UUID")
    event_source_arn: str | None = None
    function_arn: str | None = None
    batch_size: BatchSize | None = None
    function_response_types: list[str] | None = None
    bisect_batch_on_function_error: bool | None = None
    parallelization_factor: ParallelizationFactor | None = None
    maximum_retry_attempts: MaximumRetryAttemptsEventSourceMapping | None = None
    maximum_record_age_in_seconds: MaximumRecordAgeInSeconds | None = None
    destination_config: DestinationConfig | None = None

    def __post_init__(self) -> None:
        """Reject 0..59 seconds, which AWS does not accept (-1 or at least 60)."""
        age = self.maximum_record_age_in_seconds
        if age is not None and 0 <= age < MINIMUM_RECORD_AGE_SECONDS:
            raise ValueError(f"{OUT_OF_RANGE}MaximumRecordAgeInSeconds")


#: The ``__post_init__`` message that names a field whose value is outside its range.
OUT_OF_RANGE = "out of range: "


# --- SQS ------------------------------------------------------------------------------------

VisibilityTimeout = Annotated[int, msgspec.Meta(ge=0, le=43200)]
MessageRetentionPeriod = Annotated[int, msgspec.Meta(ge=60, le=1209600)]
MaxReceiveCount = Annotated[int, msgspec.Meta(ge=1, le=1000)]


class RedrivePolicy(msgspec.Struct, rename="camel"):
    """An SQS queue's ``RedrivePolicy`` attribute (AWS gives it as a JSON string)."""

    dead_letter_target_arn: str | None = None
    max_receive_count: MaxReceiveCount | None = None


class QueueAttributes(_Aws):
    """``aws sqs get-queue-attributes --attribute-names All`` ``Attributes`` (strings)."""

    queue_arn: str | None = None
    visibility_timeout: VisibilityTimeout | None = None
    message_retention_period: MessageRetentionPeriod | None = None
    #: The JSON string AWS returns; an object is accepted too.
    redrive_policy: str | RedrivePolicy | None = None


class Queue(_Aws):
    """A ``queues.<arn>`` entry of tracelens' config.json, or get-queue-attributes output."""

    queue_url: str | None = None
    attributes: QueueAttributes | None = None


# --- whole files ----------------------------------------------------------------------------


class TracelensConfig(msgspec.Struct):
    """tracelens' own config.json (what ``fetch --with-config`` and the emulator write).

    ``functions`` values are ``FunctionConfiguration`` and ``queues`` values ``Queue``; they
    are converted one entry at a time so that an error can name the function or queue
    (msgspec's error paths do not include dictionary keys).
    """

    functions: dict[str, Any] | None = None
    queues: dict[str, Any] | None = None
    event_source_mappings: list[EventSourceMappingConfiguration] | None = msgspec.field(
        default=None, name="EventSourceMappings"
    )


class ListFunctions(_Aws):
    """``aws lambda list-functions`` output."""

    functions: list[FunctionConfiguration]


class GetFunction(_Aws):
    """``aws lambda get-function`` output."""

    configuration: FunctionConfiguration


class ListFunctionEventInvokeConfigs(_Aws):
    """``aws lambda list-function-event-invoke-configs`` output."""

    function_event_invoke_configs: list[FunctionEventInvokeConfig]
