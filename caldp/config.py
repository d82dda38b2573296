"""Calibration configurations: CRDS settings and reference-file locations.

Named configs follow CALDP's ``caldp-config-*`` scripts; any other value is a path to a
file of ``KEY=VALUE`` lines (``#`` comments, ``${VAR}`` expanded). A config never changes
``os.environ``: it yields the environment the calibration of one dataset runs with.

>>> env = resolve_config("caldp-config-local", {"CRDS_PATH": "/cache"})
>>> env["jref"], env["CRDS_READONLY_CACHE"], "serverless" in env["CRDS_SERVER_URL"]
('/cache/references/hst/', '1', True)
>>> env["CRDS_CONFIG_URI"], resolve_config("caldp-config-local", {"CRDS_PATH": "/Cache"})["CRDS_CONFIG_URI"]
('/cache/config/hst/', 'none')
>>> resolve_config("caldp-config-nowhere", {})
Traceback (most recent call last):
...
ValueError: unknown config 'caldp-config-nowhere': use caldp-config-onsite, ...
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

#: IRAF-style reference directory variables and the cache subdirectory of each.
REF_VARS = {"iref": "wfc3", "jref": "acs", "oref": "stis", "lref": "cos", "nref": "nicmos", "uref": "wfpc2"}
SERVERLESS_URL = "https://hst-serverless-mode.stsci.edu"
NAMED_CONFIGS = ("caldp-config-onsite", "caldp-config-offsite", "caldp-config-aws", "caldp-config-local")


def _ref_dirs(crds_path: str, flat: bool) -> dict[str, str]:
    base = f"{crds_path.rstrip('/')}/references/hst/"
    env = {var: base if flat else f"{base}{sub}/" for var, sub in REF_VARS.items()}
    env["uref_linux"] = env["uref"]
    return env


def _serverless_config_uri(crds_path: str) -> str:
    """``CRDS_CONFIG_URI`` for a server-less cache: crds 14 needs one (unset, ``config.get_uri``
    fails on None); it lower-cases the value, so a path with capitals gets ``none`` (one
    refused RPC, then crds falls back to the cache's own server_config)."""
    uri = f"{crds_path.rstrip('/')}/config/hst/"
    return uri if uri == uri.lower() else "none"


def caldp_home(environ: Mapping[str, str] | None = None) -> Path | None:
    """``$CALDP_HOME``, where caldp-process puts its scratch files and a local CRDS work area
    (None when unset); ValueError, with the reason, when it is not a writable directory."""
    environ = os.environ if environ is None else environ
    value = environ.get("CALDP_HOME", "")
    if not value:
        return None
    home = Path(value).absolute()
    if not home.is_dir():
        raise ValueError(f"CALDP_HOME={value} is not a directory" + ("" if home.exists() else " (it does not exist)"))
    if not os.access(home, os.W_OK | os.X_OK):
        raise ValueError(f"CALDP_HOME={value} is not writable")
    return home


def _work_home(base: Mapping[str, str]) -> Path:
    """Where a local CRDS work area goes by default: ``$CALDP_HOME`` when set, else ``$HOME``."""
    return Path(base["CALDP_HOME"]).absolute() if base.get("CALDP_HOME") else Path.home()


def _expand(value: str, env: Mapping[str, str]) -> str:
    def sub(m):
        name, default = m.group(1), m.group(3)
        return env.get(name, default if default is not None else "")

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", sub, value)


def parse_env_lines(text: str, base: Mapping[str, str]) -> dict[str, str]:
    """``KEY=VALUE`` lines (optionally ``export KEY=VALUE``) → dict; ``${VAR}`` expanded.

    >>> parse_env_lines("# c\\nexport A=1\\nB = ${A}/x\\nbad line\\n", {})
    {'A': '1', 'B': '1/x'}
    """
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):]
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", key):
            continue
        value = value.strip().strip("'\"")
        out[key] = _expand(value, {**base, **out})
    return out


def resolve_config(config: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The calibration environment for `config`: `base` (default os.environ) plus its settings."""
    base = dict(os.environ if base is None else base)
    env = dict(base)
    if config == "caldp-config-onsite":
        env.update(CRDS_PATH="/grp/crds/cache", CRDS_SERVER_URL=SERVERLESS_URL, CRDS_READONLY_CACHE="1")
        env.setdefault("CRDS_CONFIG_URI", _serverless_config_uri(env["CRDS_PATH"]))
        env.update(_ref_dirs(env["CRDS_PATH"], flat=True))
    elif config == "caldp-config-offsite":
        env.update(CRDS_SERVER_URL="https://hst-crds.stsci.edu", CRDS_READONLY_CACHE="0")
        env["CRDS_PATH"] = base.get("CRDS_PATH") or str(_work_home(base) / "crds_cache")
        env.update(_ref_dirs(env["CRDS_PATH"], flat=False))
    elif config == "caldp-config-aws":
        bucket = base.get("CRDSBUCKET", "").rstrip("/")
        if not bucket.startswith("s3://"):
            raise ValueError("caldp-config-aws needs CRDSBUCKET=s3://<bucket> (where the CRDS cache is published)")
        env.update(
            CRDS_PATH=base.get("CRDS_PATH") or str(_work_home(base) / "crds_cache"),
            CRDS_SERVER_URL="https://hst-crds-serverless.stsci.edu",
            CRDS_CONFIG_URI=f"{bucket}/config/hst/",
            CRDS_REFERENCE_URI=f"{bucket}/references/hst/",
            CRDS_MAPPING_URI=f"{bucket}/mappings/hst/",
            CRDS_PICKLE_URI=f"{bucket}/pickles/hst/",
            CRDS_S3_ENABLED="1",
            CRDS_S3_RETURN_URI="0",
            CRDS_READONLY_CACHE="0",
            CRDS_CLIENT_RETRY_COUNT="4",
            CRDS_CLIENT_RETRY_DELAY_SECONDS="10",
        )
        env.update(_ref_dirs(env["CRDS_PATH"], flat=False))
    elif config == "caldp-config-local":
        crds_path = base.get("CRDS_PATH")
        if not crds_path:
            raise ValueError("caldp-config-local needs CRDS_PATH set to a CRDS cache directory")
        crds_path = str(Path(crds_path).absolute())  # tasks run in scratch directories
        env.update(CRDS_PATH=crds_path, CRDS_SERVER_URL=SERVERLESS_URL,
                   CRDS_READONLY_CACHE=base.get("CRDS_READONLY_CACHE", "1"))
        env.setdefault("CRDS_CONFIG_URI", _serverless_config_uri(crds_path))
        env.update(_ref_dirs(crds_path, flat=True))
    elif Path(config).is_file():
        env.update(parse_env_lines(Path(config).read_text(), base))
    else:
        raise ValueError(f"unknown config {config!r}: use {', '.join(NAMED_CONFIGS)} or a path to a KEY=VALUE file")
    if env.get("CRDS_OBSERVATORY", "None") in ("", "None"):  # importing crds leaves the string 'None' behind
        env["CRDS_OBSERVATORY"] = "hst"
    return env


def default_config(environ: Mapping[str, str] | None = None) -> str:
    """CALDP's default is the onsite config; with CRDS_PATH already set, use that cache."""
    environ = os.environ if environ is None else environ
    return "caldp-config-local" if environ.get("CRDS_PATH") else "caldp-config-onsite"
