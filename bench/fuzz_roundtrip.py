"""Search for emulator scenarios whose traces tracelens reads differently from the truth.

The test suite runs the same round trip on 20 fixed scenarios; this script draws as many new
ones as asked (Hypothesis, random each run) and prints every scenario whose report disagrees
with the emulator's ``truth.json``, with the differences, then stops at the first one after
shrinking it. A case it finds becomes a named regression scenario in
``tests/emulator/test_roundtrip.py``.

Usage:
    python bench/fuzz_roundtrip.py [EXAMPLES]     (default 200)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.emulator.oracle import analyse_bundle, compare  # noqa: E402
from tests.emulator.test_random_scenarios import scenarios  # noqa: E402
from tracelens.emulator import run_scenario, write_bundle  # noqa: E402
from tracelens.emulator.scenario import parse_scenario  # noqa: E402


def main() -> int:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    work = Path(tempfile.mkdtemp(prefix="tracelens-fuzz-"))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(scenarios(), st.integers(0, 1000))
    def check(data: dict[str, Any], seed: int) -> None:
        result = run_scenario(parse_scenario(data, "<fuzz>"), seed=seed)
        assume(result.lines)
        out = work / f"s{seed}"
        shutil.rmtree(out, ignore_errors=True)
        write_bundle(result, out)
        problems = compare(result.truth, analyse_bundle(out))
        if problems:
            print(f"scenario {data!r} seed {seed}:\n{problems.text()}\n", flush=True)
        assert not problems

    try:
        check()
    except AssertionError:
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{examples} scenarios: every report agrees with its truth")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
