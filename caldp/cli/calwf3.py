"""caldp-calwf3: a drop-in for HSTCAL's ``calwf3.e`` using caldp's builtin WFC3 engine.

Same arguments as calwf3.e (``[-t] [-s] [-v] [-q] [-r] [-1] [--version] input``); references come
from the headers through ``iref`` in the environment (no CRDS); products are written to the current
directory; exit status as calwf3.e: 0 success, 2 error, 115 reference file missing.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..engines.common.errors import EngineError

log = logging.getLogger("caldp.cli.calwf3")

ERROR_RETURN = 2
CAL_FILE_MISSING = 115
SYNTAX = "syntax:  caldp-calwf3 [--help] [-t] [-s] [-v] [-q] [-r] [-1] [--version] input"


def _parse(argv: list[str]):
    opts = {"t": False, "s": False, "v": False, "q": False, "1": False}
    inputs = []
    for arg in argv:
        if arg == "--version":
            return "version", opts, inputs
        if arg == "--help":
            return "help", opts, inputs
        if arg.startswith("-") and len(arg) > 1:
            for ch in arg[1:]:
                if ch == "r":
                    return "r", opts, inputs
                if ch == "d":
                    continue
                if ch not in opts:
                    print(f"Unrecognized option {arg}", file=sys.stderr)
                    return "syntax", opts, inputs
                opts[ch] = True
        else:
            inputs.append(arg)
    if len(inputs) != 1:
        return "syntax", opts, inputs
    return "run", opts, inputs


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    from ..engines.wfc3.calwf3 import CALWF3_SEMANTICS, cal_ver, calwf3
    from ..engines.wfc3.uvis.context import MissingReference

    argv = sys.argv[1:] if argv is None else list(argv)
    what, opts, inputs = _parse(argv)
    if what == "version":
        print(CALWF3_SEMANTICS)
        return 0
    if what == "r":
        print(f"Current version: {cal_ver()}")
        return 0
    if what == "help":
        print(__doc__.strip())
        print(SYNTAX)
        return 0
    if what == "syntax":
        print(SYNTAX, file=sys.stderr)
        return ERROR_RETURN
    level = logging.WARNING if opts["q"] else (logging.DEBUG if opts["v"] else logging.INFO)
    fmt = "%(asctime)s %(message)s" if opts["t"] else "%(message)s"
    root = logging.getLogger()
    if not root.handlers:  # a library caller (or pytest) may have configured logging already
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(fmt))
        handler.setLevel(level)  # the trailer capture lowers caldp.engines to INFO; keep the console at `level`
        root.addHandler(handler)
        root.setLevel(level)
    path = Path(inputs[0])
    if not path.exists() and not path.name.endswith(".fits"):
        for suffix in ("_asn.fits", "_raw.fits"):
            if Path(inputs[0] + suffix).exists():
                path = Path(inputs[0] + suffix)
                break
    try:
        calwf3(path, outdir=Path.cwd(), keep_intermediates=opts["s"], verbose=opts["v"])
    except MissingReference as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return CAL_FILE_MISSING
    except EngineError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return ERROR_RETURN
    except MemoryError:
        print("ERROR: out of memory", file=sys.stderr)
        return ERROR_RETURN
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
