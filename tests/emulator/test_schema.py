"""Every emitted document validates against AWS's segment document schema v1.0.0."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema  # type: ignore[import-untyped]
import pytest

if TYPE_CHECKING:
    from tracelens.emulator import EmulationResult

# ../shared next to the repository root (where the project keeps its shared design data).
SCHEMA_PATH = (
    Path(__file__).resolve().parents[2].parent
    / "shared/real_traces/cookpad-aws-xray/xray-segmentdocument-schema-v1.0.0.json"
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    if not SCHEMA_PATH.exists():
        if os.environ.get("CI"):
            pytest.fail(f"AWS segment document schema not found at {SCHEMA_PATH}")
        pytest.skip(f"AWS segment document schema not available at {SCHEMA_PATH}")
    schema = json.loads(SCHEMA_PATH.read_text())
    # The schema predates `links` and `inferred` but does not forbid extra top-level or
    # subsegment properties (no additionalProperties: false there), so documents with
    # `links` still validate unchanged.
    assert "additionalProperties" not in schema
    assert "additionalProperties" not in schema["definitions"]["subsegment"]
    return jsonschema.Draft4Validator(schema)


def test_every_document_validates(
    builtin: EmulationResult, validator: jsonschema.Draft4Validator
) -> None:
    for line in builtin.trace_lines():
        doc = json.loads(line)
        errors = list(validator.iter_errors(doc))
        assert not errors, (doc["id"], errors[0].message)


def test_document_basics(builtin: EmulationResult) -> None:
    trace_re = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")
    keys = []
    for doc in builtin.documents:
        assert re.fullmatch(r"[0-9a-f]{16}", doc["id"])
        assert trace_re.match(doc["trace_id"])
        assert doc["end_time"] >= doc["start_time"]
        assert "in_progress" not in doc
        keys.append((doc["start_time"], doc["id"]))
    assert keys == sorted(keys)
