"""DLQ dumps on the command line: which queue a dump is, and what the report says (issue 10)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from tracelens.cli import main
from tracelens.report.markdown import escape

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
STORM_DLQ = "arn:aws:sqs:us-east-1:123456789012:invoice-renderer-dlq"


def _bundle(tmp_path: Path, name: str, drop: str) -> tuple[Path, Path]:
    """A copy of a sample bundle whose one dump lost its queue ARN key ``drop``."""
    bundle = tmp_path / name
    shutil.copytree(SAMPLES / name, bundle)
    (dump,) = sorted((bundle / "dlq").glob("*.json"))
    raw = json.loads(dump.read_text())
    del raw[drop]
    for message in raw.get("Notifications", []):
        message.pop("TopicArn", None)
    dump.write_text(json.dumps(raw))
    return bundle, dump


def test_dump_without_queue_arn_is_the_only_dlq_and_every_format_says_so(
    tmp_path: Path,
) -> None:
    # GIVEN the retry-storm bundle, its DLQ dump without QueueArn (one DLQ configured)
    bundle, dump = _bundle(tmp_path, "async_retry_storm", "QueueArn")
    note = f"{dump} has no QueueArn; taken as the only configured DLQ {STORM_DLQ}"
    # WHEN analysed, THEN the dump is compared as that DLQ's and the report says so
    result = CliRunner().invoke(main, ["analyze", str(bundle), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["input"]["notes"] == [note]
    assert report["async"]["fates"]["sent"] == 11
    assert report["async"]["fates"]["missing"] == 0
    text = CliRunner().invoke(main, ["analyze", str(bundle)])
    # rich folds long paths at any character: compare without whitespace
    assert f"note:{''.join(note.split())}" in "".join(text.stdout.split())
    markdown = CliRunner().invoke(main, ["analyze", str(bundle), "--format", "markdown"])
    assert f"- Note: {escape(note)}" in markdown.stdout


def test_dump_without_queue_arn_among_several_targets_is_one_line(tmp_path: Path) -> None:
    bundle, dump = _bundle(tmp_path, "async_sns_dlq", "TopicArn")
    result = CliRunner().invoke(main, ["analyze", str(bundle)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {dump} has no QueueArn; give it as --dlq ARN=FILE\n"


def test_dlq_spec_that_is_not_an_arn_says_so() -> None:
    result = CliRunner().invoke(
        main, ["analyze", str(SAMPLES / "async_retry_storm"), "--dlq", "notanarn=f.json"]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --dlq notanarn=f.json: 'notanarn' is not an ARN (give ARN=FILE, e.g. "
        "arn:aws:sqs:us-east-1:123456789012:my-dlq=dlq.json)\n"
    )
