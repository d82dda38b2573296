"""PHOTCORR for IR (HSTCAL ``wf3ir/photcalc.c``, ``wf32d/photmode.c``; calib-wfc3.md §I9).

PHOTMODE = ``"WFC3 IR <FILTER> MJD#<EXPSTART %.4f>"`` (primary header, always). From IMPHTTAB:
PHOTFLAM, PHOTPLAM, PHOTBW, PHOTZPT and ``PHOTFNU = 3.33564e4·PHOTFLAM·PHOTPLAM²`` (double,
written as float).
"""

from __future__ import annotations

import logging

from ...common import fitsfile as ff
from ...common.errors import EngineError
from ...common.imphttab import lookup

log = logging.getLogger(__name__)


def photmode(filter: str, expstart: float) -> str:
    """>>> photmode("F160W", 60296.25)
    'WFC3 IR F160W MJD#60296.2500'
    """
    text = "WFC3 IR"
    if not filter.startswith("CLEAR"):
        text += f" {filter}"
    return text + f" MJD#{expstart:0.4f}"


def phot_values(path, mode: str) -> dict[str, float]:
    """PHOT* values; a failed row lookup is logged, not fatal (as ``photcalc``): zeros and the table's PHOTZPT."""
    try:
        vals = lookup(path, mode, names=("PHOTFLAM", "PHOTPLAM", "PHOTBW"))
    except EngineError as exc:
        log.error("Error return GetPhotTab: %s", exc)
        with ff.open(path) as h:
            zpt = float(h[0].header.get("PHOTZPT", 0.0))
        vals = {"PHOTFLAM": 0.0, "PHOTPLAM": 0.0, "PHOTBW": 0.0, "PHOTZPT": zpt}
    flam, plam = vals.get("PHOTFLAM", 0.0), vals.get("PHOTPLAM", 0.0)
    vals["PHOTFNU"] = 3.33564e4 * flam * plam * plam
    return vals
