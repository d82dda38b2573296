"""caldp-calstis: a drop-in for HSTCAL's ``cs0.e`` using caldp's builtin STIS engine.

Same arguments as cs0.e (``[-t] [-s] [-v] [-r] [--version] input [outroot] [-w wavecal]``);
references come from the headers through ``oref`` in the environment (no CRDS); exit status as
cs0.e: 0 success, 2 any error. As cs0.e, products go beside the input unless `outroot` says
otherwise: a directory (ending in ``/``) or a root name (``dir/root`` → ``dir/root_flt.fits``).
The builtin engine calibrates CCD imaging and spectroscopy and MAMA imaging; for other STIS modes it
stops with one line naming the keyword. ``-w wavecal`` names the wavecal instead of the WAVECAL
keyword (relative to the current directory, as cs0.e opens it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..engines.common.errors import EngineError
from .dropin import DropIn, run

SYNTAX = "syntax:  caldp-calstis [--help] [-t] [-s] [-v] [-r] [--version] input [outroot] [-w wavecal]"
ROOT_SUFFIXES = ("_raw.fits", "_asn.fits", "_flt.fits", "_crj.fits", ".fits")


def placement(input_path: Path, args: list[str], values: dict[str, str]) -> dict:
    """Where cs0.e writes: beside the input, in the `outroot` directory, or under the `outroot` name.

    >>> placement(Path("d/o1_raw.fits"), [], {})
    {'outdir': PosixPath('d')}
    >>> placement(Path("o1_raw.fits"), ["/tmp/"], {})
    {'outdir': PosixPath('/tmp')}
    >>> placement(Path("o1_raw.fits"), ["/tmp/obj_raw.fits"], {})
    {'outdir': PosixPath('/tmp'), 'outroot': 'obj'}
    >>> placement(Path("d/o1_raw.fits"), [], {"-w": "w/o1_wav.fits"})
    {'outdir': PosixPath('d'), 'wavecal': 'w/o1_wav.fits'}
    """
    wav = {"wavecal": values["-w"]} if values.get("-w") else {}
    if not args:
        return {"outdir": input_path.parent, **wav}
    outroot = args[0]
    path = Path(outroot)
    where = {"outdir": path} if outroot.endswith("/") else {"outdir": path.parent, "outroot": _root(path.name)}
    if not where["outdir"].is_dir():
        raise EngineError("output directory does not exist", file=where["outdir"])
    return {**where, **wav}


def _root(name: str) -> str:
    for suffix in ROOT_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    from ..engines.stis.calstis import CALSTIS_SEMANTICS, cal_ver, calstis

    tool = DropIn(__doc__, SYNTAX, CALSTIS_SEMANTICS, cal_ver, calstis,
                  value_options=("-w",), max_args=2, placement=placement)  # fmt: skip
    return run(tool, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
