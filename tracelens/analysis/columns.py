"""Column names of the analysis result frames (the analysis data dictionary).

Every frame in ``AnalysisResults`` names its columns with these constants, and so does every
reader of those frames: a rename here renames both sides.
"""

from __future__ import annotations

REQUEST = "request"  # request key: aws.request_id of the service segment (else its id)
FUNCTION = "function"  # function name
INVOCATION = "invocation"  # id of the AWS::Lambda::Function segment
N = "n"  # attempt number (Attempt #N, or invocation order when there are no attempts)
FAILED = "failed"  # error, fault or throttle on the attempt / invocation / record;
# on a request: failed as definition D2 says (see requests.request_outcomes)
COLD = "cold"  # invocation has an Initialization subsegment
DURATION_MS = "duration_ms"  # end - start in milliseconds
TRACE_IDS = "trace_ids"  # sorted list of trace ids involved
TRACED_CALLER = "traced_caller"  # the service segment has a parent_id
ENQUEUED = "enqueued"  # async event: service segment start
DWELL_MS = "dwell_ms"  # async event dwell in milliseconds
DWELL_START = "dwell_start"
DWELL_END = "dwell_end"
ATTEMPTS = "attempts"  # attempts / deliveries / invocations of one event, message or batch
OUTCOME = "outcome"
FATE = "fate"
FATE_EVIDENCE = "fate_evidence"  # how the fate is known: "dump" | "config" | "none"
LAST_END = "last_end"  # null while anything is still open
FIRST_START = "first_start"
DELAY_MS = "delay_ms"  # retry delay
KEY = "key"  # chain key: request id, message id or shard/sequence
CHAIN_KIND = "chain_kind"  # "async" | "sqs" | "stream"
FAILURES = "failures"  # failed attempts / deliveries
SUCCESSES = "successes"
POISON = "poison"
LAST_ERROR = "last_error"
RECEIVE_COUNT = "receive_count"
THROTTLED = "throttled"  # request: throttled (service segment, attempt or invocation)
CALLER = "caller"  # name of the document that made a call (LAMBDA_NOT_REACHED)
FATE_REASON = "fate_reason"  # why a fate is unknown (stream batches, SQS messages)
ENDED_BY = "ended_by"  # stream batch: "retries" | "record_age" | "retention" (null: not ended)
RECORDS = "records"  # stream delivery: records of the batch in that invocation
MESSAGE_ID = "message_id"  # SQS message id (messages, SQS deliveries)
LAST_SEEN = "last_seen"  # SQS message: start of its last delivery
RETRIED = "retried"  # stream batch: delivered more than once

# Function summary (``AnalysisResults.functions``): one row per function, with FUNCTION and
# ``model.schema.ARN`` (the ARN of its earliest request, else invocation, that has one).
REQUESTS = "requests"
INVOCATIONS = "invocations"
COLD_STARTS = "cold_starts"
FAILED_INVOCATIONS = "failed_invocations"
FAILED_REQUESTS = "failed_requests"
THROTTLES = "throttles"  # throttled requests
MODE_PREFIX = "mode_"  # mode_<invoke path>: requests per invoke path
DURATION_PREFIX = "duration_"  # duration_<stat field>: invocation duration statistics

# Retry chains (``AnalysisResults.chains``).
ERRORS = "errors"  # text per failed attempt, in order
STEPS = "steps"  # list of struct: step_kind, start, end, error, trace_id
STEP_KIND = "step_kind"  # "dwell" | "wait" | "attempt"
ERROR = "error"  # "Type: message" of a failed attempt

# Per-function aggregates (``analysis.details.DetailFrames``).
BUCKET = "bucket"  # lower bound of a 1-2-5 dwell bucket (ms), or a time bucket's start
COUNT = "count"
QUANTILES = "quantiles"  # list of 101 nearest-rank quantiles p0..p100
P50 = "p50"
P90 = "p90"
P99 = "p99"
BATCHES = "batches"  # stream batches in a time bucket
