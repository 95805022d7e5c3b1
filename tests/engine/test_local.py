"""The local engine: any number of partitions, read in this process or in reader processes,
with stage 2 here or in partition processes, gives the same results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tracelens
from tests.cli_helpers import run_cli
from tracelens.engine.local import analyse_local
from tracelens.engine.run import EngineOptions, analyse_paths
from tracelens.ingest.files import expand_paths, read_partitioned
from tracelens.ingest.reading import ReadLimits

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
BUNDLES = sorted(p for p in SAMPLES.iterdir() if p.is_dir())


def _report(results: tracelens.AnalysisResults) -> bytes:
    return tracelens.render_json(tracelens.build_report(results, generated_by="test"))


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_partitions_give_the_report_of_one(bundle: Path) -> None:
    # GIVEN a sample bundle with its side inputs
    side = tracelens.read_side_inputs([bundle], config=None, dlq=[])
    # WHEN it is analysed as one partition and as five
    one = analyse_paths([bundle], side, EngineOptions(partitions=1))
    five = analyse_paths([bundle], side, EngineOptions(partitions=5))
    # THEN the reports are byte-identical
    assert _report(five) == _report(one)


@pytest.mark.parametrize(
    "bundle",
    [
        "async_retry_storm",
        "sqs_redrive_partial_batch",
        "kinesis_poison_bisect",
        "sync_client_retries",
    ],
)
def test_partition_processes_give_the_report_of_one(bundle: str, tmp_path: Path) -> None:
    # GIVEN a bundle read by two reader processes into four partitions spilled to files
    path = SAMPLES / bundle
    side = tracelens.read_side_inputs([path], config=None, dlq=[])
    limits = ReadLimits(parallel_min_bytes=0)
    inputs = read_partitioned(
        expand_paths([path]), tmp_path, workers=2, partitions=4, limits=limits
    )
    # WHEN each partition is settled and reduced to facts in a partition process
    results = analyse_local(inputs, side, tmp_path)
    # THEN the report is that of one partition read here, and facts came back from files
    one = analyse_paths([path], side, EngineOptions(partitions=1))
    assert _report(results) == _report(one)
    assert len(list((tmp_path / "facts").iterdir())) == 4


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_explain_over_partitions_tells_the_story_of_one(bundle: Path) -> None:
    # GIVEN the key of the first chain of a bundle (an async event, SQS message or stream
    # batch), else its first trace
    report = json.loads(run_cli("analyze", bundle, "--format", "json").stdout)
    first_document = json.loads((bundle / "traces.ndjson").read_text().splitlines()[0])
    key = report["chains"][0]["key"] if report["chains"] else first_document["trace_id"]
    # WHEN it is explained from one partition and from five
    one = run_cli("explain", key, bundle, "--format", "json", "--partitions", "1")
    five = run_cli("explain", key, bundle, "--format", "json", "--partitions", "5")
    # THEN the stories are the same, and found
    assert one.exit_code == five.exit_code == 0, (one.output, five.output)
    assert five.stdout == one.stdout
    assert json.loads(five.stdout)["found"] is True
