"""When things happened: per function and time bucket, the counts an incident is read from.

One row per (function, bucket) for every function of the report and every bucket of the
data's window, zeros included, so each function's series are aligned and complete:

- ``requests``, ``failed``, ``throttled``: requests by the start of their service segment
  (failed and throttled as in the per-function summary, D1 and D2);
- ``cold_starts``: invocations with an ``Initialization`` by the invocation's start;
- ``dwell_p99_ms``: nearest-rank p99 of the async dwell of events enqueued in the bucket
  (null when none);
- ``ended_badly``: async events whose outcome is ``retries_exhausted`` or
  ``event_age_exceeded``, by when they ended (their last attempt's end, else the end of their
  ``Dwell Time``, else when they were enqueued);
- ``sqs_redeliveries``: SQS deliveries of a message that is not its first delivery in the
  data, or whose ``ApproximateReceiveCount`` is above 1, by the delivery's start;
- ``stream_retries``: stream batch invocations after the first of their batch, by start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis.details import smallest_width
from tracelens.analysis.stats import nearest_rank
from tracelens.model import schema as col

if TYPE_CHECKING:
    from datetime import datetime

#: Candidate bucket widths in seconds, smallest first; neighbours differ by at most 2.5x,
#: so the smallest width giving at most ``MAX_BUCKETS`` buckets gives about 50 or more.
WIDTHS = (
    *(1, 2, 5, 10, 15, 30),
    *(60, 120, 300, 600, 900, 1800),
    *(3600, 7200, 10800, 21600, 43200, 86400),
    *(172800, 432000, 864000),
)
MAX_BUCKETS = 120

#: The count columns, in report order (``dwell_p99_ms`` comes after ``cold_starts``).
COUNTS = (
    "requests",
    "failed",
    "throttled",
    "cold_starts",
    "ended_badly",
    "sqs_redeliveries",
    "stream_retries",
)
DWELL_P99 = "dwell_p99_ms"
BAD_OUTCOMES = ("retries_exhausted", "event_age_exceeded")


@dataclass(frozen=True, slots=True)
class Timeline:
    """The series of every function, and how they are bucketed."""

    frame: pl.DataFrame  # function, bucket (datetime), COUNTS..., dwell_p99_ms; sorted
    width: int  # bucket width in seconds
    start: datetime | None  # the first bucket's start (None: no data)
    buckets: int  # buckets per function


def timeline_width(start: datetime | None, end: datetime | None) -> int:
    """The smallest of ``WIDTHS`` giving at most ``MAX_BUCKETS`` epoch-aligned buckets over
    [start, end] (the largest if none does)."""
    return smallest_width(start, end, WIDTHS, MAX_BUCKETS)


def timeline(
    *,
    functions: list[str],
    requests: pl.LazyFrame,
    invocations: pl.LazyFrame,
    events: pl.LazyFrame,
    sqs_deliveries: pl.LazyFrame,
    stream_deliveries: pl.LazyFrame,
    start: datetime | None,
    end: datetime | None,
) -> Timeline:
    """The timeline of ``functions`` over the data's window [start, end].

    Args:
        functions: The report's functions (every one gets a series).
        requests: Requests with ``throttled`` and ``failed`` (``AnalysisResults.requests``).
        invocations: Invocations with ``cold``.
        events: Async events with outcome, dwell and times.
        sqs_deliveries: SQS deliveries.
        stream_deliveries: Stream batch invocations.
        start: When the data starts.
        end: When the data ends.
    """
    width = timeline_width(start, end)
    if start is None or end is None or not functions:
        return Timeline(frame=_empty(), width=width, start=None, buckets=0)
    first = _truncate(start, width)
    last = _truncate(end, width)
    times = pl.datetime_range(
        first, last, f"{width}s", time_unit="us", time_zone="UTC", eager=True
    ).alias(c.BUCKET)
    grid = pl.LazyFrame({c.FUNCTION: sorted(functions)}).join(times.to_frame().lazy(), how="cross")

    def bucket(column: str | pl.Expr) -> pl.Expr:
        expr = pl.col(column) if isinstance(column, str) else column
        return expr.dt.truncate(f"{width}s").alias(c.BUCKET)

    ordinal = pl.int_range(1, pl.len() + 1)
    parts = [
        requests.group_by(c.FUNCTION, bucket(col.START)).agg(
            pl.len().alias("requests"),
            pl.col(c.FAILED).fill_null(False).sum().alias("failed"),
            pl.col(c.THROTTLED).fill_null(False).sum().alias("throttled"),
        ),
        invocations.filter(pl.col(c.COLD).fill_null(False))
        .group_by(c.FUNCTION, bucket(col.START))
        .agg(pl.len().alias("cold_starts")),
        events.group_by(c.FUNCTION, bucket(c.ENQUEUED)).agg(
            nearest_rank(pl.col(c.DWELL_MS), 99).alias(DWELL_P99)
        ),
        events.filter(pl.col(c.OUTCOME).is_in(BAD_OUTCOMES))
        .group_by(c.FUNCTION, bucket(pl.coalesce(c.LAST_END, c.DWELL_END, c.ENQUEUED)))
        .agg(pl.len().alias("ended_badly")),
        sqs_deliveries.filter(pl.col(col.START).is_not_null())
        .sort(c.FUNCTION, col.MESSAGE_ID, col.START, c.INVOCATION)
        .filter(
            (ordinal.over(c.FUNCTION, col.MESSAGE_ID) > 1)
            | (pl.col(col.RECEIVE_COUNT).fill_null(1) > 1)
        )
        .group_by(c.FUNCTION, bucket(col.START))
        .agg(pl.len().alias("sqs_redeliveries")),
        stream_deliveries.filter(pl.col(col.START).is_not_null())
        .sort(c.FUNCTION, c.KEY, col.START, c.INVOCATION)
        .filter(ordinal.over(c.FUNCTION, c.KEY) > 1)
        .group_by(c.FUNCTION, bucket(col.START))
        .agg(pl.len().alias("stream_retries")),
    ]
    frame = grid
    for part in parts:
        frame = frame.join(
            part.with_columns(pl.col(c.FUNCTION).cast(pl.String)),
            on=[c.FUNCTION, c.BUCKET],
            how="left",
        )
    result = (
        frame.with_columns(*[pl.col(n).fill_null(0).cast(pl.Int64) for n in COUNTS])
        .select(c.FUNCTION, c.BUCKET, *COUNTS[:4], DWELL_P99, *COUNTS[4:])
        .sort(c.FUNCTION, c.BUCKET)
        .collect()
    )
    return Timeline(frame=result, width=width, start=first, buckets=times.len())


def _truncate(moment: datetime, width: int) -> datetime:
    """``moment`` truncated to an epoch-aligned multiple of ``width`` seconds."""
    series = pl.Series([moment]).dt.truncate(f"{width}s")
    value = series.item()
    assert value is not None
    return value  # type: ignore[no-any-return]


def _empty() -> pl.DataFrame:
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        c.FUNCTION: pl.String,
        c.BUCKET: col.TIME,
    }
    schema.update(dict.fromkeys(COUNTS[:4], pl.Int64))
    schema[DWELL_P99] = pl.Float64
    schema.update(dict.fromkeys(COUNTS[4:], pl.Int64))
    return pl.DataFrame(schema=schema)
