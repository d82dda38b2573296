#!/usr/bin/env bash
# podman (with runc and mmdebstrap, from Debian's packages) and the worker image for the
# container smoke test, tests/container/: docker/build-image.sh installs what is missing, makes
# (or reuses) the Debian base and builds localhost/caldp:latest (cached layers are reused, so a
# build after a source change only recompiles caldp). Where it cannot (no apt-get, not root…),
# it says why and tests/container/ skips with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
export CALDP_IMAGE="${CALDP_IMAGE:-localhost/caldp:latest}"
started=$(date +%s)
if ! command -v podman >/dev/null 2>&1 && ! command -v apt-get >/dev/null 2>&1 \
    && ! { command -v docker >/dev/null 2>&1 && docker version >/dev/null 2>&1; }; then
    echo "prepare-podman: no podman, no docker daemon and no apt-get: tests/container/ will be skipped" >&2
    exit 0
fi
log=$(mktemp /tmp/caldp-image-build.XXXXXX.log)
if bash docker/build-image.sh >"$log" 2>&1; then
    echo "prepare-podman: built $(tail -1 "$log") in $(($(date +%s) - started)) s ($(grep 'size' "$log" | tail -1 | sed 's/.*size //'))"
    rm -f "$log"
else
    # The image is part of what CI checks: a failed build fails CI (its log's tail is shown).
    tail -40 "$log" >&2
    echo "prepare-podman: docker/build-image.sh failed (full log $log)" >&2
    exit 1
fi
