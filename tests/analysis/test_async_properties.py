"""Property tests of async outcomes, retry windows and fate evidence (D6, D7).

Random async histories (attempts, failures, retry delays, when the data ends), with a random
config present or absent and a random DLQ dump (none, comparable, or without request ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.analysis.conftest import TraceBuilder, at, trace_id
from tracelens.analysis import analyse
from tracelens.model.side import DlqMessage, FunctionConfig, SideDump, SideInputs

DLQ = "arn:aws:sqs:us-east-1:123456789012:fn-dlq"
WINDOW = timedelta(minutes=3)
BAD = ("retries_exhausted", "event_age_exceeded")


@dataclass(frozen=True)
class History:
    enqueue: float
    dwell: float
    attempts: tuple[tuple[float, bool], ...]  # (delay before the attempt, failed)
    duration: float


history = st.builds(
    History,
    enqueue=st.floats(0, 3600),
    dwell=st.floats(0.001, 90),
    attempts=st.lists(st.tuples(st.floats(30, 150), st.booleans()), min_size=0, max_size=3).map(
        tuple
    ),
    duration=st.floats(0.01, 30),
)
config = st.one_of(
    st.none(),
    st.builds(
        FunctionConfig,
        name=st.just("fn"),
        maximum_retry_attempts=st.integers(0, 2),
        maximum_event_age_seconds=st.sampled_from([60, 300, 3600, 21600]),
        dlq_arn=st.sampled_from([None, DLQ]),
    ),
)
dump_kind = st.sampled_from(["none", "comparable", "not_comparable"])


def _build(histories: list[History]) -> tuple[TraceBuilder, list[float], list[float | None]]:
    """The events, their enqueue times and the end of each one's last attempt."""
    b = TraceBuilder()
    enqueued: list[float] = []
    last_ends: list[float | None] = []
    for i, h in enumerate(histories):
        rows: list[tuple[float, float | None, bool]] = []
        start = h.enqueue + h.dwell
        for n, (delay, failed) in enumerate(h.attempts):
            if n:
                start = rows[-1][1] + delay  # type: ignore[operator]
            rows.append((start, start + h.duration, failed))
        b.async_event("fn", trace_id(i + 1), f"r{i}", h.enqueue, rows, dwell=h.dwell)
        enqueued.append(h.enqueue)
        last_ends.append(rows[-1][1] if rows else None)
    return b, enqueued, last_ends


@settings(max_examples=60, deadline=None)
@given(
    histories=st.lists(history, min_size=1, max_size=6),
    cfg=config,
    dump=dump_kind,
    in_dump=st.lists(st.booleans(), min_size=6, max_size=6),
    extra=st.one_of(st.floats(0, 400), st.floats(0, 8 * 86400)),
    throttled_at_end=st.booleans(),
)
def test_async_outcome_and_evidence_invariants(
    histories: list[History],
    cfg: FunctionConfig | None,
    dump: str,
    in_dump: list[bool],
    extra: float,
    throttled_at_end: bool,
) -> None:
    # GIVEN random histories, ending `extra` seconds after the last thing in them
    b, enqueued, last_ends = _build(histories)
    latest = max([e for e in last_ends if e is not None] + [h.enqueue + h.dwell for h in histories])
    data_end = latest + extra
    if throttled_at_end:
        t = trace_id(99)
        svc = b.service("fn", t, data_end - 20, data_end - 19.99, request_id="thr", status=202)
        b.attempt(t, svc, 1, data_end - 10, data_end - 9.9, throttle=True)
    dumps: tuple[SideDump, ...] = ()
    if dump == "comparable":
        ids = [f"r{i}" for i in range(len(histories)) if in_dump[i]]
        dumps = (
            SideDump(
                source="d.json",
                queue_arn=DLQ,
                dlq_messages=tuple(DlqMessage(request_id=r) for r in ids),
                messages=len(ids),
            ),
        )
    elif dump == "not_comparable":
        dumps = (SideDump(source="d.json", queue_arn=DLQ, messages=3, comparable=False),)
    side = SideInputs(
        functions={"fn": cfg} if cfg else {},
        config_files=("c.json",) if cfg else (),
        dumps=dumps,
    )
    # WHEN
    results = analyse(b.frames(), side, data_end=at(data_end))
    events = {row["request"]: row for row in results.events.iter_rows(named=True)}
    end = at(data_end)
    max_age = cfg.maximum_event_age_seconds if cfg else 21600
    # THEN
    for i, h in enumerate(histories):
        ev = events[f"r{i}"]
        failed_last = bool(h.attempts) and h.attempts[-1][1]
        last_end = last_ends[i]
        if failed_last:
            assert last_end is not None
            # counted in exactly one of exhausted / age exceeded / in progress
            assert ev["outcome"] in (*BAD, "in_progress")
            if ev["outcome"] == "in_progress":
                # only while the next retry could still start
                inside = end <= at(last_end) + WINDOW
                throttled_wait = throttled_at_end and end <= at(enqueued[i] + max_age)
                assert inside or throttled_wait
            if not throttled_at_end and end > at(last_end) + WINDOW:
                assert ev["outcome"] in BAD
        elif h.attempts:
            assert ev["outcome"] in ("succeeded", "succeeded_after_retry")
        # a fate, with its evidence, exactly for events that ended badly
        assert (ev["fate"] is not None) == (ev["outcome"] in BAD)
        assert (ev["fate_evidence"] is not None) == (ev["fate"] is not None)
        if ev["fate_evidence"] == "dump":
            assert dump == "comparable"
        if ev["fate"] == "missing":
            assert dump == "comparable"
        if cfg is None and ev["fate"] is not None:
            assert ev["fate"] in ("unknown", "sent")
    # every event is counted once by outcome
    outcomes = results.events.group_by("outcome").len()
    assert int(outcomes.get_column("len").sum()) == results.events.height
    bad = results.events.filter(pl.col("outcome").is_in(BAD))
    evidence = bad.group_by("fate_evidence").len()
    assert int(evidence.get_column("len").sum()) == bad.height
