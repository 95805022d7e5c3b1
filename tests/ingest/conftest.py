"""Fixtures of the ingest tests: an S3 bucket on the moto server, reached through boto3's
standard chain with nothing but the environment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tracelens.ingest import s3

if TYPE_CHECKING:
    from pathlib import Path

#: The bucket the ``aws`` fixture creates.
BUCKET = "traces"


@pytest.fixture
def aws(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The moto endpoint in the environment, no config files, one empty bucket; a client."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = s3.client()
    client.create_bucket(Bucket=BUCKET)
    return client
