#!/usr/bin/env bash
# Chromium and its WebDriver (Debian's chromium and chromium-driver packages) for the batch
# report's browser test, tests/report/. Quiet, and nothing to do when both are present.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "prepare-browser: no apt-get here; install chromium and chromedriver at /usr/bin yourself" >&2
    echo "prepare-browser: (until then tests/report's browser test is skipped)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
echo "prepare-browser: installing chromium and chromium-driver"
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
/usr/bin/chromium --version
