"""caldp-calacs: a drop-in for HSTCAL's ``calacs.e`` using caldp's builtin ACS CCD engine.

Same arguments as calacs.e (``[-t] [-s] [-v] [-q] [-r] [-1] [--nthreads N] [--version] input``);
references come from the headers through ``jref`` in the environment (no CRDS); products are
written to the current directory; exit status as calacs.e: 0 success, 2 any error (calacs.e
reports missing reference files with status 2 too).
"""

from __future__ import annotations

import sys

from .dropin import DropIn, run

SYNTAX = "syntax:  caldp-calacs [--help] [-t] [-s] [-v] [-q] [-r] [--version] [-1|--nthreads <N>] input"


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    from ..engines.acs.calacs import CALACS_SEMANTICS, cal_ver, calacs

    tool = DropIn(__doc__, SYNTAX, CALACS_SEMANTICS, cal_ver, calacs,
                  value_options=("--nthreads", "--ctegen", "--pctetab"))
    return run(tool, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
