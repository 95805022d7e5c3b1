"""Benchmark: HTML dashboard size and render time for a Report of 100,000 async events.

Until the ingest and analysis pipeline exists, the Report is built directly from the report
structs by the simulation in ``tests/report/conftest.py`` (``synthetic_report``), which
aggregates simulated events exactly as the contract defines. Run:

    .venv/bin/python bench/bench_dashboard.py [--events 100000] [-o bench/out/dashboard.html]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from tracelens.report.dashboard_spec import BUILTIN_DASHBOARDS, load_dashboard_spec
from tracelens.report.html import render_html

ROOT = Path(__file__).resolve().parents[1]
LIMIT_BYTES = 10_000_000


def _synthetic_report(events: int, seed: int) -> object:
    """The simulated Report of ``tests/report/conftest.py``."""
    spec = importlib.util.spec_from_file_location(
        "tracelens_dashboard_fixtures", ROOT / "tests" / "report" / "conftest.py"
    )
    if spec is None or spec.loader is None:
        raise SystemExit("cannot load tests/report/conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.synthetic_report(events=events, seed=seed)


def main() -> int:
    """Build the Report, render every built-in dashboard, print sizes and times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=ROOT / "bench" / "out" / "dashboard.html",
        help="where to write the incident dashboard",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    report = _synthetic_report(args.events, args.seed)
    built = time.perf_counter() - started
    print(f"report from structs: {args.events:,d} async events in {built:.2f} s")
    worst = 0
    for name in BUILTIN_DASHBOARDS:
        started = time.perf_counter()
        page = render_html(report, spec=load_dashboard_spec(name))  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        size = len(page.encode("utf-8"))
        worst = max(worst, size)
        print(f"{name:>9}: {size / 1e6:6.2f} MB, rendered in {seconds:.2f} s")
        if name == "incident":
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(page, encoding="utf-8")
            print(f"           written to {args.output}")
    verdict = "OK" if worst < LIMIT_BYTES else "OVER"
    print(f"largest: {worst / 1e6:.2f} MB (limit {LIMIT_BYTES / 1e6:.0f} MB): {verdict}")
    return 0 if worst < LIMIT_BYTES else 1


if __name__ == "__main__":
    raise SystemExit(main())
