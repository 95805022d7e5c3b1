"""Reader process: reads whole files and NDJSON byte ranges (see ``files._read_in_processes``)."""

from __future__ import annotations

import sys
from pathlib import Path

from tracelens.ingest.files import run_worker


def main(argv: list[str]) -> int:
    """``python -m tracelens.ingest.worker DIR``: run DIR/jobs.json (see ``run_worker``)."""
    (out,) = argv
    run_worker(Path(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
