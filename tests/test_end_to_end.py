"""End to end through real processes: emulate --udp into listen, then analyze matches truth."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.emulator.oracle import compare

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracelens", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


@pytest.mark.parametrize("scenario", ["async_retry_storm", "sqs_redrive_partial_batch"])
def test_emulate_over_udp_into_listen_then_analyze_matches_truth(
    tmp_path: Path, scenario: str
) -> None:
    # GIVEN a listener process acting as the X-Ray daemon on a free loopback port
    port = _free_udp_port()
    received = tmp_path / "received.ndjson"
    listener = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracelens",
            "listen",
            "--bind",
            f"127.0.0.1:{port}",
            "-o",
            str(received),
            "--duration",
            "240",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)  # let it bind
        # WHEN the emulator sends every document to it while writing its bundle
        bundle = tmp_path / "bundle"
        emulated = _cli(
            "emulate", scenario, "--seed", "5", "--udp", f"127.0.0.1:{port}", "-o", str(bundle)
        )
        assert emulated.returncode == 0, emulated.stderr
        expected = _lines(bundle / "traces.ndjson")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            not received.exists() or _lines(received) < expected
        ):
            time.sleep(0.2)
    finally:
        listener.send_signal(signal.SIGTERM)
        _, stderr = listener.communicate(timeout=30)
    # THEN nothing was lost, the listener said so, and analysing what it wrote gives truth
    assert listener.returncode == 0, stderr
    assert _lines(received) == expected
    assert "received" in stderr
    assert "malformed" in stderr
    analysed = _cli(
        "analyze",
        str(received),
        "--config",
        str(bundle / "config.json"),
        *[arg for p in sorted((bundle / "dlq").glob("*.json")) for arg in ("--dlq", str(p))],
        "--format",
        "json",
    )
    assert analysed.returncode == 0, analysed.stderr
    report = json.loads(analysed.stdout)
    # every figure of the truth, as the emulator round-trip tests compare them
    problems = compare(json.loads((bundle / "truth.json").read_text()), report)
    assert not problems, problems.text()
    assert os.path.getsize(received) > 0


@pytest.mark.parametrize("bundle", ["async_dropped", "sqs_redrive_partial_batch"])
def test_json_report_is_byte_identical_across_runs(bundle: str) -> None:
    runs = {_cli("analyze", f"sample_traces/{bundle}", "--format", "json").stdout for _ in range(4)}
    assert len(runs) == 1
    assert '"schema": "tracelens.report/1"' in runs.pop()


def test_sample_bundles_analysed_together_add_up() -> None:
    bundles = sorted(str(p) for p in (ROOT / "sample_traces").iterdir() if p.is_dir())
    together = json.loads(_cli("analyze", *bundles, "--format", "json").stdout)
    alone = [json.loads(_cli("analyze", b, "--format", "json").stdout) for b in bundles]
    assert together["input"]["duplicates"] == 0
    assert together["input"]["documents"] == sum(r["input"]["documents"] for r in alone)
    assert together["async"]["events"] == sum(r["async"]["events"] for r in alone)
    assert together["sqs"]["messages"] == sum(r["sqs"]["messages"] for r in alone)


def test_readme_scenario_example_runs(tmp_path: Path) -> None:
    import re

    text = (ROOT / "README.md").read_text()
    # The scenario example: the TOML block that declares callers (the README also shows a
    # dashboard spec in TOML).
    blocks = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    examples = [b for b in blocks if "[[callers]]" in b]
    assert len(examples) == 1
    scenario = tmp_path / "small.toml"
    scenario.write_text(examples[0])
    assert _cli("emulate", str(scenario), "-o", str(tmp_path / "out")).returncode == 0
    report = json.loads(_cli("analyze", str(tmp_path / "out"), "--format", "json").stdout)
    assert report["async"]["events"] > 0
