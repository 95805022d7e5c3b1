"""The retry-chain panel: the worst chains as a Gantt chart of dwell, attempts and waits."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracelens.report._format import CHAIN_EVIDENCE, duration, plural, repeated, times
from tracelens.report.console_links import is_console_url
from tracelens.report.panels._figure import (
    SEVERITY_COLOURS,
    base_layout,
    figure_or_note,
    plot_text,
    plot_time,
)

if TYPE_CHECKING:
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.models import Chain
    from tracelens.report.panels._figure import FigureDict
    from tracelens.report.panels._view import View

TITLE = "Worst retry chains over time: dwell, attempts and retry waits (hover for errors)"
DEFAULT_LIMIT = 15

#: Bar series of the chart: (series key, legend name, colour).
SERIES: tuple[tuple[str, str, str], ...] = (
    ("dwell", "dwell (queued)", "#aab7b8"),
    ("wait", "retry wait", "#f5cba7"),
    ("chain", "whole chain (no timeline)", SEVERITY_COLOURS["info"]),
)

#: Marker series of the chart: attempts are short next to waits of minutes, so each is a
#: marker at its start rather than a bar too thin to see. (key, legend name, colour, symbol)
MARKERS: tuple[tuple[str, str, str, str], ...] = (
    ("attempt_ok", "attempt succeeded", SEVERITY_COLOURS["ok"], "circle"),
    ("attempt_failed", "attempt failed", SEVERITY_COLOURS["critical"], "x"),
)

#: How bad each outcome and fate is, worst first: events lost, then ended badly (given up,
#: poison), then still retrying or redelivered, then recovered. Every outcome and fate of
#: the contract has a rank (a test checks), so no kind of chain sinks below the others.
_BADNESS: dict[str, int] = {
    "dropped": 0,
    "missing": 0,
    "discarded": 0,
    "retention_deleted": 0,
    "failed": 1,
    "retries_exhausted": 1,
    "event_age_exceeded": 1,
    "poison": 1,
    "in_queue": 1,
    "dlq": 1,
    "sent": 1,
    "unknown": 1,
    "in_progress": 2,
    "redelivered": 2,
    "succeeded_after_retry": 3,
    "succeeded": 4,
}

#: Longest chain label on the y axis; longer keys are shortened in the middle (the hover
#: text has the whole key).
LABEL_WIDTH = 64


def _seconds(iso: str) -> float:
    """Seconds since the epoch of a contract time."""
    return datetime.fromisoformat(iso.replace("z", "Z")).timestamp()


def _span_ms(start: str, end: str | None, fallback_end: str | None) -> float:
    """Milliseconds from start to end (open intervals end at ``fallback_end``)."""
    stop = end or fallback_end
    if stop is None:
        return 0.0
    return max(0.0, (_seconds(stop) - _seconds(start)) * 1000.0)


def worst_chains(view: View, spec: PanelSpec) -> list[Chain]:
    """The chains to draw, worst first.

    Worst means: events lost (dropped, missing from the DLQ, discarded) first, then ones that
    ended badly, then open or redelivered ones, then recovered ones; ties by more attempts,
    longer span, earlier start and key. The worst chain of every kind in the view (async
    event, SQS message, stream batch) is always among those drawn (the limit allowing), so
    a few hundred async retries cannot crowd out the one poison message or blocked batch.
    """
    chains = [c for c in view.chains if not spec.kinds or c.kind in spec.kinds]
    limit = spec.limit or DEFAULT_LIMIT

    def rank(chain: Chain) -> tuple[int, int, float, str, str, str]:
        badness = min(_BADNESS.get(chain.fate or "", 9), _BADNESS.get(chain.outcome, 9))
        span = _span_ms(chain.first_start, chain.last_end, view.data_end)
        return (badness, -chain.attempts, -span, chain.first_start, chain.kind, chain.key)

    ranked = sorted(chains, key=rank)
    firsts: dict[str, Chain] = {}
    for chain in ranked:
        firsts.setdefault(chain.kind, chain)
    chosen = {id(chain) for chain in list(firsts.values())[:limit]}
    for chain in ranked:
        if len(chosen) >= limit:
            break
        chosen.add(id(chain))
    return [chain for chain in ranked if id(chain) in chosen]


def chain_label(chain: Chain) -> str:
    """The unescaped y-axis label of a chain, at most ``LABEL_WIDTH`` characters.

    A long key or function name is shortened in the middle (``…``); a stream batch key
    (``shard/sequence number``) keeps its whole shard and the end of its sequence number.
    """
    label = f"{chain.kind} {chain.key} · {chain.function}"
    if len(label) <= LABEL_WIDTH:
        return label
    function = _middle(chain.function, LABEL_WIDTH // 3)
    room = LABEL_WIDTH - len(chain.kind) - len(function) - 4  # " " and " · "
    shard, _, sequence = chain.key.partition("/")
    if sequence and len(shard) + 10 <= room:
        key = f"{shard}/…{sequence[-(room - len(shard) - 2) :]}"
        key = chain.key if len(chain.key) <= room else key
    else:
        key = _middle(chain.key, room)
    return f"{chain.kind} {key} · {function}"


def _middle(text: str, width: int) -> str:
    """``text`` shortened to ``width`` characters by a ``…`` in its middle, if longer."""
    if len(text) <= width:
        return text
    tail = (width - 1) // 2
    return f"{text[: width - 1 - tail]}…{text[-tail:] if tail else ''}"


def console_link(chain: Chain, label: str) -> str:
    """The y-axis tick of a chain: its (escaped) label, a link to the X-Ray console trace
    view of its first trace when the report has that URL."""
    url = chain.trace_urls[0] if chain.trace_urls and chain.trace_ids else None
    if url is None or not is_console_url(url):
        return label
    return f'<a href="{url}" target="_blank">{label}</a>'


def _series(name: str, rows: list[tuple[str, str, float, str]]) -> dict[str, Any]:
    """What bar and marker series share: the legend name, each row's chain and hover text."""
    return {
        "name": name,
        "y": [label for label, _, _, _ in rows],
        "hovertext": [hover for _, _, _, hover in rows],
        "hovertemplate": "%{hovertext}<extra></extra>",
    }


