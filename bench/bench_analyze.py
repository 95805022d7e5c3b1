"""Benchmark `tracelens analyze --format json` end to end on gen_traces.py data.

Reproduces the numbers reported for the analyze and scale issues: segments per second, the
peak resident memory of the largest single process, and the peak of the whole process tree
(the CLI, its reader and partition processes, summed), sampled every 20 ms from /proc.
Options it does not know are given to ``tracelens analyze`` (e.g. ``--partitions 16``).

Usage:
    python bench/bench_analyze.py --segments 1000000            # NDJSON, one trace per line
    python bench/bench_analyze.py --segments 1000000 --form json # one {"Traces": [...]} document
    python bench/bench_analyze.py --segments 1000000 --form pages # a directory of pages of 100
    python bench/bench_analyze.py --file traces.ndjson --segments 1000000
    python bench/bench_analyze.py --file bench/out/gen_1000000.ndjson.gz --segments 1000000
        (after gzip -1 -k bench/out/gen_1000000.ndjson)
    python bench/bench_analyze.py --segments 1000000 --form dataset  # converted first (timed
        separately): analyze of the Parquet dataset
    python bench/bench_analyze.py --segments 200000 --form spans  # the same traces as aws/spans
        events (the emulator's span writer, one span per entity); "segments" stays the number of
        X-Ray documents, so segments/s compares with the NDJSON run
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT.parent / "shared" / "bench" / "gen_traces.py"


def _tree_rss_kib(pid: int) -> tuple[int, int]:
    """Resident memory of ``pid`` and all its descendants, in KiB: summed, and the largest."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as handle:
                pages = int(handle.read().split()[1])
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
    total, largest, stack = 0, 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        largest = max(largest, rss.get(current, 0))
        stack.extend(children.get(current, []))
    return total, largest


def _run(command: list[str]) -> tuple[float, tuple[int, int], int]:
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            total, largest = _tree_rss_kib(process.pid)
            peak[0] = max(peak[0], total)
            peak[1] = max(peak[1], largest)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode not in (0, 1):
        sys.stderr.write(stderr.decode(errors="replace"))
    return elapsed, (peak[0], peak[1]), process.returncode


def _generated(workdir: Path, segments: int, form: str) -> Path:
    """gen_traces.py output in ``form`` (ndjson or json), generated when missing."""
    path = workdir / f"gen_{segments}.{form}"
    if not path.exists():
        subprocess.run(
            [sys.executable, str(GENERATOR), "--segments", str(segments), f"--{form}", str(path)],
            check=True,
        )
    return path


def _spans(ndjson: Path, target: Path) -> None:
    """Rewrite one-trace-per-line NDJSON as aws/spans events (``spans.ndjson`` lines)."""
    import json

    from tracelens.emulator.spans import document_spans, encode

    scratch = target.with_name(target.name + ".partial")
    with ndjson.open("rb") as lines, scratch.open("w") as out:
        for line in lines:
            if not line.strip():
                continue
            for entry in json.loads(line)["Segments"]:
                for span in document_spans(json.loads(entry["Document"])):
                    out.write(encode(span) + "\n")
    scratch.rename(target)


def _pages(ndjson: Path, folder: Path, per_page: int) -> None:
    """Split one-trace-per-line NDJSON into BatchGetTraces-shaped page files."""
    scratch = folder.with_name(folder.name + ".partial")
    scratch.mkdir(parents=True, exist_ok=True)
    page: list[bytes] = []
    number = 0

    def write() -> None:
        nonlocal number
        body = b'{"Traces": [' + b",".join(page) + b'], "UnprocessedTraceIds": []}\n'
        (scratch / f"page-{number:06d}.json").write_bytes(body)
        number += 1
        page.clear()

    with ndjson.open("rb") as lines:
        for line in lines:
            if line.strip():
                page.append(line.rstrip(b"\n"))
            if len(page) == per_page:
                write()
    if page:
        write()
    scratch.rename(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument(
        "--form", choices=["ndjson", "json", "pages", "dataset", "spans"], default="ndjson"
    )
    parser.add_argument("--page-traces", type=int, default=100, help="traces per page (pages)")
    parser.add_argument("--file", type=Path, help="use this trace file instead of generating")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    args, extra = parser.parse_known_args()
    path = args.file
    if path is None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        if args.form == "pages":
            path = args.workdir / f"gen_{args.segments}_pages_{args.page_traces}"
            if not path.exists():
                _pages(_generated(args.workdir, args.segments, "ndjson"), path, args.page_traces)
        elif args.form == "spans":
            path = args.workdir / f"gen_{args.segments}_spans.ndjson"
            if not path.exists():
                _spans(_generated(args.workdir, args.segments, "ndjson"), path)
        elif args.form == "dataset":
            source = _generated(args.workdir, args.segments, "ndjson")
            path = args.workdir / f"gen_{args.segments}_dataset"
            convert = [sys.executable, "-m", "tracelens", "convert", str(source), "-o", str(path)]
            elapsed, (total, largest), _ = _run([*convert, "--overwrite", *extra])
            print(
                f"convert: {elapsed:.2f} s, peak RSS largest process {largest / 1024:.0f} MB, "
                f"process tree {total / 1024:.0f} MB"
            )
        else:
            path = _generated(args.workdir, args.segments, args.form)
    out = args.workdir / "report.json"
    command = [
        sys.executable,
        "-m",
        "tracelens",
        "analyze",
        str(path),
        "--format",
        "json",
        "-o",
        str(out),
        *extra,
    ]
    elapsed, (total_kib, largest_kib), code = _run(command)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    print(f"file: {path} ({size_mb:.0f} MB, form {args.form})")
    print(f"command: {' '.join(command)}")
    print(f"exit code: {code}")
    print(f"elapsed: {elapsed:.2f} s")
    print(f"segments/s: {args.segments / elapsed:,.0f}")
    print(f"MB/s: {size_mb / elapsed:,.1f}")
    print(f"peak RSS (largest process): {largest_kib / 1024:.0f} MB")
    print(f"peak RSS (process tree): {total_kib / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
