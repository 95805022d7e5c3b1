"""summarise: the report's aggregates, read from result frames through ``analysis.columns``."""

from __future__ import annotations

import polars as pl
import pytest

from tests.analysis.conftest import TraceBuilder, trace_id
from tracelens.analysis import AnalysisResults, analyse
from tracelens.analysis import columns as c
from tracelens.analysis.functions import MODES
from tracelens.analysis.stats import STAT_FIELDS
from tracelens.analysis.summary import StatBlock, counts, stats_of, summarise
from tracelens.model import schema as col
from tracelens.model.frames import TraceFrames
from tracelens.model.side import FunctionConfig, SideInputs


def _results() -> AnalysisResults:
    b = TraceBuilder()
    b.async_event("a", trace_id(1), "r1", 0.0, [(0.2, 0.5, False)], dwell=0.2)
    b.async_event(
        "a",
        trace_id(2),
        "r2",
        10.0,
        [(10.1, 10.2, True), (70.2, 70.3, True), (190.3, 190.4, True)],
        dwell=0.00005,
    )
    svc = b.service("sync", trace_id(4), 1.0, 2.0, request_id="s1", parent_id="00000000000000aa")
    b.function("sync", trace_id(4), svc, 1.1, 1.9, cold=True)
    side = SideInputs(functions={"a": FunctionConfig(name="a")}, config_files=("c.json",))
    return analyse(b.frames(), side)


def test_function_summary_columns_are_published() -> None:
    results = analyse(TraceFrames.empty(), SideInputs())
    published = {
        c.FUNCTION,
        col.ARN,
        c.REQUESTS,
        c.INVOCATIONS,
        c.COLD_STARTS,
        c.FAILED_INVOCATIONS,
        c.FAILED_REQUESTS,
        c.THROTTLES,
        *(f"{c.MODE_PREFIX}{m}" for m in MODES),
        *(f"{c.DURATION_PREFIX}{f}" for f in STAT_FIELDS),
    }
    assert set(results.functions.columns) == published


def test_chain_columns_are_published() -> None:
    results = _results()
    chains = results.chains
    assert {c.CHAIN_KIND, c.KEY, c.ERRORS, c.STEPS} <= set(chains.columns)
    steps = chains.schema[c.STEPS]
    assert isinstance(steps, pl.List)
    assert isinstance(steps.inner, pl.Struct)
    fields = {f.name for f in steps.inner.fields}
    assert fields == {c.STEP_KIND, col.START, col.END, c.ERROR, col.TRACE_ID}


def test_summary_of_async_and_functions() -> None:
    s = summarise(_results())
    assert [f.name for f in s.functions] == ["a", "sync"]
    sync = s.functions[1]
    assert (sync.cold_starts, sync.modes["sync"], sync.duration_ms.count) == (1, 1, 1)
    assert set(sync.modes) == set(MODES)
    a = s.async_
    assert a.events == 2
    assert a.attempts == {"1": 1, "3": 1}
    assert a.outcomes["retries_exhausted"] == 1
    assert a.outcomes["succeeded"] == 1
    assert a.fates["dropped"] == 1
    assert sum(a.fates_evidence.values()) == 1
    assert s.sqs.messages == 0
    assert s.sqs.max_receive_count is None
    assert s.streams.batches == 0
    (detail,) = s.details
    assert detail.function == "a"
    assert detail.attempts_by_outcome["retries_exhausted"] == {"3": 1}
    assert len(detail.dwell_quantiles_ms) == 101


def test_stat_block_and_counts() -> None:
    frame = pl.DataFrame({"x": [1.0, 2.0, None, 4.0], "k": [2, 1, 2, None]})
    assert stats_of(frame, "x") == StatBlock(
        count=3, min=1.0, p50=2.0, p90=4.0, p99=4.0, max=4.0, mean=pytest.approx(7 / 3)
    )
    assert stats_of(frame.clear(), "x") == StatBlock(count=0)
    assert counts(frame, "k") == {"1": 1, "2": 2}
