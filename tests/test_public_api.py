"""The public API: ``tracelens.__all__`` is sorted, complete, and importing it stays light."""

from __future__ import annotations
import __future__

import subprocess
import sys
import types

import pytest

import tracelens


def test_all_is_sorted() -> None:
    assert tracelens.__all__ == sorted(tracelens.__all__)


def test_all_equals_the_public_names() -> None:
    public = {
        name
        for name in dir(tracelens)
        # submodules appear as attributes once imported; lazy names are not resolved here
        if not name.startswith("_")
        and not isinstance(vars(tracelens).get(name), types.ModuleType)
        and vars(tracelens).get(name) is not __future__.annotations
    }
    assert public | {"__version__"} == set(tracelens.__all__)


def test_every_exported_name_resolves() -> None:
    # the analysis modules are written in parallel; this runs as soon as they exist
    pytest.importorskip("tracelens.report.build")
    pytest.importorskip("tracelens.report.story")
    missing = []
    for name in tracelens.__all__:
        try:
            getattr(tracelens, name)
        except (AttributeError, ImportError):
            missing.append(name)
    assert missing == []


def test_import_is_light() -> None:
    code = (
        "import sys, tracelens\n"
        "heavy = ('boto3', 'botocore', 'plotly', 'aws_xray_sdk', 'polars', 'rich', 'click')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == ""


def test_cli_imports_no_aws_or_plotly() -> None:
    code = (
        "import sys, tracelens.cli\n"
        "heavy = ('boto3', 'botocore', 'plotly', 'aws_xray_sdk')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == ""
