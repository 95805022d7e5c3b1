"""Benchmark: emulate about 100,000 invocations; print invocations/s and peak RSS.

Usage: .venv/bin/python bench/bench_emulate.py [INVOCATIONS]
"""

from __future__ import annotations

import resource
import sys
import time

from tracelens.emulator import run_scenario
from tracelens.emulator.scenario import parse_scenario


def scenario_for(invocations: int) -> dict[str, object]:
    """A mixed sync + async scenario sized to about ``invocations`` invocations."""
    sync_n = invocations // 2
    async_n = invocations - sync_n
    return {
        "name": "bench",
        "description": "benchmark load",
        "functions": {
            "api": {"duration_ms": 30, "failure_rate": 0.01},
            "worker": {"duration_ms": 60, "failure_rate": 0.02, "max_retry_attempts": 2},
        },
        "callers": [
            {"kind": "api_gateway", "function": "api", "count": sync_n, "duration_s": 3600},
            {"kind": "sns", "function": "worker", "count": int(async_n / 1.03), "duration_s": 3600},
        ],
    }


def main() -> int:
    """Run the benchmark and print the figures."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    scenario = parse_scenario(scenario_for(n), "<bench>")
    t0 = time.perf_counter()
    result = run_scenario(scenario, seed=1)
    elapsed = time.perf_counter() - t0
    invocations = sum(f["invocations"] for f in result.truth["totals"]["functions"].values())
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"invocations={invocations} documents={len(result.lines)} "
        f"seconds={elapsed:.1f} invocations_per_s={invocations / elapsed:.0f} "
        f"peak_rss_mb={peak_kb / 1024:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
