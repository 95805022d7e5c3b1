"""The two spellings of a trace id: X-Ray's ``1-<8 hex>-<24 hex>`` and OpenTelemetry's 32 hex.

An X-Ray id's first 8 digits are its epoch seconds; an OTel id from the OTLP endpoint need not
carry a time, so tracelens keeps such an id as its 32 digits and never derives a time from
an id (``tracelens.ingest.span_mapping`` decides which form a span's id keeps).
"""

from __future__ import annotations

import re

XRAY_TRACE_ID = re.compile(r"1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}")
HEX_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")


def other_trace_id_form(text: str) -> str | None:
    """The same trace id in the other spelling (``1-<8>-<24>`` ↔ 32 hex, lowercase), or None
    when ``text`` is neither. For looking ids up only: it says nothing about time.

    Example:
        >>> other_trace_id_form("1-6553f100-0123456789abcdef01234567")
        '6553f1000123456789abcdef01234567'
    """
    if XRAY_TRACE_ID.fullmatch(text):
        return (text[2:10] + text[11:]).lower()
    if HEX_TRACE_ID.fullmatch(text):
        return f"1-{text[:8]}-{text[8:]}".lower()
    return None


def links_to_console(trace_id: str) -> bool:
    """Whether the X-Ray console can be linked for ``trace_id``: only its X-Ray form (a
    32-hex id kept without a time prefix gets no link)."""
    return HEX_TRACE_ID.fullmatch(trace_id) is None
