"""truth.json itself: consistent, computed from what happened, and D6's outcome rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.emulator.conftest import builtin_result
from tracelens.emulator.truth import RETRY_WINDOW_S, observed_outcome

if TYPE_CHECKING:
    from tracelens.emulator import EmulationResult


def _event(attempts: list[tuple[float, float, str | None]], **extra: Any) -> dict[str, Any]:
    event = {
        "enqueued": 0.0,
        "attempts": [
            {"n": i + 1, "start": s, "end": e, "error": err}
            for i, (s, e, err) in enumerate(attempts)
        ],
        "max_retry_attempts": 2,
        "max_event_age_s": 21600,
        "condition": "RetriesExhausted",
        "ended": attempts[-1][1] if attempts else 0.0,
    }
    return event | extra


@pytest.mark.parametrize(
    ("attempts", "extra", "data_end", "want"),
    [
        ([(1, 2, None)], {}, 10.0, "succeeded"),
        ([(1, 2, "E: x"), (62, 63, None)], {}, 100.0, "succeeded_after_retry"),
        ([(1, 2, "E: x"), (62, 63, "E: x"), (183, 184, "E: x")], {}, 200.0, "retries_exhausted"),
        # a failed attempt with retries left: open only within the retry window
        ([(1, 2, "E: x")], {}, 2 + RETRY_WINDOW_S, "in_progress"),
        (
            [(1, 2, "E: x")],
            {"condition": "EventAgeExceeded", "ended": 50.0, "max_event_age_s": 50},
            2 + RETRY_WINDOW_S + 1,
            "event_age_exceeded",
        ),
        # ... or while it is still being throttled when the data ends
        (
            [(1, 2, "E: x")],
            {"condition": "EventAgeExceeded", "ended": 900.0, "max_event_age_s": 900},
            500.0,
            "in_progress",
        ),
        # the age limit passed inside the window: it ended by age
        (
            [(1, 2, "E: x")],
            {"condition": "EventAgeExceeded", "ended": 30.0, "max_event_age_s": 30},
            100.0,
            "event_age_exceeded",
        ),
        # no attempt: open until the age limit
        (
            [],
            {"condition": "EventAgeExceeded", "ended": 60.0, "max_event_age_s": 60},
            59.0,
            "in_progress",
        ),
        (
            [],
            {"condition": "EventAgeExceeded", "ended": 60.0, "max_event_age_s": 60},
            61.0,
            "event_age_exceeded",
        ),
    ],
)
def test_observed_outcome_follows_d6(
    attempts: list[tuple[float, float, str | None]],
    extra: dict[str, Any],
    data_end: float,
    want: str,
) -> None:
    assert observed_outcome(_event(attempts, **extra), data_end) == want


def test_async_truth_is_consistent(builtin: EmulationResult) -> None:
    truth = builtin.truth
    for e in truth["async_events"]:
        assert e["dwell_ms"] >= 0
        assert len(e["retry_delays_ms"]) == max(0, len(e["attempts"]) - 1)
        assert all(d >= 0 for d in e["retry_delays_ms"])
        assert (e["fate"] is None) == (
            e["outcome"] not in ("retries_exhausted", "event_age_exceeded")
        )
        assert (e["fate"] is None) == (e["fate_evidence"] is None)
        if e["outcome"] in ("retries_exhausted", "event_age_exceeded"):
            assert e["ended_badly"]
    for chain in truth["chains"]:
        assert chain["attempts"] >= 1 or chain["kind"] == "async"
        assert len(chain["errors"]) <= chain["attempts"]


def test_requests_add_up(builtin: EmulationResult) -> None:
    totals = builtin.truth["totals"]
    requests = builtin.truth["requests"]
    for name, fn in totals["functions"].items():
        mine = [r for r in requests if r["function"] == name]
        assert len(mine) == fn["requests"]
        assert fn["throttles"] <= fn["failed_requests"] <= fn["requests"]
    sync = totals.get("sync")
    if sync:
        assert sync["succeeded"] + sync["failed"] == sync["requests"]
        assert sync["throttled"] <= sync["failed"]


def test_retry_delays_follow_lambdas_schedule() -> None:
    """Function errors are retried about 1 min, then about 2 min after the failure."""
    events = builtin_result("async_retry_storm").truth["async_events"]
    delays = [e["retry_delays_ms"] for e in events if e["throttled_tries"] == 0]
    firsts = [d[0] for d in delays if d]
    seconds = [d[1] for d in delays if len(d) > 1]
    assert firsts
    assert seconds
    assert all(60_000 <= d <= 61_100 for d in firsts)
    assert all(120_000 <= d <= 121_100 for d in seconds)


def test_sync_client_retries_truth() -> None:
    """The legacy export job runs again after each read timeout: duplicate executions."""
    truth = builtin_result("sync_client_retries").truth
    sync = truth["totals"]["sync"]
    assert sync["throttled"] > 0
    assert sync["duplicate_executions"] > 0
    retries = sum(c["retries"] for c in truth["sync_calls"])
    assert sync["client_retries"] == retries
    codes = {(f["code"], f["function"]) for f in truth["findings"]}
    assert ("SYNC_THROTTLED", "quote-api") in codes
    assert ("SYNC_DUPLICATE_EXECUTIONS", "export-job") in codes
