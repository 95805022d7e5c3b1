"""The JSON renderer: the ``tracelens.report/1`` contract, byte-identical for the same Report."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from tracelens.report.models import Report


def render_json(report: Report) -> bytes:
    """Render a Report as the contract's JSON document.

    Keys are sorted at every level and the document is indented by two spaces and ends with a
    newline, so the same Report always gives the same bytes (diffable, cacheable).

    Args:
        report: The report to render.

    Returns:
        UTF-8 JSON bytes ending in a newline.
    """
    compact = msgspec.json.encode(report, order="sorted")
    return msgspec.json.format(compact, indent=2) + b"\n"
