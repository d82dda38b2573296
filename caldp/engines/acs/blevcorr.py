"""BLEVCORR, original algorithm ``doBlev`` (HSTCAL ``acsccd/doblev.c``, ``findblev.c``, ``blevfit.c``;
calib-acs-wfc.md §3.6.1). Used for pre-SM4 WFC, unsupported post-SM4 subarrays and HRC.

Per amp of the chip: the median of each line's overscan pixels (BIASSECT columns, good pixels
only: ``DQ == 0`` or ``DQ & SDQFLAGS == 0``), high outliers rejected twice
(``cleanBiasFit``), a straight line fitted against the *output* line number and evaluated at
the *raw* line number, subtracted from the amp's science columns. Works in electrons.
DQ flags read: SDQFLAGS bits of the overscan pixels. No flags set.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

F32 = np.float32
FLT_MIN = float(np.finfo(np.float32).tiny)
AMPS = "ABCD"


@dataclass(frozen=True, slots=True)
class AmpFit:
    """Result for one amp: the mean level subtracted, fit slope/intercept, lines without data."""

    amp: str
    level: float
    slope: float
    intercept: float
    too_few: int
    fitted: bool


def line_medians(sci: np.ndarray, dq: np.ndarray, rows: slice, cols: np.ndarray, sdqflags: int):
    """Median (float64) of the good overscan pixels of each line in `rows`; NaN where none (``FindBlev``)."""
    s = sci[rows][:, cols].astype(np.float64)
    d = dq[rows][:, cols]
    good = (d == 0) | ((d & np.uint16(sdqflags & 0xFFFF)) == 0)
    if good.all():
        return np.median(s, axis=1)
    s = np.where(good, s, np.nan)
    out = np.full(s.shape[0], np.nan)
    have = good.any(axis=1)
    if have.any():
        out[have] = np.nanmedian(s[have], axis=1)
    return out


def clean_bias_fit(values: np.ndarray, mask: np.ndarray, readnoise: float) -> np.ndarray:
    """Reject high outliers among line bias levels (``cleanBiasFit``); returns the new mask.

    ``s = min(std, sqrt(mean))``; reject ``v > abs(int(3·s + mean))`` (C truncation), then with
    the mean of the rest, reject ``v > abs(int(3·rn + mean))``.

    >>> v = np.array([100.0, 101.0, 99.0, 100.0, 150.0])
    >>> clean_bias_fit(v, np.ones(5, bool), 3.0).tolist()
    [True, True, True, True, False]
    """
    mask = mask.copy()
    n = int(mask.sum())
    if n == 0:
        return mask
    vals = np.where(mask, values, 0.0)
    mean = _seqsum(values[mask]) / n
    sdev = math.sqrt(_seqsum((values[mask] - mean) ** 2) / (n - 1)) if n > 1 else math.inf
    if mean >= 0 and sdev > math.sqrt(mean):  # sqrt of a negative mean is NaN: comparison false
        sdev = math.sqrt(mean)
    mask &= ~(vals > abs(_ctrunc(3.0 * sdev + mean)))
    n = int(mask.sum())
    mean = _seqsum(values[mask]) / n if n else math.nan
    mask &= ~(vals > abs(_ctrunc(3.0 * float(F32(readnoise)) + mean)))
    return mask


def _ctrunc(x: float) -> int:
    """C ``abs(int)`` argument conversion: truncation toward zero (0 for NaN/inf like x86 yields INT_MIN)."""
    if not math.isfinite(x):
        return -(2**31)
    return int(x)


def _seqsum(x: np.ndarray) -> float:
    """Sequential float64 sum (C loop order)."""
    return float(np.cumsum(x, dtype=np.float64)[-1]) if x.size else 0.0


def fit_line(values: np.ndarray, mask: np.ndarray, middle: int) -> tuple[float, float] | None:
    """Least-squares line through ``(j − middle, values[j])`` for masked j (``BlevFit``); None if
    there is no data or the fit is singular."""
    j = np.flatnonzero(mask)
    if j.size < 1:
        return None
    x = (j - middle).astype(np.float64)
    y = values[j]
    s0 = float(j.size)
    s1, s2, s3, s4 = _seqsum(x), _seqsum(y), _seqsum(x * y), _seqsum(x * x)
    d = s4 - s1 * s1 / s0
    if -FLT_MIN < d < FLT_MIN:
        return None
    xmean, ymean = s1 / s0, s2 / s0
    slope = (s3 - xmean * ymean * s0) / d
    return slope, ymean - slope * xmean


def amp_sections(detector: str, ccdamp: str, chip: int, *, ampx: int, ampy: int, osc, shape):
    """Per amp of this chip: ``(amp, amp index, biassect[4], (begx, endx), (begy, endy))`` (``doBlev``)."""
    ny, nx = shape
    if detector == "WFC":
        amps = "".join(a for a in ("CD" if chip == 2 else "AB") if a in ccdamp)
    else:
        amps = ccdamp
    out = []
    for amp in amps:
        bias_loc = ord(amp) - ord(amps[0])
        bx = (0, 1, 0, 1)[bias_loc]
        by = (0, 0, 1, 1)[bias_loc]
        a, b = osc.biassecta, osc.biassectb
        if a[1] > 0 and b[1] > 0:
            sect = list(a if bx == 0 else b)
            sect += list(b if bx == 0 else a) if len(amps) == 1 else [0, 0]
        else:
            sect = list(b if a[1] == 0 else a) + [0, 0]
        sect[0] = max(sect[0], 0)
        sect[2] = max(sect[2], 0)
        sect[1] = min(sect[1], nx - 1)
        sect[3] = min(sect[3], nx - 1)
        begx = osc.trimx[0] + ampx * bx
        endx = ampx + osc.trimx[0] if (bx == 0 and ampx != 0) else nx - osc.trimx[1]
        begy = osc.trimy[0] + ampy * by
        endy = ampy + osc.trimy[0] if (by == 0 and ampy != 0) else ny - osc.trimy[1]
        out.append((amp, AMPS.index(amp), sect, (begx, min(endx, nx)), (begy, min(endy, ny))))
    return out


def do_blev(sci, dq, sections, *, trimy1: int, sdqflags: int, readnoise, default_bias: float):
    """Fit and subtract the overscan bias of each amp in `sections` (see :func:`amp_sections`).

    `readnoise`: per-amp (A..D) float32 read noise in electrons; `default_bias`: CCDBIAS·ATODGN of
    the chip's first amp, used when a fit is impossible. Returns ``(sci, [AmpFit…], meanblev)``
    where ``meanblev = f32(mean of the amp levels)``. The virtual-overscan drift fit is not
    applied (real OSCNTABs set VY1 = VY2 = 0); the caller refuses tables that ask for it.
    """
    out = sci.copy()
    fits_ = []
    for amp, k, sect, (begx, endx), (begy, endy) in sections:
        sizey = endy - begy
        cols = []
        if sect[1] != 0:
            cols.append(np.arange(sect[0], sect[1] + 1))
        if sect[2] != 0:
            cols.append(np.arange(sect[2], sect[3] + 1))
        cols = np.concatenate(cols) if cols else np.zeros(0, int)
        rows = slice(trimy1, trimy1 + sizey)
        med = line_medians(sci, dq, rows, cols, sdqflags) if cols.size else np.full(sizey, np.nan)
        have = ~np.isnan(med)
        too_few = int((~have).sum())
        vals = np.where(have, med, 0.0)
        mask = clean_bias_fit(vals, have, float(readnoise[k]))
        middle = sizey // 2
        fit = fit_line(vals, mask, middle)
        if fit is None:
            log.warning("No bias level data, or singular fit; bias from CCDTAB will be subtracted.")
            slope, icpt = 0.0, float(default_bias)
        else:
            slope, icpt = fit
        rawrows = np.arange(begy, endy, dtype=np.float64)
        level = (rawrows - middle) * slope + icpt
        block = out[begy:endy, begx:endx].astype(np.float64)
        out[begy:endy, begx:endx] = (block - level[:, None]).astype(F32)
        mean_level = _seqsum(level) / sizey if sizey else 0.0
        fits_.append(AmpFit(amp, mean_level, slope, icpt, too_few, fit is not None))
    meanblev = F32(sum(f.level for f in fits_) / len(fits_)) if fits_ else F32(0)
    return out, fits_, meanblev


def subtract_default(sci: np.ndarray, level: float) -> np.ndarray:
    """No overscan: subtract the CCDTAB default ``CCDBIAS·ATODGN`` (float32) from every pixel."""
    return (sci - F32(level)).astype(F32)
