#!/bin/sh
# caldp image entry point: `docker run caldp <dataset> [input] [output] [config]` runs
# caldp-process; a first argument that is a program on PATH (dask-worker, caldp-batch,
# python, sh…) runs that program instead, as Dask cloud clusters need.
set -e
if [ "$#" -eq 0 ]; then
    exec caldp-process --help
fi
if command -v "$1" >/dev/null 2>&1; then
    exec "$@"
fi
exec caldp-process "$@"
