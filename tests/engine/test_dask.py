"""The Dask engine: the same reports as the local engine, on a cluster of 2 worker processes
(``conftest.dask_cluster``), with the work directory on a shared path or on S3 (moto), and
its faults: a task's error, a worker that dies, Dask missing, a work directory the workers
cannot reach."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli_helpers import one_line_error, run_cli
from tests.conftest import ROOT, require_shared

if TYPE_CHECKING:
    from distributed import Client

pytest.importorskip("distributed")

import cloudpickle
from distributed.diagnostics.plugin import WorkerPlugin

# The worker plugins below travel to the workers by value: the workers need not import tests.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SAMPLES = ROOT / "sample_traces"
BUNDLES = sorted(p for p in SAMPLES.iterdir() if p.is_dir())
BUCKET = "tracelens-work"


def report(*args: str | Path) -> bytes:
    """``tracelens analyze ARGS --format json`` written to stdout, asserting exit 0."""
    result = run_cli("analyze", *args)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def both(path: str | Path, scheduler: str, *extra: str | Path) -> tuple[bytes, bytes]:
    """The JSON report of the local engine and of the Dask engine."""
    local = report(path, "--format", "json", *extra)
    dask = report(path, "--format", "json", "--engine", "dask", "--scheduler", scheduler, *extra)
    return local, dask


def test_every_sample_bundle_gives_the_same_json_report(scheduler: str) -> None:
    for bundle in BUNDLES:
        local, dask = both(bundle, scheduler)
        assert dask == local, bundle.name


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_text_and_markdown_reports_are_the_same(scheduler: str, tmp_path: Path, fmt: str) -> None:
    for bundle in (SAMPLES / "async_retry_storm", SAMPLES / "sqs_redrive_partial_batch"):
        local, dask = tmp_path / "local", tmp_path / "dask"
        assert run_cli("analyze", bundle, "--format", fmt, "-o", local).exit_code == 0
        args = ["--engine", "dask", "--scheduler", scheduler]
        assert run_cli("analyze", bundle, "--format", fmt, "-o", dask, *args).exit_code == 0
        assert dask.read_bytes() == local.read_bytes(), bundle.name


def test_explain_on_the_cluster_is_the_same(scheduler: str) -> None:
    import tracelens

    bundle = SAMPLES / "async_retry_storm"
    frames = tracelens.read_traces([str(bundle)])
    trace = sorted(set(frames.entities.get_column("trace_id").to_list()))[0]
    args = ["explain", trace, bundle, "--format", "json"]
    local = run_cli(*args)
    dask = run_cli(*args, "--engine", "dask", "--scheduler", scheduler, "--partitions", "3")
    assert local.exit_code == 0, local.output
    assert dask.exit_code == 0, dask.output
    assert dask.stdout_bytes == local.stdout_bytes


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3000 generated segments as NDJSON, with broken lines here and there (rejections whose
    line numbers must survive reading in byte ranges)."""
    gen = require_shared("bench/gen_traces.py")
    out = tmp_path_factory.mktemp("gen") / "traces.ndjson"
    subprocess.run(
        [sys.executable, str(gen), "--segments", "3000", "--ndjson", str(out), "--seed", "7"],
        check=True,
        capture_output=True,
    )
    lines = out.read_bytes().splitlines(keepends=True)
    for at in (len(lines) * 3 // 4, len(lines) // 2, len(lines) // 5, 3):
        lines.insert(at, b'{"broken": \n')
    out.write_bytes(b"".join(lines))
    return out


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plan small inputs as large ones: NDJSON in byte ranges, a few per Dask task."""
    from tracelens.engine import cluster
    from tracelens.ingest.reading import ReadLimits

    monkeypatch.setattr(cluster, "READ_LIMITS", ReadLimits(parallel_min_bytes=0))
    monkeypatch.setattr(cluster, "RANGE_BYTES", 256 * 1024)


def test_generated_data_in_byte_ranges_gives_the_same_report(
    scheduler: str, generated: Path, small_pieces: None
) -> None:
    local, dask = both(generated, scheduler, "--partitions", "5")
    assert dask == local
    # The broken lines are rejected with their line numbers in the whole file.
    lines = generated.read_bytes().splitlines()
    broken = [n for n, line in enumerate(lines, start=1) if line.startswith(b'{"broken"')]
    rejections = json.loads(dask)["input"]["rejections"]
    assert [r["line"] for r in rejections] == broken


def test_gzip_pages_and_duplicates_across_tasks_give_the_same_report(
    scheduler: str, generated: Path, tmp_path: Path, small_pieces: None
) -> None:
    # A gzip file and a {"Traces": [...]} page (both read whole by one task), the NDJSON in
    # ranges, and every document of the gzip file a duplicate of one in the NDJSON file.
    gen = require_shared("bench/gen_traces.py")
    folder = tmp_path / "in"
    folder.mkdir()
    page = folder / "page.json"
    command = [sys.executable, str(gen), "--segments", "400", "--json", str(page), "--seed", "3"]
    subprocess.run(command, check=True, capture_output=True)
    (folder / "traces.ndjson.gz").write_bytes(gzip.compress(generated.read_bytes()))
    (folder / "traces.ndjson").write_bytes(generated.read_bytes())
    local, dask = both(folder, scheduler, "--partitions", "4")
    assert dask == local
    assert json.loads(dask)["input"]["duplicates"] > 0


def test_work_dir_on_s3_gives_the_same_report_and_is_removed(
    scheduler: str, generated: Path, endpoint: str, small_pieces: None
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET)
    local = report(generated, "--format", "json")
    args = ["--engine", "dask", "--scheduler", scheduler, "--partitions", "3"]
    dask = report(generated, "--format", "json", *args, "--work-dir", f"s3://{BUCKET}/w")
    assert dask == local
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_kept_s3_work_dir_is_printed_and_kept(scheduler: str, endpoint: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET)
    args = ["--engine", "dask", "--scheduler", scheduler, "--work-dir", f"s3://{BUCKET}/w"]
    result = run_cli("analyze", SAMPLES / "healthy_api", *args, "--keep-work-dir")
    assert result.exit_code == 0, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"work directory kept: s3://{BUCKET}/w/tracelens-work-"), line
    prefix = line.split(f"s3://{BUCKET}/", 1)[1]
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/part-")
    assert listed.get("KeyCount", 0) > 0


def test_s3_work_dir_that_cannot_be_written_is_one_line(scheduler: str, endpoint: str) -> None:
    result = run_cli(
        "analyze",
        SAMPLES / "healthy_api",
        "--engine",
        "dask",
        "--scheduler",
        scheduler,
        "--work-dir",
        "s3://no-such-bucket-here/w",
    )
    one_line_error(result, "no-such-bucket-here")


def test_s3_work_dir_needs_the_dask_engine() -> None:
    result = run_cli("analyze", SAMPLES / "healthy_api", "--work-dir", "s3://b/w")
    one_line_error(result, "s3://b/w", "--engine dask")


def test_convert_on_the_cluster_writes_the_same_dataset(scheduler: str, tmp_path: Path) -> None:
    bundle = SAMPLES / "sqs_redrive_partial_batch"
    out = tmp_path / "ds"
    args = ["--engine", "dask", "--scheduler", scheduler, "--partitions", "3"]
    result = run_cli("convert", bundle, "-o", out, *args)
    assert result.exit_code == 0, result.output
    assert report(out, "--format", "json") == report(bundle, "--format", "json")
    # A dataset is analysed on the workers too.
    local, dask = both(out, scheduler)
    assert dask == local


def test_an_error_in_a_task_is_one_line(scheduler: str, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert (
        run_cli("convert", SAMPLES / "healthy_api", "-o", out, "--partitions", "2").exit_code == 0
    )
    (out / "bucket=0001" / "entities.parquet").write_bytes(b"not parquet")
    result = run_cli("analyze", out, "--engine", "dask", "--scheduler", scheduler)
    one_line_error(result, "bucket=0001", "cannot read the dataset's partition")


def test_scheduler_without_the_dask_engine_is_a_usage_error(scheduler: str) -> None:
    result = run_cli("analyze", SAMPLES / "healthy_api", "--scheduler", scheduler)
    one_line_error(result, "--scheduler", "--engine dask")


def test_missing_dask_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    result = run_cli("analyze", SAMPLES / "healthy_api", "--engine", "dask")
    one_line_error(result, "the dask engine needs Dask: pip install 'tracelens[dask]'")


def test_without_a_scheduler_a_local_cluster_is_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TRACELENS_DASK_SCHEDULER", raising=False)
    bundle = SAMPLES / "async_retry_storm"
    work = tmp_path / "work"
    dask = report(bundle, "--format", "json", "--engine", "dask", "--work-dir", work)
    assert dask == report(bundle, "--format", "json")
    assert list(work.iterdir()) == []  # the work directory is removed


class _Elsewhere(WorkerPlugin):
    """Makes the workers behave as if on another machine: they never see the probe file."""

    name = "tracelens-test-elsewhere"

    def setup(self, worker: Any) -> None:
        from tracelens.engine import tasks

        self.saved = tasks.sees_probe
        tasks.sees_probe = lambda path, token: False

    def teardown(self, worker: Any) -> None:
        from tracelens.engine import tasks

        tasks.sees_probe = self.saved


def test_work_dir_the_workers_cannot_reach_is_one_line(
    scheduler: str, dask_client: Client, tmp_path: Path
) -> None:
    dask_client.register_plugin(_Elsewhere())
    try:
        work = tmp_path / "private"
        args = ["--engine", "dask", "--scheduler", scheduler, "--work-dir", work]
        result = run_cli("analyze", SAMPLES / "healthy_api", *args)
    finally:
        dask_client.unregister_worker_plugin(_Elsewhere.name)
    one_line_error(result, f"--work-dir {work} is not reachable from the Dask workers")
    assert list(work.iterdir()) == []


class _Killer(WorkerPlugin):
    """Kills the worker process that starts the first reading task (``once``: only the
    first time, as told by a marker file)."""

    name = "tracelens-test-killer"

    def __init__(self, marker: str, *, once: bool) -> None:
        self.marker = marker
        self.once = once

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish != "executing" or not str(key).startswith("tracelens-read-0000-"):
            return
        if self.once and os.path.exists(self.marker):
            return
        Path(self.marker).touch()
        os._exit(1)


def _with_killer(client: Client, killer: _Killer, *args: str | Path) -> Any:
    client.register_plugin(killer)
    try:
        return run_cli("analyze", *args)
    finally:
        client.unregister_worker_plugin(_Killer.name)
        client.wait_for_workers(2, timeout=60)


def test_a_worker_killed_once_is_retried_and_the_report_is_complete(
    scheduler: str, dask_client: Client, tmp_path: Path
) -> None:
    bundle = SAMPLES / "async_retry_storm"
    killer = _Killer(str(tmp_path / "killed"), once=True)
    args = [bundle, "--format", "json", "--engine", "dask", "--scheduler", scheduler]
    result = _with_killer(dask_client, killer, *args)
    assert (tmp_path / "killed").exists()
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == report(bundle, "--format", "json")


def test_a_task_that_kills_every_worker_is_one_line_and_no_report(
    scheduler: str, dask_client: Client, tmp_path: Path
) -> None:
    bundle = SAMPLES / "async_retry_storm"
    out = tmp_path / "report.json"
    killer = _Killer(str(tmp_path / "killed"), once=False)
    args = [bundle, "-o", out, "--format", "json", "--engine", "dask", "--scheduler", scheduler]
    result = _with_killer(dask_client, killer, *args)
    one_line_error(result, "a Dask worker died while running the reading of", "not written")
    assert not out.exists()


def test_ctrl_c_closes_the_cluster_and_removes_the_work_dir(
    generated: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TRACELENS_DASK_SCHEDULER", None)
    command = [sys.executable, "-m", "tracelens", "analyze", str(generated), "--engine", "dask"]
    process = subprocess.Popen(
        [*command, "--work-dir", str(work), "--format", "json", "-o", str(tmp_path / "r.json")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not list(work.glob("tracelens-work-*/read-*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # a worker is reading
    assert process.poll() is None, "finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert list(work.iterdir()) == []
    assert not (tmp_path / "r.json").exists()


def test_a_malformed_scheduler_address_is_one_line() -> None:
    args = ["--engine", "dask", "--scheduler", "nonsense::x"]
    result = run_cli("analyze", SAMPLES / "healthy_api", *args)
    one_line_error(result, "--scheduler nonsense::x", "tcp://HOST:PORT")


def test_a_scheduler_nobody_answers_at_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from tracelens.engine import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening
        result = run_cli(
            "analyze", SAMPLES / "healthy_api", "--engine", "dask", "--scheduler", address
        )
    one_line_error(result, f"cannot reach the Dask scheduler at {address}")
