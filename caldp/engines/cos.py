"""COS stage 1 with STScI's calcos package (the archive's own COS pipeline).

As CALDP runs it: ``calcos <input>`` in the work directory (the association if there is one,
else the first raw file), with ``RANDSEED=1`` written into every raw file first so RANDCORR is
reproducible, and the ``lref`` reference directory from the calibration environment. calcos
runs in a subprocess (it writes its trailers through process-wide state); its output goes to
the log line by line.

calcos reports most problems by raising, so the process ends with a traceback and status 1;
the reason given here is calcos's own ``ERROR:`` message and the traceback's last line (the
exception and its message), in one line. An exposure whose events table is empty makes calcos
warn ``No data in <file>`` and write empty products; caldp treats that as a failure too. On
failure every file calcos wrote is removed, so nothing half-made is delivered.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

from astropy.io import fits

from .common.errors import EngineError

log = logging.getLogger(__name__)

#: calcos's status for association members it cannot use (acquisitions); CALDP ignores it.
IGNORED_STATUS = (5,)
RAW_MARKERS = ("_raw", "_rawtag", "_rawaccum")
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Warning)|KeyError|ValueError|OSError)\b.*")


def raw_members(workdir: Path, input_path: Path) -> list[Path]:
    """The raw files calcos will read for `input_path` (an association's members, or the raw itself)."""
    ipppss = input_path.name[:6].lower()
    return sorted(
        p for p in workdir.iterdir() if p.name.lower().startswith(ipppss) and any(m in p.name for m in RAW_MARKERS)
    )


def set_randseed(paths: list[Path], seed: int = 1) -> None:
    """RANDSEED in each raw primary header, as CALDP sets it before calcos."""
    for path in paths:
        with fits.open(path, mode="update") as hdul:
            hdul[0].header["RANDSEED"] = seed


def failure_reason(output: str) -> str:
    """calcos's own reason, in one line: its last ``ERROR:`` message (with the lines continuing it) and
    the exception that ended the run, else that exception alone, else the last line.

    >>> failure_reason("x\\nERROR:  Table has no matching row;\\n  table name is t.fits\\n"
    ...                "Traceback (most recent call last):\\n  File 'a', line 1\\n"
    ...                "MissingRowError: Table has no matching row")
    'Table has no matching row; table name is t.fits (MissingRowError: Table has no matching row)'
    >>> failure_reason("ERROR:  Wrong FILETYPE; expected the following:\\nflatfile = /r/x_flat.fits\\n"
    ...                "  filetype should be FLAT FIELD REFERENCE IMAGE\\nTraceback (most recent call last):\\n"
    ...                "RuntimeError")
    'Wrong FILETYPE; expected the following: flatfile = /r/x_flat.fits filetype should be FLAT FIELD REFERENCE IMAGE'
    >>> failure_reason("Traceback (most recent call last):\\n  File 'a'\\nKeyError: 'TIMESTEP'")
    "KeyError: 'TIMESTEP'"
    """
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    exc = next((ln.strip() for ln in reversed(lines) if _EXC_LINE.match(ln.strip())), "")
    error = ""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].lstrip().startswith("ERROR:"):
            text = [lines[i].split("ERROR:", 1)[1].strip()]
            for nxt in lines[i + 1 : i + 4]:
                if nxt.startswith(("Traceback", "Warning", "ERROR")) or not ("=" in nxt or nxt.startswith(" ")):
                    break
                text.append(nxt.strip())
            error = " ".join(t for t in text if t)
            break
    if error and ":" in exc:
        return f"{error} ({exc})"
    return error or exc or (lines[-1].strip() if lines else "no output")


def no_data_warnings(output: str) -> list[str]:
    """calcos's ``No data in <file>`` warnings (an exposure with an empty events table).

    >>> no_data_warnings("Warning:  No data in l1_rawtag.fits\\nok")
    ['No data in l1_rawtag.fits']
    """
    return [ln.split("Warning:", 1)[1].strip() for ln in output.splitlines() if "Warning:  No data in" in ln]


def calcos_command() -> list[str]:
    """``calcos`` from this interpreter's environment (the console script next to it), else from PATH."""
    script = Path(sys.executable).with_name("calcos")
    return [str(script)] if script.is_file() else ["calcos"]


def calcos(input_path, *, outdir=None, env=None, keep_intermediates=False) -> list[Path]:
    """Run calcos on an association or raw file in its directory; returns the files it wrote.

    `outdir` must be the input's directory (calcos writes next to its inputs, as CALDP runs it).
    Raises :class:`EngineError` with calcos's reason when it fails or writes no product.
    """
    input_path = Path(input_path)
    workdir = input_path.parent
    if outdir is not None and Path(outdir).resolve() != workdir.resolve():
        raise EngineError("calcos writes into the input's directory; outdir must be that directory")
    env = {**os.environ, **dict(env or {})}
    if not env.get("lref"):
        raise EngineError("lref (the COS reference directory) is not set in the calibration environment")
    set_randseed(raw_members(workdir, input_path))
    before = {p.name for p in workdir.iterdir()}
    argv = [*calcos_command(), *(["-s"] if keep_intermediates else []), input_path.name]
    log.info("Running %s in %s", " ".join(argv), workdir)
    try:
        proc = subprocess.run(
            argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
    except FileNotFoundError as exc:
        raise EngineError("calcos is not installed (pip install calcos)") from exc
    for line in proc.stdout.splitlines():
        log.info("%s", line)
    written = sorted(p for p in workdir.iterdir() if p.name not in before)
    made = [p for p in written if p.name.endswith(("_x1d.fits", "_flt.fits", "_flt_a.fits", "_flt_b.fits"))]
    status_ok = proc.returncode == 0 or proc.returncode in IGNORED_STATUS
    empty = no_data_warnings(proc.stdout)
    if not status_ok or not made or empty:
        for p in written:  # nothing half-made goes on
            if p.is_file():
                p.unlink()
        why = failure_reason(proc.stdout)
        if status_ok and empty:
            why = f"{'; '.join(empty)} (calcos wrote only empty products)"
        elif status_ok:
            why = f"no calibrated product written ({why})"
        raise EngineError(f"calcos failed with status {proc.returncode}: {why}", file=input_path.name)
    if proc.returncode:
        log.info("Ignoring status %d of calcos, as CALDP does", proc.returncode)
    log.info("calcos wrote %d files", len(written))
    return written
