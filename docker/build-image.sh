#!/usr/bin/env bash
# Build caldp's worker image (docker/Dockerfile) from this checkout, offline, from nothing.
#
#   docker/build-image.sh [--base IMAGE] [--no-cache]
#
# Needs: bash, a Debian-family machine (apt-get, run as root or with passwordless sudo) where
# podman is not yet installed, or podman/docker already installed; Debian's package mirrors
# (to make the base) and the Python package index pip is configured for on this machine. No
# container registry is needed.
#
# Steps:
#  1. podman (with runc, mmdebstrap) installed with apt when missing (docker is used instead
#     when CALDP_CONTAINER_ENGINE says so or when its daemon answers); podman gets the settings
#     this machine needs through CONTAINERS_CONF (docker/podman-env.sh; nothing in /etc changes).
#  2. The base: --base IMAGE (local, or pulled where a registry is reachable), else the image
#     $CALDP_BASE_IMAGE (default localhost/caldp-base:3.11-bookworm), reused when it exists and
#     otherwise made from Debian's packages with mmdebstrap: python3 in a venv at /opt/python
#     first on PATH, so `python` and `pip` behave as in python:3.11-slim (~40 s, ~150 MB).
#  3. The host's pip settings (`pip config list`: index URLs, file:// indexes, find-links,
#     constraints, CA bundle, timeouts) go into the build stage as read-only mounts under
#     /dev/caldp-build with a pip.conf there (build argument PIP_CONFIG_FILE); /dev is a tmpfs
#     in every RUN, so not even an empty mount point is left in any layer (podman only:
#     `docker build` has no mounts, its pip uses its defaults).
#  4. `<engine> build` with the labels' build arguments (caldp version, git revision), tagged
#     $CALDP_IMAGE.
#
# Environment: CALDP_IMAGE (default localhost/caldp:latest), CALDP_CONTAINER_ENGINE (podman or
# docker, or a path; default docker when its daemon answers, else podman), CALDP_BASE_IMAGE,
# CALDP_DEBIAN_SUITE (default bookworm), CALDP_DEBIAN_MIRROR (default Debian's own mirrors).
# --no-cache remakes the Debian base too and builds without cached layers.
# The last line printed is the image name; any failure is one line `build-image.sh: …`, status 1.
set -euo pipefail

