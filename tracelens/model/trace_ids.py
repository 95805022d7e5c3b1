"""The two spellings of a trace id: X-Ray's ``1-<8 hex>-<24 hex>`` and OpenTelemetry's 32 hex.

An X-Ray id's first 8 digits are its epoch seconds; an OTel id from the OTLP endpoint need not
carry a time, so tracelens keeps such an id as its 32 digits and never derives a time from
an id (``tracelens.ingest.span_mapping`` decides which form a span's id keeps).
"""

from __future__ import annotations

import re

XRAY_TRACE_ID = re.compile(r"1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}")
HEX_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")


def xray_form(text: str) -> str | None:
    """The X-Ray spelling (``1-<8 hex>-<24 hex>``, lowercase) of a trace id given in either
    spelling, or None when ``text`` is neither.

    Example:
        >>> xray_form("6880250E4fc5b1c42f7b40fc4801f9fd")
        '1-6880250e-4fc5b1c42f7b40fc4801f9fd'
    """
    if XRAY_TRACE_ID.fullmatch(text):
        return text.lower()
    if HEX_TRACE_ID.fullmatch(text):
        return f"1-{text[:8]}-{text[8:]}".lower()
    return None


def otel_form(text: str) -> str | None:
    """The 32-hex OpenTelemetry spelling (lowercase) of a trace id given in either spelling,
    or None when ``text`` is neither."""
    xray = xray_form(text)
    return None if xray is None else xray[2:10] + xray[11:]


def other_trace_id_form(text: str) -> str | None:
    """The same trace id in the other spelling (``1-<8>-<24>`` ↔ 32 hex, lowercase), or None
    when ``text`` is neither. For looking ids up only: it says nothing about time.

    Example:
        >>> other_trace_id_form("1-6553f100-0123456789abcdef01234567")
        '6553f1000123456789abcdef01234567'
    """
    if XRAY_TRACE_ID.fullmatch(text):
        return otel_form(text)
    return xray_form(text)
