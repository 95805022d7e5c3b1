"""Read trace inputs from, and keep a work directory on, Amazon S3 (``s3://bucket/prefix``).

An ``s3://`` path names one object when that key exists, otherwise every object under the
prefix taken as a folder (``prefix/``), recursively, skipping what a local directory walk
skips (hidden names, a bundle's side files and ``dlq/`` folder, documentation). Objects are
streamed (``open_object``): never read into memory whole, seekable like a file, and a byte
range can be read on its own, so large objects can be split between readers.

Credentials and the endpoint come from boto3's standard chain (environment variables,
shared config and credentials files, SSO, container and instance roles); ``AWS_ENDPOINT_URL``
and ``AWS_ENDPOINT_URL_S3`` are honoured by botocore itself (since boto3 1.28, below the
project's minimum; checked in botocore 1.44.8's ``configprovider``). Clients cannot be
pickled, so each process makes its own, lazily.

Every botocore failure becomes one ``SourceUnavailable`` line naming the URL and what is
wrong (a missing bucket or key, the IAM action that was refused, missing credentials, an
unreachable endpoint).

Dependency rule: boto3 lives in ``acquire/`` only, with this one exception: reading inputs
from S3 is part of ingest. boto3 and botocore are imported inside the functions that use
them, so ``import tracelens`` and ``is_s3`` stay light.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from tracelens.errors import SourceUnavailable
from tracelens.model import bundle

if TYPE_CHECKING:
    from collections.abc import Iterator

#: The URL scheme (compared case-insensitively).
SCHEME = "s3://"
#: Bucket names boto3 itself accepts (botocore's ``validate_bucket_name``); the stricter
#: naming rules of new buckets are S3's to enforce, legacy buckets may break them.
_BUCKET = re.compile(r"^[A-Za-z0-9.\-_]{1,255}$")
#: Objects that are not traces (as in a local directory walk, ``tracelens.ingest.files``).
_SKIPPED_SUFFIXES = (".md", ".txt.md", ".html", ".toml", ".py")
#: DeleteObjects takes at most this many keys per call.
_DELETE_BATCH = 1000
#: Read size of the streaming adapter when a caller asks for "everything".
_CHUNK = 1 << 20

_clients_lock = threading.Lock()
_clients: dict[tuple[int, tuple[tuple[str, str], ...]], Any] = {}


@dataclass(frozen=True, order=True)
class S3Object:
    """One object: where it is, its size in bytes and its ETag (as listed).

    The ETag (``""`` when unknown) is not part of equality; when known, every read asks S3
    for that version of the object (If-Match), so reads of byte ranges of one object made
    by different processes cannot mix two versions of it.
    """

    bucket: str
    key: str
    size: int
    etag: str = field(default="", compare=False)

    @property
    def url(self) -> str:
        """``s3://bucket/key``."""
        return f"{SCHEME}{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        """The name shown in reports and rejections: the URL."""
        return self.url

    def __str__(self) -> str:
        return self.url


def is_s3(path: object) -> bool:
    """Say whether ``path`` is an ``s3://`` URL (a ``str``; a ``Path`` never is one).

    Args:
        path: A command-line path or anything else.

    Returns:
        True when ``path`` is a string starting with ``s3://`` in any case.
    """
    return isinstance(path, str) and path[: len(SCHEME)].lower() == SCHEME


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into the bucket and the key or prefix.

    Args:
        url: An ``s3://`` URL; the key may be empty (the whole bucket) and is kept verbatim
            (S3 keys may hold ``?``, ``#`` and spaces).

    Returns:
        ``(bucket, key_or_prefix)``.

    Raises:
        SourceUnavailable: Not an ``s3://`` URL, no bucket, or a bucket name S3 cannot have.
    """
    if not is_s3(url):
        raise SourceUnavailable(f"{url}: not an s3:// URL")
    rest = url[len(SCHEME) :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise SourceUnavailable(f"{url}: no bucket name (expected s3://BUCKET/PREFIX)")
    if not _BUCKET.match(bucket):
        raise SourceUnavailable(
            f"{url}: {bucket!r} is not a valid bucket name (letters, digits, '.', '-' and '_' only)"
        )
    return bucket, key


def client() -> Any:
    """A new S3 client from boto3's standard credential chain.

    ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE``, ``AWS_REGION`` and the
    rest of the standard configuration apply as for any boto3 client.

    Returns:
        A boto3 S3 client (not picklable: make one per process).

    Raises:
        SourceUnavailable: The configuration is unusable (e.g. a profile that does not exist).
    """
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.session.Session().client("s3")
    except BotoCoreError as exc:
        raise SourceUnavailable(f"cannot create an S3 client: {_first_line(exc)}") from exc


def _client(given: Any) -> Any:
    """``given``, or this process's shared client for the current AWS configuration."""
    if given is not None:
        return given
    # Keyed by process (a forked child must not share its parent's connections) and by the
    # AWS_* environment, so a changed endpoint or profile gets a client of its own.
    key = (os.getpid(), tuple(sorted((k, v) for k, v in os.environ.items() if k[:4] == "AWS_")))
    with _clients_lock:
        made = _clients.get(key)
        if made is None:
            made = client()
            _clients.clear()
            _clients[key] = made
        return made


def list_objects(url: str, client: Any = None, *, page_size: int | None = None) -> list[S3Object]:
    """The trace objects ``url`` names: the object itself when that key exists, otherwise
    every object under it taken as a folder.

    Under a folder, objects are listed recursively and skipped as a local directory walk
    skips files: names starting with ``.``, a bundle's side files (``config.json``,
    ``truth.json``), anything in a ``dlq/`` or hidden folder, documentation
    (``.md .html .toml .py``), and folder markers (keys ending in ``/``).

    Args:
        url: ``s3://bucket``, ``s3://bucket/prefix`` or ``s3://bucket/key``.
        client: An S3 client; default: this process's own (``client()``).
        page_size: Keys per ListObjectsV2 page (S3's maximum, 1000, by default).

    Returns:
        The objects, sorted by key compared folder by folder (as a local walk sorts paths).

    Raises:
        SourceUnavailable: The URL is malformed, the bucket is missing or refuses, or no
            trace object is there (``s3://b/p: no trace files found``).
    """
    bucket, key = parse_s3_url(url)
    s3 = _client(client)
    head_refused: BaseException | None = None
    if key and not key.endswith("/"):
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if not _is_aws_error(exc):
                raise
            status = _status(exc)
            if status == 403:
                # Without s3:ListBucket S3 answers 403 for a missing key too: look at the
                # folder before saying which permission is missing.
                head_refused = exc
            elif status != 404:
                _raise(url, exc, "s3:GetObject")
        else:
            return [S3Object(bucket, key, int(head["ContentLength"]), str(head.get("ETag", "")))]
    prefix = key if not key or key.endswith("/") else f"{key}/"
    found = [
        obj for obj in _list_prefix(s3, url, bucket, prefix, page_size) if _is_trace(obj, prefix)
    ]
    if not found:
        if head_refused is not None:
            _raise(url, head_refused, "s3:GetObject")
        raise SourceUnavailable(f"{url}: no trace files found")
    return sorted(found, key=lambda obj: obj.key.split("/"))


def _list_prefix(
    s3: Any, url: str, bucket: str, prefix: str, page_size: int | None
) -> Iterator[S3Object]:
    """Every object whose key starts with ``prefix`` (ListObjectsV2, all pages)."""
    config = {"PageSize": page_size} if page_size is not None else {}
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig=config
        )
        for page in pages:
            for item in page.get("Contents", ()):
                yield S3Object(
                    bucket, str(item["Key"]), int(item["Size"]), str(item.get("ETag", ""))
                )
    except Exception as exc:
        if not _is_aws_error(exc):
            raise
        _raise(url, exc, "s3:ListBucket")


