"""Where `analyze` spends its time and memory: the three stages and building the report.

Runs what `tracelens analyze` runs with the local engine, in this process, one stage at a
time, and prints each stage's wall time with the peak resident memory of the largest process
and of the whole process tree during it (this process, its reader and partition processes,
sampled every 20 ms):

- read: reader processes decode the input and spill its rows into partitions;
- facts: each partition settled and reduced to its facts (partition processes);
- cross-trace: the facts merged and the cross-trace analyses (this process);
- build: the report.

Usage:
    python bench/bench_phases.py bench/out/gen_1000000.ndjson [--partitions N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bench_analyze import _tree_rss_kib

import tracelens
from tracelens.analysis.facts import merge_facts
from tracelens.analysis.pipeline import analyse_facts
from tracelens.engine.local import partition_facts_all
from tracelens.engine.sources import open_inputs

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--partitions", type=int)
    args = parser.parse_args()
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            total, largest = _tree_rss_kib(os.getpid())
            peak[0], peak[1] = max(peak[0], total), max(peak[1], largest)
            time.sleep(0.02)

    def phase(name: str, work: Callable[[], T]) -> T:
        peak[0] = peak[1] = 0
        start = time.perf_counter()
        result = work()
        print(
            f"{name:<12} {time.perf_counter() - start:7.2f} s   peak RSS largest process "
            f"{peak[1] / 1024:6.0f} MB, process tree {peak[0] / 1024:6.0f} MB"
        )
        return result

    threading.Thread(target=sample, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="tracelens-bench-") as scratch:
        work = Path(scratch)
        inputs = phase("read", lambda: open_inputs(args.paths, work, partitions=args.partitions))
        facts, duplicates = phase("facts", lambda: partition_facts_all(inputs, work))
        side = tracelens.read_side_inputs(args.paths, config=None, dlq=[])
        results = phase(
            "cross-trace",
            lambda: analyse_facts(merge_facts(facts), side, stats=inputs.stats(duplicates)),
        )
        phase("build", lambda: tracelens.build_report(results, generated_by="bench_phases"))
    done.set()
    print(f"partitions: {inputs.partitions}; documents: {results.stats.documents:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
