"""caldp-calacs: a drop-in for HSTCAL's ``calacs.e`` using caldp's builtin ACS CCD engine.

Same arguments as calacs.e (``[-t] [-s] [-v] [-q] [-r] [-1] [--nthreads N] [--version] input``);
references come from the headers through ``jref`` in the environment (no CRDS); products are
written to the current directory; exit status as calacs.e: 0 success, 2 any error (calacs.e
reports missing reference files with status 2 too).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..engines.common.errors import EngineError

ERROR_RETURN = 2
SYNTAX = "syntax:  caldp-calacs [--help] [-t] [-s] [-v] [-q] [-r] [--version] [-1|--nthreads <N>] input"


def _parse(argv: list[str]):
    opts = {"t": False, "s": False, "v": False, "q": False, "1": False, "d": False}
    inputs: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg == "--version":
            return "version", opts, inputs
        if arg == "--help":
            return "help", opts, inputs
        if arg in ("--nthreads", "--ctegen", "--pctetab"):
            if next(it, None) is None:
                print(f"ERROR: {arg} - value not specified")
                return "syntax", opts, inputs
            continue
        if arg.startswith("--"):
            print(f"Unrecognized option {arg}")
            return "syntax", opts, inputs
        if arg.startswith("-") and len(arg) > 1:
            for ch in arg[1:]:
                if ch == "r":
                    return "r", opts, inputs
                if ch not in opts:
                    print(f"Unrecognized option {arg}")
                    return "syntax", opts, inputs
                opts[ch] = True
        else:
            inputs.append(arg)
    if len(inputs) != 1:
        return "syntax", opts, inputs
    return "run", opts, inputs


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    from ..engines.acs.calacs import CALACS_SEMANTICS, cal_ver, calacs

    argv = sys.argv[1:] if argv is None else list(argv)
    what, opts, inputs = _parse(argv)
    if what == "version":
        print(CALACS_SEMANTICS)
        return 0
    if what == "r":
        print(f"Current version: {cal_ver()}")
        return 0
    if what == "help":
        print(__doc__.strip())
        print(SYNTAX)
        return 0
    if what == "syntax":
        print(SYNTAX)
        return ERROR_RETURN
    level = logging.WARNING if opts["q"] else (logging.DEBUG if opts["v"] else logging.INFO)
    fmt = "%(asctime)s %(message)s" if opts["t"] else "%(message)s"
    root = logging.getLogger()
    if not root.handlers:  # a library caller (or pytest) may have configured logging already
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(fmt))
        handler.setLevel(level)
        root.addHandler(handler)
        root.setLevel(level)
    path = Path(inputs[0])
    if not path.exists() and not path.name.endswith(".fits"):
        for suffix in ("_asn.fits", "_raw.fits"):
            if Path(inputs[0] + suffix).exists():
                path = Path(inputs[0] + suffix)
                break
    try:
        calacs(path, outdir=Path.cwd(), keep_intermediates=opts["s"], verbose=opts["v"])
    except EngineError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return ERROR_RETURN
    except MemoryError:
        print("ERROR: out of memory", file=sys.stderr)
        return ERROR_RETURN
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
