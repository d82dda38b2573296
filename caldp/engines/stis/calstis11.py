"""calstis11 (HSTCAL ``cs11/calstis11.c``, ``subsci.c``, ``binsubtract.c``, ``matchsci.c``,
``gettimes11.c``, ``getkeyinfo11.c``): the science image subtracted from a CCD HITM wavecal taken
with the external shutter open (TEXPSTRT before 1998 Nov 9) — cs0.e's ``_cwv_tmp``.

Each good wavecal imset gets the science imset nearest in time (midpoints), scaled by the ratio of
exposure times and gains, subtracted where the two overlap (same binning: ``BinSameBin``); the ERR
and DQ are not changed. A wavecal that does not match the science data (DETECTOR, CENWAVE,
OPT_ELEM, APERTURE) is left alone (cs0.e then rectifies the wavecal itself).

>>> wav = np.full((3, 4), 10.0, np.float32); sci = np.full((3, 4), 2.0, np.float32)
>>> subtract_same_bin(wav, sci, 0.5, (0.0, 0.0), (0.0, 0.0)).tolist()[0]
[9.0, 9.0, 9.0, 9.0]
"""

from __future__ import annotations

import logging

import numpy as np

from ..common.errors import EngineError
from ..common.hstio import Exposure

log = logging.getLogger(__name__)

EXT_SHUTTER_CLOSED = 51126.0  # MJD, 1998 Nov 9
SMALL_AMOUNT = 0.001


def _nint(x: float) -> int:
    return int(x + 0.5) if x >= 0.0 else int(x - 0.5)


def applies(wprimary) -> bool:
    """cs0.e's ``wav_subscicorr``: a CCD wavecal with a HITM lamp before the shutter was closed."""
    return (
        str(wprimary.get("DETECTOR", "")).strip() == "CCD"
        and str(wprimary.get("SCLAMP", "")).strip() in ("HITM1", "HITM2")
        and float(wprimary.get("TEXPSTRT", 0.0)) < EXT_SHUTTER_CLOSED
    )


def limits_in_wav(wshape, sshape, ltv_w, ltv_s):
    """``LimitsInWav`` for equal binning (LTM 1): wavecal pixels covered by the science image
    (lower left, upper right, inclusive) and the first science pixel, (x, y) each."""
    (wny, wnx), (sny, snx) = wshape, sshape
    ll = [(-0.5 - ltv_s[k]) + ltv_w[k] + SMALL_AMOUNT for k in (0, 1)]
    ur = [((snx, sny)[k] - 0.5 - ltv_s[k]) + ltv_w[k] - SMALL_AMOUNT for k in (0, 1)]
    lower = [max(_nint(ll[0]), 0), max(_nint(ll[1]), 0)]
    upper = [min(_nint(ur[0]), wnx - 1), min(_nint(ur[1]), wny - 1)]
    if lower[0] > 0 or upper[0] < wnx - 1 or lower[1] > 0 or upper[1] < wny - 1:
        log.warning("The science image does not cover the wavecal image.")
    start = [_nint((lower[k] - 0.5 + SMALL_AMOUNT - ltv_w[k]) + ltv_s[k]) for k in (0, 1)]
    return tuple(lower), tuple(upper), tuple(start)


def subtract_same_bin(wav: np.ndarray, sci: np.ndarray, ratio: float, ltv_w, ltv_s) -> np.ndarray:
    """``BinSameBin``: wav − ratio·sci (in double, stored float32) over the overlap; `wav` in place."""
    lower, upper, start = limits_in_wav(wav.shape, sci.shape, ltv_w, ltv_s)
    (x0, y0), (x1, y1) = lower, upper
    if x1 < x0 or y1 < y0:
        return wav
    sx, sy = start
    block = sci[sy : sy + (y1 - y0 + 1), sx : sx + (x1 - x0 + 1)].astype(np.float64)
    w = wav[y0 : y1 + 1, x0 : x1 + 1]
    w[...] = (w.astype(np.float64) - ratio * block).astype(np.float32)
    return wav


def _times(hdr, fname: str) -> tuple[float, float, bool]:
    for key in ("EXPTIME", "EXPSTART", "EXPEND"):
        if key not in hdr:
            raise EngineError("keyword not found", file=fname, keyword=key)
    exptime = float(hdr["EXPTIME"])
    if exptime < 0.0:
        raise EngineError(f"Exposure time = {exptime:.6g} is invalid.", file=fname, keyword="EXPTIME")
    return exptime, (float(hdr["EXPSTART"]) + float(hdr["EXPEND"])) / 2.0, hdr.get("IMSET_OK", True) is not False


def _gain(primary) -> float:
    g = float(primary.get("ATODGAIN", 0.0))
    return g if g > 0.0 else float(primary.get("CCDGAIN", 1.0))


def calstis11(wav: Exposure, sci: Exposure, sci_name: str) -> Exposure | None:
    """The wavecal minus the science data (a new Exposure, cs0.e's ``_cwv_tmp``), or None when
    the two do not match (cs0.e's NOTHING_TO_DO: a warning, the wavecal used as it is)."""
    wp, sp = wav.primary, sci.primary
    keys = ("DETECTOR", "CENWAVE", "OPT_ELEM", "APERTURE")
    if any(str(wp.get(k, "")).strip() != str(sp.get(k, "")).strip() for k in keys):
        log.warning("Wavecal and science file do not match; the science file will not be subtracted.")
        return None
    sci_times = []
    for im in sci.imsets:
        exptime, mid, ok = _times(im.sci_hdr, sci.filename)
        if ok:
            sci_times.append((exptime, mid, im))
    if not sci_times:
        raise EngineError("no good science imset to subtract from the wavecal", file=sci.filename, keyword="IMSET_OK")
    sgain, wgain = _gain(sp), _gain(wp)
    out = Exposure(primary=wp.copy(), filename=wav.filename)
    for im in wav.imsets:
        wexp, wmid, ok = _times(im.sci_hdr, wav.filename)
        if not ok:
            continue  # cs0.e writes no output imset for it
        best = 0
        if len(sci_times) > 1:
            min_dt = abs(wmid - sci_times[0][1])
            for i, (_, mid, _) in enumerate(sci_times):
                if abs(wmid - mid) < min_dt:
                    best, min_dt = i, abs(wmid - mid)
        sexp, _, sim = sci_times[best]
        for h, what in ((im.sci_hdr, "wavecal"), (sim.sci_hdr, "science")):
            if float(h.get("LTM1_1", 1.0)) != 1.0 or float(h.get("LTM2_2", 1.0)) != 1.0:
                raise EngineError(f"binned {what} data are not supported by calstis11 here", keyword="LTM1_1")
        ratio = wexp / sexp * sgain / wgain  # SubSci's order
        ltv_w = (float(im.sci_hdr.get("LTV1", 0.0)), float(im.sci_hdr.get("LTV2", 0.0)))
        ltv_s = (float(sim.sci_hdr.get("LTV1", 0.0)), float(sim.sci_hdr.get("LTV2", 0.0)))
        im.sci = subtract_same_bin(im.sci.copy(), sim.sci, ratio, ltv_w, ltv_s)
        if not out.imsets:
            out.primary.add_history(f"Science file {sci_name} was subtracted.")
        im.sci_hdr.add_history(f"{sci_name}[EXTVER={sim.extver}] was subtracted")
        log.info("%s[EXTVER=%d] was subtracted.", sci_name, sim.extver)
        out.imsets.append(im)
    return out
