"""S3 inputs wired into reading, side inputs and datasets, against a moto server on loopback.

The reports read from ``s3://`` must equal those of the same files on disk, byte for byte once
the input names (which are the URLs) are put back to the local paths.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from tests.cli_helpers import one_line_error, run_cli
from tests.ingest.conftest import BUCKET
from tracelens.errors import SourceUnavailable
from tracelens.ingest import s3
from tracelens.ingest.files import expand_paths, read_partitioned
from tracelens.ingest.processes import plan
from tracelens.ingest.reading import ReadLimits

if TYPE_CHECKING:
    from tracelens.ingest.files import Partitioned

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_traces"
#: A bundle with config.json and a dlq/ dump, so side inputs are read too.
BUNDLE = "async_retry_storm"


def upload_tree(client: Any, local: Path, prefix: str) -> None:
    for path in sorted(local.rglob("*")):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(local).as_posix()}"
            client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())


def keys(client: Any, prefix: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(str(item["Key"]) for item in listed)


def analyze_json(*args: str | Path) -> str:
    result = run_cli("analyze", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return result.stdout


# --- reports from S3 equal local reports --------------------------------------------------


def test_bundle_on_s3_gives_the_local_report(aws: Any) -> None:
    local = SAMPLES / BUNDLE
    upload_tree(aws, local, f"incidents/{BUNDLE}")
    url = f"s3://{BUCKET}/incidents/{BUNDLE}"

    remote = analyze_json(url)

    report = json.loads(remote)
    assert report["input"]["files"] == [f"{url}/traces.ndjson"]
    # config.json and dlq/ of the S3 bundle were read: the same notes and DLQ matching.
    assert remote.replace(url, str(local)) == analyze_json(local)


def test_single_gzip_object(aws: Any, tmp_path: Path) -> None:
    local = tmp_path / "traces.ndjson.gz"
    local.write_bytes(gzip.compress((SAMPLES / "healthy_api" / "traces.ndjson").read_bytes()))
    aws.put_object(Bucket=BUCKET, Key="one/traces.ndjson.gz", Body=local.read_bytes())
    url = f"s3://{BUCKET}/one/traces.ndjson.gz"
    assert analyze_json(url).replace(url, str(local)) == analyze_json(local)


def test_a_glob_in_an_s3_url_is_refused() -> None:
    with pytest.raises(SourceUnavailable, match=r"s3://traces/run/\*\.ndjson: .*glob"):
        expand_paths(["s3://traces/run/*.ndjson"])


def test_missing_bucket_is_one_line_exit_2(aws: Any) -> None:
    one_line_error(run_cli("analyze", "s3://no-such-bucket/run"), "no-such-bucket", "not exist")
    one_line_error(
        run_cli("convert", SAMPLES / "healthy_api", "-o", "s3://no-such-bucket/ds"),
        "s3://no-such-bucket/ds",
        "not exist",
    )


# --- big objects read by reader processes ------------------------------------------------


def _ndjson_with_bad_lines() -> bytes:
    lines = (SAMPLES / "async_retry_storm" / "traces.ndjson").read_bytes().splitlines()
    out: list[bytes] = []
    for number, line in enumerate(lines):
        out.append(line)
        if number % 7 == 3:
            out.append(b'{"broken": ')  # not JSON: a rejection with its line number
        if number % 11 == 5:
            out.append(b"")
    return b"\n".join(out) + b"\n"


def _summary(read: Partitioned) -> tuple[object, ...]:
    entities, links, duplicates = read.settle(0)
    stats = read.stats(duplicates)
    return (
        stats.documents,
        stats.rejected,
        stats.rejections,
        stats.files,
        entities.sort(entities.columns).to_dicts(),
        links.sort(links.columns).to_dicts(),
    )


@pytest.mark.parametrize("form", ["ndjson", "gzip", "page"])
def test_big_object_in_reader_processes_equals_one_process(
    aws: Any, tmp_path: Path, form: str
) -> None:
    body = _ndjson_with_bad_lines()
    if form == "gzip":
        body = gzip.compress(body)
    elif form == "page":
        lines = (SAMPLES / "healthy_api" / "traces.ndjson").read_bytes().splitlines()
        body = b'{"Traces": [' + b",\n".join(line for line in lines if line.strip()) + b"]}"
    aws.put_object(Bucket=BUCKET, Key="big/traces", Body=body)
    (obj,) = s3.list_objects(f"s3://{BUCKET}/big/traces")
    limits = ReadLimits(parallel_min_bytes=0, chunk_bytes=4096)

    tasks = plan([obj], 3, limits=limits)
    if form == "ndjson":
        assert len(tasks) == 3
        assert all(t.end is not None for t in tasks)
    else:
        assert [t.fed for t in tasks] == [True]

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    parallel = read_partitioned([obj], tmp_path / "a", workers=3, limits=limits)
    single = read_partitioned([obj], tmp_path / "b", workers=1, limits=limits)
    assert _summary(parallel) == _summary(single)

    # The same bytes on disk: the same rejections, line numbers included.
    local = tmp_path / "traces"
    local.write_bytes(body)
    (tmp_path / "c").mkdir()
    on_disk = read_partitioned([local], tmp_path / "c", workers=3, limits=limits)
    stats = single.stats(0)
    assert stats.files == (obj.url,)
    if form != "page":
        assert stats.rejected > 3
        assert all(r.file == obj.url and r.line for r in stats.rejections)
    local_stats = on_disk.stats(0)
    assert [(r.line, r.reason) for r in stats.rejections] == [
        (r.line, r.reason) for r in local_stats.rejections
    ]
    assert stats.documents == local_stats.documents


# --- datasets on S3 ----------------------------------------------------------------------


def test_convert_to_s3_then_analyze_from_s3(aws: Any, tmp_path: Path) -> None:
    local = SAMPLES / BUNDLE
    url = f"s3://{BUCKET}/datasets/{BUNDLE}"
    order: list[str] = []
    real_upload = s3.upload_file

    def record(source: str | Path, target: str, **kwargs: Any) -> None:
        order.append(target)
        real_upload(source, target, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(s3, "upload_file", record)
        result = run_cli("convert", local, "-o", url, "--partitions", "3")
    assert result.exit_code == 0, result.output
    assert order[-1] == f"{url}/manifest.json"
    stored = keys(aws, "datasets/")
    assert f"datasets/{BUNDLE}/bucket=0002/entities.parquet" in stored
    assert f"datasets/{BUNDLE}/config.json" in stored
    assert any(k.startswith(f"datasets/{BUNDLE}/dlq/") for k in stored)

    remote = analyze_json(url)
    # The manifest keeps the local input names; only the side inputs are read from S3.
    assert remote.replace(url, str(local)) == analyze_json(local)

    # Converting again refuses; --overwrite replaces (a stale object goes too).
    one_line_error(run_cli("convert", local, "-o", url), url, "--overwrite")
    aws.put_object(Bucket=BUCKET, Key=f"datasets/{BUNDLE}/bucket=0009/entities.parquet", Body=b"")
    result = run_cli("convert", local, "-o", url, "--overwrite", "--partitions", "2")
    assert result.exit_code == 0, result.output
    stored = keys(aws, f"datasets/{BUNDLE}/")
    assert not any("bucket=0002" in k or "bucket=0009" in k for k in stored)
    assert remote == analyze_json(url)


def test_convert_to_s3_refuses_a_prefix_with_other_objects(aws: Any) -> None:
    aws.put_object(Bucket=BUCKET, Key="busy/traces.ndjson", Body=b"{}\n")
    one_line_error(
        run_cli("convert", SAMPLES / "healthy_api", "-o", f"s3://{BUCKET}/busy"),
        f"s3://{BUCKET}/busy",
        "not a tracelens dataset",
    )
    assert keys(aws, "busy/") == ["busy/traces.ndjson"]


def test_s3_dataset_of_another_schema_version_is_refused(aws: Any, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert run_cli("convert", SAMPLES / "healthy_api", "-o", out).exit_code == 0
    manifest = msgspec.json.decode((out / "manifest.json").read_bytes())
    manifest["schema_version"] = 0
    (out / "manifest.json").write_bytes(msgspec.json.encode(manifest))
    upload_tree(aws, out, "old")
    one_line_error(run_cli("analyze", f"s3://{BUCKET}/old"), "schema version 0")


def test_an_incomplete_s3_dataset_is_not_read_as_traces(aws: Any, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert run_cli("convert", SAMPLES / "healthy_api", "-o", out).exit_code == 0
    (out / "manifest.json").unlink()
    upload_tree(aws, out, "cut")
    one_line_error(run_cli("analyze", f"s3://{BUCKET}/cut"), f"s3://{BUCKET}/cut", "dataset")


# --- a dataset inside a local directory --------------------------------------------------


def test_a_dataset_inside_a_walked_directory_is_an_error(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(SAMPLES / "healthy_api", bundle)
    expected = analyze_json(bundle)
    converted = bundle / "converted"
    assert run_cli("convert", bundle, "-o", converted).exit_code == 0
    # The dataset's Parquet files are never read as (broken) JSON traces.
    line = one_line_error(run_cli("analyze", bundle), str(converted), "dataset")
    assert "not valid JSON" not in line
    with pytest.raises(SourceUnavailable, match="dataset"):
        expand_paths([bundle])
    # Named on its own, the dataset is read.
    assert analyze_json(converted).replace(str(converted), str(bundle)) == expected


def test_a_dataset_partition_file_named_or_globbed_is_an_error(tmp_path: Path) -> None:
    converted = tmp_path / "ds"
    assert run_cli("convert", SAMPLES / "healthy_api", "-o", converted).exit_code == 0
    for given in (converted / "bucket=0000" / "entities.parquet", converted / "*" / "*.parquet"):
        with pytest.raises(SourceUnavailable, match=f"{converted}: a tracelens dataset"):
            expand_paths([str(given)])


def test_side_input_errors_name_the_s3_object(aws: Any) -> None:
    upload_tree(aws, SAMPLES / "healthy_api", "bad")
    aws.put_object(Bucket=BUCKET, Key="bad/config.json", Body=b"{not json")
    one_line_error(
        run_cli("analyze", f"s3://{BUCKET}/bad"), f"s3://{BUCKET}/bad/config.json", "not valid JSON"
    )


def test_one_object_needs_no_listing_permission(aws: Any, tmp_path: Path) -> None:
    """s3:GetObject alone reads one object: looking for dataset or bundle side files must
    not need s3:ListBucket."""
    from botocore.exceptions import ClientError

    local = SAMPLES / "healthy_api" / "traces.ndjson"
    aws.put_object(Bucket=BUCKET, Key="only/traces.ndjson", Body=local.read_bytes())
    url = f"s3://{BUCKET}/only/traces.ndjson"

    def refuse(**_: Any) -> None:
        raise ClientError(
            {
                "Error": {"Code": "AccessDenied", "Message": "denied (injected)"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            },
            "ListObjectsV2",
        )

    # The process's own client, which the command uses.
    s3._client(None).meta.events.register("before-call.s3.ListObjectsV2", refuse)
    report = json.loads(analyze_json(url))
    assert report["input"]["files"] == [url]
    one_line_error(run_cli("analyze", f"s3://{BUCKET}/only"), "s3:ListBucket")