def _is_trace(obj: S3Object, prefix: str) -> bool:
    """Whether an object under ``prefix`` is a trace file by the local walk's rules."""
    *folders, name = obj.key[len(prefix) :].split("/")
    if any(folder.startswith(".") or folder == bundle.DLQ_DIR for folder in folders):
        return False
    return bool(name) and not (
        name.startswith(".") or name in bundle.SIDE_FILES or name.endswith(_SKIPPED_SUFFIXES)
    )


def open_object(
    obj: S3Object, start: int = 0, end: int | None = None, *, client: Any = None
) -> BinaryIO:
    """A readable binary stream of an object, or of its bytes ``start`` to ``end - 1``.

    The body is streamed from S3 as it is read (``read(n)``, ``readline()``, ``readinto``,
    ``peek`` and iteration work as for a file); nothing is read ahead beyond a 64 KiB
    buffer. Positions (``tell``, ``seek``) are offsets in the whole object: the stream
    starts at ``start`` and ends at ``end``; a seek outside the buffer starts a new ranged
    GetObject there, so a reader can look at the first bytes and go back to 0 as in a file.
    An object whose size or ETag is no longer the listed one is refused rather than giving
    another version's bytes.

    Args:
        obj: The object (from ``list_objects``).
        start: The first byte.
        end: One past the last byte; default: the end of the object. Clamped to ``obj.size``.
        client: An S3 client; default: this process's own.

    Returns:
        The stream; close it when done.

    Raises:
        ValueError: ``start`` is negative or ``end`` is before ``start``.
        SourceUnavailable: The object cannot be read (missing, refused, changed, unreachable);
            also from a later read or seek.
    """
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"bad byte range {start}..{end} of {obj.url}")
    stop = obj.size if end is None else min(end, obj.size)
    raw = _ObjectRaw(_client(client), obj, start, stop)
    return io.BufferedReader(raw, buffer_size=1 << 16)


