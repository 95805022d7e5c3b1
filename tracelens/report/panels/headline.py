"""The headline panel: the few numbers that say how bad the incident was, by severity.

The numbers come in rows, one per kind of traffic: async events, SQS messages, stream
batches, then requests of every invoke path. A panel spec's ``kinds`` picks the rows that
lead (the ``queues`` dashboard leads with SQS, ``streams`` with stream batches); without
``kinds`` the panel shows the rows of the kinds the view has traffic of.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracelens.report.panels._figure import SEVERITY_COLOURS, base_layout

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import ChainKind, PanelSpec
    from tracelens.report.panels._figure import FigureDict
    from tracelens.report.panels._view import Headline, View

#: One headline number: (label, value, unit suffix, severity); a number with a unit is
#: shown with one decimal, a count without.
Number = tuple[str, float, str, str]

#: Async p99 dwell above this is a warning (the contract's HIGH_DWELL default, 60 s).
HIGH_DWELL_MS = 60_000.0

#: What each row of numbers is about, for the panel title.
_ROW_NAMES = {
    "async": "async events",
    "sqs": "SQS messages",
    "stream": "stream batches",
    "requests": "requests",
}

#: Pixels per row of numbers.
_ROW_HEIGHT = 100


def _count(label: str, value: int, severity: str) -> Number:
    return (label, float(value), "", severity)


def _bad(label: str, value: int, severity: str) -> Number:
    """A count that is bad when not zero: its severity then, green (``ok``) at zero."""
    return _count(label, value, severity if value else "ok")


def duration_number(label: str, ms: float, severity: str) -> Number:
    """A duration in the unit that keeps it readable: ms below 1 s, s below 1 min, else min."""
    if ms < 1000:
        return (label, ms, " ms", severity)
    if ms < 60_000:
        return (label, ms / 1000.0, " s", severity)
    return (label, ms / 60_000.0, " min", severity)


def _async_row(h: Headline) -> list[Number]:
    row = [
        _count("async events", h.events, "neutral"),
        _bad("succeeded after retry", h.succeeded_after_retry, "info"),
        _bad("sent to DLQ", h.sent_to_dlq, "warning"),
    ]
    if h.missing_from_dlq:
        row.append(_count("missing from DLQ", h.missing_from_dlq, "critical"))
    row.append(_bad("dropped", h.dropped, "critical"))
    if h.fate_unknown:
        row.append(_count("ended badly, fate unknown (supply --config)", h.fate_unknown, "warning"))
    # Without dwell data there is no number to show (a 0 would read as "no waiting").
    if h.p99_dwell_ms is not None:
        severity = "warning" if h.p99_dwell_ms > HIGH_DWELL_MS else "ok"
        row.append(duration_number("p99 dwell", h.p99_dwell_ms, severity))
    return row


def _sqs_row(h: Headline) -> list[Number]:
    fates = h.sqs_fates
    row = [
        _count("SQS messages", h.sqs_messages, "neutral"),
        _bad("redelivered messages", h.sqs_redelivered, "info"),
        _bad("poison messages", h.poison_messages, "critical"),
    ]
    if fates.dlq:
        row.append(_count("moved to the DLQ", fates.dlq, "warning"))
    if fates.retention_deleted:
        row.append(_count("deleted at retention", fates.retention_deleted, "critical"))
    if fates.in_queue:
        row.append(_count("still in the queue", fates.in_queue, "warning"))
    if fates.unknown:
        row.append(_count("poison, fate unknown<br>(why: see findings)", fates.unknown, "warning"))
    return row


def _stream_row(h: Headline) -> list[Number]:
    fates = h.stream_fates
    row = [
        _count("stream batches", h.stream_batches, "neutral"),
        _bad("retried batches", h.stream_retried, "warning"),
    ]
    if h.stream_still_retrying:
        row.append(_count("still retrying<br>(shard blocked)", h.stream_still_retrying, "warning"))
    if fates.sent:
        row.append(_count("sent to on-failure<br>destination", fates.sent, "warning"))
    row.append(_bad("records discarded", fates.discarded, "critical"))
    if fates.unknown:
        # The reasons (a missing mapping, a retention not in the config, ...) are listed under
        # the stream batches panel's title.
        row.append(
            _count(
                "batch fate unknown<br>(why: see the stream batches panel)",
                fates.unknown,
                "warning",
            )
        )
    return row


def _requests_row(h: Headline) -> list[Number]:
    # Requests of every invoke path: a sync incident must not look green.
    return [
        _count("requests", h.requests, "neutral"),
        _bad("failed requests", h.failed_requests, "critical"),
        _bad("throttled requests", h.throttled_requests, "warning"),
    ]


def headline_rows(view: View, kinds: tuple[ChainKind, ...] = ()) -> list[tuple[str, list[Number]]]:
    """The headline numbers of a view, in rows: ``(row name, numbers)``.

    Args:
        view: The view to summarise.
        kinds: The kinds of traffic whose rows lead, in order (``async``, ``sqs``,
            ``stream``); empty: the kinds the view has any of, in that order.

    Returns:
        The rows in display order, the requests row last.
    """
    h = view.headline
    builders = {"async": _async_row, "sqs": _sqs_row, "stream": _stream_row}
    if not kinds:
        present: dict[ChainKind, int] = {
            "async": h.events,
            "sqs": h.sqs_messages,
            "stream": h.stream_batches,
        }
        kinds = tuple(kind for kind, count in present.items() if count)
    rows: list[tuple[str, list[Number]]] = [(k, builders[k](h)) for k in dict.fromkeys(kinds)]
    rows.append(("requests", _requests_row(h)))
    return rows


def headline_numbers(view: View, kinds: tuple[ChainKind, ...] = ()) -> list[Number]:
    """Every headline number of a view, row after row (see ``headline_rows``)."""
    return [number for _, row in headline_rows(view, kinds) for number in row]


def build(view: View, spec: PanelSpec) -> FigureDict:
    """One plotly indicator per headline number, coloured by severity, one row per kind."""
    rows = headline_rows(view, spec.kinds)
    columns = max(len(row) for _, row in rows)
    data: list[dict[str, Any]] = []
    for row_index, (_, row) in enumerate(rows):
        for column, (label, value, suffix, severity) in enumerate(row):
            colour = SEVERITY_COLOURS[severity]
            data.append(
                {
                    "type": "indicator",
                    "mode": "number",
                    "value": value,
                    "title": {"text": label, "font": {"size": 13, "color": colour}},
                    "number": {
                        "font": {"size": 34, "color": colour},
                        "suffix": suffix,
                        "valueformat": ",.1f" if suffix else ",d",
                    },
                    "domain": {"row": row_index, "column": column},
                }
            )
    title = "Headline: " + ", ".join(_ROW_NAMES[name] for name, _ in rows)
    layout = base_layout(spec.title or title, height=80 + _ROW_HEIGHT * len(rows), tight=True)
    layout["grid"] = {"rows": len(rows), "columns": columns, "pattern": "independent"}
    return {"data": data, "layout": layout}
