"""Reader process for one byte range of a large NDJSON file (see ``files._read_parallel``)."""

from __future__ import annotations

import sys
from pathlib import Path

from tracelens.ingest.files import run_worker


def main(argv: list[str]) -> int:
    """``python -m tracelens.ingest.worker PATH INDEX START END OUT``."""
    path, index, start, end, out = argv
    run_worker(path, int(index), int(start), int(end), Path(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
