"""Fixtures shared by every test package: where the shared reference tree (../shared) is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The repository root (this file is tests/conftest.py).
ROOT = Path(__file__).resolve().parent.parent
#: The shared reference tree (design notes, real X-Ray traces) next to the repository.
SHARED = ROOT.parent / "shared"


def require_shared(relative: str = "", *, shared: Path = SHARED) -> Path:
    """``../shared/<relative>`` next to the repository root, or skip (fail under CI) without it.

    Under CI (the environment variable ``CI`` set and not ``false``/``0``) a missing tree is a
    failure: a silently skipped test there would hide that it never ran.
    """
    path = shared / relative if relative else shared
    if not path.exists():
        message = f"{path} is missing (the shared reference tree next to the repository)"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message}; CI is set, so this is a failure, not a skip")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared directory next to the repository root (see ``require_shared``)."""
    return require_shared()


@pytest.fixture(scope="session")
def real_traces(shared_dir: Path) -> Path:
    """../shared/real_traces: X-Ray traces written by other people."""
    return require_shared("real_traces")
