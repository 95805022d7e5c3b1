"""build_report's column-wise chain conversion and ISO times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import polars as pl

from tracelens.analysis import columns as c
from tracelens.report.build import _chains, iso
from tracelens.report.models import Chain, ChainStep

T0 = datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC)
STEP = pl.Struct(
    {
        "step_kind": pl.String,
        "start": pl.Datetime("us", "UTC"),
        "end": pl.Datetime("us", "UTC"),
        "error": pl.String,
        "trace_id": pl.String,
    }
)


def test_iso_pads_the_year_and_converts_to_utc() -> None:
    assert iso(datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "0999-01-02T03:04:05.000006Z"
    plus_two = timezone(timedelta(hours=2))
    assert iso(datetime(2026, 1, 1, 2, 0, tzinfo=plus_two)) == "2026-01-01T00:00:00.000000Z"
    assert iso(datetime(2026, 1, 1)) == "2026-01-01T00:00:00.000000Z"


def test_chains_frame_to_structs() -> None:
    later = T0 + timedelta(seconds=1.5)
    frame = pl.DataFrame(
        {
            c.CHAIN_KIND: ["async", "sqs"],
            c.KEY: ["r1", 'm"<1>'],
            c.FUNCTION: ["f", "g"],
            c.TRACE_IDS: [["t1", "t2"], None],
            c.ATTEMPTS: [2, 3],
            c.OUTCOME: ["retries_exhausted", "poison"],
            c.FATE: ["dropped", None],
            c.FATE_EVIDENCE: ["config", None],
            c.DWELL_MS: [0.1 + 0.2, None],
            c.FIRST_START: [T0, later],
            c.LAST_END: [later, None],
            "errors": [["E: x"], None],
            "steps": [
                [
                    {
                        "step_kind": "dwell",
                        "start": T0,
                        "end": later,
                        "error": None,
                        "trace_id": "t1",
                    },
                    {
                        "step_kind": "attempt",
                        "start": None,
                        "end": later,
                        "error": "E: x",
                        "trace_id": "t2",
                    },
                    {
                        "step_kind": "attempt",
                        "start": later,
                        "end": None,
                        "error": "E: \u00e9\n",
                        "trace_id": None,
                    },
                ],
                None,
            ],
        },
        schema_overrides={
            c.FIRST_START: pl.Datetime("us", "UTC"),
            c.LAST_END: pl.Datetime("us", "UTC"),
            "steps": pl.List(STEP),
        },
    )
    assert _chains(frame) == [
        Chain(
            kind="async",
            key="r1",
            function="f",
            trace_ids=["t1", "t2"],
            attempts=2,
            outcome="retries_exhausted",
            fate="dropped",
            fate_evidence="config",
            dwell_ms=0.1 + 0.2,  # the exact float survives the conversion
            first_start=iso(T0) or "",
            last_end=iso(later),
            errors=["E: x"],
            steps=[
                ChainStep(
                    kind="dwell", start=iso(T0) or "", end=iso(later), error=None, trace_id="t1"
                ),
                ChainStep(
                    kind="attempt",
                    start=iso(later) or "",
                    end=None,
                    error="E: \u00e9\n",
                    trace_id=None,
                ),
            ],
        ),
        Chain(
            kind="sqs",
            key='m"<1>',
            function="g",
            trace_ids=[],
            attempts=3,
            outcome="poison",
            fate=None,
            dwell_ms=None,
            first_start=iso(later) or "",
            last_end=None,
            errors=[],
            steps=[],
        ),
    ]


def test_chain_trace_urls_from_the_function_region() -> None:
    # GIVEN chains of a function in eu-west-1, one in us-east-1 and one with no known region;
    # one trace id is hostile text (ingest would reject it; the report must still be safe)
    frame = pl.DataFrame(
        {
            c.CHAIN_KIND: ["async", "sqs", "stream"],
            c.KEY: ["r1", "m1", "s/1"],
            c.FUNCTION: ["f", "g", "h"],
            c.TRACE_IDS: [
                ["1-6747c1a0-000000000000000000000001", "1-6747c1a0-000000000000000000000002"],
                ["1-6747c1a0-000000000000000000000003"],
                ["1-6747c1a0-000000000000000000000004"],
            ],
            c.ATTEMPTS: [2, 3, 2],
            c.OUTCOME: ["retries_exhausted", "poison", "failed"],
            c.FATE: [None, None, None],
            c.FATE_EVIDENCE: [None, None, None],
            c.DWELL_MS: [None, None, None],
            c.FIRST_START: [T0, T0, T0],
            c.LAST_END: [None, None, None],
            "errors": [None, None, None],
            "steps": [None, None, None],
        },
        schema_overrides={
            c.FIRST_START: pl.Datetime("us", "UTC"),
            c.LAST_END: pl.Datetime("us", "UTC"),
            "steps": pl.List(STEP),
        },
    )
    hostile = frame.with_columns(
        pl.when(pl.col(c.FUNCTION) == "g")
        .then(pl.lit(['1-a b")<x>#y'], dtype=pl.List(pl.String)))
        .otherwise(pl.col(c.TRACE_IDS))
        .alias(c.TRACE_IDS)
    )
    regions = {"f": "eu-west-1", "g": "us-east-1"}
    # WHEN the chains are built with the function -> region map
    chains = _chains(frame, regions)
    # THEN each trace id has its URL, in order; no region, no URL
    eu = "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#xray:traces/"
    us = "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#xray:traces/"
    assert [ch.trace_urls for ch in chains] == [
        [eu + "1-6747c1a0-000000000000000000000001", eu + "1-6747c1a0-000000000000000000000002"],
        [us + "1-6747c1a0-000000000000000000000003"],
        [],
    ]
    assert _chains(frame)[0].trace_urls == []  # no ARN anywhere: no URL, never a guess
    # and a hostile id is percent-encoded, never raw in the URL
    assert _chains(hostile, regions)[1].trace_urls == [us + "1-a%20b%22%29%3Cx%3E%23y"]
