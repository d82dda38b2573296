#!/usr/bin/env bash
# Debian's docker-registry program for tests/containers_cli/test_engine.py, which runs it itself
# on 127.0.0.1 (a free port, a temporary storage directory) to push the caldp image to and pull
# it back; the package's system service is not used. Quiet, and nothing to do when present.
set -euo pipefail
if [ -x /usr/bin/docker-registry ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "prepare-registry: no apt-get here; install docker-registry yourself" >&2
    echo "prepare-registry: (until then the registry push test is skipped)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
echo "prepare-registry: installing docker-registry"
$SUDO apt-get install -y -qq --no-install-recommends docker-registry >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq --no-install-recommends docker-registry >/dev/null; }
/usr/bin/docker-registry --version
