"""Reader process for ``processes.read_in_processes``: whole files and NDJSON byte ranges."""

from __future__ import annotations

import sys
from pathlib import Path

from tracelens.ingest.processes import run_worker


def main(argv: list[str]) -> int:
    """``python -m tracelens.ingest.worker DIR``: run DIR/jobs.json (see ``run_worker``)."""
    (out,) = argv
    run_worker(Path(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
