"""Attempts and fate-flow panels: how many tries async events took and what became of them."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from tracelens.model.vocab import BAD_OUTCOMES
from tracelens.report._format import SENT_EVIDENCE
from tracelens.report.panels._figure import (
    DEFAULT_FUNCTIONS,
    SEVERITY_COLOURS,
    base_layout,
    figure_or_note,
    histogram_bars,
    stacked_layout,
)
from tracelens.report.panels._view import sum_fates, sum_outcomes

if TYPE_CHECKING:
    from tracelens.model.vocab import AsyncFate, AsyncOutcome
    from tracelens.report.dashboard_spec import PanelSpec
    from tracelens.report.models import AsyncFates
    from tracelens.report.panels._figure import FigureDict
    from tracelens.report.panels._view import View

ATTEMPTS_TITLE = "Attempts per async event (1 = no retry)"
FLOW_TITLE = "Fate flow of async events: attempts, outcome, and where failed events went"

_NO_EVENTS = "No async events in this view."

#: Outcome keys in display order, with their node label and severity colour.
OUTCOMES: tuple[tuple[AsyncOutcome, str, str], ...] = (
    ("succeeded", "succeeded", "ok"),
    ("succeeded_after_retry", "succeeded after retry", "info"),
    ("retries_exhausted", "retries exhausted", "warning"),
    ("event_age_exceeded", "expired (event age exceeded)", "warning"),
    ("in_progress", "in progress", "neutral"),
)

#: Fate keys in display order, with their node label and severity colour.
FATES: tuple[tuple[AsyncFate, str, str], ...] = (
    ("sent", "sent to DLQ / on-failure destination", "warning"),
    ("missing", "missing from DLQ", "critical"),
    ("dropped", "dropped (no DLQ)", "critical"),
    ("unknown", "ended badly, fate unknown: supply --config (or fetch --with-config)", "neutral"),
)


def build_attempts(view: View, spec: PanelSpec) -> FigureDict:
    """Async events by number of attempts observed, stacked by function."""
    categories, data = histogram_bars(
        [(d.function, d.attempts) for d in view.details],
        x_noun="attempts",
        y_noun="events",
        limit=spec.limit or DEFAULT_FUNCTIONS,
    )
    title = spec.title or ATTEMPTS_TITLE
    layout = stacked_layout(title, categories, x_title="attempts per event", y_title="async events")
    return figure_or_note(data, layout, _NO_EVENTS)


def attempts_by_outcome(view: View) -> dict[tuple[int, str], int] | None:
    """Events per (attempts, outcome), or None when the report cannot tell exactly.

    The report has the attempts histogram and the outcomes, not their joint counts. The
    chains list every async event that was retried or ended badly, with both; every other
    event either succeeded first time (1 attempt, by definition) or is still in progress.
    So the joint counts are exact when what is left of the histogram after the chains and
    the first-time successes adds up to the in-progress events left; otherwise None.
    """
    outcomes = sum_outcomes(view.details)
    histogram: Counter[int] = Counter()
    for detail in view.details:
        for key, count in detail.attempts.items():
            if not key.isdigit():
                return None
            histogram[int(key)] += count
    joint: Counter[tuple[int, str]] = Counter(
        (chain.attempts, chain.outcome) for chain in view.chains if chain.kind == "async"
    )
    left_outcomes = {key: getattr(outcomes, key) for key, _, _ in OUTCOMES}
    for (attempts, outcome), count in joint.items():
        if outcome not in left_outcomes:
            return None
        left_outcomes[outcome] -= count
        histogram[attempts] -= count
    histogram[1] -= left_outcomes["succeeded"]
    joint[(1, "succeeded")] += left_outcomes.pop("succeeded")
    in_progress = left_outcomes.pop("in_progress")
    if any(left_outcomes.values()) or any(count < 0 for count in histogram.values()):
        return None
    if sum(histogram.values()) != in_progress or in_progress < 0:
        return None
    for attempts, count in histogram.items():
        joint[(attempts, "in_progress")] += count
    return {key: count for key, count in joint.items() if count > 0}


def fates_by_outcome(view: View, fates: AsyncFates) -> dict[tuple[str, str], int] | None:
    """Events per (outcome, fate) from the chains, or None when they do not add up."""
    joint: Counter[tuple[str, str]] = Counter(
        (chain.outcome, chain.fate or "unknown")
        for chain in view.chains
        if chain.kind == "async" and chain.outcome in BAD_OUTCOMES
    )
    totals: Counter[str] = Counter()
    for (_, fate), count in joint.items():
        totals[fate] += count
    if any(totals[key] != getattr(fates, key) for key, _, _ in FATES):
        return None
    return dict(joint)


def _sent_evidence(view: View, sent: int) -> str:
    """How the ``sent`` fates are known, from the chains: "; checked in DLQ dump", ..."""
    counts = {key: 0 for key, _ in SENT_EVIDENCE}
    for chain in view.chains:
        if chain.kind == "async" and chain.fate == "sent":
            counts[chain.fate_evidence or "none"] = counts.get(chain.fate_evidence or "none", 0) + 1
    if not sent or sum(counts.values()) != sent:
        return ""
    used = [(key, label) for key, label in SENT_EVIDENCE if counts[key]]
    if len(used) == 1:
        return f"; {used[0][1]}"
    return "; " + ", ".join(f"{counts[key]} {label}" for key, label in used)


#: Short node labels of the fates (the hover text has the long ones, with the evidence).
_FATE_LABELS: dict[str, str] = {
    "sent": "sent to DLQ / destination",
    "missing": "missing from DLQ",
    "dropped": "dropped, no DLQ",
    "unknown": "fate unknown",
}

#: Horizontal position of each column of nodes, with and without the attempts column.
#: Outcome labels are drawn to the right of their nodes and fate labels to the left of
#: theirs (the last column), so the two columns are far apart and their labels short.
_COLUMNS = {
    True: {"events": 0.001, "attempts": 0.2, "outcome": 0.45, "gave_up": 0.7, "fate": 0.999},
    False: {"events": 0.001, "attempts": 0.2, "outcome": 0.3, "gave_up": 0.6, "fate": 0.999},
}


def build_flow(view: View, spec: PanelSpec) -> FigureDict:
    """A sankey from async events through attempts and outcome to the fate of failed events.

    Nodes are placed in fixed columns (events, attempts, outcome, fate) and stacked by size
    in each, with short labels; the hover text of a node has its full description.
    """
    outcomes = sum_outcomes(view.details)
    fates = sum_fates(view.details)
    total = sum(getattr(outcomes, key) for key, _, _ in OUTCOMES)
    nodes: list[tuple[str, str, str, str]] = []  # (label, hover, severity, column)
    index: dict[str, int] = {}
    links: list[tuple[str, str, int]] = []

    def node(key: str, label: str, severity: str, column: str, hover: str = "") -> None:
        if key not in index:
            index[key] = len(nodes)
            nodes.append((label, hover or label, severity, column))

    node("events", f"async events ({total:,d})", "neutral", "events")
    joint = attempts_by_outcome(view)
    if joint is not None:
        for attempts in sorted({a for a, _ in joint}):
            count = sum(c for (a, _), c in joint.items() if a == attempts)
            plural = "" if attempts == 1 else "s"
            node(f"a{attempts}", f"{attempts} attempt{plural} ({count:,d})", "neutral", "attempts")
            links.append(("events", f"a{attempts}", count))
        for (attempts, outcome), count in sorted(joint.items()):
            links.append((f"a{attempts}", outcome, count))
    else:
        links.extend(("events", key, getattr(outcomes, key)) for key, _, _ in OUTCOMES)
    for key, label, severity in OUTCOMES:
        node(key, f"{label} ({getattr(outcomes, key):,d})", severity, "outcome")
    by_outcome = fates_by_outcome(view, fates)
    if by_outcome is not None:
        links.extend(
            (outcome, fate, count) for (outcome, fate), count in sorted(by_outcome.items())
        )
    else:
        node("gave_up", "failed for good", "warning", "gave_up")
        links.extend((key, "gave_up", getattr(outcomes, key)) for key in BAD_OUTCOMES)
        links.extend(("gave_up", key, getattr(fates, key)) for key, _, _ in FATES)
    sent_note = _sent_evidence(view, fates.sent)
    for fate, label, severity in FATES:
        count = getattr(fates, fate)
        hover = f"{label} ({count:,d}{sent_note if fate == 'sent' else ''})"
        node(fate, f"{_FATE_LABELS[fate]} ({count:,d})", severity, "fate", hover)
    links = [link for link in links if link[2] > 0]
    used = sorted({index[s] for s, _, _ in links} | {index[t] for _, t, _ in links})
    renumber = {old: new for new, old in enumerate(used)}
    x, y = _positions(nodes, used, links, index, attempts=joint is not None)
    sankey = {
        "type": "sankey",
        "arrangement": "fixed",
        "valueformat": ",d",
        "node": {
            "label": [nodes[i][0] for i in used],
            "customdata": [nodes[i][1] for i in used],
            "hovertemplate": "%{customdata}<extra></extra>",
            "color": [SEVERITY_COLOURS[nodes[i][2]] for i in used],
            "x": x,
            "y": y,
            "pad": 18,
            "thickness": 16,
        },
        "link": {
            "source": [renumber[index[s]] for s, _, _ in links],
            "target": [renumber[index[t]] for _, t, _ in links],
            "value": [count for _, _, count in links],
            "color": "rgba(120, 130, 140, 0.35)",
        },
    }
    layout = base_layout(spec.title or FLOW_TITLE, height=460)
    return figure_or_note([sankey] if links else [], layout, _NO_EVENTS)


def _positions(
    nodes: list[tuple[str, str, str, str]],
    used: list[int],
    links: list[tuple[str, str, int]],
    index: dict[str, int],
    *,
    attempts: bool,
) -> tuple[list[float], list[float]]:
    """The x and y (centre, 0 at the top) of every used node, in ``used`` order.

    Each column's nodes are stacked top to bottom in their order, each as tall as its share
    of the column's events, with a gap between them.
    """
    size: dict[int, int] = {}
    for source, target, _ in links:
        for key in (source, target):
            size[index[key]] = size.get(index[key], 0)
        size[index[source]] = max(size[index[source]], sum(c for s, _, c in links if s == source))
        size[index[target]] = max(size[index[target]], sum(c for _, t, c in links if t == target))
    columns = _COLUMNS[attempts]
    centres: dict[int, float] = {}
    for column in columns:
        members = [i for i in used if nodes[i][3] == column]
        total = sum(size[i] for i in members)
        gap = 0.06
        room = 0.96 - gap * max(len(members) - 1, 0)
        top = 0.02
        for i in members:
            height = room * size[i] / total if total else 0.0
            centres[i] = round(top + height / 2, 4)
            top += height + gap
    return [columns[nodes[i][3]] for i in used], [centres[i] for i in used]
