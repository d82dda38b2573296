#!/bin/sh
# caldp image entry point: `docker run caldp <dataset> [input] [output] [config]` runs
# caldp-process; a first argument that is a program on PATH (dask-worker, caldp-batch,
# python, sh…) runs that program instead, as Dask cloud clusters need.
#
# umask: as the image's user (uid 1000) the files land in a mounted host folder owned by
# someone else, so they are left readable and removable by that host user (umask 000: files
# 0666, folders 0777, like the a+rwx folder they were written to). Run with
# `--user $(id -u):$(id -g)` to own them instead (the engine's umask then stays), or set
# CALDP_UMASK (e.g. 022) to choose.
set -e
if [ -n "${CALDP_UMASK:-}" ]; then
    umask "$CALDP_UMASK"
elif [ "$(id -u)" = 1000 ]; then
    umask 000
fi
if [ "$#" -eq 0 ]; then
    exec caldp-process --help
fi
if command -v "$1" >/dev/null 2>&1; then
    exec "$@"
fi
exec caldp-process "$@"
