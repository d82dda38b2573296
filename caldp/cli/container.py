"""caldp-docker-run-pipeline, caldp-docker-run-container: caldp in its container, as CALDP's scripts.

    caldp-docker-run-pipeline <ipppssoot> [input_uri] [output_uri] [config] [caldp-process options]
    caldp-docker-run-container [command ...]       # default: an interactive shell

The configured image (``caldp-image-config``) runs with ``$CALDP_HOME`` (default: the
current directory) mounted as the container user's ``$HOME`` and the working directory
at the current directory's place under it, so relative ``file:`` paths (and a relative
``CRDS_PATH``) mean the same inside and out; ``$CALDP_HOME/.aws`` holds AWS credentials;
``CALDP_*``, ``CRDS_*`` and ``AWS_*`` variables pass in; files are written as the calling
user. The pipeline's exit status is caldp-process's (CALDP's codes); anything that stops it
before it runs (no engine, no image, absolute host paths…) is one line and CALDP's code.
"""

from __future__ import annotations

import sys

from ..containers import ContainerError, run_in_container
from ..exit_codes import ExitCode
from .image import fail

PIPELINE_USAGE = "usage: caldp-docker-run-pipeline <ipppssoot> [input_uri] [output_uri] [config] [options]"
CONTAINER_USAGE = "usage: caldp-docker-run-container [command ...]   (default: an interactive shell)"


def run_pipeline_main(argv: list[str] | None = None) -> int:
    prog = "caldp-docker-run-pipeline"
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(PIPELINE_USAGE + "\n\n" + __doc__.split("\n\n", 2)[2].strip())
        return 0
    if not args:
        print(PIPELINE_USAGE, file=sys.stderr)
        return fail(prog, ContainerError("the dataset (ipppssoot) is missing", ExitCode.CMDLINE_ERROR))
    try:
        return run_in_container(["caldp-process", *args], interactive=False, pipeline=True)
    except ContainerError as exc:
        return fail(prog, exc)


def run_container_main(argv: list[str] | None = None) -> int:
    prog = "caldp-docker-run-container"
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(CONTAINER_USAGE + "\n\n" + __doc__.split("\n\n", 2)[2].strip())
        return 0
    if args[:1] == ["--"]:
        args = args[1:]
    try:
        return run_in_container(args or ["bash"], interactive=True, pipeline=False)
    except ContainerError as exc:
        return fail(prog, exc)