def build(view: View, spec: PanelSpec) -> FigureDict:
    """A horizontal bar per chain step on a UTC time axis, worst chain on top.

    Shows the worst ``spec.limit`` chains (default ``DEFAULT_LIMIT``) of the ``spec.kinds``
    asked for (every kind when none).
    """
    chains = worst_chains(view, spec)
    rows: dict[str, list[tuple[str, str, float, str]]] = {key: [] for key, _, _ in SERIES}
    rows.update({key: [] for key, _, _, _ in MARKERS})
    labels: list[str] = []
    ticks: list[str] = []
    for chain in chains:
        label = plot_text(chain_label(chain))
        while label in labels:  # keep one row per chain even if two render alike
            label += " ·"
        labels.append(label)
        full = plot_text(f"{chain.kind} {chain.key} · {chain.function}")
        ticks.append(console_link(chain, label))
        fate = f", fate {chain.fate}" if chain.fate else ""
        if chain.fate and chain.fate_evidence in CHAIN_EVIDENCE:
            fate += f" ({CHAIN_EVIDENCE[chain.fate_evidence]})"
        outcome = plot_text(f"{chain.outcome}{fate}")
        if not chain.steps:
            span = _span_ms(chain.first_start, chain.last_end, view.data_end)
            errors = (
                "<br>".join(plot_text(times(e, n)) for e, n in repeated(chain.errors))
                or "none recorded"
            )
            hover = (
                f"{full}<br>{plural(chain.attempts, 'attempt')}, {outcome}<br>errors:<br>{errors}"
            )
            rows["chain"].append((label, chain.first_start, span, hover))
            continue
        attempt = 0
        for step in sorted(chain.steps, key=lambda s: (s.start, s.kind)):
            span = _span_ms(step.start, step.end, view.data_end)
            if step.kind == "attempt":
                attempt += 1
                series = "attempt_failed" if step.error else "attempt_ok"
                what = f"attempt {attempt}: {duration(span)}"
            else:
                series = step.kind if step.kind in rows else "wait"
                what = f"{step.kind}: {duration(span)}"
            error = f"<br>error: {plot_text(step.error)}" if step.error else ""
            trace = f"<br>trace {plot_text(step.trace_id)}" if step.trace_id else ""
            hover = f"{full}<br>{what}{error}{trace}<br>outcome: {outcome}"
            rows[series].append((label, step.start, span, hover))
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "orientation": "h",
            **_series(name, rows[key]),
            "base": [plot_time(start) for _, start, _, _ in rows[key]],
            "x": [round(span, 3) for _, _, span, _ in rows[key]],
            "marker": {"color": colour},
        }
        for key, name, colour in SERIES
        if rows[key]
    ]
    data += [
        {
            "type": "scatter",
            "mode": "markers",
            **_series(name, rows[key]),
            "x": [plot_time(start) for _, start, _, _ in rows[key]],
            "marker": {
                "color": colour,
                "symbol": symbol,
                "size": 10,
                "line": {"width": 2, "color": colour},
            },
        }
        for key, name, colour, symbol in MARKERS
        if rows[key]
    ]
    layout = base_layout(
        spec.title or TITLE,
        x_title="time (UTC)",
        y_title="chain",
        height=max(300, 130 + 30 * len(labels)),
    )
    layout["barmode"] = "overlay"
    layout["xaxis"]["type"] = "date"
    layout["yaxis"].update(
        {
            "type": "category",
            "categoryorder": "array",
            "categoryarray": labels,
            "autorange": "reversed",
        }
    )
    if ticks != labels:  # a chain label links to its first trace in the X-Ray console
        layout["yaxis"].update({"tickmode": "array", "tickvals": labels, "ticktext": ticks})
    return figure_or_note(data, layout, "No retried or failed chains in this view.")