class _ObjectRaw(io.RawIOBase):
    """A raw stream over bytes ``[position, stop)`` of an object, one GetObject per run.

    The first GetObject is made at once, so that a missing or refused object fails on open.
    """

    def __init__(self, s3: Any, obj: S3Object, start: int, stop: int) -> None:
        super().__init__()
        self._s3 = s3
        self._obj = obj
        self._stop = stop
        self._position = start
        self._body: Any = None
        if start < stop or obj.size == 0:
            self._body = self._get(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._stop}[whence]
        target = base + offset
        if target < 0:
            raise ValueError(f"negative seek position {target} in {self._obj.url}")
        if target != self._position:
            self._drop_body()
            self._position = target
        return target

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._stop - self._position)
        if wanted <= 0:
            return 0
        if self._body is None:
            self._body = self._get(self._position)
        try:
            data = self._body.read(wanted)
        except Exception as exc:
            raise SourceUnavailable(
                f"{self._obj.url}: reading failed at byte {self._position}: {_first_line(exc)}"
            ) from exc
        n = len(data)
        view[:n] = data
        self._position += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._drop_body()
        super().close()

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def _get(self, position: int) -> Any:
        """The body of a GetObject of ``[position, stop)``, checked against the listing."""
        obj = self._obj
        ranged = position > 0 or self._stop < obj.size
        kwargs: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key}
        if ranged:
            kwargs["Range"] = f"bytes={position}-{self._stop - 1}"
        if obj.etag:
            kwargs["IfMatch"] = obj.etag
        response = _call(obj.url, "s3:GetObject", self._s3.get_object, **kwargs)
        total = _object_size(response, ranged=ranged)
        length = int(response["ContentLength"])
        if total is None:
            response["Body"].close()
            raise SourceUnavailable(
                f"{obj.url}: the endpoint ignored a byte-range request (no Content-Range in "
                "its answer), so part of the object cannot be read"
            )
        if total != obj.size or length != self._stop - position:
            response["Body"].close()
            raise SourceUnavailable(
                f"{obj.url}: the object changed while it was being read "
                f"(listed with {obj.size} bytes, now {total})"
            )
        return response["Body"]


def _object_size(response: dict[str, Any], *, ranged: bool) -> int | None:
    """The whole object's size from a GetObject response (Content-Range for a range)."""
    if not ranged:
        return int(response["ContentLength"])
    content_range = str(response.get("ContentRange", ""))
    _, _, total = content_range.rpartition("/")
    return int(total) if total.isdigit() else None


def read_bytes(url: str, *, client: Any = None) -> bytes:
    """The whole content of one (small) object, such as a manifest.

    Args:
        url: ``s3://bucket/key``.
        client: An S3 client; default: this process's own.

    Raises:
        SourceUnavailable: The object cannot be read.
    """
    bucket, key = _object_url(url)
    s3 = _client(client)
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as exc:
        if not _is_aws_error(exc):
            raise
        _raise(url, exc, "s3:GetObject")


