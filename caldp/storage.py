"""Where products, logs, previews and messages go: a directory or an S3 prefix.

A :class:`Store` is a root (``file:/path``, a plain path, or ``s3://bucket/prefix``) with
the few operations caldp needs. Every write is atomic: a local file is written under a
temporary name and renamed; an S3 object only appears when its upload completes (S3
semantics), and :mod:`caldp.s3` verifies and retries uploads. Nothing outside this module
and :mod:`caldp.s3` knows which kind of store it writes to.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def split_uri(uri: str) -> tuple[str, str]:
    """(scheme, rest) for ``file:x``, ``s3://b/p``, ``astroquery:``, ``none`` or a plain path.

    >>> split_uri("file:out"), split_uri("s3://b/p/"), split_uri("/tmp/x"), split_uri("none")
    (('file', 'out'), ('s3', 'b/p'), ('file', '/tmp/x'), ('none', ''))
    >>> split_uri("astroquery:"), split_uri("file://abs/dir")
    (('astroquery', ''), ('file', '/abs/dir'))
    """
    uri = str(uri).strip()
    if uri.lower() == "none":
        return "none", ""
    if uri.startswith("s3://"):
        return "s3", uri[5:].strip("/")
    if uri.startswith("astroquery:"):
        return "astroquery", uri[len("astroquery:"):]
    if uri.startswith("file://"):
        return "file", "/" + uri[len("file://"):].lstrip("/")
    if uri.startswith("file:"):
        return "file", uri[len("file:"):] or "."
    if "://" in uri:
        raise ValueError(f"unsupported URI scheme in {uri!r}: use file:, s3:// or astroquery:")
    return "file", uri


class Store:
    """A local directory tree; the S3 variant lives in :mod:`caldp.s3`."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).absolute()

    @property
    def uri(self) -> str:
        return f"file:{self.root}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"

    def path(self, key: str) -> Path:
        return self.root / key

    def check_writable(self) -> None:
        """Fail early (OSError) if nothing can be written under the root."""
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / f".caldp-write-test-{uuid.uuid4().hex[:8]}"
        probe.write_text("")
        probe.unlink()

    def put_file(self, local: str | os.PathLike, key: str, *, link: bool = False) -> str:
        """Store a copy of `local` under `key`, written under a temporary name and renamed, so a
        complete-looking file is always complete. `link`: a hard link instead of the copy when both are
        on one filesystem (no data copied; only for a `local` nobody modifies in place afterwards)."""
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            try:
                if not link:
                    raise OSError("copy requested")
                os.link(local, tmp)
            except OSError:  # a copy: requested, another filesystem, or links not allowed
                shutil.copyfile(local, tmp)
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                tmp.unlink()
        return key

    def write_text(self, key: str, text: str) -> str:
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        tmp.write_text(text)
        os.replace(tmp, dest)
        return key

    def read_text(self, key: str) -> str:
        return self.path(key).read_text()

    def get_file(self, key: str, local: str | os.PathLike) -> Path:
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path(key), local)
        return local

    def move(self, src: str, dst: str) -> str:
        """Rename `src` to `dst` (atomic on one filesystem)."""
        dest = self.path(dst)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path(src), dest)
        return dst

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def delete(self, key: str) -> None:
        p = self.path(key)
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()

    def list(self, prefix: str = "") -> list[str]:
        """Keys of the files under `prefix`, sorted (temporary files excluded)."""
        base = self.path(prefix)
        if not base.exists():
            return []
        if base.is_file():
            return [prefix]
        keys = []
        for p in base.rglob("*"):
            if p.is_file() and not p.name.endswith(".part"):
                keys.append(p.relative_to(self.root).as_posix())
        return sorted(keys)


def open_store(uri: str) -> Store:
    """The Store for an output (or staging) URI; ValueError for ``none``/unsupported."""
    scheme, rest = split_uri(uri)
    if scheme == "file":
        return Store(rest)
    if scheme == "s3":
        from . import s3

        return s3.S3Store(rest)
    raise ValueError(f"cannot write to {uri!r}: use file:<dir> or s3://bucket/prefix")
