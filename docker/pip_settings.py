"""This machine's pip settings for a container build: ``pip config list`` on stdin → a pip.conf
(path in argv[1]) whose local files and folders are read-only mounts under /dev/caldp-build,
and the mounts as ``SRC DST`` lines on stdout. Used by docker/build-image.sh; standard library
only (it runs with the host's python3).

Local ``file://`` indexes are mounted from the folder above ``simple/`` (an index page's links
point to ``../files``); find-links folders, constraint/requirement files and the CA bundle are
mounted as they are; URLs, timeouts, trusted hosts and similar values are copied. Environment
settings (``:env:``) win over section ones, and any section over ``global``.
"""

from __future__ import annotations

import ast
import os
import sys
from urllib.parse import unquote, urlparse

TARGET = "/dev/caldp-build"
URL_LISTS = ("index-url", "extra-index-url")
PATH_LISTS = ("find-links",)
FILES = ("cert", "client-cert", "constraint")
COPIED = (
    "trusted-host",
    "timeout",
    "default-timeout",
    "retries",
    "proxy",
    "no-index",
    "prefer-binary",
    "only-binary",
    "disable-pip-version-check",
    "progress-bar",
)


def parse(text: str) -> dict[str, str]:
    """``section.key='value'`` lines → {key: value}, the highest-priority source of each key."""
    ranked: dict[str, tuple[int, str]] = {}
    for line in text.splitlines():
        name, sep, raw = line.partition("=")
        if not sep or "." not in name:
            continue
        section, key = name.rsplit(".", 1)
        try:
            value = ast.literal_eval(raw.strip())
        except (SyntaxError, ValueError):
            value = raw.strip().strip("'\"")
        rank = 2 if section == ":env:" else 0 if section == "global" else 1
        if key not in ranked or rank >= ranked[key][0]:
            ranked[key] = (rank, str(value))
    return {key: value for key, (_, value) in ranked.items()}


class Mounts:
    def __init__(self) -> None:
        self.pairs: dict[str, str] = {}

    def add(self, src: str) -> str:
        src = os.path.realpath(src)
        if src not in self.pairs:
            self.pairs[src] = f"{TARGET}/{len(self.pairs)}-{os.path.basename(src.rstrip('/')) or 'root'}"
        return self.pairs[src]


def local_path(value: str) -> str | None:
    """The local path of a file:// URL or plain path, else None (a remote URL)."""
    if value.startswith("file:"):
        return unquote(urlparse(value).path)
    if "://" in value:
        return None
    return value


def translate(settings: dict[str, str], mounts: Mounts) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in settings.items():
        if key in URL_LISTS:
            urls = []
            for url in value.split():
                path = local_path(url)
                if path is None:
                    urls.append(url)
                elif os.path.isdir(path):
                    parent, leaf = os.path.split(os.path.realpath(path).rstrip("/"))
                    urls.append(f"file://{mounts.add(parent)}/{leaf}")
            if urls:
                out[key] = " ".join(urls) if key == "extra-index-url" else urls[0]
        elif key in PATH_LISTS:
            links = []
            for link in value.split():
                path = local_path(link)
                if path is None:
                    links.append(link)
                elif os.path.exists(path):
                    links.append(mounts.add(path))
            if links:
                out[key] = " ".join(links)
        elif key in FILES:
            if os.path.isfile(value):
                out[key] = mounts.add(value)
        elif key in COPIED:
            out[key] = value
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: pip config list | python3 pip_settings.py PIP_CONF > MOUNTS", file=sys.stderr)
        return 2
    mounts = Mounts()
    conf = translate(parse(sys.stdin.read()), mounts)
    with open(argv[1], "w") as f:
        f.write("[global]\n" + "".join(f"{key} = {value}\n" for key, value in sorted(conf.items())))
    for src, dst in mounts.pairs.items():
        print(f"{src} {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
