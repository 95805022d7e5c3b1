"""Fixtures shared by every test package: where the shared reference tree (../shared) is, and a
moto server on loopback for the tests that talk to AWS (acquire, ingest from S3)."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

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


#: The region of the moto server's fake account.
MOTO_REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """A moto server (real HTTP) on 127.0.0.1, a free port; yields its endpoint URL.

    Dummy credentials are set in the environment for the fixture's lifetime only.
    """
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_SESSION_TOKEN", "testing")
        mp.setenv("AWS_DEFAULT_REGION", MOTO_REGION)
        mp.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def endpoint(moto_server: str) -> str:
    """The moto endpoint, with all of moto's state reset before the test."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return moto_server
