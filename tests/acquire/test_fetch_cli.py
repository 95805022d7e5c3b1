"""`tracelens fetch` as a user runs it: a real process against moto's HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tracelens.emulator import load_scenario, run_scenario, write_bundle

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.pop("AWS_PROFILE", None)
    return subprocess.run(
        [sys.executable, "-m", "tracelens", *args, "--endpoint-url", endpoint],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
        check=False,
    )


def test_fetch_an_emulated_incident_then_analyze_it(
    tmp_path: Path, endpoint: str, client_factory: Any
) -> None:
    # GIVEN the traces of an emulated async retry storm stored in X-Ray (moto)
    bundle = tmp_path / "emulated"
    write_bundle(run_scenario(load_scenario("async_retry_storm"), seed=2), bundle)
    documents = (bundle / "traces.ndjson").read_text().splitlines()
    xray = client_factory("xray")
    for start in range(0, len(documents), 50):
        xray.put_trace_segments(TraceSegmentDocuments=documents[start : start + 50])
    times = [json.loads(d)["start_time"] for d in documents]
    since = datetime.fromtimestamp(min(times), UTC) - timedelta(minutes=1)
    until = datetime.fromtimestamp(max(times), UTC) + timedelta(minutes=10)
    # WHEN a user fetches that window into a bundle, twice (the second run resumes)
    out = tmp_path / "fetched"
    window = ["--since", since.isoformat(), "--until", until.isoformat(), "-o", str(out)]
    first = _run(["fetch", *window], endpoint)
    assert first.returncode == 0, first.stderr
    size = (out / "traces.ndjson").stat().st_size
    again = _run(["fetch", *window], endpoint)
    assert again.returncode == 0, again.stderr
    assert (out / "traces.ndjson").stat().st_size == size  # nothing fetched twice
    # THEN analysing the fetched traces with the bundle's side inputs gives the emulator's truth
    dlq = [arg for p in sorted((bundle / "dlq").glob("*.json")) for arg in ("--dlq", str(p))]
    analysed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracelens",
            "analyze",
            str(out),
            "--config",
            str(bundle / "config.json"),
            *dlq,
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert analysed.returncode == 0, analysed.stderr
    report = json.loads(analysed.stdout)
    truth = json.loads((bundle / "truth.json").read_text())["totals"]
    assert report["input"]["documents"] == len(documents)
    assert report["async"]["events"] == truth["async"]["events"]
    assert report["async"]["outcomes"] == {
        **report["async"]["outcomes"],
        **truth["async"]["outcomes"],
    }
    assert report["async"]["fates"] == {**report["async"]["fates"], **truth["async"]["fates"]}


def test_fetch_needs_a_window(tmp_path: Path, endpoint: str) -> None:
    result = _run(["fetch", "-o", str(tmp_path / "x")], endpoint)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--last" in result.stderr
