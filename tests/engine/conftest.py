"""Fixtures of the engine tests: a Dask cluster of two worker processes on this machine,
whose workers reach the moto server of ``tests/conftest.py`` (for ``--work-dir s3://``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from distributed import Client, LocalCluster


@pytest.fixture(scope="module")
def dask_cluster(moto_server: str) -> Iterator[LocalCluster]:
    """``distributed.LocalCluster`` with 2 single-threaded worker processes.

    The workers inherit the moto endpoint and fake credentials (set before they start). A
    task whose worker dies is tried once more, then fails (``allowed-failures`` 1), so the
    fault tests stay short.
    """
    distributed = pytest.importorskip("distributed")
    import dask

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", moto_server)
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
            cluster = distributed.LocalCluster(
                n_workers=2,
                processes=True,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address=":0",
                scheduler_kwargs={"dashboard": False},
                silence_logs=50,
            )
            try:
                yield cluster
            finally:
                cluster.close()


@pytest.fixture(scope="module")
def dask_client(dask_cluster: LocalCluster) -> Iterator[Client]:
    """A client of the test cluster, for installing worker plugins."""
    from distributed import Client

    client = Client(dask_cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def scheduler(dask_cluster: LocalCluster) -> str:
    """The test cluster's scheduler address, for ``--scheduler``."""
    return str(dask_cluster.scheduler_address)
