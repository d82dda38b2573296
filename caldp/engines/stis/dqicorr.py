"""DQICORR (HSTCAL ``cs1/dodqi.c``, ``cs1/flagfilter.c``): for the CCD saturation, BPIXTAB rows and
the region beyond a slit's field of view, on the raw frame (overscan included); for the MAMAs the
BPIXTAB rows only, in low-res reference pixels, through a high-res scratch array when the image is
high-res in one axis or DOPPCORR widens the flags (:func:`apply_bpixtab_mama`).

Pure array functions; the BPIXTAB rows are ``(PIX1, PIX2, LENGTH, AXIS, VALUE)`` in reference
(1-based, unbinned) pixels and `ltv` is the image's zero-based offset (LTV1, LTV2).
"""

from __future__ import annotations

import math

import numpy as np

from .dq import DQ

CCD_NPIX = 1024
SHORT_SLIT, LONG_SLIT = 5.0, 45.0  # arcsec: slits outside this height range are not flagged
APERTURE_BORDER = 10  # reference pixels added on each side of the aperture
ARCSEC_PER_DEGREE = 3600.0


def nint(x: float) -> int:
    """HSTCAL's NINT: round half away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def flag_saturation(sci: np.ndarray, dq: np.ndarray, saturate: float) -> None:
    """``doDQI``: DQ |= SATPIXEL where ``(int) SCI > SATURATE`` (CCDTAB, float). In place.

    >>> dq = np.zeros(3, np.uint16); flag_saturation(np.array([10.0, 33000.9, 33001.0], np.float32), dq, 33000.0)
    >>> dq.tolist()
    [0, 0, 256]
    """
    trunc = np.trunc(sci)
    dq[trunc.astype(np.float32) > np.float32(saturate)] |= np.uint16(DQ.SATPIXEL)


def apply_bpixtab(dq: np.ndarray, rows, ltv: tuple[float, float], size: tuple[int, int]) -> None:
    """``DQINormal``: OR each row's VALUE into a run of LENGTH pixels along AXIS (1 = x, 2 = y),
    shifted by the zero-based `ltv`; rows starting outside the `size` (SIZAXIS1, SIZAXIS2) of the
    table are skipped, runs are cut at the image edges. In place (unbinned CCD only).

    >>> dq = np.zeros((4, 6), np.uint16)
    >>> apply_bpixtab(dq, [(2, 1, 3, 1, 4), (1, 1, 9, 2, 16)], (1.0, 0.0), (6, 4))
    >>> dq.tolist()
    [[0, 16, 4, 4, 4, 0], [0, 16, 0, 0, 0, 0], [0, 16, 0, 0, 0, 0], [0, 16, 0, 0, 0, 0]]
    """
    ny, nx = dq.shape
    for pix1, pix2, length, axis, value in rows:
        xs, ys = int(pix1) - 1, int(pix2) - 1
        if xs < 0 or xs >= size[0] or ys < 0 or ys >= size[1]:
            continue
        x0, y0 = int(xs + ltv[0]), int(ys + ltv[1])  # C: int = int + double, truncated
        flag = np.uint16(int(value) & 0xFFFF)
        if int(axis) == 1:
            lo, hi = x0, x0 + int(length) - 1
            if hi < 0 or lo >= nx or y0 < 0 or y0 >= ny:
                continue
            dq[y0, max(lo, 0) : min(hi, nx - 1) + 1] |= flag
        else:
            lo, hi = y0, y0 + int(length) - 1
            if x0 < 0 or x0 >= nx or hi < 0 or lo >= ny:
                continue
            dq[max(lo, 0) : min(hi, ny - 1) + 1, x0] |= flag


def flag_filter(dq: np.ndarray, aper_fov: str, cdelt: tuple[float, float], ltm, ltv, *, imaging: bool) -> str | None:
    """``FlagFilter``: DETECTORPROB beyond the aperture (widened by 10 pixels) but on the detector,
    for slits 5–45 arcsec high (APER_FOV ``"<height>x<width>"``). Rows below/above always; columns
    left/right only for imaging. Returns a warning text when nothing can be flagged, else None.

    >>> dq = np.zeros((1024, 1024), np.uint16)
    >>> flag_filter(dq, "50x50", (1.4e-5, 1.4e-5), (1.0, 1.0), (0.0, 0.0), imaging=True), int(dq.sum())
    (None, 0)
    """
    text = aper_fov.strip()
    try:
        hpart, _, wpart = text.lower().partition("x")
        ywidth, xwidth = float(hpart), float(wpart)
    except ValueError:
        return f"Can't interpret APER_FOV = `{aper_fov}';"
    if ywidth == 0.0 or xwidth == 0.0:
        return f"Can't interpret APER_FOV = `{aper_fov}';"
    if ywidth < SHORT_SLIT or ywidth > LONG_SLIT:
        return None
    ny, nx = dq.shape
    det_xlow, det_xhigh = nint(ltv[0]), nint((CCD_NPIX - 1.0) * ltm[0] + ltv[0])
    det_ylow, det_yhigh = nint(ltv[1]), nint((CCD_NPIX - 1.0) * ltm[1] + ltv[1])
    center = CCD_NPIX / 2.0
    cd1 = abs(cdelt[0] * ltm[0]) * ARCSEC_PER_DEGREE
    cd2 = abs(cdelt[1] * ltm[1]) * ARCSEC_PER_DEGREE
    xlow = nint((center - xwidth / cd1 / 2.0 - APERTURE_BORDER) * ltm[0] + ltv[0])
    xhigh = nint((center + xwidth / cd1 / 2.0 + APERTURE_BORDER) * ltm[0] + ltv[0])
    ylow = nint((center - ywidth / cd2 / 2.0 - APERTURE_BORDER) * ltm[1] + ltv[1])
    yhigh = nint((center + ywidth / cd2 / 2.0 + APERTURE_BORDER) * ltm[1] + ltv[1])
    if (imaging and (xlow > nx - 1 or xhigh < 0)) or ylow > ny - 1 or yhigh < 0:
        return "The input image appears to be outside the aperture; "
    det_xlow, det_xhigh = max(det_xlow, 0), min(det_xhigh, nx - 1)
    det_ylow, det_yhigh = max(det_ylow, 0), min(det_yhigh, ny - 1)
    xlow, xhigh, ylow, yhigh = max(xlow, 0), min(xhigh, nx - 1), max(ylow, 0), min(yhigh, ny - 1)
    flag = np.uint16(DQ.DETECTORPROB)
    cols = slice(det_xlow, det_xhigh + 1)
    dq[det_ylow:ylow, cols] |= flag
    if imaging and yhigh >= ylow:
        dq[ylow : yhigh + 1, det_xlow:xlow] |= flag
        dq[ylow : yhigh + 1, xhigh + 1 : det_xhigh + 1] |= flag
    dq[yhigh + 1 : det_yhigh + 1, cols] |= flag
    return None


def _dqi_high(dq: np.ndarray, ltv: tuple[float, float], row, doppmin: int, doppmax: int) -> None:
    """``DQIHigh``: one BPIXTAB row (low-res pixels) on a high-res DQ array, widened along x by the
    Doppler offsets (a DETECTORPROB run is not moved away from the detector edge). In place."""
    pix1, pix2, length, axis, value = row
    xstart = nint((pix1 - 1) * 2.0 + ltv[0] - 0.5)
    ystart = nint((pix2 - 1) * 2.0 + ltv[1] - 0.5)
    xlength, ylength = (int(length) * 2, 2) if int(axis) == 1 else (2, int(length) * 2)
    ny, nx = dq.shape
    xlow, xhigh = xstart, xstart + xlength - 1
    if int(value) & DQ.DETECTORPROB:
        if xlow != 0 and doppmin < 0:
            xlow += doppmin
        if xhigh != nx - 1 and doppmax > 0:
            xhigh += doppmax
    else:
        xlow += doppmin
        xhigh += doppmax
    ylow, yhigh = ystart, ystart + ylength - 1
    if xhigh < 0 or xlow >= nx or yhigh < 0 or ylow >= ny:
        return
    dq[max(ylow, 0) : min(yhigh, ny - 1) + 1, max(xlow, 0) : min(xhigh, nx - 1) + 1] |= np.uint16(int(value) & 0xFFFF)


TOLERANCE = 0.001


def first_last(ltm, ltv, snpix, npix):
    """``FirstLast``: (rbin, first, last, sfirst) of the overlap of an image with a scratch array that
    maps onto it by (ltm, ltv) (zero-indexed), per axis."""
    rbin, first, last, sfirst = [0, 0], [0, 0], [0, 0], [0, 0]
    for k in range(2):
        rbin[k] = nint(1.0 / ltm[k])
        i = np.arange(npix[k], dtype=np.float64)
        lo = (i - 0.5 - ltv[k]) / ltm[k]  # left edge of each image pixel in the scratch array
        ok = np.flatnonzero(lo + TOLERANCE >= -0.5)
        if ok.size:
            first[k], sfirst[k] = int(ok[0]), nint(float(lo[ok[0]]) + 0.5)
        hi = (i[1:] + 0.5 - ltv[k]) / ltm[k]  # right edges, pixels 1 … n−1 (calstis stops before 0)
        ok = np.flatnonzero(hi - TOLERANCE <= snpix[k] - 1.0 + 0.5)
        if ok.size:
            last[k] = int(ok[-1]) + 1
    return rbin, first, last, sfirst


def apply_bpixtab_mama(
    dq: np.ndarray,
    rows,
    ltm: tuple[float, float],
    ltv0: tuple[float, float],
    bin_: tuple[int, int],
    size: tuple[int, int],
    *,
    doppcorr: bool,
    doppmin: int = 0,
    doppmax: int = 0,
) -> None:
    """``doDQI`` for a MAMA: BPIXTAB rows (low-res reference pixels) onto `dq`, whose pixels are
    `bin_` high-res pixels (2 = low-res) with the zero-indexed (LTM, LTV) `ltm`, `ltv0`. Low-res data
    without DOPPCORR are flagged directly (``DQINormal``); otherwise the rows go onto a high-res scratch
    array (2·SIZAXIS), widened by the Doppler offsets, which is ORed back in bins. In place.

    >>> dq = np.zeros((2, 4), np.uint16)
    >>> apply_bpixtab_mama(dq, [(2, 1, 1, 1, 16)], (1.0, 1.0), (0.0, 0.0), (2, 2), (4, 2), doppcorr=True, doppmax=1)
    >>> dq.tolist()
    [[0, 16, 16, 0], [0, 0, 0, 0]]
    """
    if doppcorr:
        high_res, in_place = True, bin_ == (1, 1)
    elif bin_ == (2, 2):
        high_res, in_place = False, True
    elif bin_ == (1, 1):
        high_res, in_place = True, True
    else:
        high_res, in_place = True, False
    if not high_res:
        apply_bpixtab(dq, rows, ltv0, size)
        return
    if in_place:
        target, tv = dq, ltv0
    else:
        target = np.zeros((2 * size[1], 2 * size[0]), dq.dtype)
        tv = (0.5, 0.5)
    for row in rows:
        xs, ys = int(row[0]) - 1, int(row[1]) - 1
        if xs < 0 or xs >= size[0] or ys < 0 or ys >= size[1]:
            continue
        _dqi_high(target, tv, row, doppmin, doppmax)
    if in_place:
        return
    si_m = (ltm[0] * 0.5, ltm[1] * 0.5)
    si_v = (ltv0[0] - ltm[0] * 0.25, ltv0[1] - ltm[1] * 0.25)
    snpix = (target.shape[1], target.shape[0])
    npix = (dq.shape[1], dq.shape[0])
    rbin, first, last, sfirst = first_last(si_m, si_v, snpix, npix)
    n_x, n_y = last[0] - first[0] + 1, last[1] - first[1] + 1
    if n_x <= 0 or n_y <= 0:
        return
    out = dq[first[1] : last[1] + 1, first[0] : last[0] + 1]
    for j in range(rbin[1]):
        for i in range(rbin[0]):
            y0, x0 = sfirst[1] + j, sfirst[0] + i
            out |= target[y0 : y0 + n_y * rbin[1] : rbin[1], x0 : x0 + n_x * rbin[0] : rbin[0]]
