"""Kinesis and DynamoDB stream mappings: per-shard order, whole-batch retry, bisect, expiry."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from tracelens.emulator.callers import poll_caller
from tracelens.emulator.engine import (
    Run,
    arrivals,
    failure_text,
    iso_time,
    record_polled_invocation,
    record_span,
    service_span,
)

if TYPE_CHECKING:
    from tracelens.emulator.scenario import CallerSpec, MappingSpec, StreamSpec
    from tracelens.emulator.xray import Span

RETENTION_S = 86_400.0
POLL_INTERVAL = {"kinesis": 1.0, "dynamodb": 0.25}
KINESIS_SEQ_BASE = 49_650_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000
DDB_SEQ_BASE = 400_000_000_000_000_000_000
MAX_BACKOFF_S = 30.0


@dataclass
class _Record:
    seq: int
    event_id: str
    arrival: float
    poison: bool


@dataclass
class _Batch:
    lo: int  # index of the first record in the shard
    hi: int  # one past the last
    attempts: int = 0
    trace_id: str | None = None


@dataclass
class _Shard:
    stream: StreamSpec
    mapping: MappingSpec
    shard_id: str
    index: int
    records: list[_Record] = field(default_factory=list)
    next_index: int = 0
    pending: list[_Batch] = field(default_factory=list)
    busy: bool = False
    poll_at: float | None = None
    log: list[dict[str, Any]] = field(default_factory=list)


def make_shards(run: Run) -> dict[str, list[_Shard]]:
    """Build the live shards of every mapped stream."""
    out: dict[str, list[_Shard]] = {}
    for m in run.scenario.mappings:
        spec = run.scenario.streams.get(m.source)
        if spec is not None:
            out[spec.name] = [_Shard(spec, m, f"shardId-{i:012d}", i) for i in range(spec.shards)]
    return out


def start(run: Run, shards: dict[str, list[_Shard]], caller: CallerSpec, index: int) -> None:
    """Schedule every record a producer writes to its stream (random shard per record)."""
    assert caller.target is not None
    rng = run.rng(f"caller:{index}")
    poison = set(caller.poison)
    targets = shards[caller.target]
    for n, t in enumerate(arrivals(rng, caller, run.scenario.start_epoch)):
        shard = targets[rng.randrange(len(targets))]
        run.clock.at(t, partial(_put, run, shard, t, n in poison))


def _put(run: Run, shard: _Shard, t: float, poison: bool) -> None:
    n = len(shard.records)
    if shard.stream.kind == "kinesis":
        seq = KINESIS_SEQ_BASE + shard.index * 10**40 + n * 1_000_003
        event_id = f"{shard.shard_id}:{seq}"
    else:
        seq = DDB_SEQ_BASE + shard.index * 10**15 + n * 100
        event_id = run.ids.hex(32)
    shard.records.append(_Record(seq, event_id, t, poison))
    _schedule(run, shard, t)


def _schedule(run: Run, shard: _Shard, t: float) -> None:
    if shard.busy:
        return
    t = max(t, run.clock.now)
    if shard.poll_at is not None and shard.poll_at <= t:
        return
    shard.poll_at = t
    run.clock.at(t, lambda: _poll(run, shard, t))


def _max_age(m: MappingSpec) -> float:
    return RETENTION_S if m.max_record_age_s < 0 else min(float(m.max_record_age_s), RETENTION_S)


def _poll(run: Run, shard: _Shard, t: float) -> None:
    if shard.poll_at != t or shard.busy:
        return
    shard.poll_at = None
    now = run.clock.now
    m = shard.mapping
    while True:
        if shard.pending:
            batch = shard.pending[0]
        else:
            lo = shard.next_index
            hi = lo
            while (
                hi < len(shard.records)
                and hi - lo < m.batch_size
                and shard.records[hi].arrival <= now
            ):
                hi += 1
            if hi == lo:
                if lo < len(shard.records):
                    _schedule(run, shard, shard.records[lo].arrival)
                return
            batch = _Batch(lo, hi)
            shard.pending.append(batch)
            shard.next_index = hi
        oldest = shard.records[batch.lo].arrival
        if now - oldest > _max_age(m):
            _discard(run, shard, batch, "RecordAgeExceeded", now)
            continue
        _invoke(run, shard, batch)
        return


def _discard(run: Run, shard: _Shard, batch: _Batch, condition: str, now: float) -> None:
    shard.pending.remove(batch)
    key = _key(shard, batch)
    entry = run.stream_batches.get(key)
    if entry is None:
        entry = run.stream_batches[key] = _entry(shard, batch, condition)
    entry["outcome"] = condition
    entry["ended"] = round(now, 6)
    target = shard.mapping.on_failure
    if target:
        first, last = shard.records[batch.lo], shard.records[batch.hi - 1]
        info = {
            "shardId": shard.shard_id,
            "startSequenceNumber": str(first.seq),
            "endSequenceNumber": str(last.seq),
            "approximateArrivalOfFirstRecord": iso_time(first.arrival),
            "approximateArrivalOfLastRecord": iso_time(last.arrival),
            "batchSize": batch.hi - batch.lo,
            "streamArn": run.arn(shard.stream.kind, shard.stream.name),
        }
        record: dict[str, Any] = {
            "requestContext": {
                "requestId": run.ids.uuid(),
                "functionArn": run.runtimes[shard.mapping.function].arn,
                "condition": condition,
                "approximateInvokeCount": batch.attempts,
            },
            "version": "1.0",
            "timestamp": iso_time(now),
        }
        if condition == "RetryAttemptsExhausted":
            record["responseContext"] = {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            }
        key_name = "KinesisBatchInfo" if shard.stream.kind == "kinesis" else "DDBStreamBatchInfo"
        record[key_name] = info
        run.send_to_target(
            target,
            json.dumps(record, separators=(",", ":")),
            {},
            kind="on_failure",
            key=f"{shard.shard_id}:{first.seq}",
            condition=condition,
        )


def _key(shard: _Shard, batch: _Batch) -> tuple[str, str, str]:
    return (shard.mapping.function, shard.shard_id, str(shard.records[batch.lo].seq))


def _entry(shard: _Shard, batch: _Batch, outcome: str) -> dict[str, Any]:
    return {
        "function": shard.mapping.function,
        "stream": shard.stream.name,
        "shard_id": shard.shard_id,
        "first_sequence_number": str(shard.records[batch.lo].seq),
        "records": batch.hi - batch.lo,
        "attempts": [],
        "outcome": outcome,
    }


def _invoke(run: Run, shard: _Shard, batch: _Batch) -> None:
    now = run.clock.now
    ids = run.ids
    runtime = run.runtimes[shard.mapping.function]
    rng = runtime.rng
    m = shard.mapping
    interval = POLL_INTERVAL[shard.stream.kind]
    svc_start = now + rng.uniform(0.005, 0.03)
    env = runtime.admit(svc_start)
    shard.busy = True
    if env is None:  # throttles do not count as retries
        run.clock.at(svc_start + 1.0, lambda: _resume(run, shard, svc_start + 1.0))
        return
    recs = shard.records[batch.lo : batch.hi]
    fails = [r.poison or runtime.fails() for r in recs]
    ex = runtime.run(env, svc_start + rng.uniform(0.001, 0.01), fail=any(fails))
    failed = any(fails) or ex.timed_out
    if batch.trace_id is None:
        batch.trace_id = ids.trace_id(svc_start)
    batch.attempts += 1
    step = (ex.end - ex.start) / len(recs)
    error = ex.error or (runtime.spec.error_type, runtime.spec.error_message)
    source = "aws:kinesis" if shard.stream.kind == "kinesis" else "aws:dynamodb"
    label = "Kinesis record" if shard.stream.kind == "kinesis" else "DynamoDB record"
    spans: list[Span] = [
        record_span(
            run,
            label,
            ex.start + i * step,
            ex.start + (i + 1) * step,
            {
                "event_source": source,
                "message_id": r.event_id,
                "shard_id": shard.shard_id,
                "sequence_number": str(r.seq),
            },
            error if bad else None,
            runtime.spec,
        )
        for i, (r, bad) in enumerate(zip(recs, fails, strict=True))
    ]
    svc_end = ex.overhead_end + rng.uniform(0.0005, 0.002)
    request_id = ids.uuid()
    svc = service_span(
        run,
        runtime,
        trace_id=batch.trace_id,
        request_id=request_id,
        start=svc_start,
        end=svc_end,
        status=200,
    )
    record_polled_invocation(
        run,
        runtime,
        ex,
        svc,
        request_id=request_id,
        mode="stream",
        failed=failed,
        error=error,
        records=spans,
        caller=poll_caller(
            run,
            shard.stream.kind,
            shard.stream.name,
            run.arn(shard.stream.kind, shard.stream.name),
            runtime.spec.name,
            shard.stream.name,
        ),
    )
    key = _key(shard, batch)
    entry = run.stream_batches.setdefault(key, _entry(shard, batch, "in_progress"))
    entry["attempts"].append(
        {
            "start": round(svc_start, 6),
            "end": round(svc_end, 6),
            "records": len(recs),
            "invocation_start": round(ex.start, 6),
            "error": failure_text(runtime.spec, error) if failed else None,
        }
    )
    shard.log.append(
        {"start": svc_start, "end": svc_end, "lo": batch.lo, "hi": batch.hi, "failed": failed}
    )
    if not failed:
        entry["outcome"] = "succeeded" if len(entry["attempts"]) == 1 else "succeeded_after_retry"
        shard.pending.remove(batch)
        nxt = svc_end + interval
    elif m.bisect and len(recs) > 1:
        mid = batch.lo + len(recs) // 2
        i = shard.pending.index(batch)
        shard.pending[i : i + 1] = [_Batch(batch.lo, mid), _Batch(mid, batch.hi)]
        entry["outcome"] = "bisected"
        nxt = svc_end + interval
    elif m.max_retry_attempts >= 0 and batch.attempts > m.max_retry_attempts:
        run.clock.at(
            svc_end, lambda: _discard(run, shard, batch, "RetryAttemptsExhausted", svc_end)
        )
        nxt = svc_end + interval
    else:
        nxt = svc_end + min(MAX_BACKOFF_S, interval * 2.0 ** (batch.attempts - 1))
    run.clock.at(nxt, lambda: _resume(run, shard, nxt))


def _resume(run: Run, shard: _Shard, t: float) -> None:
    shard.busy = False
    shard.poll_at = None
    _schedule(run, shard, t)


def stream_config(run: Run, m: MappingSpec, spec: StreamSpec) -> dict[str, Any]:
    """The list-event-source-mappings entry of a stream mapping."""
    out: dict[str, Any] = {
        "EventSourceArn": run.arn(spec.kind, spec.name),
        "FunctionArn": run.runtimes[m.function].arn,
        "BatchSize": m.batch_size,
        "MaximumBatchingWindowInSeconds": int(m.batching_window_s),
        "StartingPosition": "TRIM_HORIZON",
        "ParallelizationFactor": 1,
        "BisectBatchOnFunctionError": m.bisect,
        "MaximumRetryAttempts": m.max_retry_attempts,
        "MaximumRecordAgeInSeconds": m.max_record_age_s,
        "FunctionResponseTypes": ["ReportBatchItemFailures"]
        if m.report_batch_item_failures
        else [],
        "State": "Enabled",
        "DestinationConfig": {"OnFailure": {"Destination": m.on_failure} if m.on_failure else {}},
    }
    return out
