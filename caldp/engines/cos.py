"""COS stage 1 with STScI's calcos package (the archive's own COS pipeline)."""

from __future__ import annotations

import logging
from pathlib import Path

from astropy.io import fits

from .common.errors import EngineError

log = logging.getLogger(__name__)


def calcos(input_path, *, outdir=None, env=None, keep_intermediates=False) -> list[Path]:
    """Run calcos on an association or raw file; RANDSEED=1 as CALDP sets it."""
    from .hstcal import run_program

    input_path = Path(input_path)
    outdir = Path(outdir or input_path.parent)
    if "_raw" in input_path.name:
        fits.setval(input_path, "RANDSEED", value=1)
    before = set(outdir.iterdir())
    try:
        run_program(["calcos", "--outdir", str(outdir), str(input_path)], outdir, env or {}, ignore=(5,))
    except FileNotFoundError as exc:
        raise EngineError("calcos is not installed (pip install calcos)") from exc
    return sorted(p for p in outdir.iterdir() if p not in before)
