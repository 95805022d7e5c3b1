"""Where `analyze` spends its time and memory: reading, analysing and building the report.

Runs the three library calls `tracelens analyze` makes, in this process, and prints each one's
wall time and the peak resident memory of the process tree during it (this process and its
reader processes, sampled every 20 ms), plus the size of the frames reading produced.

Usage:
    python bench/bench_phases.py bench/out/gen_1000000.ndjson
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bench_analyze import _tree_rss_kib

import tracelens

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args()
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kib(os.getpid()))
            time.sleep(0.02)

    def phase(name: str, work: Callable[[], T]) -> T:
        nonlocal peak
        peak = 0
        start = time.perf_counter()
        result = work()
        print(f"{name:<8} {time.perf_counter() - start:7.2f} s   peak RSS {peak / 1024:7.0f} MB")
        return result

    threading.Thread(target=sample, daemon=True).start()
    frames = phase("read", lambda: tracelens.read_traces(args.paths))
    side = tracelens.read_side_inputs(args.paths, config=None, dlq=[])
    results = phase("analyse", lambda: tracelens.analyse(frames, side))
    phase("build", lambda: tracelens.build_report(results, generated_by="bench_phases"))
    done.set()
    rows, columns = frames.entities.shape
    print(f"entities: {rows:,} rows x {columns} columns; documents: {frames.stats.documents:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
