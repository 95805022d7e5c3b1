"""S3 inputs and work directories (tracelens.ingest.s3) against a moto server on loopback.

The code under test gets no endpoint or credentials from the tests: they are in the
environment (``AWS_ENDPOINT_URL`` and fake keys), as boto3's standard chain reads them.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import hashlib
import multiprocessing
import pickle
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.ingest.conftest import BUCKET
from tracelens.errors import SourceUnavailable
from tracelens.ingest import s3
from tracelens.ingest.files import expand_paths

if TYPE_CHECKING:
    from collections.abc import Callable


def put(client: Any, key: str, body: bytes = b'{"x": 1}\n', **extra: Any) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=body, **extra)


def raise_on(client: Any, operation: str, code: str, status: int) -> None:
    """Make every ``operation`` call of ``client`` fail with a ClientError ``code``."""
    from botocore.exceptions import ClientError

    def refuse(**_: Any) -> None:
        raise ClientError(
            {
                "Error": {"Code": code, "Message": f"{code} (injected)"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            operation,
        )

    client.meta.events.register(f"before-call.s3.{operation}", refuse)


def one_line_error(call: Callable[[], object]) -> str:
    with pytest.raises(SourceUnavailable) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- URLs ------------------------------------------------------------------------------


def test_is_s3() -> None:
    assert s3.is_s3("s3://bucket/key")
    assert s3.is_s3("S3://bucket")
    assert not s3.is_s3("traces/s3://x")
    assert not s3.is_s3("s3:/bucket/key")
    assert not s3.is_s3(Path("s3://bucket/key"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/run/2026/", ("bucket", "run/2026/")),
        ("s3://my.bucket-1/a b?c#d", ("my.bucket-1", "a b?c#d")),
    ],
)
def test_parse_s3_url(url: str, expected: tuple[str, str]) -> None:
    assert s3.parse_s3_url(url) == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("s3://", "no bucket name"),
        ("s3:///x", "no bucket name"),
        ("s3://bad bucket/x", "not a valid bucket name"),
        ("s3://b*d/x", "not a valid bucket name"),
        ("s3://host:9000/x", "not a valid bucket name"),
        ("/local/path", "not an s3:// URL"),
    ],
)
def test_parse_s3_url_refuses_malformed(url: str, says: str) -> None:
    message = one_line_error(lambda: s3.parse_s3_url(url))
    assert message.startswith(url)
    assert says in message


def test_s3_object() -> None:
    obj = s3.S3Object("b", "run/a.ndjson", 12)
    assert obj.url == obj.name == str(obj) == "s3://b/run/a.ndjson"
    assert pickle.loads(pickle.dumps(obj)) == obj


def test_client_uses_the_standard_chain(aws: Any, endpoint: str) -> None:
    assert s3.client().meta.endpoint_url == endpoint


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_other_processes_make_their_own_client(aws: Any, method: str) -> None:
    put(aws, "run/a.ndjson", b"12345")
    s3.list_objects("s3://traces/run")  # this process's client exists before the fork
    context = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        listed = pool.submit(s3.list_objects, "s3://traces/run").result(timeout=60)
        content = pool.submit(s3.read_bytes, "s3://traces/run/a.ndjson").result(timeout=60)
    assert listed == [s3.S3Object(BUCKET, "run/a.ndjson", 5)]
    assert listed[0].etag
    assert content == b"12345"


# --- listing ---------------------------------------------------------------------------

#: Keys under run/ that a local directory walk reads, and those it skips.
TRACE_KEYS = ["run/a.ndjson", "run/a-b.ndjson", "run/a/z.ndjson", "run/sub/b.json.gz"]
SKIPPED_KEYS = [
    "run/.hidden",
    "run/.git/x.ndjson",
    "run/config.json",
    "run/truth.json",
    "run/dlq/queue.json",
    "run/sub/dlq/y.json",
    "run/README.md",
    "run/notes.txt.md",
    "run/page.html",
    "run/settings.toml",
    "run/script.py",
]


def test_list_prefix_as_folder_skips_as_a_local_walk(aws: Any, tmp_path: Path) -> None:
    for key in [*TRACE_KEYS, *SKIPPED_KEYS, "run-other/x.ndjson", "runner.ndjson"]:
        put(aws, key)
    put(aws, "run/folder/", b"")  # a folder marker, as the console makes
    expected = sorted(TRACE_KEYS, key=lambda k: k.split("/"))

    for url in ("s3://traces/run", "s3://traces/run/"):
        listed = s3.list_objects(url)
        assert [o.key for o in listed] == expected
        assert all(o.bucket == BUCKET and o.size == 9 for o in listed)

    # The same tree on disk: the same files, in the same order.
    local = tmp_path / "copy"
    for key in [*TRACE_KEYS, *SKIPPED_KEYS]:
        path = local / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"{}\n")
    walked = [p.relative_to(local).as_posix() for p in expand_paths([local / "run"])]
    assert walked == expected


def test_list_whole_bucket(aws: Any) -> None:
    for key in ["b.ndjson", "a/c.ndjson", "config.json"]:
        put(aws, key)
    assert [o.key for o in s3.list_objects("s3://traces")] == ["a/c.ndjson", "b.ndjson"]


def test_list_single_key(aws: Any) -> None:
    put(aws, "run/a.ndjson", b"12345")
    put(aws, "run/a.ndjson/inner.ndjson")  # a key that exists wins over the folder
    put(aws, "run/config.json")
    assert s3.list_objects("s3://traces/run/a.ndjson") == [s3.S3Object(BUCKET, "run/a.ndjson", 5)]
    # Named explicitly, a side file is read like any file (as on disk).
    assert [o.key for o in s3.list_objects("s3://traces/run/config.json")] == ["run/config.json"]


def test_list_paginates(aws: Any) -> None:
    keys = [f"many/{i:03d}.ndjson" for i in range(25)]
    for key in keys:
        put(aws, key)
    client = s3.client()
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        "before-call.s3.ListObjectsV2", lambda params, **_: calls.append(params)
    )
    listed = s3.list_objects("s3://traces/many", client, page_size=10)
    assert [o.key for o in listed] == keys
    assert len(calls) == 3


@pytest.mark.parametrize("url", ["s3://traces/nothing", "s3://traces/docs/", "s3://traces"])
def test_list_nothing_found(aws: Any, url: str) -> None:
    put(aws, "docs/README.md")
    put(aws, "docs/dlq/q.json")
    assert one_line_error(lambda: s3.list_objects(url)) == f"{url}: no trace files found"


def test_list_missing_bucket(aws: Any) -> None:
    message = one_line_error(lambda: s3.list_objects("s3://no-such-bucket/run"))
    assert message == "s3://no-such-bucket/run: bucket no-such-bucket does not exist"


def test_list_access_denied_names_the_action(aws: Any) -> None:
    put(aws, "run/a.ndjson")
    client = s3.client()
    raise_on(client, "ListObjectsV2", "AccessDenied", 403)
    message = one_line_error(lambda: s3.list_objects("s3://traces/run", client))
    assert message == "s3://traces/run: access denied (needs s3:ListBucket on bucket traces)"


def test_list_key_refused_names_get_object(aws: Any) -> None:
    # HeadObject answers 403 both for a refused read and, without s3:ListBucket, for a
    # missing key: when the folder holds nothing either, the read permission is named.
    put(aws, "run/a.ndjson")
    client = s3.client()
    raise_on(client, "HeadObject", "403", 403)
    message = one_line_error(lambda: s3.list_objects("s3://traces/run/a.ndjson", client))
    assert message == (
        "s3://traces/run/a.ndjson: access denied (needs s3:GetObject on bucket traces)"
    )


# --- reading ---------------------------------------------------------------------------


def test_streaming_read_of_a_large_object(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.response import StreamingBody

    line = b'{"trace_id": "1-5759e988-bd862e3fe1be46a994272793", "n": %08d}\n'
    data = b"".join(line % i for i in range(20 * 1024 * 1024 // len(line % 0) + 1))
    assert len(data) > 20 * 1024 * 1024
    put(aws, "big.ndjson", data)
    (obj,) = s3.list_objects("s3://traces/big.ndjson")

    asked: list[int | None] = []
    pulled = [0]
    original = StreamingBody.read

    def spy(self: Any, amt: int | None = None) -> bytes:
        asked.append(amt)
        chunk: bytes = original(self, amt)
        pulled[0] += len(chunk)
        return chunk

    monkeypatch.setattr(StreamingBody, "read", spy)
    with s3.open_object(obj) as stream:
        first = stream.readline()
        assert first == line % 0
        assert pulled[0] < 1024 * 1024  # one line read: not the whole object
        parts = [first]
        while True:
            head = stream.read(4093)
            if not head:
                break
            parts.append(head)
            parts.append(stream.readline())
        assert stream.read() == b""
    assert None not in asked
    assert max(a for a in asked if a is not None) <= 1024 * 1024
    assert hashlib.sha256(b"".join(parts)).digest() == hashlib.sha256(data).digest()


def test_readinto_and_iteration(aws: Any) -> None:
    data = b"one\ntwo\nthree"
    put(aws, "lines.ndjson", data)
    (obj,) = s3.list_objects("s3://traces/lines.ndjson")
    with s3.open_object(obj) as stream:
        buffer = bytearray(5)
        assert stream.readinto(buffer) == 5
        assert bytes(buffer) == b"one\nt"
        assert list(stream) == [b"wo\n", b"three"]


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, None), (0, 10), (10, 20), (95, None), (95, 1000), (99, 100), (100, None), (50, 50)],
)
def test_byte_ranges(aws: Any, start: int, end: int | None) -> None:
    data = bytes(range(100))
    put(aws, "r.bin", data)
    (obj,) = s3.list_objects("s3://traces/r.bin")
    with s3.open_object(obj, start, end) as stream:
        assert stream.tell() == start
        assert stream.read() == data[start:end]
        assert stream.tell() == start + len(data[start:end])


def test_byte_range_is_a_range_request(aws: Any) -> None:
    put(aws, "r.bin", bytes(range(100)))
    (obj,) = s3.list_objects("s3://traces/r.bin")
    client = s3.client()
    ranges: list[str | None] = []
    client.meta.events.register(
        "before-call.s3.GetObject",
        lambda params, **_: ranges.append(params["headers"].get("Range")),
    )
    with s3.open_object(obj, 10, 20, client=client) as stream:
        assert stream.read() == bytes(range(10, 20))
    with s3.open_object(obj, client=client) as stream:
        assert len(stream.read()) == 100
    assert ranges == ["bytes=10-19", None]


def test_seek_behaves_as_a_local_file(aws: Any, tmp_path: Path) -> None:
    data = b"".join(b"%d %s\n" % (i, b"x" * (i % 97)) for i in range(8000))
    assert len(data) > 300_000  # several buffers
    put(aws, "lines.ndjson", data)
    (obj,) = s3.list_objects("s3://traces/lines.ndjson")
    local = tmp_path / "lines.ndjson"
    local.write_bytes(data)
    client = s3.client()
    gets: list[str | None] = []
    client.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: gets.append(params["headers"].get("Range"))
    )

    def steps(handle: Any) -> list[object]:
        seen: list[object] = [handle.read(7), handle.seek(0), handle.read(3), handle.tell()]
        for target in (200_000, 50_000, len(data) - 5):  # as the reader splits a file in ranges
            seen += [handle.seek(target), handle.readline(), handle.tell()]
        seen += [handle.seek(-10, 2), handle.read(), handle.tell(), handle.seek(3, 1)]
        seen += [handle.seek(1000), handle.read(20), handle.tell()]
        return seen

    with local.open("rb") as handle:
        expected = steps(handle)
    with s3.open_object(obj, client=client) as stream:
        assert stream.seekable()
        assert steps(stream) == expected
    # The rewind after the first bytes stays in the buffer; each far seek is one ranged GET.
    assert gets[0] is None
    last = len(data) - 1
    assert gets[1:] == [
        f"bytes=200000-{last}",
        f"bytes=50000-{last}",
        f"bytes={last - 4}-{last}",
        f"bytes={last - 9}-{last}",
        f"bytes=1000-{last}",
    ]


def test_seek_in_a_range_ends_at_the_range_end(aws: Any) -> None:
    put(aws, "r.bin", bytes(range(100)))
    (obj,) = s3.list_objects("s3://traces/r.bin")
    with s3.open_object(obj, 10, 20) as stream:
        assert stream.seek(0, 2) == 20
        assert stream.seek(15) == 15
        assert stream.read() == bytes(range(15, 20))
        assert stream.seek(5) == 5
        assert stream.read(3) == bytes(range(5, 8))


@pytest.mark.parametrize(("start", "end"), [(-1, None), (10, 5)])
def test_bad_byte_range(start: int, end: int | None) -> None:
    with pytest.raises(ValueError, match="bad byte range"):
        s3.open_object(s3.S3Object("b", "k", 100), start, end)


def test_gzip_object_bytes_intact(aws: Any) -> None:
    text = b'{"id": "1"}\n' * 1000
    compressed = gzip.compress(text, mtime=0)
    put(aws, "t.ndjson.gz", compressed, ContentEncoding="gzip", ContentType="application/json")
    (obj,) = s3.list_objects("s3://traces/t.ndjson.gz")
    assert obj.size == len(compressed)
    with s3.open_object(obj) as stream:
        raw = stream.read()
    assert raw == compressed
    assert gzip.decompress(raw) == text
    with s3.open_object(obj) as stream:
        assert stream.peek(2)[:2] == b"\x1f\x8b"  # the form is detected by content
        with gzip.GzipFile(fileobj=stream) as unzipped:
            assert list(unzipped) == text.splitlines(keepends=True)


def test_object_changed_since_listing_is_refused(aws: Any) -> None:
    # Without an ETag (an object not from a listing) the size still tells.
    put(aws, "run/a.ndjson", b"0123456789")
    obj = s3.S3Object(BUCKET, "run/a.ndjson", 10)
    put(aws, "run/a.ndjson", b"0123456789abcdef")
    message = one_line_error(lambda: s3.open_object(obj))
    assert message == (
        "s3://traces/run/a.ndjson: the object changed while it was being read "
        "(listed with 10 bytes, now 16)"
    )
    assert "changed" in one_line_error(lambda: s3.open_object(obj, 2, 5))


def test_object_replaced_since_listing_is_refused(aws: Any) -> None:
    # Same size, other bytes: only the ETag tells the versions apart.
    put(aws, "run/a.ndjson", b"0123456789")
    (obj,) = s3.list_objects("s3://traces/run")
    assert obj.etag
    put(aws, "run/a.ndjson", b"9876543210")
    for start, end in ((0, None), (2, 5)):
        message = one_line_error(lambda start=start, end=end: s3.open_object(obj, start, end))
        assert message == (
            "s3://traces/run/a.ndjson: the object changed while it was being read "
            "(its ETag is not the listed one)"
        )


def test_ignored_byte_range_is_refused(aws: Any) -> None:
    put(aws, "r.bin", bytes(range(100)))
    (obj,) = s3.list_objects("s3://traces/r.bin")
    client = s3.client()

    def drop_content_range(parsed: dict[str, Any], **_: Any) -> None:
        parsed.pop("ContentRange", None)

    client.meta.events.register("after-call.s3.GetObject", drop_content_range)
    message = one_line_error(lambda: s3.open_object(obj, 10, 20, client=client))
    assert message.startswith("s3://traces/r.bin: the endpoint ignored a byte-range request")


def test_read_failing_mid_stream(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ReadTimeoutError
    from botocore.response import StreamingBody

    put(aws, "a.ndjson", b"x" * 300_000)
    (obj,) = s3.list_objects("s3://traces/a.ndjson")
    original = StreamingBody.read
    served = [0]

    def flaky(self: Any, amt: int | None = None) -> bytes:
        if served[0] >= 100_000:
            raise ReadTimeoutError(endpoint_url="http://s3")
        chunk: bytes = original(self, amt)
        served[0] += len(chunk)
        return chunk

    monkeypatch.setattr(StreamingBody, "read", flaky)
    with s3.open_object(obj) as stream:
        message = one_line_error(stream.read)
    assert message.startswith(f"s3://traces/a.ndjson: reading failed at byte {served[0]}: ")


def test_missing_key(aws: Any) -> None:
    gone = s3.S3Object(BUCKET, "gone.ndjson", 3)
    assert one_line_error(lambda: s3.open_object(gone)) == "s3://traces/gone.ndjson: no such object"
    assert (
        one_line_error(lambda: s3.read_bytes("s3://traces/gone.ndjson"))
        == "s3://traces/gone.ndjson: no such object"
    )


def test_missing_bucket_on_read(aws: Any) -> None:
    message = one_line_error(lambda: s3.read_bytes("s3://no-such-bucket/k"))
    assert message == "s3://no-such-bucket/k: bucket no-such-bucket does not exist"


def test_get_object_access_denied(aws: Any) -> None:
    put(aws, "a.ndjson")
    client = s3.client()
    raise_on(client, "GetObject", "AccessDenied", 403)
    obj = s3.S3Object(BUCKET, "a.ndjson", 9)
    assert one_line_error(lambda: s3.open_object(obj, client=client)) == (
        "s3://traces/a.ndjson: access denied (needs s3:GetObject on bucket traces)"
    )


# --- configuration errors --------------------------------------------------------------


def test_no_credentials(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    message = one_line_error(lambda: s3.list_objects("s3://traces/run"))
    assert message.startswith("s3://traces/run: no AWS credentials found: set AWS_PROFILE")


def test_unknown_profile(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    message = one_line_error(lambda: s3.list_objects("s3://traces/run"))
    assert message.startswith("cannot create an S3 client: ")
    assert "no-such-profile" in message


def test_endpoint_unreachable(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    message = one_line_error(lambda: s3.list_objects("s3://traces/run"))
    assert message.startswith(f"s3://traces/run: cannot reach http://127.0.0.1:{port}")


def test_service_specific_endpoint_wins(
    aws: Any, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(aws, "run/a.ndjson")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    assert [o.key for o in s3.list_objects("s3://traces/run")] == ["run/a.ndjson"]


# --- work directory --------------------------------------------------------------------


def test_write_and_read_bytes(aws: Any) -> None:
    s3.write_bytes("s3://traces/work/manifest.json", b'{"v": 1}')
    assert s3.read_bytes("s3://traces/work/manifest.json") == b'{"v": 1}'
    assert "names a folder" in one_line_error(lambda: s3.read_bytes("s3://traces/work/"))
    assert "names a folder" in one_line_error(lambda: s3.write_bytes("s3://traces", b""))


def test_upload_and_download_prefix(aws: Any, tmp_path: Path) -> None:
    big = tmp_path / "big.arrow"
    big.write_bytes(bytes(range(256)) * (9 * 1024 * 1024 // 256))  # above the multipart threshold
    s3.upload_file(big, "s3://traces/work/part-0/big.arrow")
    s3.write_bytes("s3://traces/work/config.json", b"{}")
    s3.write_bytes("s3://traces/work/.hidden", b"h")
    s3.write_bytes("s3://traces/workers/other", b"not in work/")
    put(aws, "work/empty/", b"")

    written = s3.download_prefix("s3://traces/work", tmp_path / "down")
    down = tmp_path / "down"
    assert written == sorted([down / ".hidden", down / "config.json", down / "part-0/big.arrow"])
    assert (down / "part-0/big.arrow").read_bytes() == big.read_bytes()
    assert (down / "config.json").read_bytes() == b"{}"


def test_download_refuses_keys_that_escape(aws: Any, tmp_path: Path) -> None:
    put(aws, "work/../escape")
    message = one_line_error(lambda: s3.download_prefix("s3://traces/work", tmp_path / "d"))
    assert message == "s3://traces/work/../escape: this key cannot be a local file name"
    assert not (tmp_path / "escape").exists()


def test_download_into_an_unwritable_place(aws: Any, tmp_path: Path) -> None:
    put(aws, "work/p/a.arrow")
    (tmp_path / "file").write_bytes(b"")
    message = one_line_error(lambda: s3.download_prefix("s3://traces/work", tmp_path / "file"))
    assert message.startswith(f"{tmp_path / 'file' / 'p' / 'a.arrow'}: cannot write a copy of ")


def test_upload_refused_names_put_object(aws: Any, tmp_path: Path) -> None:
    local = tmp_path / "f"
    local.write_bytes(b"x")
    client = s3.client()
    raise_on(client, "PutObject", "AccessDenied", 403)
    assert one_line_error(lambda: s3.upload_file(local, "s3://traces/w/f", client=client)) == (
        "s3://traces/w/f: access denied (needs s3:PutObject on bucket traces)"
    )


def test_delete_prefix(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3, "_DELETE_BATCH", 10)  # S3 takes 1000 keys a call; 3 calls here
    keys = [f"work/p{i % 3}/{i:04d}.arrow" for i in range(23)]
    for key in keys:
        put(aws, key)
    calls: list[int] = []
    client = s3.client()
    client.meta.events.register(
        "before-call.s3.DeleteObjects", lambda params, **_: calls.append(len(params["body"]))
    )
    put(aws, "work-kept/a")
    put(aws, "kept")
    assert s3.delete_prefix("s3://traces/work", client=client) == len(keys)
    assert len(calls) == 3
    remaining = client.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert sorted(o["Key"] for o in remaining) == ["kept", "work-kept/a"]
    assert s3.delete_prefix("s3://traces/work") == 0


@pytest.mark.parametrize("url", ["s3://traces", "s3://traces/", "s3://traces//"])
def test_delete_prefix_refuses_a_whole_bucket(aws: Any, url: str) -> None:
    put(aws, "kept")
    message = one_line_error(lambda: s3.delete_prefix(url))
    assert message == f"{url}: refusing to delete everything in bucket traces"
    assert s3.read_bytes("s3://traces/kept")


def test_check_writable(aws: Any) -> None:
    s3.check_writable("s3://traces/work")
    assert "Contents" not in aws.list_objects_v2(Bucket=BUCKET)  # the probe is gone


def test_check_writable_missing_bucket(aws: Any) -> None:
    message = one_line_error(lambda: s3.check_writable("s3://no-such-bucket/work"))
    assert message == "s3://no-such-bucket/work: bucket no-such-bucket does not exist"


@pytest.mark.parametrize(
    ("operation", "action"), [("PutObject", "s3:PutObject"), ("DeleteObject", "s3:DeleteObject")]
)
def test_check_writable_names_the_missing_permission(aws: Any, operation: str, action: str) -> None:
    client = s3.client()
    raise_on(client, operation, "AccessDenied", 403)
    message = one_line_error(lambda: s3.check_writable("s3://traces/work", client=client))
    assert message == f"s3://traces/work: access denied (needs {action} on bucket traces)"


def test_join() -> None:
    assert s3.join("s3://b/work/", "p0", "part.arrow") == "s3://b/work/p0/part.arrow"
    assert s3.join("s3://b", "x") == "s3://b/x"
