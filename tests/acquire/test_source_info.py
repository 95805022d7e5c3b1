"""source.json: written by fetch, read by analyze into the report's input.acquisition."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli_helpers import one_line_error
from tracelens.errors import SideInputError
from tracelens.ingest.side import read_side_inputs
from tracelens.ingest.source_file import read_source_file
from tracelens.model.side import Acquisition
from tracelens.report.build import acquisition_note

if TYPE_CHECKING:
    from pathlib import Path

GOOD: dict[str, Any] = {
    "source_version": 1,
    "path": "transaction-search-xray",
    "segment_destination": {"Destination": "CloudWatchLogs", "Status": "ACTIVE"},
    "indexing_rules": [],
    "summary_indexing_percent": 1.0,
    "window": {},
    "counts": {},
    "notes": [],
}


def _bundle(tmp_path: Path, name: str, **changes: Any) -> Path:
    bundle = tmp_path / name
    bundle.mkdir()
    (bundle / "source.json").write_text(json.dumps({**GOOD, **changes}))
    return bundle


def test_a_bundle_source_json_becomes_the_acquisition(tmp_path: Path) -> None:
    side = read_side_inputs([_bundle(tmp_path, "b")], config=None, dlq=[])
    assert side.acquisition == Acquisition(
        path="transaction-search-xray",
        segment_destination="CloudWatchLogs",
        segment_destination_status="ACTIVE",
        summary_indexing_percent=1.0,
        file=str(tmp_path / "b" / "source.json"),
    )
    assert side.notes == ()


def test_bundles_fetched_differently_are_noted(tmp_path: Path) -> None:
    first = _bundle(tmp_path, "a")
    second = _bundle(tmp_path, "b", path="xray", segment_destination=None)
    side = read_side_inputs([first, second], config=None, dlq=[])
    assert side.acquisition is not None
    assert side.acquisition.path == "transaction-search-xray"
    assert len(side.notes) == 1
    assert "fetched in different ways" in side.notes[0]


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"summary_indexing_percent": 150}, "not a percentage"),
        ({"summary_indexing_percent": True}, "not a percentage"),
        ({"path": "somewhere"}, "path 'somewhere'"),
        ({"segment_destination": {"Destination": "S3"}}, "'S3'"),
        ({"segment_destination": {"Destination": "XRay", "Status": "ON"}}, "'ON'"),
    ],
)
def test_invalid_source_json_is_refused(
    tmp_path: Path, changes: dict[str, Any], needle: str
) -> None:
    bundle = _bundle(tmp_path, "b", **changes)
    with pytest.raises(SideInputError, match=needle):
        read_source_file(bundle / "source.json")


def test_analyze_names_a_bad_source_json_in_one_line(tmp_path: Path) -> None:
    from tests.cli_helpers import run_cli

    bundle = _bundle(tmp_path, "b", summary_indexing_percent=-3)
    from test_fetch import make_docs

    (bundle / "traces.ndjson").write_text(
        "".join(json.dumps(d) + "\n" for d in make_docs(2, seed=1))
    )
    one_line_error(run_cli("analyze", bundle), "source.json", "not a percentage")


@pytest.mark.parametrize(
    ("acquisition", "needles"),
    [
        (
            Acquisition("xray", "XRay", "ACTIVE", None, "s"),
            ["GetTraceSummaries and read with BatchGetTraces", "segment destination XRay, ACTIVE"],
        ),
        (
            Acquisition("xray", None, None, None, "s"),
            ["segment destination unknown"],
        ),
        (
            Acquisition("transaction-search-xray", "CloudWatchLogs", "ACTIVE", 2.5, "s"),
            ["BatchGetTraces cannot see", "StartTraceRetrieval", "only the 2.5% of traces"],
        ),
        (
            Acquisition("transaction-search-spans", "CloudWatchLogs", "ACTIVE", None, "s"),
            ["span events read from aws/spans", "indexed as trace summaries is unknown"],
        ),
    ],
)
def test_acquisition_note_says_how_the_traces_were_found(
    acquisition: Acquisition, needles: list[str]
) -> None:
    note = acquisition_note(acquisition)
    for needle in needles:
        assert needle in note
