"""Regenerate sample_traces/<scenario>/ for every built-in scenario (seed 1)."""

from __future__ import annotations

import sys
from pathlib import Path

from tracelens.emulator import list_scenarios, load_scenario, run_scenario, write_bundle

SEED = 1


def make_samples(root: Path) -> list[str]:
    """Write one bundle per built-in scenario under ``root``; return the scenario names."""
    names = []
    for name, _ in list_scenarios():
        write_bundle(run_scenario(load_scenario(name), seed=SEED), root / name)
        names.append(name)
    return names


def main() -> int:
    """Regenerate the checked-in samples next to this script's repository root."""
    root = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "sample_traces"
    )
    for name in make_samples(root):
        print(f"wrote {root / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
