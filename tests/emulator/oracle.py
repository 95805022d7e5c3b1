"""The emulator's truth as an oracle: analyse a bundle and list every figure that differs.

Each problem is one line ``<field path>: truth ..., report ...``; a field the report does
not have yet is reported as ``<field path>: report has no such field`` so that figures
added by other branches show up as such rather than as wrong numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from tracelens.emulator.truth import BAD_OUTCOMES, DECIDED_FINDINGS, RETRY_WINDOW_S

if TYPE_CHECKING:
    from pathlib import Path

#: Durations come from microsecond timestamps; allow one microsecond of float noise.
TOLERANCE_MS = 0.0011
ABSENT = object()


def analyse_bundle(*paths: Path) -> dict[str, Any]:
    """Analyse PATHs as `tracelens analyze PATH...` does and return the report as JSON data."""
    from tracelens.analysis import analyse
    from tracelens.ingest import read_traces
    from tracelens.ingest.side import read_side_inputs
    from tracelens.report.build import build_report

    frames = read_traces(list(paths))
    side = read_side_inputs(list(paths), config=None, dlq=())
    report = build_report(analyse(frames, side), generated_by="tracelens test")
    decoded: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(report))
    return decoded


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict) and key in obj:
        return obj[key]
    return ABSENT


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return bool(abs(float(a) - float(b)) <= TOLERANCE_MS)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return bool(a == b)


class Problems:
    """Collects mismatches; ``missing`` holds the fields the report does not have."""

    def __init__(self) -> None:
        """Start empty."""
        self.wrong: list[str] = []
        self.missing: set[str] = set()

    def check(self, path: str, want: Any, got: Any) -> None:
        """Record a mismatch between truth ``want`` and report ``got`` at ``path``."""
        if got is ABSENT:
            field = path.split(" (")[0]
            if field not in self.missing:
                self.missing.add(field)
                self.wrong.append(f"{field}: report has no such field")
        elif not _close(want, got):
            self.wrong.append(f"{path}: truth {want!r}, report {got!r}")

    def __bool__(self) -> bool:
        """True when anything differs."""
        return bool(self.wrong)

    def text(self) -> str:
        """All mismatches, one per line."""
        return "\n".join(self.wrong)


def stats(values: list[float]) -> dict[str, Any]:
    """The contract's statistic block (nearest-rank percentiles) of ``values``."""
    if not values:
        return dict.fromkeys(("count", "min", "p50", "p90", "p99", "max", "mean")) | {"count": 0}
    ordered = sorted(values)
    n = len(ordered)

    def rank(p: int) -> float:
        return ordered[max(0, (p * n + 99) // 100 - 1)]

    return {
        "count": n,
        "min": ordered[0],
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "max": ordered[-1],
        "mean": round(math.fsum(ordered) / n, 6),
    }


def _ms_between(start: str, end: str) -> float:
    a = datetime.fromisoformat(start.removesuffix("Z"))
    b = datetime.fromisoformat(end.removesuffix("Z"))
    return (b - a) // timedelta(microseconds=1) / 1000.0


def compare(truth: dict[str, Any], report: dict[str, Any]) -> Problems:
    """Compare every figure of ``truth`` with ``report`` (a bundle analysed with its config)."""
    p = Problems()
    totals = truth["totals"]
    _sections(p, totals, report)
    _functions(p, totals, report)
    _async_stats(p, truth, report)
    _chains(p, truth["chains"], report)
    _findings(p, truth["findings"], report)
    return p


def _sections(p: Problems, totals: dict[str, Any], report: dict[str, Any]) -> None:
    for section in ("async", "sqs", "streams", "sync"):
        if section not in totals:
            continue
        got_section = _get(report, section)
        for key, want in totals[section].items():
            got = _get(got_section, key) if got_section is not ABSENT else ABSENT
            if key == "poison_messages" and isinstance(got, list):
                got = len(got)
            if isinstance(want, dict) and isinstance(got, dict):
                got = {k: v for k, v in got.items() if v or k in want}
            p.check(f"{section}.{key}", want, got)


def _functions(p: Problems, totals: dict[str, Any], report: dict[str, Any]) -> None:
    by_name = {f["name"]: f for f in report["functions"]}
    for name, want in totals.get("functions", {}).items():
        if name not in by_name:
            p.wrong.append(f"functions.{name}: missing from the report")
            continue
        for key, value in want.items():
            p.check(f"functions[].{key} ({name})", value, _get(by_name[name], key))


def _async_stats(p: Problems, truth: dict[str, Any], report: dict[str, Any]) -> None:
    events = truth["async_events"]
    if "async" not in truth["totals"]:
        return
    dwell = [e["dwell_ms"] for e in events]
    delays = [d for e in events for d in e["retry_delays_ms"]]
    p.check("async.dwell_ms", stats(dwell), report["async"]["dwell_ms"])
    p.check("async.retry_delay_ms", stats(delays), report["async"]["retry_delay_ms"])
    per_fn: dict[str, list[float]] = defaultdict(list)
    for e in events:
        per_fn[e["function"]].append(e["dwell_ms"])
    details = {d["function"]: d for d in report.get("details", [])}
    for fn, values in sorted(per_fn.items()):
        ordered = sorted(values)
        n = len(ordered)
        want = [ordered[max(0, (r * n + 99) // 100 - 1)] for r in range(101)]
        got = details[fn]["dwell_quantiles_ms"] if fn in details else None
        p.check(f"details[].dwell_quantiles_ms ({fn})", want, got)


_CHAIN_FIELDS = ("attempts", "outcome", "fate", "fate_evidence", "dwell_ms", "errors")


def _chains(p: Problems, chains: list[dict[str, Any]], report: dict[str, Any]) -> None:
    got = {(c["kind"], c["function"], c["key"]): c for c in report["chains"]}
    want = {(c["kind"], c["function"], c["key"]): c for c in chains}
    for key in sorted(want.keys() - got.keys()):
        p.wrong.append(f"chains: {key} missing from the report (truth {want[key]['outcome']})")
    for key in sorted(got.keys() - want.keys()):
        p.wrong.append(f"chains: {key} reported ({got[key]['outcome']}) but not in truth")
    for key in sorted(want.keys() & got.keys()):
        w, g = want[key], got[key]
        for field in _CHAIN_FIELDS:
            p.check(f"chains[].{field} ({key[0]} {key[2]})", w[field], _get(g, field))
        if key[0] == "async":
            waits = [
                _ms_between(s["start"], s["end"])
                for s in g.get("steps", [])
                if s["kind"] == "wait" and s["end"] is not None
            ]
            p.check(f"chains[].steps wait ms ({key[2]})", w["retry_delays_ms"], waits)


def _findings(p: Problems, findings: list[dict[str, Any]], report: dict[str, Any]) -> None:
    def keyed(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, int]]:
        return {
            (f["code"], f["function"] or ""): (f["severity"], f["count"])
            for f in rows
            if f["code"] in DECIDED_FINDINGS
        }

    want, got = keyed(findings), keyed(report["findings"])
    for key in sorted(want.keys() | got.keys()):
        p.check(f"findings {key[0]} ({key[1]})", want.get(key), got.get(key))


def ended_badly_problems(truth: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """Events truth says ended badly that the report shows as succeeded or in progress.

    ``in_progress`` is accepted only where D6 allows it from the data alone: the data
    ends within the retry window after the event's last attempt (no attempt: before its
    age limit).
    """
    data_end = truth["data_end"]
    chains = {c["key"]: c for c in report["chains"] if c["kind"] == "async"}
    out = []
    for e in truth["async_events"]:
        if e["outcome"] not in BAD_OUTCOMES:
            continue
        chain = chains.get(e["request_id"])
        outcome = chain["outcome"] if chain else "succeeded or in_progress (no chain)"
        if outcome in BAD_OUTCOMES:
            continue
        attempts = e["attempts"]
        # Without config the age limit is unknown: an event with no attempt is known to have
        # ended once the data goes on past the retry window after its Dwell Time ended.
        open_until = (
            attempts[-1]["end"] + RETRY_WINDOW_S
            if attempts
            else (e["dwell_end"] or e["enqueued"]) + RETRY_WINDOW_S
        )
        # A one-attempt event in progress is no chain: the outcome counts must then hold it.
        in_progress = outcome == "in_progress" or (
            chain is None and report["async"]["outcomes"]["in_progress"] > 0
        )
        if in_progress and data_end <= open_until:
            continue
        out.append(f"{e['function']} {e['request_id']}: truth {e['outcome']}, report {outcome}")
    return out
