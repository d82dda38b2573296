"""Run the archive's own programs: HSTCAL executables and the calcos package.

As CALDP does: ``calacs.e``/``calwf3.e`` on the association (else each raw), ``cs0.e -tv``
for STIS raw/wav files, ``calcos`` for COS (with RANDSEED=1 set in the raws); non-zero
return codes CALDP ignores (calcos 5, from RAWACQ files) are ignored here too. Programs run
as subprocesses with ``cwd=`` the work directory and the calibration environment.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from astropy.io import fits

from .base import Engine, Stage1Request
from .common.errors import EngineError

log = logging.getLogger(__name__)

#: instrument -> (command, return codes to ignore)
PROGRAMS = {
    "acs": (["calacs.e"], ()),
    "wfc3": (["calwf3.e"], ()),
    "stis": (["cs0.e", "-tv"], ()),
    "cos": (["calcos"], (5,)),
}


def find_program(instrument: str, env=None) -> str | None:
    cmd = PROGRAMS.get(instrument)
    if cmd is None:
        return None
    path = (env or {}).get("PATH")
    return shutil.which(cmd[0][0], path=path)


def run_program(argv: list[str], workdir: Path, env, ignore=()) -> None:
    log.info("Running %s in %s", " ".join(argv), workdir)
    proc = subprocess.run(argv, cwd=workdir, env=dict(env), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace")
    for line in proc.stdout.splitlines():
        log.info("%s", line)
    if proc.returncode and proc.returncode not in ignore:
        tail = [ln for ln in proc.stdout.splitlines() if "ERROR" in ln.upper()][-1:] or proc.stdout.splitlines()[-1:]
        raise EngineError(f"{' '.join(argv)} failed with status {proc.returncode}: {' '.join(tail)}".strip())
    if proc.returncode:
        log.info("Ignoring status %d of %s, as CALDP does", proc.returncode, argv[0])


class HstcalEngine(Engine):
    """The HSTCAL executables (and calcos), as CALDP runs them."""

    name = "hstcal"

    def supports(self, instrument: str) -> bool:
        return find_program(instrument) is not None

    def run_stage1(self, request: Stage1Request) -> list[Path]:
        cmd, ignore = PROGRAMS.get(request.instrument, (None, ()))
        if cmd is None or find_program(request.instrument, request.env) is None:
            name = cmd[0] if cmd else request.instrument
            raise EngineError(f"{name} is not on PATH; install HSTCAL or use --engine builtin")
        before = set(request.workdir.iterdir())
        if request.instrument == "cos":
            for f in request.files:
                if "_raw" in f.name or "_rawtag" in f.name or "_rawaccum" in f.name:
                    fits.setval(f, "RANDSEED", value=1)
        extra = ["-s"] if request.keep_intermediates and request.instrument in ("acs", "wfc3") else []
        for f in request.files:
            run_program([*cmd, *extra, f.name], request.workdir, request.env, ignore)
        return sorted(p for p in request.workdir.iterdir() if p not in before)
