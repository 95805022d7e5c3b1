"""The report's timeline for people: one sparkline per function and series.

A series longer than the space it gets is resampled: each character stands for a run of
consecutive buckets (their sum for counts, their largest p99 for dwell), so a spike is never
averaged away. A blank is a bucket with nothing; otherwise the height is the value relative
to the series' largest, in eight steps (the smallest non-zero value still shows).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.text import Text

from tracelens.report._format import duration, plural
from tracelens.report._layout import shorten_middle

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from tracelens.report.models import FunctionTimeline, Report

BARS = "▁▂▃▄▅▆▇█"
#: The series in the order shown, with their labels; ``requests`` is always shown, the
#: others only when they are not all zero.
SERIES = (
    ("requests", "requests"),
    ("failed", "failed"),
    ("throttled", "throttled"),
    ("cold_starts", "cold starts"),
    ("dwell_p99_ms", "dwell p99"),
    ("ended_badly", "ended badly"),
    ("sqs_redeliveries", "SQS redeliv."),
    ("stream_retries", "stream retries"),
)
_LABEL = max(len(label) for _, label in SERIES)
_TOTAL = 30  # room for "  1,234,567 · max 12,345 per 10 min"
_MIN_SPARK = 10


def sparkline(values: Sequence[float | None], width: int, *, peak: bool = False) -> str:
    """``values`` as at most ``width`` bar characters (see the module docstring).

    Args:
        values: One value per bucket; None is a bucket without a value.
        width: The most characters to use (at least 1).
        peak: Combine a run of buckets by its largest value instead of its sum.
    """
    groups = _groups(values, max(1, width), peak=peak)
    top = max((g for g in groups if g is not None), default=0.0)
    if top <= 0:
        return " " * len(groups)
    return "".join(
        " " if not g else BARS[min(len(BARS), max(1, math.ceil(g / top * len(BARS)))) - 1]
        for g in groups
    )


def _groups(values: Sequence[float | None], width: int, *, peak: bool) -> list[float | None]:
    per = max(1, math.ceil(len(values) / width))
    out: list[float | None] = []
    for i in range(0, len(values), per):
        present = [v for v in values[i : i + per] if v is not None]
        if not present:
            out.append(None)
        else:
            out.append(max(present) if peak else float(sum(present)))
    return out


def render_timeline(report: Report, console: Console) -> None:
    """The timeline section: a header with the window, then each function's sparklines."""
    timeline = report.timeline
    if not timeline.functions or timeline.start is None:
        return
    console.print()
    width = timeline.bucket_seconds
    title = (
        f"Timeline ({plural(timeline.buckets, 'bucket')} of {width_text(width)} from "
        f"{timeline.start[:19].replace('T', ' ')} UTC)"
    )
    console.rule(Text(title, style="bold"), align="left")
    spark = max(_MIN_SPARK, min(timeline.buckets, console.width - 2 - _LABEL - 2 - _TOTAL))
    per = max(1, math.ceil(timeline.buckets / spark))
    if per > 1:
        console.print(Text(f"each mark is {per} buckets ({width_text(width * per)})", style="dim"))
    for fn in timeline.functions:
        console.print(Text(shorten_middle(fn.function, console.width), style="bold"))
        for key, label in SERIES:
            line = _series_line(fn, key, label, spark, width_text(width))
            if line is not None:
                console.print(line)


def _series_line(
    fn: FunctionTimeline, key: str, label: str, spark: int, bucket: str
) -> Text | None:
    values: list[float | None] = list(getattr(fn, key))
    present = [v for v in values if v is not None]
    if key != "requests" and not any(present):
        return None
    top = max(present, default=0)
    if key == "dwell_p99_ms":
        summary = f"max {duration(top)}"
        bars = sparkline(values, spark, peak=True)
    else:
        summary = f"{int(sum(present)):,} · max {int(top):,} per {bucket}"
        bars = sparkline(values, spark)
    line = Text(f"  {label:<{_LABEL}}  ")
    line.append(bars, style="red" if key in {"failed", "throttled", "ended_badly"} else "cyan")
    line.append(f"  {summary}")
    return line


def width_text(seconds: int) -> str:
    """A bucket width: ``10 s``, ``5 min``, ``2 h``, ``1 d``."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
