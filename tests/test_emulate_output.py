"""``emulate -o DIR``: a rerun replaces the bundle it wrote; other directories need ``--force``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cli_helpers import one_line_error, run_cli

if TYPE_CHECKING:
    from pathlib import Path


def _files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*"))


def test_rerun_removes_the_dlq_dumps_of_the_previous_scenario(tmp_path: Path) -> None:
    # GIVEN a bundle of a scenario with a DLQ dump
    bundle = tmp_path / "bundle"
    assert run_cli("emulate", "async_retry_storm", "-o", bundle).exit_code == 0
    assert list((bundle / "dlq").glob("*.json"))
    # WHEN a scenario without any DLQ is emulated into it
    result = run_cli("emulate", "healthy_api", "-o", bundle)
    # THEN no stale dump is left to be read as the new scenario's DLQ
    assert result.exit_code == 0, result.output
    assert _files(bundle) == ["config.json", "traces.ndjson", "truth.json"]
    fresh = tmp_path / "fresh"
    assert run_cli("emulate", "healthy_api", "-o", fresh).exit_code == 0
    for name in _files(fresh):
        assert (bundle / name).read_bytes() == (fresh / name).read_bytes()


def test_rerun_into_a_bundle_gives_the_same_bytes_as_a_fresh_one(tmp_path: Path) -> None:
    bundle, fresh = tmp_path / "bundle", tmp_path / "fresh"
    assert run_cli("emulate", "sqs_redrive_partial_batch", "-o", bundle).exit_code == 0
    assert run_cli("emulate", "async_sns_dlq", "--seed", "3", "-o", bundle).exit_code == 0
    assert run_cli("emulate", "async_sns_dlq", "--seed", "3", "-o", fresh).exit_code == 0
    assert _files(bundle) == _files(fresh)
    for name in _files(fresh):
        if (fresh / name).is_file():
            assert (bundle / name).read_bytes() == (fresh / name).read_bytes(), name


def test_non_bundle_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "notes"
    target.mkdir()
    (target / "incident.md").write_text("mine", encoding="utf-8")
    result = run_cli("emulate", "healthy_api", "-o", target)
    one_line_error(result, str(target), "--force")
    assert _files(target) == ["incident.md"]


def test_fetched_bundle_without_truth_is_refused(tmp_path: Path) -> None:
    # A bundle from fetch or listen holds real traces: never overwrite it silently.
    target = tmp_path / "incident"
    target.mkdir()
    (target / "traces.ndjson").write_text("{}\n", encoding="utf-8")
    result = run_cli("emulate", "healthy_api", "-o", target)
    one_line_error(result, "--force")
    assert (target / "traces.ndjson").read_text(encoding="utf-8") == "{}\n"


def test_bundle_with_foreign_files_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    assert run_cli("emulate", "healthy_api", "-o", bundle).exit_code == 0
    (bundle / "traces-extra.ndjson").write_text("{}\n", encoding="utf-8")
    one_line_error(run_cli("emulate", "healthy_api", "-o", bundle), "--force")


def test_force_writes_into_a_non_bundle_directory_and_keeps_other_files(
    tmp_path: Path,
) -> None:
    target = tmp_path / "notes"
    (target / "dlq").mkdir(parents=True)
    (target / "incident.md").write_text("mine", encoding="utf-8")
    (target / "dlq" / "old.json").write_text("{}", encoding="utf-8")
    result = run_cli("emulate", "healthy_api", "--force", "-o", target)
    assert result.exit_code == 0, result.output
    assert _files(target) == ["config.json", "incident.md", "traces.ndjson", "truth.json"]


def test_empty_directory_and_new_directory_are_fine(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli("emulate", "healthy_api", "-o", empty).exit_code == 0
    assert run_cli("emulate", "healthy_api", "-o", tmp_path / "new" / "dir").exit_code == 0


def test_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    one_line_error(run_cli("emulate", "healthy_api", "-o", target), str(target))


def test_format_spans_writes_spans_instead_of_traces(tmp_path: Path) -> None:
    spans, both, xray = tmp_path / "spans", tmp_path / "both", tmp_path / "xray"
    assert run_cli("emulate", "healthy_api", "--format", "spans", "-o", spans).exit_code == 0
    assert _files(spans) == ["config.json", "spans.ndjson", "truth.json"]
    assert run_cli("emulate", "healthy_api", "--format", "both", "-o", both).exit_code == 0
    assert _files(both) == ["config.json", "spans.ndjson", "traces.ndjson", "truth.json"]
    assert run_cli("emulate", "healthy_api", "-o", xray).exit_code == 0
    # the other files and the traces of each form are the same whatever the format
    for name in ("config.json", "truth.json", "spans.ndjson"):
        assert (spans / name).read_bytes() == (both / name).read_bytes(), name
    for name in ("config.json", "truth.json", "traces.ndjson"):
        assert (xray / name).read_bytes() == (both / name).read_bytes(), name


def test_a_rerun_in_another_format_removes_the_other_form(tmp_path: Path) -> None:
    # GIVEN a bundle the emulator wrote in both forms
    bundle = tmp_path / "bundle"
    assert run_cli("emulate", "healthy_api", "--format", "both", "-o", bundle).exit_code == 0
    # WHEN it is rewritten as X-Ray documents only, then as spans only
    # THEN no stale form is left to be read with the new run's
    assert run_cli("emulate", "async_retry_storm", "-o", bundle).exit_code == 0
    assert "spans.ndjson" not in _files(bundle)
    assert run_cli("emulate", "healthy_api", "--format", "spans", "-o", bundle).exit_code == 0
    assert _files(bundle) == ["config.json", "spans.ndjson", "truth.json"]


def test_a_spans_bundle_is_an_emulator_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    assert run_cli("emulate", "healthy_api", "--format", "spans", "-o", bundle).exit_code == 0
    result = run_cli("emulate", "healthy_api", "--format", "spans", "-o", bundle)
    assert result.exit_code == 0, result.output


def test_an_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("emulate", "healthy_api", "--format", "otlp", "-o", tmp_path / "b")
    assert result.exit_code == 2
    assert "otlp" in result.stderr
    assert not (tmp_path / "b").exists()


def test_the_format_choices_are_the_writers() -> None:
    from tracelens.commands.emulate import TRACE_FORMATS as CHOICES
    from tracelens.emulator.bundle import TRACE_FORMATS

    assert CHOICES == TRACE_FORMATS
