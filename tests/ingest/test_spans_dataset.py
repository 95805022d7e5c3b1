"""``convert`` of a bundle of spans gives a dataset with the report of the X-Ray bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tracelens", *args], capture_output=True, check=True, text=True
    )
    return done.stdout


def _report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(_run("analyze", str(path), "--format", "json", "-q"))
    report["input"] = {
        k: v
        for k, v in report["input"].items()
        if k not in ("files", "documents", "duplicates", "generated_at")
    }
    report.pop("generated_at", None)
    return report


def test_a_dataset_of_spans_gives_the_report_of_the_documents(tmp_path: Path) -> None:
    # GIVEN one run written as X-Ray documents and as aws/spans events
    for form in ("xray", "spans"):
        _run(
            "emulate",
            "async_retry_storm",
            "--seed",
            "7",
            "--format",
            form,
            "-q",
            "-o",
            str(tmp_path / form),
        )
    # WHEN the spans bundle is converted to a dataset
    _run("convert", str(tmp_path / "spans"), "-o", str(tmp_path / "spans.parquet"), "-q")
    # THEN the dataset, the spans bundle and the X-Ray bundle give one report
    xray = _report(tmp_path / "xray")
    assert _report(tmp_path / "spans.parquet") == xray
    assert _report(tmp_path / "spans") == xray


def test_gzipped_spans_on_s3_give_the_local_frames(aws: Any, tmp_path: Path) -> None:
    import gzip

    from _docs import async_request, write_lines
    from _spans import to_spans
    from test_spans import assert_same_frames

    from tests.ingest.conftest import BUCKET
    from tracelens.ingest import read_traces

    local = write_lines(tmp_path / "spans.ndjson", to_spans(async_request()))
    aws.put_object(Bucket=BUCKET, Key="run/spans.ndjson.gz", Body=gzip.compress(local.read_bytes()))
    remote = read_traces([f"s3://{BUCKET}/run/spans.ndjson.gz"])
    assert remote.stats.rejected == 0
    assert_same_frames(remote, read_traces([local]))
