"""Column names of the analysis result frames (the analysis data dictionary)."""

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
