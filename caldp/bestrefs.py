"""Best reference files from CRDS, as the archive pipeline assigns them.

Runs the real ``crds`` bestrefs on the raw files (updating their headers and setting
CRDS_CTX), syncing references into the cache unless ``CRDS_READONLY_CACHE=1``, then checks
that every assigned reference is present where the calibration will look for it
(``jref``/``iref``…), so a missing file fails here with BESTREFS_ERROR, naming it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from astropy.io import fits

log = logging.getLogger(__name__)

#: CRDS reads its configuration from os.environ; one bestrefs at a time per process.
_CRDS_LOCK = threading.Lock()
REF_VALUE = re.compile(r"^([a-z]+ref)\$(\S+)$")


def _clear_crds_caches() -> None:
    from crds.core import utils

    utils.clear_function_caches()


@contextlib.contextmanager
def crds_environment(env: Mapping[str, str]) -> Iterator[None]:
    """Temporarily put the CRDS_* (and *ref) settings of `env` into os.environ."""
    keys = [k for k in env if k.startswith("CRDS_") or k in {"iref", "jref", "oref", "lref", "nref", "uref"}]
    saved = {k: os.environ.get(k) for k in keys}
    removed = {k: v for k, v in os.environ.items() if k.startswith("CRDS_") and k not in env}
    with _CRDS_LOCK:
        try:
            for k in removed:
                del os.environ[k]
            for k in keys:
                os.environ[k] = str(env[k])
            _clear_crds_caches()  # CRDS memoises server info and mappings per process, not per config
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            os.environ.update(removed)


def assigned_references(path: Path) -> dict[str, str]:
    """Reference keywords of a file's primary header whose values name a file (``jref$x``)."""
    header = fits.getheader(path, 0)
    return {k: str(v) for k, v in header.items() if isinstance(v, str) and REF_VALUE.match(v.strip())}


def missing_references(paths: Sequence[Path], env: Mapping[str, str]) -> list[str]:
    """``KEYWORD=jref$name (path)`` for every assigned reference not found on disk."""
    missing = []
    for path in paths:
        for key, value in assigned_references(path).items():
            var, name = REF_VALUE.match(value.strip()).groups()
            base = env.get(var)
            if not base or not Path(base, name).is_file():
                missing.append(f"{key}={value} ({Path(base or '?', name)})")
    return sorted(set(missing))


def s3_enabled(env: Mapping[str, str]) -> bool:
    """Serverless CRDS reading an S3 bucket (``caldp-config-aws``)."""
    return str(env.get("CRDS_S3_ENABLED", "")).lower() in ("1", "true", "t", "yes")


def assign_bestrefs(files: Sequence[Path], env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Assign best references to `files` in place; return {file: {keyword: value}}.

    Raises RuntimeError with a one-line reason on any CRDS error or missing reference.
    """
    from crds import bestrefs  # heavy import, only where needed

    files = [Path(f) for f in files]
    from_s3 = s3_enabled(env)
    # serverless S3 CRDS: mappings come from the bucket; references are fetched below
    sync = str(env.get("CRDS_READONLY_CACHE", "0")) != "1" and not from_s3
    context = env.get("CRDS_CONTEXT") or None
    log.info(
        "CRDS bestrefs for %s (context=%s, sync=%s, cache=%s)",
        ", ".join(f.name for f in files),
        context or "operational",
        sync,
        env.get("CRDS_PATH"),
    )
    with crds_environment(env):
        try:
            errors = bestrefs.assign_bestrefs(
                [str(f) for f in files], context=context, sync_references=sync, verbosity=-1
            )
        except SystemExit as exc:  # crds's script machinery exits on some failures
            raise RuntimeError(f"CRDS bestrefs exited with status {exc.code}") from exc
    if errors:
        raise RuntimeError(f"CRDS bestrefs reported {errors} error(s) for {', '.join(f.name for f in files)}")
    if from_s3:
        from .crds_s3 import fetch_references

        refs = {REF_VALUE.match(v.strip()).groups() for f in files for v in assigned_references(Path(f)).values()}
        fetch_references(sorted(refs), env)
    missing = missing_references(files, env)
    if missing:
        raise RuntimeError(f"reference file(s) missing from the CRDS cache: {'; '.join(missing)}")
    assigned = {}
    for f in files:
        assigned[f.name] = assigned_references(f)
        ctx = fits.getval(f, "CRDS_CTX", default="?")
        log.info("%s: %d references assigned, CRDS_CTX=%s", f.name, len(assigned[f.name]), ctx)
    return assigned
