"""CRDS from an S3 bucket, as CALDP's ``caldp-config-aws`` runs it (serverless CRDS).

In the cloud the CRDS client has no server: it reads ``server_config`` and the mappings
from ``${CRDSBUCKET}/config/hst/`` and ``…/mappings/hst/`` with boto3, and downloads the
references it assigns through its download plugin ``crds_s3_get`` (shipped with crds),
which checks each file's size and sha1sum against ``download_metadata`` in the bucket's
``server_config``. The bucket layout is CRDS's own cache layout.

:func:`publish_cache` lays a local CRDS cache (the simulator's, or any flat cache) out in a
bucket that way, computing ``download_metadata`` — what STScI's CRDS bucket holds and the
client needs — so ``caldp-config-aws`` can be exercised against any S3 server
(``AWS_ENDPOINT_URL`` honoured by boto3 and s3fs alike).

``python -m caldp.crds_s3 CACHE_DIR s3://bucket`` publishes from the command line.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from .s3 import S3Store

log = logging.getLogger(__name__)

#: The cache's top-level areas and what goes in each (the CRDS cache layout).
AREAS = ("config/hst", "mappings/hst", "references/hst")


def sha1sum(path: Path, block: int = 1 << 20) -> str:
    """The sha1 hex digest of a file, as CRDS catalogues it."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def cache_files(cache: Path) -> dict[str, Path]:
    """{file name: path} of every mapping and reference in a CRDS cache (flat or per instrument)."""
    files = {}
    for area in ("mappings/hst", "references/hst"):
        for path in sorted((cache / area).rglob("*")):
            if path.is_file() and path.suffix in (".fits", ".pmap", ".imap", ".rmap", ".json", ".txt", ".r0h"):
                files[path.name] = path
    return files


def download_metadata(files: dict[str, Path]) -> dict[str, dict[str, str]]:
    """CRDS's file catalogue: {name: {"size": str, "sha1sum": hex}} (what the server would give)."""
    return {name: {"size": str(path.stat().st_size), "sha1sum": sha1sum(path)} for name, path in files.items()}


def bucket_server_config(cache: Path, metadata: dict) -> str:
    """The cache's ``server_config`` with ``download_metadata`` added (CRDS-encoded)."""
    from crds.client import proxy

    info = ast.literal_eval((cache / "config" / "hst" / "server_config").read_text())
    info["download_metadata"] = proxy.crds_encode(metadata)
    return repr(info)


def publish_cache(cache: str | Path, bucket_uri: str) -> list[str]:
    """Upload a CRDS cache to ``bucket_uri`` in the layout serverless CRDS reads; return the keys.

    References go to ``references/hst/<name>`` (flat, where CRDS's S3 URIs point) whatever
    the local layout; ``ref_cache_subdir_mode`` is not published, so clients keep their own.
    """
    cache = Path(cache)
    store = S3Store(bucket_uri)
    files = cache_files(cache)
    metadata = download_metadata(files)
    keys = []
    for name, path in files.items():
        area = "mappings/hst" if path.suffix in (".pmap", ".imap", ".rmap") else "references/hst"
        keys.append(store.put_file(path, f"{area}/{name}"))
    keys.append(store.write_text("config/hst/server_config", bucket_server_config(cache, metadata)))
    log.info("Published %d CRDS files from %s to %s", len(files), cache, store.uri)
    return keys


def bucket_metadata(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The bucket's ``download_metadata`` ({name: {size, sha1sum}}), from its ``server_config``."""
    from crds.client import proxy

    config_uri = env["CRDS_CONFIG_URI"].rstrip("/")
    bucket, _, prefix = config_uri.removeprefix("s3://").partition("/")
    info = ast.literal_eval(S3Store(f"s3://{bucket}").read_text(f"{prefix}/server_config"))
    return proxy.crds_decode(info.get("download_metadata", {}))


def fetch_references(references: Iterable[tuple[str, str]], env: Mapping[str, str]) -> list[Path]:
    """Download `references` (``(path variable, file name)`` pairs, e.g. ``("jref", "x_bia.fits")``)
    from ``CRDS_REFERENCE_URI`` into the cache.

    What ``crds_s3_get`` does for CALDP, through s3fs: each file lands where ``jref``/``iref``…
    point, written under a temporary name and renamed once its size and sha1sum match the
    bucket's catalogue. Files already in the cache are kept. Raises RuntimeError naming the file.
    """
    wanted = {name: Path(env[var], name) for var, name in references if env.get(var)}
    todo = {name: dest for name, dest in wanted.items() if not dest.is_file()}
    if not todo:
        return []
    catalogue = bucket_metadata(env)
    ref_uri = env["CRDS_REFERENCE_URI"].rstrip("/")
    bucket, _, prefix = ref_uri.removeprefix("s3://").partition("/")
    store = S3Store(f"s3://{bucket}")
    fetched = []
    for name, dest in sorted(todo.items()):
        info = catalogue.get(name)
        if info is None:
            raise RuntimeError(f"reference {name} is not in the CRDS bucket's catalogue ({env['CRDS_CONFIG_URI']})")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{name}.{os.getpid()}.part")
        try:
            store.get_file(f"{prefix}/{name}" if prefix else name, tmp)
            size, digest = tmp.stat().st_size, sha1sum(tmp)
            if size != int(info["size"]) or digest != info["sha1sum"]:
                raise RuntimeError(
                    f"reference {name} from {ref_uri} failed verification "
                    f"(size {size} vs {info['size']}, sha1 {digest} vs {info['sha1sum']})"
                )
            os.replace(tmp, dest)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, RuntimeError):
                raise
            raise RuntimeError(f"cannot fetch reference {name} from {ref_uri}: {exc}") from exc
        log.info("Fetched reference %s (%s bytes) from %s", name, info["size"], ref_uri)
        fetched.append(dest)
    return fetched


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m caldp.crds_s3", description=__doc__.split("\n\n")[0])
    p.add_argument("cache", help="a local CRDS cache directory (e.g. caldp-sim's crds_cache)")
    p.add_argument("bucket", help="s3://bucket[/prefix] to publish to (then CRDSBUCKET=that URI)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    keys = publish_cache(args.cache, args.bucket)
    print(
        f"{len(keys)} objects under {args.bucket}; use: CRDSBUCKET={args.bucket.rstrip('/')} caldp-process … "
        "caldp-config-aws"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