def write_bytes(url: str, data: bytes, *, client: Any = None) -> None:
    """Write ``data`` as the object ``url`` (replacing it).

    Raises:
        SourceUnavailable: The object cannot be written.
    """
    bucket, key = _object_url(url)
    s3 = _client(client)
    _call(url, "s3:PutObject", s3.put_object, Bucket=bucket, Key=key, Body=data)


def upload_file(local: str | Path, url: str, *, client: Any = None) -> None:
    """Copy a local file to the object ``url`` (a multipart upload when it is large).

    Raises:
        SourceUnavailable: The object cannot be written.
    """
    from boto3.exceptions import S3UploadFailedError

    bucket, key = _object_url(url)
    s3 = _client(client)
    try:
        s3.upload_file(str(local), bucket, key)
    except S3UploadFailedError as exc:
        # boto3 wraps the refused call; the botocore error is the one raised inside.
        cause = exc.__cause__ or exc.__context__
        _raise(url, cause if cause is not None and _is_aws_error(cause) else exc, "s3:PutObject")
    except Exception as exc:
        if not _is_aws_error(exc):
            raise
        _raise(url, exc, "s3:PutObject")


def download_prefix(url: str, local_dir: str | Path, *, client: Any = None) -> list[Path]:
    """Copy every object under the folder ``url`` into ``local_dir``, keeping the layout.

    Unlike ``list_objects`` nothing is skipped: this is for a work directory or a dataset.

    Args:
        url: ``s3://bucket/prefix`` (taken as the folder ``prefix/``).
        local_dir: The destination directory (created when missing).
        client: An S3 client; default: this process's own.

    Returns:
        The files written, sorted.

    Raises:
        SourceUnavailable: The prefix cannot be listed, an object cannot be read or written
            locally, or a key cannot be a local path (``..``, empty parts).
    """
    bucket, key = parse_s3_url(url)
    prefix = _folder(key)
    s3 = _client(client)
    target = Path(local_dir)
    written: list[Path] = []
    for obj in _list_prefix(s3, url, bucket, prefix, None):
        relative = obj.key[len(prefix) :]
        if not relative or relative.endswith("/"):
            continue  # a folder marker
        parts = relative.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise SourceUnavailable(f"{obj.url}: this key cannot be a local file name")
        path = target.joinpath(*parts)
        with open_object(obj, client=s3) as source:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("wb") as sink:
                    shutil.copyfileobj(source, sink, _CHUNK)
            except OSError as exc:
                raise SourceUnavailable(
                    f"{path}: cannot write a copy of {obj.url}: {exc.strerror or exc}"
                ) from exc
        written.append(path)
    return sorted(written)


def delete_prefix(url: str, *, client: Any = None) -> int:
    """Delete every object under the folder ``url`` (a work directory being cleaned up).

    Args:
        url: ``s3://bucket/prefix`` (taken as the folder ``prefix/``; never a whole bucket).
        client: An S3 client; default: this process's own.

    Returns:
        The number of objects deleted.

    Raises:
        SourceUnavailable: ``url`` names a whole bucket, or listing or deleting fails.
    """
    bucket, key = parse_s3_url(url)
    if not key.strip("/"):
        raise SourceUnavailable(f"{url}: refusing to delete everything in bucket {bucket}")
    prefix = _folder(key)
    s3 = _client(client)
    keys = [obj.key for obj in _list_prefix(s3, url, bucket, prefix, None)]
    for i in range(0, len(keys), _DELETE_BATCH):
        batch = keys[i : i + _DELETE_BATCH]
        response = _call(
            url,
            "s3:DeleteObject",
            s3.delete_objects,
            Bucket=bucket,
            Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
        )
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            code = str(first.get("Code", ""))
            failed = f"{SCHEME}{bucket}/{first.get('Key', '')}"
            if code == "AccessDenied":
                raise SourceUnavailable(
                    f"{failed}: access denied (needs s3:DeleteObject on bucket {bucket}); "
                    f"{len(errors)} object(s) not deleted"
                )
            raise SourceUnavailable(
                f"{failed}: cannot delete: {code}: {_one_line(str(first.get('Message', '')))}; "
                f"{len(errors)} object(s) not deleted"
            )
    return len(keys)


