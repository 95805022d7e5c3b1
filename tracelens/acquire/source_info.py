"""``source.json``: how a fetch found its traces (segment destination, indexing rules, path,
window, counts), written next to the traces so the analysis can say it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import msgspec

from tracelens.errors import SourceUnavailable
from tracelens.model import bundle

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from tracelens.acquire.destination import IndexingRules, SegmentDestination
    from tracelens.acquire.fetch import FetchSummary

#: The version of the source.json layout.
SOURCE_VERSION = 1


def source_record(
    *,
    path: str,
    destination: SegmentDestination,
    rules: IndexingRules | None,
    start: datetime,
    end: datetime,
    summary: FetchSummary,
) -> dict[str, Any]:
    """The source.json content of one fetch (AWS field names for what AWS answered).

    Args:
        path: ``xray``, ``transaction-search-xray`` or ``transaction-search-spans``.
        destination: The answer of GetTraceSegmentDestination.
        rules: The indexing rules, or None when they were not asked for (destination X-Ray).
        start: Window start (UTC).
        end: Window end (UTC).
        summary: The fetch counts.

    Returns:
        The JSON-ready record.
    """
    notes = [n for n in (destination.note,) if n]
    if rules is not None:
        notes.extend(rules.notes)
    segment_destination = (
        None
        if destination.destination is None
        else {"Destination": destination.destination, "Status": destination.status}
    )
    return {
        "source_version": SOURCE_VERSION,
        "path": path,
        "segment_destination": segment_destination,
        "indexing_rules": None
        if rules is None
        else [
            {
                "Name": r.name,
                "ModifiedAt": r.modified_at,
                "DesiredSamplingPercentage": r.desired_percent,
                "ActualSamplingPercentage": r.actual_percent,
            }
            for r in rules.rules
        ],
        "summary_indexing_percent": None if rules is None else rules.summary_percent,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "counts": {
            "found": summary.found,
            "already_present": summary.skipped,
            "fetched": summary.fetched,
            "partial": summary.partial,
            "not_returned": summary.missing,
            "retrieval_failed": summary.retrieval_failed,
            "span_events": summary.spans,
            "logs_insights_queries": summary.queries,
            "logs_insights_saturated": summary.saturated,
        },
        "notes": notes,
    }


def write_source(out_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` to the bundle's source.json (replacing it atomically).

    Args:
        out_dir: The bundle directory (exists).
        record: From ``source_record``.

    Returns:
        The file written.

    Raises:
        SourceUnavailable: The file cannot be written.
    """
    target = bundle.source_path(out_dir)
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        temporary.write_bytes(msgspec.json.format(msgspec.json.encode(record), indent=2) + b"\n")
        os.replace(temporary, target)
    except OSError as exc:
        raise SourceUnavailable(f"{target}: cannot write: {exc.strerror}") from exc
    return target


__all__ = ["SOURCE_VERSION", "source_record", "write_source"]
