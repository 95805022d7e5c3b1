"""A bundle's ``source.json`` (written by ``fetch``) -> ``Acquisition``, its values checked
against the X-Ray model's enums and the 0-100 range of a sampling percentage."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import msgspec

from tracelens.errors import SideInputError
from tracelens.model import bundle
from tracelens.model.side import Acquisition

#: The fetch paths ``fetch`` records.
PATHS = frozenset({"xray", "transaction-search-xray", "transaction-search-spans"})
_DESTINATIONS = frozenset({"XRay", "CloudWatchLogs"})
_STATUSES = frozenset({"PENDING", "ACTIVE"})


def bundle_source_file(path: str | Path) -> Path | None:
    """The ``source.json`` of a local bundle directory, or None (not a directory, no file).

    Args:
        path: An ``analyze`` PATH argument.

    Returns:
        The file, if there is one.
    """
    if isinstance(path, str) and "://" in path:
        return None
    local = Path(path)
    if not local.is_dir():
        return None
    source = bundle.source_path(local)
    return source if source.is_file() else None


def read_source_file(path: Path) -> Acquisition:
    """Read and check one ``source.json``.

    Args:
        path: The file.

    Returns:
        The acquisition it records.

    Raises:
        SideInputError: The file cannot be read, is not JSON, or holds a value outside the
            model's enums or the 0-100 range.
    """
    try:
        raw: Any = msgspec.json.decode(path.read_bytes())
    except OSError as exc:
        raise SideInputError(f"{path}: cannot read: {exc.strerror}") from exc
    except msgspec.DecodeError as exc:
        raise SideInputError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SideInputError(f"{path}: expected a JSON object (tracelens fetch's source.json)")
    fetch_path = raw.get("path")
    if fetch_path not in PATHS:
        raise SideInputError(
            f"{path}: path {fetch_path!r} is not one of {', '.join(sorted(PATHS))}"
        )
    destination = status = None
    segment = raw.get("segment_destination")
    if segment is not None:
        if not isinstance(segment, dict):
            raise SideInputError(f"{path}: segment_destination must be an object or null")
        destination = segment.get("Destination")
        status = segment.get("Status")
        if destination not in _DESTINATIONS:
            raise SideInputError(
                f"{path}: segment_destination.Destination {destination!r} is not "
                "XRay or CloudWatchLogs"
            )
        if status is not None and status not in _STATUSES:
            raise SideInputError(
                f"{path}: segment_destination.Status {status!r} is not PENDING or ACTIVE"
            )
    percent = raw.get("summary_indexing_percent")
    if percent is not None and (
        isinstance(percent, bool)
        or not isinstance(percent, int | float)
        or not math.isfinite(percent)
        or not 0 <= percent <= 100
    ):
        raise SideInputError(
            f"{path}: summary_indexing_percent {percent!r} is not a percentage (0-100)"
        )
    return Acquisition(
        path=str(fetch_path),
        segment_destination=destination,
        segment_destination_status=status,
        summary_indexing_percent=None if percent is None else float(percent),
        file=str(path),
    )


__all__ = ["PATHS", "bundle_source_file", "read_source_file"]
