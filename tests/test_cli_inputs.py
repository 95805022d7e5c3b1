"""The command line on inputs that are X-Ray output but not segment documents."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tracelens.cli import main

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces" / "async_retry_storm"
PAGE = {
    "TraceSummaries": [
        {"Id": "1-59602603-23fc5b688855d396af79b496", "Duration": 3.2, "HasFault": False}
    ],
    "ApproximateTime": 1499473304.0,
}


def test_trace_summaries_alone_exit_2_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "summaries.json"
    path.write_text(json.dumps(PAGE, indent=4))
    result = CliRunner().invoke(main, ["analyze", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path} is trace summaries output, not segments: "
        "fetch the traces with `tracelens fetch`\n"
    )


def test_trace_summaries_beside_traces_are_a_rejection_that_says_what_to_do(
    tmp_path: Path,
) -> None:
    path = tmp_path / "summaries.json"
    path.write_text(json.dumps(PAGE, indent=4))
    result = CliRunner().invoke(main, ["analyze", str(path), str(SAMPLE), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["input"]["documents"] == 538
    assert report["input"]["rejected"] == 1
    (finding,) = [f for f in report["findings"] if f["code"] == "INPUT_REJECTED"]
    assert "is trace summaries output, not segments" in finding["message"]
    assert "tracelens fetch" in finding["message"]