def check_writable(url: str, *, client: Any = None) -> None:
    """Make sure a work directory on S3 can be written and cleaned up.

    Writes a small probe object under the folder ``url`` and deletes it again.

    Raises:
        SourceUnavailable: Naming the bucket and the permission that is missing
            (``s3:PutObject`` or ``s3:DeleteObject``), or what else is wrong.
    """
    bucket, key = parse_s3_url(url)
    probe = f"{_folder(key)}.tracelens-probe-{uuid.uuid4().hex}"
    s3 = _client(client)
    body = b"tracelens write probe\n"
    _call(url, "s3:PutObject", s3.put_object, Bucket=bucket, Key=probe, Body=body)
    _call(url, "s3:DeleteObject", s3.delete_object, Bucket=bucket, Key=probe)


def join(url: str, *names: str) -> str:
    """``url`` with ``names`` appended as folders / a file name (``join("s3://b/w", "p0")``)."""
    parse_s3_url(url)
    return "/".join([url.rstrip("/"), *(name.strip("/") for name in names)])


def _folder(key: str) -> str:
    """A key taken as a folder: ``""`` (the bucket) or ending in ``/``."""
    return key if not key or key.endswith("/") else f"{key}/"


def _object_url(url: str) -> tuple[str, str]:
    """(bucket, key) of a URL that must name an object, not a bucket or folder."""
    bucket, key = parse_s3_url(url)
    if not key or key.endswith("/"):
        raise SourceUnavailable(f"{url}: names a folder, not an object")
    return bucket, key


def _call(url: str, action: str, fn: Any, **kwargs: Any) -> Any:
    """``fn(**kwargs)``, a botocore failure raised as ``SourceUnavailable`` (``_failure``)."""
    try:
        return fn(**kwargs)
    except Exception as exc:
        if not _is_aws_error(exc):
            raise
        _raise(url, exc, action)


def _is_aws_error(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, ClientError | BotoCoreError)


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _raise(url: str, exc: BaseException, action: str) -> NoReturn:
    """Raise the one-line ``SourceUnavailable`` for a botocore failure of ``action`` on ``url``.

    Args:
        url: What was being read or written.
        exc: The botocore exception.
        action: The IAM action the call needs (named when access is denied).
    """
    raise _failure(url, exc, action) from exc


def _failure(url: str, exc: BaseException, action: str) -> SourceUnavailable:
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError

    bucket = parse_s3_url(url)[0] if is_s3(url) else "?"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = _one_line(str(error.get("Message", "")))
        status = _status(exc)
        if code == "NoSuchBucket":
            return SourceUnavailable(f"{url}: bucket {bucket} does not exist")
        if code in ("NoSuchKey", "404", "NotFound") or (status == 404 and not code):
            return SourceUnavailable(f"{url}: no such object")
        if code == "PreconditionFailed":
            return SourceUnavailable(
                f"{url}: the object changed while it was being read (its ETag is not the "
                "listed one)"
            )
        if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled") or status == 403:
            return SourceUnavailable(f"{url}: access denied (needs {action} on bucket {bucket})")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
            return SourceUnavailable(
                f"{url}: the AWS credentials were refused ({code}): check the profile or keys"
            )
        why = f"{code}: {message}" if message else code or f"HTTP {status}"
        return SourceUnavailable(f"{url}: {action} failed: {why}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return SourceUnavailable(
            f"{url}: no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or configure ~/.aws (boto3's standard credential chain)"
        )
    if isinstance(exc, EndpointConnectionError | BotoConnectionError):
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url") or "the S3 endpoint"
        return SourceUnavailable(f"{url}: cannot reach {endpoint}: {_first_line(exc)}")
    return SourceUnavailable(f"{url}: {action} failed: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    return _one_line(str(exc)) or type(exc).__name__


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


__all__ = [
    "SCHEME",
    "S3Object",
    "check_writable",
    "client",
    "delete_prefix",
    "download_prefix",
    "is_s3",
    "join",
    "list_objects",
    "open_object",
    "parse_s3_url",
    "read_bytes",
    "upload_file",
    "write_bytes",
]
