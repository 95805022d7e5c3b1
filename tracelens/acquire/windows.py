"""The time window of a fetch: ``--last`` / ``--since`` / ``--until``, in API-sized pieces."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tracelens.errors import SourceUnavailable

#: Longest window per GetTraceSummaries call. The X-Ray console queries at most 6 hours at a
#: time; the API reference states no limit, so this is the conservative piece size.
MAX_WINDOW = timedelta(hours=6)


def split_window(
    start: datetime, end: datetime, piece: timedelta = MAX_WINDOW
) -> list[tuple[datetime, datetime]]:
    """Split ``[start, end)`` into consecutive windows of at most ``piece``.

    Args:
        start: Window start (timezone-aware).
        end: Window end (timezone-aware), after ``start``.
        piece: Longest window.

    Returns:
        The windows in time order.

    Raises:
        SourceUnavailable: ``end`` is not after ``start`` or a time is naive.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise SourceUnavailable("fetch window times must carry a timezone (use UTC)")
    if end <= start:
        raise SourceUnavailable(f"fetch window is empty: --until {end} is not after {start}")
    windows = []
    cursor = start
    while cursor < end:
        nxt = min(cursor + piece, end)
        windows.append((cursor, nxt))
        cursor = nxt
    return windows


def parse_duration(text: str) -> timedelta:
    """Parse ``--last`` values such as ``90s``, ``15m``, ``1h``, ``2d``.

    Args:
        text: A number followed by s, m, h or d.

    Returns:
        The duration.

    Raises:
        SourceUnavailable: The text is not such a duration.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not match:
        raise SourceUnavailable(f"--last {text!r}: expected a duration like 30m, 1h or 2d")
    value = float(match.group(1))
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: value})


def resolve_window(
    *, last: str | None, since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """Turn ``--last`` / ``--since`` / ``--until`` into an aware UTC window.

    Args:
        last: ``--last`` duration text, or None.
        since: ``--since`` time (naive means UTC), or None.
        until: ``--until`` time (naive means UTC), or None (now).
        now: The current time (the caller reads the clock).

    Returns:
        (start, end) in UTC.

    Raises:
        SourceUnavailable: Neither or both of ``--last`` and ``--since`` were given.
    """
    end = _aware(until) if until is not None else _aware(now)
    if last is not None and since is None:
        return end - parse_duration(last), end
    if since is not None and last is None:
        return _aware(since), end
    raise SourceUnavailable("give exactly one of --last DURATION or --since TIME")


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


__all__ = ["MAX_WINDOW", "parse_duration", "resolve_window", "split_window"]
