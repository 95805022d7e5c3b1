"""The data dictionary: column names and polars schemas of every normalised frame.

Times are ``Datetime("us", "UTC")``; X-Ray's float epoch seconds are converted once, in
``tracelens.ingest.normalise``. Ids are strings.
"""

from __future__ import annotations

import polars as pl

TIME = pl.Datetime("us", "UTC")

# --- entities: one row per top-level document and per subsegment that analyses use ---------
TRACE_ID = "trace_id"  # X-Ray trace id, 1-<8 hex>-<24 hex>; 32 hex for a span id without a time
ID = "id"  # 16-hex entity id
PARENT_ID = "parent_id"  # parent entity id (a caller subsegment, a service segment, an attempt)
DOC_ID = "doc_id"  # id of the top-level document this entity was read from
KIND = "kind"  # one of the KIND_* values below
TOP = "top"  # true for a top-level document (segment or independently sent subsegment)
NAME = "name"  # entity name (the function name for Lambda nodes)
ORIGIN = "origin"  # AWS resource type, e.g. AWS::Lambda, AWS::Lambda::Function
START = "start"  # start time
END = "end"  # end time; null while in progress
IN_PROGRESS = "in_progress"  # the document said in_progress: true
ERROR = "error"  # 4xx / function error flag
FAULT = "fault"  # 5xx flag
THROTTLE = "throttle"  # 429 flag
HTTP_STATUS = "http_status"  # http.response.status
REQUEST_ID = "request_id"  # aws.request_id (the Lambda invocation request id on service segments)
ARN = "arn"  # resource_arn, else aws.function_arn
ATTEMPT = "attempt"  # N of an "Attempt #N" subsegment
CAUSE = "cause"  # "ExceptionType: message" of the first exception in cause, if any
EVENT_SOURCE = "event_source"  # record annotation: aws:sqs, aws:kinesis, aws:dynamodb
MESSAGE_ID = "message_id"  # record annotation (messaging_message_id accepted as an alias)
RECEIVE_COUNT = "receive_count"  # record annotation: SQS ApproximateReceiveCount
SHARD_ID = "shard_id"  # record annotation
SEQUENCE_NUMBER = "sequence_number"  # record annotation, kept as text (can exceed 64 bits)
OPERATION = "operation"  # aws.operation of a top-level document or of a call subsegment
HTTP_URL = "http_url"  # http.request.url of a top-level document
HTTP_METHOD = "http_method"  # http.request.method of a top-level document
# The annotations of a top-level document and of all its subsegments (any depth), as the JSON
# text of a list of their ``annotations`` objects in document order (only string, number and
# boolean values are annotations a filter compares); null when there are none, and on
# subsegment rows. Read by ``tracelens.analysis.trace_filter``.
ANNOTATIONS = "annotations"

KIND_SERVICE = "service"  # non-inferred AWS::Lambda segment: one Lambda request
KIND_FUNCTION = "function"  # AWS::Lambda::Function segment: one invocation
KIND_INFERRED = "inferred"  # segment X-Ray built from a caller's subsegment (never a request)
KIND_SEGMENT = "segment"  # any other top-level segment (callers, user services)
KIND_DWELL = "dwell"  # "Dwell Time" subsegment of an async service segment
KIND_ATTEMPT = "attempt"  # "Attempt #N" subsegment of an async service segment
KIND_INITIALIZATION = "initialization"  # cold-start "Initialization" subsegment
KIND_INVOCATION = "invocation"  # "Invocation" subsegment of a function segment
KIND_RECORD = "record"  # subsegment annotated with a record's event_source
KIND_SUBSEGMENT = "subsegment"  # any other independently sent subsegment
KIND_CALL = "call"  # a caller's AWS SDK ``Lambda`` Invoke subsegment, at any depth

#: Lambda API operations that run a function (botocore's lambda model): a ``Lambda``
#: subsegment (namespace ``aws``) with one of these, or with no operation, is a call row.
INVOKE_OPERATIONS = ("Invoke", "InvokeAsync", "InvokeWithResponseStream")

KINDS = pl.Enum(
    [
        KIND_SERVICE,
        KIND_FUNCTION,
        KIND_INFERRED,
        KIND_SEGMENT,
        KIND_DWELL,
        KIND_ATTEMPT,
        KIND_INITIALIZATION,
        KIND_INVOCATION,
        KIND_RECORD,
        KIND_SUBSEGMENT,
        KIND_CALL,
    ]
)

# Repeated text (trace ids, names, ARNs, kinds, causes, record sources) is categorical: a
# million-segment input holds a few thousand distinct values in millions of rows.
ENTITIES = pl.Schema(
    {
        TRACE_ID: pl.Categorical(),
        ID: pl.String(),
        PARENT_ID: pl.String(),
        DOC_ID: pl.String(),
        KIND: KINDS,
        TOP: pl.Boolean(),
        NAME: pl.Categorical(),
        ORIGIN: pl.Categorical(),
        START: TIME,
        END: TIME,
        IN_PROGRESS: pl.Boolean(),
        ERROR: pl.Boolean(),
        FAULT: pl.Boolean(),
        THROTTLE: pl.Boolean(),
        HTTP_STATUS: pl.Int64(),
        REQUEST_ID: pl.String(),
        ARN: pl.Categorical(),
        ATTEMPT: pl.Int64(),
        CAUSE: pl.Categorical(),
        EVENT_SOURCE: pl.Categorical(),
        MESSAGE_ID: pl.String(),
        RECEIVE_COUNT: pl.Int64(),
        SHARD_ID: pl.Categorical(),
        SEQUENCE_NUMBER: pl.String(),
        OPERATION: pl.Categorical(),
        HTTP_URL: pl.String(),
        HTTP_METHOD: pl.Categorical(),
        ANNOTATIONS: pl.String(),
    }
)

# --- links: X-Ray span links (SQS -> Lambda trace linking) ---------------------------------
LINKED_TRACE_ID = "linked_trace_id"  # the other trace
LINKED_ID = "linked_id"  # the entity id in the other trace
REFERENCE_TYPE = "reference_type"  # aws.xray.reserved.reference_type: "child" or "parent"
LINK_TYPE = "link_type"  # aws.xray.reserved.type, e.g. AWS::Lambda
DWELL_END = "dwell_end"  # aws.xray.reserved.dwell_end_time

LINKS = pl.Schema(
    {
        TRACE_ID: pl.Categorical(),
        ID: pl.String(),
        DOC_ID: pl.String(),
        LINKED_TRACE_ID: pl.Categorical(),
        LINKED_ID: pl.String(),
        REFERENCE_TYPE: pl.String(),
        LINK_TYPE: pl.String(),
        DWELL_END: TIME,
    }
)
