"""What ``caldp-calacs``, ``caldp-calwf3`` and ``caldp-calstis`` share: HSTCAL's command line and exit statuses.

Both take the HSTCAL drivers' arguments (``[-t] [-s] [-v] [-q] [-r] [-1] [--version] input``,
plus options with a value that caldp accepts and ignores, e.g. calacs.e's ``--nthreads N``),
read references from the headers through ``jref``/``iref``, write products in the current
directory and exit 0 on success, 2 on error — and, where the HSTCAL driver has one, its own
status for a missing reference file (calwf3.e: 115).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..engines.common.errors import EngineError

ERROR_RETURN = 2


@dataclass(frozen=True)
class DropIn:
    """One HSTCAL driver stand-in."""

    doc: str
    syntax: str
    semantics: str  # the HSTCAL version whose behaviour is reproduced (``--version``)
    cal_ver: Callable[[], str]
    calibrate: Callable[..., object]  # (input, *, outdir, keep_intermediates, verbose)
    missing_reference: tuple[type[BaseException], int] | None = None  # (exception, exit status)
    value_options: tuple[str, ...] = field(default=())  # take a value (ignored unless `placement` reads it)
    max_args: int = 1  # positional arguments: the input, then what `placement` reads (cs0.e: outroot)
    #: (input, further positional args, option values) → the calibrate keywords saying where products
    #: go; default: the current directory
    placement: Callable[[Path, list[str], dict[str, str]], dict] | None = None


def parse(
    argv: list[str], value_options: tuple[str, ...] = (), max_args: int = 1
) -> tuple[str, dict[str, bool], list[str], dict[str, str]]:
    """HSTCAL-style arguments → (what, options, positional args, option values); what ∈ run,
    version, r, help, syntax.

    >>> parse(["-tv", "x_asn.fits"])
    ('run', {'t': True, 's': False, 'v': True, 'q': False, '1': False}, ['x_asn.fits'], {})
    >>> parse(["--nthreads", "4", "x"], ("--nthreads",))[0], parse(["-z", "x"])[0], parse([])[0]
    ('run', 'syntax', 'syntax')
    >>> parse(["x_raw.fits", "out/", "-w", "x_wav.fits"], ("-w",), max_args=2)[2:]
    (['x_raw.fits', 'out/'], {'-w': 'x_wav.fits'})
    """
    opts = {"t": False, "s": False, "v": False, "q": False, "1": False}
    args: list[str] = []
    values: dict[str, str] = {}
    it = iter(argv)
    for arg in it:
        if arg == "--version":
            return "version", opts, args, values
        if arg == "--help":
            return "help", opts, args, values
        if arg in value_options:
            value = next(it, None)
            if value is None:
                print(f"ERROR: {arg} - value not specified", file=sys.stderr)
                return "syntax", opts, args, values
            values[arg] = value
            continue
        if arg.startswith("--"):
            print(f"Unrecognized option {arg}", file=sys.stderr)
            return "syntax", opts, args, values
        if arg.startswith("-") and len(arg) > 1:
            for ch in arg[1:]:
                if ch == "r":
                    return "r", opts, args, values
                if ch == "d":  # debug output in HSTCAL; nothing more to show here
                    continue
                if ch not in opts:
                    print(f"Unrecognized option {arg}", file=sys.stderr)
                    return "syntax", opts, args, values
                opts[ch] = True
        else:
            args.append(arg)
    if not 1 <= len(args) <= max_args:
        return "syntax", opts, args, values
    return "run", opts, args, values


def _console_logging(opts: dict[str, bool]) -> None:
    level = logging.WARNING if opts["q"] else (logging.DEBUG if opts["v"] else logging.INFO)
    root = logging.getLogger()
    if root.handlers:  # a library caller (or pytest) configured logging already
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s" if opts["t"] else "%(message)s"))
    handler.setLevel(level)  # the trailer capture lowers caldp.engines to INFO; the console keeps `level`
    root.addHandler(handler)
    root.setLevel(level)


def input_path(name: str) -> Path:
    """The input as HSTCAL finds it: the name itself, or ``<name>_asn.fits`` / ``<name>_raw.fits``."""
    path = Path(name)
    if not path.exists() and not path.name.endswith(".fits"):
        for suffix in ("_asn.fits", "_raw.fits"):
            if Path(name + suffix).exists():
                return Path(name + suffix)
    return path


def run(tool: DropIn, argv: list[str] | None = None) -> int:
    """Run the stand-in with `argv` (default sys.argv[1:]); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    what, opts, args, values = parse(argv, tool.value_options, tool.max_args)
    if what == "version":
        print(tool.semantics)
        return 0
    if what == "r":
        print(f"Current version: {tool.cal_ver()}")
        return 0
    if what == "help":
        print(tool.doc.strip())
        print(tool.syntax)
        return 0
    if what == "syntax":
        print(tool.syntax, file=sys.stderr)
        return ERROR_RETURN
    _console_logging(opts)
    try:
        path = input_path(args[0])
        where = tool.placement(path, args[1:], values) if tool.placement else {"outdir": Path.cwd()}
        tool.calibrate(path, keep_intermediates=opts["s"], verbose=opts["v"], **where)
    except MemoryError:
        print("ERROR: out of memory", file=sys.stderr)
        return ERROR_RETURN
    except EngineError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        if tool.missing_reference and isinstance(exc, tool.missing_reference[0]):
            return tool.missing_reference[1]
        return ERROR_RETURN
    return 0
