"""Reader process for ``processes.read_in_processes``: files, NDJSON ranges, fed values."""

from __future__ import annotations

import sys
from pathlib import Path

from tracelens.ingest.feed import run_fed_reader
from tracelens.ingest.processes import run_worker


def main(argv: list[str]) -> int:
    """``python -m tracelens.ingest.worker DIR`` runs DIR/jobs.json (``processes.run_worker``);
    ``... --fed NAME INDEX DIR PARTITIONS`` reads values from stdin (``feed.run_fed_reader``)."""
    if argv[:1] == ["--fed"]:
        _, name, index, out, partitions = argv
        run_fed_reader(name, int(index), Path(out), int(partitions), sys.stdin.buffer)
        return 0
    (out,) = argv
    run_worker(Path(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