PROG=build-image.sh
die() {
    echo "$PROG: $*" >&2
    exit 1
}
note() { echo "$PROG: $*" >&2; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

BASE=""
NO_CACHE=0
while [ $# -gt 0 ]; do
    case "$1" in
    --base) [ $# -ge 2 ] || die "--base needs an image name"; BASE="$2"; shift 2 ;;
    --base=*) BASE="${1#--base=}"; shift ;;
    --no-cache) NO_CACHE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (usage: docker/build-image.sh [--base IMAGE] [--no-cache])" ;;
    esac
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
[ -f "$ROOT/docker/Dockerfile" ] && [ -f "$ROOT/pyproject.toml" ] || die "run from a caldp checkout ($ROOT has no docker/Dockerfile)"
IMAGE="${CALDP_IMAGE:-localhost/caldp:latest}"
SUITE="${CALDP_DEBIAN_SUITE:-bookworm}"
DEFAULT_BASE="${CALDP_BASE_IMAGE:-localhost/caldp-base:3.11-$SUITE}"
started=$(date +%s)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
fi
apt_install() { # packages…: install with apt, or one clear line saying why not
    command -v apt-get >/dev/null 2>&1 || die "$* missing and no apt-get to install it: install $* yourself"
    if [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; then
        die "$* missing and installing it needs root (run as root, with passwordless sudo, or install $* first)"
    fi
    note "installing $* with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null || die "apt-get update failed (Debian's mirrors unreachable?)"
    $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
}

# --- 1. the engine --------------------------------------------------------------------------
ENGINE="${CALDP_CONTAINER_ENGINE:-}"
if [ -z "$ENGINE" ]; then
    if command -v docker >/dev/null 2>&1 && docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
        ENGINE=docker
    else
        ENGINE=podman
    fi
fi
KIND=docker
case "$(basename "$ENGINE")" in *podman*) KIND=podman ;; esac
if [ "$KIND" = podman ]; then
    missing=()
    command -v "$ENGINE" >/dev/null 2>&1 || missing+=(podman)
    command -v runc >/dev/null 2>&1 || missing+=(runc)
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
    command -v "$ENGINE" >/dev/null 2>&1 || die "$ENGINE not found on PATH after installing podman"
    # shellcheck source=docker/podman-env.sh
    . "$HERE/podman-env.sh"
else
    command -v "$ENGINE" >/dev/null 2>&1 || die "container engine '$ENGINE' not found (install docker or podman, or set CALDP_CONTAINER_ENGINE)"
fi
if ! info=$("$ENGINE" info 2>&1 >/dev/null); then
    die "$ENGINE does not work here: $(printf '%s\n' "$info" | grep -v '^\s*$' | tail -1)"
fi

image_exists() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

# --- 2. the base ----------------------------------------------------------------------------
make_base() { # name: python3 from Debian's packages in a venv, as python:3.11-slim behaves
    local name=$1 tmp t0
    t0=$(date +%s)
    command -v mmdebstrap >/dev/null 2>&1 || apt_install mmdebstrap
    [ "$(id -u)" -eq 0 ] || die "making the base with mmdebstrap needs root here (or give --base IMAGE)"
    tmp=$(mktemp -d /tmp/caldp-base.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    note "making the base $name from Debian $SUITE packages (mmdebstrap)"
    local mirror=()
    [ -n "${CALDP_DEBIAN_MIRROR:-}" ] && mirror=("$CALDP_DEBIAN_MIRROR")
    # dpkg excludes as in debian:*-slim (docs, man pages, locales), kept for later apt installs.
    if ! mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
        --include=python3,python3-venv,ca-certificates,netbase,tzdata \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --customize-hook='chroot "$1" python3 -m venv /opt/python' \
        --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log' \
        "$SUITE" "$tmp/rootfs.tar" "${mirror[@]}" </dev/null >"$tmp/mmdebstrap.log" 2>&1; then
        die "mmdebstrap failed making the base: $(grep -v '^\s*$' "$tmp/mmdebstrap.log" | tail -1)"
    fi
    "$ENGINE" import \
        --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
        --change "LABEL org.opencontainers.image.description=python3 from Debian $SUITE packages (venv /opt/python), made by caldp's docker/build-image.sh" \
        "$tmp/rootfs.tar" "$name" >/dev/null || die "$ENGINE import of the base failed"
    rm -rf "$tmp"
    trap - EXIT
    note "base $name made in $(($(date +%s) - t0)) s"
}

if [ -n "$BASE" ]; then
    if ! image_exists "$BASE"; then
        note "base $BASE is not local; pulling it"
        "$ENGINE" pull "$BASE" >/dev/null 2>&1 || die "base image $BASE is neither local nor pullable (no registry?); omit --base to make one from Debian's packages"
    fi
else
    BASE="$DEFAULT_BASE"
    if [ "$NO_CACHE" -eq 1 ] || ! image_exists "$BASE"; then
        make_base "$BASE"
    else
        note "reusing the base $BASE (--no-cache remakes it)"
    fi
fi

# --- 3. the host's pip settings, as read-only mounts ----------------------------------------
PIPCTX=$(mktemp -d /tmp/caldp-pipctx.XXXXXX)
# shellcheck disable=SC2064
trap "rm -rf '$PIPCTX'" EXIT
PIP_LIST=""
for py in python3 python; do
    if command -v "$py" >/dev/null 2>&1 && PIP_LIST=$("$py" -m pip config list 2>/dev/null); then
        break
    fi
done
MOUNTS=()
if [ -n "$PIP_LIST" ] && [ "$KIND" = podman ]; then
    # pip.conf for the build, and "SRC DST" lines of what it refers to.
    printf '%s\n' "$PIP_LIST" | python3 "$HERE/pip_settings.py" "$PIPCTX/pip.conf" >"$PIPCTX/mounts" ||
        die "could not translate this machine's pip settings (docker/pip_settings.py)"
    MOUNTS+=(-v "$PIPCTX/pip.conf:/dev/caldp-build/pip.conf:ro" --build-arg PIP_CONFIG_FILE=/dev/caldp-build/pip.conf)
    while read -r src dst; do
        MOUNTS+=(-v "$src:$dst:ro")
    done <"$PIPCTX/mounts"
    note "pip settings for the build: $(grep -c = "$PIPCTX/pip.conf" || true) from pip config list, $(wc -l <"$PIPCTX/mounts") folders/files mounted"
elif [ -n "$PIP_LIST" ]; then
    note "docker build cannot bind-mount this machine's pip settings; pip in the build uses its defaults"
fi

# --- 4. build -------------------------------------------------------------------------------
VERSION=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/pyproject.toml" | head -1)
[ -n "$VERSION" ] || die "no version = \"…\" line in pyproject.toml"
REVISION=unknown
if command -v git >/dev/null 2>&1 && git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1; then
    REVISION=$(git -C "$ROOT" rev-parse HEAD)
    if [ -n "$(git -C "$ROOT" status --porcelain -- pyproject.toml setup.py MANIFEST.in README.md caldp docker 2>/dev/null)" ]; then
        REVISION="$REVISION-dirty"
    fi
fi
args=(build -f "$ROOT/docker/Dockerfile" -t "$IMAGE" --build-arg "BASE_IMAGE=$BASE"
    --build-arg "CALDP_VERSION=$VERSION" --build-arg "VCS_REF=$REVISION" --network host)
if [ "$KIND" = podman ]; then
    args+=(--pull=never --layers)
fi
[ "$NO_CACHE" -eq 1 ] && args+=(--no-cache)
note "building $IMAGE (caldp $VERSION, revision $REVISION) on $BASE with $ENGINE"
t0=$(date +%s)
if ! "$ENGINE" "${args[@]}" "${MOUNTS[@]}" "$ROOT"; then
    die "$ENGINE build failed (its output is above)"
fi
note "built $IMAGE in $(($(date +%s) - t0)) s (total $(($(date +%s) - started)) s), size $("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE" 2>/dev/null | awk '{printf "%.0f MB", $1/1e6}')"
echo "$IMAGE"
