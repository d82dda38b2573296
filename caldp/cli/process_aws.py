"""caldp-process-aws: the command AWS Batch job definitions run, as CALDP defines it.

    caldp-process-aws <s3_output_path> <ipppssoot> [caldp-process options]

It runs ``caldp-process <ipppssoot> astroquery: <s3_output_path> caldp-config-aws``: the raw files
come from MAST, CRDS from ``$CRDSBUCKET``, and the output tree (products, logs, previews,
messages) goes to ``s3_output_path``. Exit status: caldp-process's (CALDP's codes).
"""

from __future__ import annotations

import sys

from ..exit_codes import ExitCode
from .common import finish
from .process import main as process_main

USAGE = "usage: caldp-process-aws <s3_output_path> <ipppssoot> [caldp-process options]"


def command(output: str, dataset: str, *options: str) -> list[str]:
    """caldp-process's arguments for one caldp-process-aws call.

    >>> command("s3://b/batch-1", "j8cb010b0")
    ['j8cb010b0', 'astroquery:', 's3://b/batch-1', 'caldp-config-aws']
    """
    return [dataset, "astroquery:", output, "caldp-config-aws", *options]


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(USAGE + "\n\n" + __doc__.split("\n\n", 2)[2].strip())
        return 0
    positional = [a for a in args if not a.startswith("-")]
    if len(positional) != 2 or args[:2] != positional:
        print(USAGE, file=sys.stderr)
        return finish(ExitCode.CMDLINE_ERROR, "caldp-process-aws takes <s3_output_path> <ipppssoot>, then options")
    return process_main(command(*args))


if __name__ == "__main__":
    sys.exit(main())
