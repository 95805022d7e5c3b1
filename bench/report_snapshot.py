"""Write every report of every sample bundle and real trace file into one folder.

Run it before and after a change that must not change behaviour, then compare the two
folders (``diff -r BEFORE AFTER``): every report (json, text, markdown, html) of every
bundle under ``sample_traces/`` and of every file under ``../shared/real_traces`` must be
byte-identical. A file tracelens refuses is recorded as its exit code and error line.

    python bench/report_snapshot.py OUT_DIR [ANALYZE_OPTION...]

Options after OUT_DIR are given to every analyze and dashboard run, e.g. ``--partitions 7``
to check that the partitioned engine gives the same reports as one partition.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
REAL = ROOT.parent / "shared" / "real_traces"
FORMATS = {"json": "json", "text": "txt", "markdown": "md"}


def inputs() -> list[tuple[str, Path]]:
    """(name, path) of every sample bundle and real trace file, sorted."""
    found = [(f"sample_{p.name}", p) for p in sorted(SAMPLES.iterdir()) if p.is_dir()]
    if REAL.is_dir():
        found += [
            (f"real_{p.relative_to(REAL).as_posix().replace('/', '_')}", p)
            for p in sorted(REAL.rglob("*"))
            if p.is_file() and p.suffix in {".json", ".txt", ".ndjson", ".gz"}
        ]
    return found


def run(args: list[str]) -> tuple[int, bytes]:
    """Run ``tracelens ARGS`` from the repository root with a fixed terminal width."""
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-m", "tracelens", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def main() -> int:
    """Write OUT_DIR/<input>.<format> for every input and format."""
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    extra = sys.argv[2:]
    out.mkdir(parents=True, exist_ok=True)
    for name, path in inputs():
        # Paths relative to the repository root, as reports print them: the same in any clone.
        given = os.path.relpath(path, ROOT)
        for fmt, suffix in FORMATS.items():
            code, text = run(["analyze", given, "--format", fmt, *extra])
            (out / f"{name}.{suffix}").write_bytes(f"exit {code}\n".encode() + text)
        html = out / f"{name}.html"
        code, text = run(["dashboard", given, "-o", str(html.resolve()), *extra])
        if code != 0 or not html.exists():
            html.write_bytes(f"exit {code}\n".encode() + text)
    print(f"wrote {len(list(out.iterdir()))} files to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
