"""The JSON Schema of the ``tracelens.report/1`` contract, shipped inside the package."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, cast

SCHEMA_FILE = "report.schema.json"


def report_schema() -> dict[str, Any]:
    """Load the JSON Schema (draft 2020-12) that every JSON report validates against.

    Returns:
        The schema as a fresh dict (callers may modify it).

    Example:
        >>> report_schema()["$schema"]
        'https://json-schema.org/draft/2020-12/schema'
    """
    text = resources.files("tracelens.report").joinpath(SCHEMA_FILE).read_text("utf-8")
    return cast("dict[str, Any]", json.loads(text))
