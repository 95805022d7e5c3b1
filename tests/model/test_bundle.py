"""The bundle layout: what the emulator writes is what the readers look for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.emulator import load_scenario, run_scenario, write_bundle
from tracelens.ingest.files import expand_paths
from tracelens.model import bundle

if TYPE_CHECKING:
    from pathlib import Path


def test_dlq_dumps_are_sorted_json_files_only(tmp_path: Path) -> None:
    assert bundle.dlq_dumps(tmp_path) == []
    bundle.dlq_dir(tmp_path).mkdir()
    for name in ("b.json", "a.json", "notes.txt"):
        (bundle.dlq_dir(tmp_path) / name).write_text("{}", encoding="utf-8")
    (bundle.dlq_dir(tmp_path) / "c.json").mkdir()
    assert [p.name for p in bundle.dlq_dumps(tmp_path)] == ["a.json", "b.json"]


def test_an_emulated_bundle_has_the_layout_and_only_its_traces_are_read(tmp_path: Path) -> None:
    # GIVEN a bundle written by the emulator
    result = run_scenario(load_scenario("async_retry_storm"), seed=1, udp=None)
    write_bundle(result, tmp_path)

    # THEN every part is where the layout says, and reading the directory finds only traces
    assert bundle.traces_path(tmp_path).is_file()
    assert bundle.config_path(tmp_path).is_file()
    assert bundle.truth_path(tmp_path).is_file()
    assert bundle.dlq_dumps(tmp_path) == sorted(
        bundle.dlq_dump_path(tmp_path, name) for name in result.dlq
    )
    assert expand_paths([tmp_path]) == [bundle.traces_path(tmp_path)]
