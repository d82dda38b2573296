"""S3 inputs and outputs through s3fs: the input tarball, the output tree, its messages.

``s3://bucket/prefix`` as an input holds ``<prefix>/<ipppssoot>.tar.gz`` (CALDP's layout);
:func:`download_inputs` fetches it. As an output, :class:`S3Store` gives the same
operations as the local :class:`~caldp.storage.Store`, so ``data/…``, ``logs/``,
``previews/`` and ``messages/<state>/<ipppssoot>`` land under the prefix.

Every upload is atomic per object (S3 shows an object only once its single PUT or its
multipart upload completes; s3fs switches to multipart from twice :data:`CHUNK_SIZE` and
aborts the upload if a part fails) and verified: the object's size, and its ETag when the
server gives one (single-part: the MD5 of the bytes; multipart: the MD5 of the parts'
MD5s, ``-N``). A failed operation is retried :data:`TRIES` times with a doubling delay from
:data:`BACKOFF_START` up to :data:`BACKOFF_MAX` seconds, then raises :class:`S3Error`.
``move`` is copy, verify, delete.

Credentials and endpoint come from the standard AWS environment and config files
(``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_S3`` honoured); they are never logged. Each
store makes its own s3fs instance (no instance cache, no listings cache), so tests that
start and stop local servers never see a stale client.

>>> S3Store("s3://bucket/some/prefix/").uri, S3Store("bucket").key("a/b")
('s3://bucket/some/prefix', 'bucket/a/b')
>>> multipart_etag(b"x" * 10, 4)
'"a8394b2ca4c3798d3a57bb39433b844c-3"'
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .sysexit import describe

log = logging.getLogger(__name__)

#: Tries per operation, and the backoff between them (seconds, doubling).
TRIES = 4
BACKOFF_START = 0.5
BACKOFF_MAX = 4.0
#: Multipart part size; s3fs uploads in parts from twice this size (S3's minimum part is 5 MiB).
CHUNK_SIZE = 50 * 2**20
#: Errors that another try cannot fix.
PERMANENT_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, ValueError)

T = TypeVar("T")


class S3Error(RuntimeError):
    """An S3 operation failed for good (after its retries) or its result did not verify."""


def endpoint_url(environ=None) -> str | None:
    """The S3 endpoint the AWS environment names, if any (``AWS_ENDPOINT_URL_S3`` first).

    >>> endpoint_url({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"})
    'http://127.0.0.1:5000'
    >>> endpoint_url({}) is None
    True
    """
    environ = os.environ if environ is None else environ
    return environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or None


def filesystem():
    """A fresh s3fs filesystem from the AWS environment (endpoint honoured; no caches)."""
    import s3fs

    kwargs: dict = dict(
        skip_instance_cache=True,
        use_listings_cache=False,
        # one attempt per call in botocore and s3fs: with_retries() retries whole operations
        config_kwargs={"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 10,
                       "read_timeout": 120},
    )
    endpoint = endpoint_url()
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    fs = s3fs.S3FileSystem(**kwargs)
    fs.retries = 1
    return fs


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` (or ``bucket/prefix``) → (bucket, prefix without slashes).

    >>> split_s3("s3://b/p/q/"), split_s3("b")
    (('b', 'p/q'), ('b', ''))
    """
    rest = uri[5:] if uri.startswith("s3://") else uri
    bucket, _, prefix = rest.strip("/").partition("/")
    if not bucket:
        raise ValueError(f"no bucket in S3 URI {uri!r}")
    return bucket, prefix.strip("/")


def with_retries(what: str, func: Callable[[], T], *, tries: int | None = None) -> T:
    """Call `func` until it succeeds, at most `tries` times (default :data:`TRIES`).

    Permanent errors (missing object, access denied, bad argument) are raised at once;
    anything else is retried after a doubling delay, then raised as :class:`S3Error`.
    """
    tries = TRIES if tries is None else tries
    delay = BACKOFF_START
    for attempt in range(1, tries + 1):
        try:
            return func()
        except PERMANENT_ERRORS:
            raise
        except Exception as exc:
            if attempt >= tries:
                raise S3Error(f"{what} failed after {tries} tries: {describe(exc)}") from exc
            log.warning("%s failed (try %d of %d): %s; retrying in %.1f s", what, attempt, tries, describe(exc), delay)
            time.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)
    raise AssertionError("unreachable")


def md5_file(path: Path, block: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def multipart_etag(data_or_path: bytes | Path, chunk: int) -> str:
    """The ETag S3 gives an object uploaded in parts of `chunk` bytes (quoted, ``-N``)."""
    digests = []
    if isinstance(data_or_path, bytes):
        for i in range(0, len(data_or_path), chunk):
            digests.append(hashlib.md5(data_or_path[i:i + chunk], usedforsecurity=False).digest())
    else:
        with open(data_or_path, "rb") as f:
            while part := f.read(chunk):
                digests.append(hashlib.md5(part, usedforsecurity=False).digest())
    return f'"{hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"'


def expected_etag(size: int, md5: str | None, path: Path | None) -> str | None:
    """The ETag an upload of `size` bytes should get from s3fs's put (None if unknown)."""
    if size < 2 * CHUNK_SIZE:
        return f'"{md5}"' if md5 else None
    return multipart_etag(path, CHUNK_SIZE) if path is not None else None


def verify_object(info: dict, size: int, etag: str | None, where: str) -> None:
    """Raise S3Error unless the object's size (and ETag, when both are known) match."""
    if info.get("size") != size:
        raise S3Error(f"{where}: size {info.get('size')} after upload, expected {size}")
    remote = str(info.get("ETag") or "")
    if etag and remote and remote != etag:
        raise S3Error(f"{where}: ETag {remote} after upload, expected {etag}")


class S3Store:
    """The :class:`caldp.storage.Store` operations over an ``s3://bucket/prefix`` root.

    Keys are ``/``-separated paths below the prefix. There is no ``root`` attribute: code
    that hard-links local staging files sees an S3 store as remote.
    """

    def __init__(self, bucket_and_prefix: str, fs=None):
        self.bucket, self.prefix = split_s3(bucket_and_prefix)
        self._fs = fs

    @property
    def fs(self):
        if self._fs is None:
            self._fs = filesystem()
        return self._fs

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"

    def key(self, key: str) -> str:
        """The s3fs path (``bucket/prefix/key``) of `key`."""
        key = key.strip("/")
        return "/".join(p for p in (self.bucket, self.prefix, key) if p)

    def check_writable(self) -> None:
        """Fail early if nothing can be written under the prefix (missing bucket, no access)."""
        probe = f".caldp-write-test-{uuid.uuid4().hex[:8]}"
        self.write_text(probe, "")
        self.delete(probe)

    # ----------------------------------------------------------------- writes
    def put_file(self, local: str | os.PathLike, key: str, *, link: bool = False) -> str:
        """Upload `local` to `key`: atomic, verified (size and ETag), retried. (`link`, for the
        same signature as a local store's, changes nothing: an upload is always a copy.)"""
        local = Path(local)
        size = local.stat().st_size
        md5 = md5_file(local) if size < 2 * CHUNK_SIZE else None
        etag = expected_etag(size, md5, local)
        path = self.key(key)

        def attempt():
            self.fs.put_file(str(local), path, chunksize=CHUNK_SIZE)
            verify_object(self.fs.info(path), size, etag, f"s3://{path}")

        t0 = time.perf_counter()
        with_retries(f"upload of {local.name} to s3://{path}", attempt)
        log.debug("uploaded %s (%d bytes) to s3://%s in %.2f s", local.name, size, path, time.perf_counter() - t0)
        return key

    def write_bytes(self, key: str, data: bytes) -> str:
        path = self.key(key)
        etag = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'

        def attempt():
            self.fs.pipe_file(path, data)
            verify_object(self.fs.info(path), len(data), etag, f"s3://{path}")

        with_retries(f"write of s3://{path}", attempt)
        return key

    def write_text(self, key: str, text: str) -> str:
        return self.write_bytes(key, text.encode("utf-8"))

    # ------------------------------------------------------------------ reads
    def read_bytes(self, key: str) -> bytes:
        path = self.key(key)
        return with_retries(f"read of s3://{path}", lambda: self.fs.cat_file(path))

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    def get_file(self, key: str, local: str | os.PathLike) -> Path:
        """Download `key` to `local` (written under a temporary name, size verified)."""
        return download(self.fs, self.key(key), Path(local))

    def info(self, key: str) -> dict:
        path = self.key(key)
        return with_retries(f"stat of s3://{path}", lambda: self.fs.info(path))

    def exists(self, key: str) -> bool:
        path = self.key(key)
        return with_retries(f"lookup of s3://{path}", lambda: self.fs.exists(path))

    def list(self, prefix: str = "") -> list[str]:
        """Keys of the objects at or under `prefix`, sorted (folder markers excluded)."""
        base = self.key(prefix)
        root = self.key("")
        found = with_retries(f"listing of s3://{base}", lambda: self._find(base))
        strip = len(root) + 1
        keys = [p[strip:] for p in found if not p.endswith("/") and (p == base or p.startswith(base + "/")
                                                                      or base == root)]
        return sorted(k for k in keys if k)

    def _find(self, base: str) -> list[str]:
        try:
            return self.fs.find(base)
        except FileNotFoundError:
            return []

    # -------------------------------------------------------------- changes
    def move(self, src: str, dst: str) -> str:
        """Copy `src` to `dst`, verify the copy, delete `src`."""
        spath, dpath = self.key(src), self.key(dst)

        def attempt():
            sinfo = self.fs.info(spath)
            self.fs.copy(spath, dpath)
            dinfo = self.fs.info(dpath)
            setag = str(sinfo.get("ETag") or "")
            # a server-side copy keeps a single-part ETag; a multipart source gets a new one
            verify_object(dinfo, sinfo["size"], setag if setag and "-" not in setag else None, f"s3://{dpath}")

        with_retries(f"copy of s3://{spath} to s3://{dpath}", attempt)
        with_retries(f"delete of s3://{spath}", lambda: self.fs.rm_file(spath))
        return dst

    def delete(self, key: str) -> None:
        """Delete the object `key` and everything under ``key/`` (the whole tree for ``""``)."""
        keys = self.list(key)
        if not keys:
            return
        paths = [self.key(k) for k in keys]
        with_retries(f"delete of {len(paths)} object(s) under s3://{self.key(key)}", lambda: self.fs.rm(paths))


def download(fs, path: str, local: Path) -> Path:
    """Download s3fs `path` to `local` atomically (temporary name, then rename); retried."""
    local.parent.mkdir(parents=True, exist_ok=True)

    def attempt():
        size = fs.info(path)["size"]
        tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            fs.get_file(path, str(tmp))
            got = tmp.stat().st_size
            if got != size:
                raise S3Error(f"s3://{path}: downloaded {got} bytes, expected {size}")
            os.replace(tmp, local)
        finally:
            tmp.unlink(missing_ok=True)
        return size

    t0 = time.perf_counter()
    size = with_retries(f"download of s3://{path}", attempt)
    log.info("Downloaded s3://%s (%d bytes) in %.1f s", path, size, time.perf_counter() - t0)
    return local


def input_key(input_uri: str, dataset_name: str) -> str:
    """The s3fs path of a dataset's input tarball (CALDP: ``<prefix>/<ipppssoot>.tar.gz``).

    >>> input_key("s3://bucket/inputs/", "j8cb010b0"), input_key("s3://bucket", "j8cb010b0")
    ('bucket/inputs/j8cb010b0.tar.gz', 'bucket/j8cb010b0.tar.gz')
    """
    return S3Store(input_uri).key(f"{dataset_name}.tar.gz")


def download_inputs(input_uri: str, dataset_name: str, scratch_dir: str | os.PathLike) -> Path:
    """Fetch ``<prefix>/<dataset>.tar.gz`` into `scratch_dir`; returns the local tarball.

    Raises FileNotFoundError if there is no such object, S3Error if the download fails.
    """
    path = input_key(input_uri, dataset_name)
    fs = filesystem()
    log.info("Retrieving tarfile: s3://%s", path)
    try:
        exists = with_retries(f"lookup of s3://{path}", lambda: fs.exists(path))
    except PermissionError as exc:
        raise PermissionError(f"no access to s3://{path}: {describe(exc)}") from exc
    if not exists:
        raise FileNotFoundError(f"s3://{path} does not exist")
    return download(fs, path, Path(scratch_dir) / f"{dataset_name}.tar.gz")
