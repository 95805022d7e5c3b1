"""Measure what only decoding the benchmark NDJSON costs on this machine: the speed floor.

`analyze` must at least decode every BatchGetTraces line and every double-encoded segment
``Document`` string once. This script times exactly that, with nothing else, in two ways:

- ``msgspec``: the projected structs tracelens decodes into (``tracelens.model.segment``), one
  process per byte range, as tracelens' reader processes do;
- ``polars``: polars' own multi-threaded NDJSON reader, exploding ``Segments`` and decoding
  each ``Document`` with ``str.json_decode`` into a struct of the fields tracelens reads
  (first-level subsegments only), streaming engine.

Usage:
    python bench/bench_floor.py bench/out/gen_1000000.ndjson [--processes 2]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import polars as pl

from tracelens.model.segment import DOCUMENT_DECODER, ENTITY_DECODER


def _decode_range(job: tuple[str, int, int]) -> int:
    """Decode the lines that start in [start, end); return the number of documents."""
    path, start, end = job
    documents = 0
    with open(path, "rb") as handle:
        if start:
            handle.seek(start - 1)
            handle.readline()  # now at the first line that starts at or after ``start``
        while handle.tell() < end:
            line = handle.readline()
            if not line:
                break
            value = ENTITY_DECODER.decode(line)
            for entry in getattr(value, "Segments", None) or ():
                if isinstance(entry.Document, str):
                    DOCUMENT_DECODER.decode(entry.Document)
                    documents += 1
    return documents


def msgspec_floor(path: Path, processes: int) -> tuple[int, float]:
    """Decode with msgspec in ``processes`` processes; return (documents, seconds)."""
    size = path.stat().st_size
    bounds = [size * k // processes for k in range(processes + 1)]
    jobs = [(str(path), bounds[k], bounds[k + 1]) for k in range(processes)]
    started = time.perf_counter()
    with ProcessPoolExecutor(processes) as pool:
        documents = sum(pool.map(_decode_range, jobs))
    return documents, time.perf_counter() - started


def polars_floor(path: Path) -> tuple[int, float]:
    """Read and decode with polars alone; return (documents, seconds)."""
    child = pl.Struct(
        {
            "name": pl.String,
            "id": pl.String,
            "start_time": pl.Float64,
            "end_time": pl.Float64,
            "error": pl.Boolean,
            "fault": pl.Boolean,
        }
    )
    document = pl.Struct(
        {
            "id": pl.String,
            "name": pl.String,
            "trace_id": pl.String,
            "parent_id": pl.String,
            "origin": pl.String,
            "start_time": pl.Float64,
            "end_time": pl.Float64,
            "aws": pl.Struct({"request_id": pl.String, "function_arn": pl.String}),
            "subsegments": pl.List(child),
        }
    )
    schema = {"Segments": pl.List(pl.Struct({"Id": pl.String, "Document": pl.String}))}
    started = time.perf_counter()
    frame = (
        pl.scan_ndjson(path, schema=schema)
        .explode("Segments")
        .select(pl.col("Segments").struct.field("Document").str.json_decode(document).alias("d"))
        .select(pl.col("d").struct.field("id"), pl.col("d").struct.field("subsegments").list.len())
        .collect(engine="streaming")
    )
    return frame.height, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    for label, (documents, seconds) in (
        (f"msgspec, {args.processes} processes", msgspec_floor(args.file, args.processes)),
        ("msgspec, 1 process", msgspec_floor(args.file, 1)),
        ("polars native", polars_floor(args.file)),
    ):
        rate = documents / seconds
        print(f"{label:28s} {documents:>9,} documents  {seconds:6.2f} s  {rate:>9,.0f}/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
