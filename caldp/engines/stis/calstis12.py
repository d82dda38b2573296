"""calstis12 (HSTCAL ``cs12/calstis12.c``, ``addshifts.c``, ``matchwav.c``, ``targpos.c``,
``history12.c``): the wavecal's SHIFTA1/SHIFTA2 written into a science exposure's headers.

For each science imset, the shifts of the wavecal imsets (good ones only, |shift| < 1000) at the
science exposure's midpoint: one wavecal imset or a midpoint outside the wavecals' → the nearest
end; otherwise linear interpolation in time (nearest neighbour when the wavecal times are not
increasing), as cs0.e calls it. The values go into the SCI, ERR and DQ headers (0 when |shift| ≥
2048), WAVECORR=COMPLETE and ``wavecal = <name>`` into the primary history.

>>> match_wav([10.0, 20.0], [1.0, 3.0], 15.0)
2.0
>>> match_wav([10.0], [1.5], 99.0), match_wav([], [], 1.0)
(1.5, -9999.0)
"""

from __future__ import annotations

import logging

from ..common.errors import EngineError
from ..common.hstio import Exposure
from ..common.keywords import hdr_double

log = logging.getLogger(__name__)

UNDEFINED_SHIFT = -9999.0
UNREASONABLE_SHIFT = 1000.0
MUCH_TOO_BIG = 2048.0
NEAREST, LINEAR = 1, 2


def match_wav(times, shifts, midpt: float, option: int = LINEAR) -> float:
    """``MatchWav``: the shift at `midpt` from the wavecals' (time, shift) pairs."""
    n = len(times)
    if n < 1:
        return UNDEFINED_SHIFT
    if n == 1 or midpt <= times[0]:
        return float(shifts[0])
    if midpt >= times[n - 1]:
        return float(shifts[n - 1])
    if option == NEAREST:
        best, min_dt = 0, abs(times[0] - midpt)
        for i in range(n):
            dt = abs(times[i] - midpt)
            if dt < min_dt:
                best, min_dt = i, dt
        return float(shifts[best])
    for i in range(n - 1):
        if times[i] <= midpt <= times[i + 1]:
            p = (midpt - times[i]) / (times[i + 1] - times[i])
            q = 1.0 - p
            return q * shifts[i] + p * shifts[i + 1]
    return UNDEFINED_SHIFT


def _midpt(hdr, fname: str) -> float:
    for key in ("EXPSTART", "EXPEND"):
        if key not in hdr:
            raise EngineError("keyword not found", file=fname, keyword=key)
    return (float(hdr["EXPSTART"]) + float(hdr["EXPEND"])) / 2.0


def calstis12(wavecal: Exposure, science: Exposure, wavecal_name: str) -> list[tuple[float, float]]:
    """Write the wavecal's shifts into `science` (in place); returns each imset's (SHIFTA1, SHIFTA2)."""
    wp, sp = wavecal.primary, science.primary
    same = (
        str(wp.get("DETECTOR", "")).strip() == str(sp.get("DETECTOR", "")).strip()
        and int(wp.get("CENWAVE", 0)) == int(sp.get("CENWAVE", 0))
        and str(wp.get("OPT_ELEM", "")).strip() == str(sp.get("OPT_ELEM", "")).strip()
    )
    if not same:
        raise EngineError("Science file and wavecal do not match", file=wavecal_name, keyword="OPT_ELEM")
    mids, s1, s2 = [], [], []
    for im in wavecal.imsets:
        h = im.sci_hdr
        for key in ("SHIFTA1", "SHIFTA2"):
            if key not in h:
                raise EngineError("keyword not found", file=wavecal_name, keyword=key)
        mids.append(_midpt(h, wavecal_name))
        s1.append(float(h["SHIFTA1"]))
        s2.append(float(h["SHIFTA2"]))
    option = LINEAR
    if any(mids[0] >= m for m in mids[1:]):
        log.warning("Times of wavecal exposures are not strictly increasing; interpolation option reset to nearest.")
        option = NEAREST
    good1 = [(t, s) for t, s in zip(mids, s1, strict=True) if abs(s) < UNREASONABLE_SHIFT]
    good2 = [(t, s) for t, s in zip(mids, s2, strict=True) if abs(s) < UNREASONABLE_SHIFT]
    out = []
    for im in science.imsets:
        mid = _midpt(im.sci_hdr, science.filename)
        sh1 = match_wav([t for t, _ in good1], [s for _, s in good1], mid, option)
        sh2 = match_wav([t for t, _ in good2], [s for _, s in good2], mid, option)
        v1 = hdr_double(sh1) if abs(sh1) < MUCH_TOO_BIG else 0.0
        v2 = hdr_double(sh2) if abs(sh2) < MUCH_TOO_BIG else 0.0
        for ext in ("SCI", "ERR", "DQ"):
            im.headers[ext]["SHIFTA1"] = v1
            im.headers[ext]["SHIFTA2"] = v2
        if abs(sh1) < MUCH_TOO_BIG:
            log.info("SHIFTA1 set to %.6g", sh1)
        if abs(sh2) < MUCH_TOO_BIG:
            log.info("SHIFTA2 set to %.6g", sh2)
        out.append((v1, v2))
    sp["WAVECORR"] = "COMPLETE"
    sp.add_history("WAVECORR complete ...")
    sp.add_history(f"  wavecal = {wavecal_name}")
    return out
