"""caldp-calwf3: a drop-in for HSTCAL's ``calwf3.e`` using caldp's builtin WFC3 engine.

Same arguments as calwf3.e (``[-t] [-s] [-v] [-q] [-r] [-1] [--version] input``); references come
from the headers through ``iref`` in the environment (no CRDS); products are written to the current
directory; exit status as calwf3.e: 0 success, 2 error, 115 reference file missing.
"""

from __future__ import annotations

import sys

from .dropin import DropIn, run

CAL_FILE_MISSING = 115
SYNTAX = "syntax:  caldp-calwf3 [--help] [-t] [-s] [-v] [-q] [-r] [-1] [--version] input"


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    from ..engines.wfc3.calwf3 import calwf3
    from ..engines.wfc3.uvis.context import MissingReference
    from ..engines.wfc3.version import CALWF3_SEMANTICS, cal_ver

    tool = DropIn(__doc__, SYNTAX, CALWF3_SEMANTICS, cal_ver, calwf3,
                  missing_reference=(MissingReference, CAL_FILE_MISSING))
    return run(tool, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
