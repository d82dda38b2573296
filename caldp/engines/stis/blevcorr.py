"""BLEVCORR for the CCD (HSTCAL ``cs1/doblev.c``, ``findover.c``, ``findblev.c``, ``blevfit.c``,
``blevdrift.c``): subtract the bias level measured in the serial overscan of each line, fitted
by a straight line in line number, plus the drift along the lines measured in the virtual
overscan; the overscan is trimmed off.

The overscan geometry is built into calstis (no OSCNTAB): 19 leading and 19 trailing serial
overscan columns (one fewer each for a subarray), 20 virtual-overscan lines for a full frame, a
bias section of 15 columns (1046–1060 in amp A's orientation), mirrored for the amp used.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

CCD_NPIX_X = CCD_NPIX_Y = 1024
OVERSCAN_LEFT, OVERSCAN_RIGHT, OVERSCAN_TOP = 19, 19, 20
SUBARRAY_BORDER = 1
BIASSECT = {"full": (1046, 1060), "binned1": (1046, 1052), 2: (524, 530), 4: (263, 269)}
F64 = np.float64


class Overscan(NamedTuple):
    """Trim widths (x1, x2, y1, y2), the bias section columns and the virtual-overscan box (0-based, inclusive)."""

    trimx: tuple[int, int]
    trimy: tuple[int, int]
    biassect: tuple[int, int]
    vx: tuple[int, int]
    vy: tuple[int, int]


def find_overscan(ccdamp: str, nx: int, ny: int, binning: tuple[int, int]) -> Overscan | None:
    """``FindOverscan``: overscan widths for full-frame, subarray or binned readout through `ccdamp`;
    None when the image is too small (then calstis subtracts CCDTAB's CCDBIAS).

    >>> find_overscan("D", 1062, 1044, (1, 1))
    Overscan(trimx=(19, 19), trimy=(20, 0), biassect=(1, 15), vx=(19, 1042), vy=(0, 19))
    >>> find_overscan("D", 1060, 128, (1, 1))
    Overscan(trimx=(18, 18), trimy=(0, 0), biassect=(0, 13), vx=(18, 1041), vy=(0, -1))
    """
    bx, by = binning
    if bx == 1 and by == 1:
        readout = "subarray" if ny <= CCD_NPIX_Y else "full"
    else:
        readout = "binned"
    if readout == "full":
        a_left, a_right, a_top, a_bottom = OVERSCAN_LEFT, OVERSCAN_RIGHT, OVERSCAN_TOP, 0
        a_bsect = BIASSECT["full"]
    elif readout == "subarray":
        a_left, a_right = OVERSCAN_LEFT - SUBARRAY_BORDER, OVERSCAN_RIGHT - SUBARRAY_BORDER
        a_top = a_bottom = 0
        a_bsect = (BIASSECT["full"][0], BIASSECT["full"][1] - SUBARRAY_BORDER)
    else:
        if bx == 1:
            a_left = OVERSCAN_LEFT
            a_right = nx - CCD_NPIX_X - a_left
        else:
            a_left = (OVERSCAN_LEFT + 1) // bx
            a_right = nx - (CCD_NPIX_X // bx - 1) - a_left
        a_top, a_bottom = ny - CCD_NPIX_Y // by, 0
        a_bsect = BIASSECT["binned1"] if bx == 1 else BIASSECT.get(bx, (0, -1))
    amp = ccdamp.strip()[:1].upper()
    if amp in ("A", "C"):
        left, right, bsect = a_left, a_right, a_bsect
    elif amp in ("B", "D"):
        left, right, bsect = a_right, a_left, (nx - a_bsect[1] - 1, nx - a_bsect[0] - 1)
    else:
        return None
    bottom, top = (a_bottom, a_top) if amp in ("A", "B") else (a_top, a_bottom)
    bad = False
    if readout == "full" and (nx - left - right < CCD_NPIX_X or ny - top - bottom < CCD_NPIX_Y):
        bad = True
    elif readout == "subarray" and nx - left - right < CCD_NPIX_X:
        bad = True
    if bad or min(left, right, bottom, top) < 0:
        return None
    vx = (left, nx - 1 - right)
    vy = (ny - top, ny - 1) if amp in ("A", "B") else (0, bottom - 1)
    return Overscan((left, right), (bottom, top), bsect, vx, vy)


def line_bias_levels(
    sci: np.ndarray, dq: np.ndarray, sdqflags: int, rows: range, biassect
) -> tuple[np.ndarray, np.ndarray]:
    """``FindBlev`` for each input line in `rows`: the median (float64, mean of the middle two for
    an even count) of the bias-section pixels whose DQ has no SDQFLAGS bit; returns (levels, ok)."""
    cols = slice(biassect[0], biassect[1] + 1)
    vals = sci[rows.start : rows.stop, cols].astype(F64)
    good = (dq[rows.start : rows.stop, cols] & np.uint16(sdqflags & 0xFFFF)) == 0
    ok = good.any(axis=1)
    masked = np.where(good, vals, np.nan)
    levels = np.zeros(len(rows), F64)
    if ok.any():
        levels[ok] = np.nanmedian(masked[ok], axis=1)
    return levels, ok


def fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """``BlevFit``/``DriftFit``: unweighted least squares with sequential float64 sums; (slope, intercept)
    about x = 0, or None with no point or a singular fit.

    >>> fit_line(np.array([-1.0, 0.0, 1.0]), np.array([1.0, 2.0, 3.0]))
    (1.0, 2.0)
    """
    if x.size == 0:
        return None
    s0 = float(x.size)
    s1 = _seq(x)
    s2 = _seq(y)
    s3 = _seq(x * y)
    s4 = _seq(x * x)
    d = s4 - s1 * s1 / s0
    if d == 0.0:
        return None
    xmean, ymean = s1 / s0, s2 / s0
    slope = (s3 - xmean * ymean * s0) / d
    return slope, ymean - slope * xmean


def _seq(v: np.ndarray) -> float:
    """Sum added one at a time in float64 (as the C loop)."""
    return float(np.add.accumulate(np.asarray(v, F64))[-1]) if v.size else 0.0


def reject_high_values(sci: np.ndarray, vx, vy, blev_clip: float) -> None:
    """``rejectHighValues``: in the virtual overscan box, replace values above median + BLEV_CLIP·σ
    (σ: RMS of deviations within 4.5 MAD) by the median of 21 neighbours on their line, in raster
    order (earlier replacements feed later medians). In place."""
    box = sci[vy[0] : vy[1] + 1, vx[0] : vx[1] + 1]
    vals = box.astype(F64).ravel()
    median = float(np.median(vals))
    dev = np.abs(vals - median)
    mad = float(np.median(dev))
    keep = dev[dev <= 4.5 * mad]
    sigma = float(np.sqrt(_seq(keep * keep) / float(keep.size))) if keep.size else float("nan")
    limit = median + float(np.float32(blev_clip)) * sigma
    hits = np.argwhere(box.astype(F64) > limit)
    for j, i in hits:  # few outliers (hot columns); raster order as the C loop
        i_abs = vx[0] + int(i)
        i0 = max(i_abs - 10, vx[0])
        i1 = i0 + 20
        if i1 > vx[1]:
            i1 = vx[1]
            i0 = i1 - 20
        row = sci[vy[0] + int(j), i0 : i1 + 1].astype(F64)
        sci[vy[0] + int(j), i_abs] = np.float32(np.median(row))


def drift_slope(sci: np.ndarray, dq: np.ndarray, sdqflags: int, ov: Overscan, blev_clip: float) -> float | None:
    """``BlevDrift``: slope of the per-column median of the virtual overscan vs column (None: no
    virtual overscan or a singular fit). Modifies outliers of `sci`'s virtual overscan in place."""
    vx, vy = ov.vx, ov.vy
    if vx[1] <= vx[0] or vy[1] <= vy[0]:
        return None
    reject_high_values(sci, vx, vy, blev_clip)
    cols = np.arange(vx[0], vx[1] + 1)
    vals = sci[vy[0] : vy[1] + 1, vx[0] : vx[1] + 1].astype(F64)
    good = (dq[vy[0] : vy[1] + 1, vx[0] : vx[1] + 1] & np.uint16(sdqflags & 0xFFFF)) == 0
    ok = good.any(axis=0)
    med = np.nanmedian(np.where(good, vals, np.nan)[:, ok], axis=0) if ok.any() else np.zeros(0)
    midcol = (vx[0] + vx[1]) // 2
    fit = fit_line((cols[ok] - midcol).astype(F64), med)
    return None if fit is None else fit[0]


class BlevResult(NamedTuple):
    sci: np.ndarray  # trimmed, bias subtracted (float32)
    meanblev: float
    trimmed: bool  # False: image too small, CCDBIAS subtracted in place
    driftcorr: bool
    too_few: int  # lines without a good overscan pixel
    default_used: bool  # no bias-level fit: CCDBIAS used


def blevcorr(
    sci: np.ndarray, dq: np.ndarray, *, ccdamp: str, binning, sdqflags: int, ccdbias: float, blev_clip: float
) -> tuple[BlevResult, Overscan | None]:
    """``doBlev``: returns the trimmed, bias-subtracted SCI (``float(x - level(line) - drift(col))``
    in float64, then float32) and the overscan geometry (None: too small, CCDBIAS subtracted).
    `sci` is the raw frame (its virtual overscan outliers are replaced in place)."""
    ny, nx = sci.shape
    ov = find_overscan(ccdamp, nx, ny, tuple(binning))
    if ov is None:
        out = (sci.astype(F64) - float(np.float32(ccdbias))).astype(np.float32)
        return BlevResult(out, float(np.float32(ccdbias)), False, False, 0, True), None
    (tx1, tx2), (ty1, ty2) = ov.trimx, ov.trimy
    ony, onx = ny - ty1 - ty2, nx - tx1 - tx2
    out = sci[ty1 : ty1 + ony, tx1 : tx1 + onx].astype(F64)
    levels, ok = line_bias_levels(sci, dq, sdqflags, range(ty1, ty1 + ony), ov.biassect)
    middle = ony // 2
    lines = np.arange(ony)
    fit = fit_line((lines[ok] - middle).astype(F64), levels[ok])
    default_used = fit is None
    slope, intercept = (0.0, float(np.float32(ccdbias))) if fit is None else fit
    slope_d = drift_slope(sci, dq, sdqflags, ov, blev_clip)
    driftcorr = slope_d is not None
    zerocol = (ov.biassect[0] + ov.biassect[1]) / 2.0 - tx1
    sd = 0.0 if slope_d is None else slope_d
    bias = (lines - middle).astype(F64) * slope + intercept
    drift = (np.arange(onx, dtype=F64) - zerocol) * sd
    avgdrift = (float(onx // 2) - zerocol) * sd
    out -= bias[:, None]
    out -= drift[None, :]
    meanblev = _seq(bias + avgdrift) / ony
    return BlevResult(out.astype(np.float32), meanblev, True, driftcorr, int((~ok).sum()), default_used), ov
