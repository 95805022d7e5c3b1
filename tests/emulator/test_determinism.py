"""Same scenario and seed give a byte-identical bundle; the checked-in samples are current."""

from __future__ import annotations

import filecmp
import importlib.util
from pathlib import Path

from tests.emulator.conftest import BUILTINS
from tracelens.emulator import load_scenario, run_scenario, write_bundle

ROOT = Path(__file__).resolve().parents[2]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_same_seed_gives_identical_bundle(tmp_path: Path) -> None:
    scenario = load_scenario("async_retry_storm")
    write_bundle(run_scenario(scenario, seed=7), tmp_path / "a")
    write_bundle(run_scenario(scenario, seed=7), tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    for rel in _files(tmp_path / "a"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_different_seed_gives_different_traces(tmp_path: Path) -> None:
    scenario = load_scenario("healthy_api")
    a = list(run_scenario(scenario, seed=1).trace_lines())
    b = list(run_scenario(scenario, seed=2).trace_lines())
    assert a != b


def test_sample_bundles_regenerate_byte_identically(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_samples", ROOT / "bench/make_samples.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = module.make_samples(tmp_path)
    assert names == BUILTINS
    samples = ROOT / "sample_traces"
    for name in names:
        assert _files(tmp_path / name) == _files(samples / name), name
        for rel in _files(tmp_path / name):
            assert filecmp.cmp(tmp_path / name / rel, samples / name / rel, shallow=False), rel
        assert sum(p.stat().st_size for p in (samples / name).rglob("*") if p.is_file()) < 2e6
