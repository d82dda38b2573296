"""caldp's own engines: NumPy reimplementations of calacs/calwf3, and calcos for COS.

Each instrument's stage-1 entry point takes one input file (association or raw), an
output directory and the calibration environment, and returns the files it wrote.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from .base import Engine, Stage1Request
from .common.errors import EngineError

log = logging.getLogger(__name__)

#: instrument -> "module:function" of the stage-1 entry point.
STAGE1 = {
    "acs": "caldp.engines.acs.calacs:calacs",
    "wfc3": "caldp.engines.wfc3.calwf3:calwf3",
    "cos": "caldp.engines.cos:calcos",
    "stis": "caldp.engines.stis.calstis:calstis",  # CCD imaging; other STIS modes raise EngineError
}


def _entry_point(instrument: str):
    target = STAGE1.get(instrument)
    if target is None:
        raise EngineError(
            f"caldp has no builtin {instrument.upper()} engine; use --engine hstcal with HSTCAL on PATH"
        )
    module, _, func = target.partition(":")
    try:
        return getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise EngineError(f"builtin {instrument.upper()} engine is not available ({exc})") from exc


class BuiltinEngine(Engine):
    name = "builtin"

    def supports(self, instrument: str) -> bool:
        try:
            _entry_point(instrument)
        except EngineError:
            return False
        return True

    def run_stage1(self, request: Stage1Request) -> list[Path]:
        run = _entry_point(request.instrument)
        written: list[Path] = []
        for f in request.files:
            written += run(f, outdir=request.workdir, env=request.env,
                           keep_intermediates=request.keep_intermediates)
        return written
