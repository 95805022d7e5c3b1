"""tracelens convert: a Parquet dataset that every report command reads like its input."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import one_line_error, run_cli
from tracelens.engine.dataset import MANIFEST, SCHEMA_VERSION

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
BUNDLE = SAMPLES / "async_sns_dlq"  # traces, config.json and a DLQ dump


def _convert(out: Path, *args: str | Path) -> None:
    result = run_cli("convert", BUNDLE, "-o", out, *args)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"wrote {out}: ")


def test_a_dataset_gives_the_reports_of_its_input(tmp_path: Path) -> None:
    # GIVEN a bundle converted into three partitions
    out = tmp_path / "ds"
    _convert(out, "--partitions", "3")
    # THEN the dataset holds the partitions, the side inputs and the manifest
    assert sorted(p.name for p in out.iterdir()) == [
        "bucket=0000",
        "bucket=0001",
        "bucket=0002",
        "config.json",
        "dlq",
        MANIFEST,
    ]
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["files"] == [str(BUNDLE / "traces.ndjson")]
    # AND every report of the dataset equals the report of the bundle
    for fmt in ("json", "text", "markdown"):
        direct = run_cli("analyze", BUNDLE, "--format", fmt)
        converted = run_cli("analyze", out, "--format", fmt)
        assert converted.exit_code == direct.exit_code == 0
        assert converted.stdout == direct.stdout


def test_convert_refuses_to_replace_a_dataset_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _convert(out)
    one_line_error(run_cli("convert", BUNDLE, "-o", out), "already holds a dataset", "--overwrite")
    _convert(out, "--overwrite", "--partitions", "2")
    assert json.loads((out / MANIFEST).read_text())["partitions"] == 2
    assert not (out / "bucket=0002").exists()


def test_convert_never_writes_into_a_directory_of_other_files(tmp_path: Path) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    one_line_error(run_cli("convert", BUNDLE, "-o", out, "--overwrite"), "not a tracelens dataset")
    assert (out / "keep.txt").read_text() == "mine"


def test_a_dataset_without_its_manifest_is_incomplete(tmp_path: Path) -> None:
    # GIVEN a convert that stopped before writing its manifest (written last)
    out = tmp_path / "ds"
    _convert(out)
    (out / MANIFEST).unlink()
    # THEN analysing it is a clear error, never a report of part of the data
    one_line_error(run_cli("analyze", out), "incomplete dataset", "convert")


def test_a_dataset_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _convert(out)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["schema_version"] = SCHEMA_VERSION - 1 if SCHEMA_VERSION > 1 else 99
    (out / MANIFEST).write_text(json.dumps(manifest))
    line = one_line_error(run_cli("analyze", out), "schema version", "convert the input again")
    assert str(manifest["schema_version"]) in line


def test_a_dataset_is_analysed_on_its_own(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _convert(out)
    one_line_error(run_cli("analyze", out, BUNDLE), "is a dataset")


def test_a_dataset_with_other_columns_is_refused(tmp_path: Path) -> None:
    # GIVEN a dataset whose partition files do not have this version's columns
    import polars as pl

    out = tmp_path / "ds"
    _convert(out)
    part = out / "bucket=0000" / "entities.parquet"
    pl.read_parquet(part).drop("operation").write_parquet(part)
    one_line_error(run_cli("analyze", out), "columns differ from schema version")


def test_explain_reads_a_dataset(tmp_path: Path) -> None:
    # GIVEN the async_retry_storm bundle converted
    bundle = SAMPLES / "async_retry_storm"
    out = tmp_path / "ds"
    assert run_cli("convert", bundle, "-o", out, "--partitions", "4").exit_code == 0
    # WHEN a request is explained from the dataset and from the bundle
    key = "b5050d2e-0666-41d5-be3e-2b1a04306e75"
    from_dataset = json.loads(run_cli("explain", key, out, "--format", "json").stdout)
    from_bundle = json.loads(run_cli("explain", key, bundle, "--format", "json").stdout)
    # THEN the stories are the same (the DLQ dump is the dataset's copy)
    assert from_dataset["found"] is True
    assert json.dumps(from_dataset).replace(str(out), "B") == json.dumps(from_bundle).replace(
        str(bundle), "B"
    )
