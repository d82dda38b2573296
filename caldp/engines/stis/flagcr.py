"""calstis4's FLAGCR (HSTCAL ``cs4/flagcr.c``): cosmic rays in a CCD wavecal flagged DATAREJECT,
column by column across the dispersion. In each column the pixels through the slit and those off
it or behind a bar (DATAMASKED) get a clipped mean and standard deviation (``CleanMean``: median,
MAD floored at MIN_MAD, values within MAD_REJ·MAD summed in sorted order); a pixel more than
NSIG_CR σ above its group's mean is a cosmic ray (off the slit also more than NSIG_ILL σ of the
illuminated light away from the illuminated mean). Vectorised over the columns; the sums run in
each column's sorted order as in the C.

>>> sci = np.ones((7, 2), np.float32); sci[3, 1] = 100.0
>>> dq = np.zeros((7, 2), np.uint16)
>>> flag_cr(sci, dq, sdqflags=31743, nsigma_cr=5.0, nsigma_illum=3.0, mad_reject=5.0, min_mad=1.0)
1
>>> dq[:, 1].tolist()
[0, 0, 0, 8192, 0, 0, 0]
"""

from __future__ import annotations

import numpy as np

from .dq import DQ

F32, F64 = np.float32, np.float64
DATAMASKED = int(DQ.DATAMASKED)


def _median_f32(sorted_vals: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``MedianFloat`` of each column's first n sorted values (float32 mean of the middle pair)."""
    cols = np.arange(sorted_vals.shape[1])
    i = n // 2
    hi = sorted_vals[np.minimum(i, sorted_vals.shape[0] - 1), cols]
    lo = sorted_vals[np.maximum(i - 1, 0), cols]
    even = (n == 2 * i) & (n > 0)
    return np.where(even, (lo + hi) / F32(2.0), hi).astype(F32)


def _column_sums(d: np.ndarray) -> np.ndarray:
    """Each column's float64 sum added row by row, top to bottom (as ``np.add.accumulate(d, axis=0)[-1]``,
    without its whole cumulative array).

    >>> _column_sums(np.array([[1e16, 1.0], [1.0, 2.0], [-1e16, 3.0]])).tolist()
    [0.0, 6.0]
    """
    ny, nx = d.shape
    if ny == 0:
        return np.zeros(nx)
    out = d[0].copy()
    for row in d[1:]:
        out += row
    return out


def clean_mean(values: np.ndarray, sel: np.ndarray, min_mad: float, mad_reject: float):
    """``CleanMean`` of the selected float32 values of each column: (count used, mean, stddev)."""
    with np.errstate(invalid="ignore"):  # inf − inf in the unused tail of each column
        return _clean_mean(values, sel, min_mad, mad_reject)


def _clean_mean(values: np.ndarray, sel: np.ndarray, min_mad: float, mad_reject: float):
    ny, nx = values.shape
    n = sel.sum(axis=0)
    srt = np.sort(np.where(sel, values, np.float32(np.inf)), axis=0)
    valid = np.arange(ny)[:, None] < n[None, :]
    median = _median_f32(srt, n)
    absdiff = np.where(valid, np.abs(srt - median[None, :]), np.float32(np.inf))
    mad = _median_f32(np.sort(absdiff, axis=0), n)
    mad = np.where(mad < min_mad, F32(min_mad), mad)
    dev = np.abs((srt - median[None, :]).astype(F64))
    use = valid & (dev < mad_reject * mad.astype(F64)[None, :])
    d = np.where(use, srt.astype(F64), 0.0)
    ssum = _column_sums(d)
    ssq = _column_sums(d * d)
    nsum = use.sum(axis=0)
    dsum = nsum.astype(F64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(nsum > 1, ssum / dsum, np.where(nsum == 1, ssum, 0.0))
        var = dsum / (dsum - 1.0) * (ssq / dsum - mean * mean)
        std = np.where(nsum > 1, np.sqrt(np.where(nsum > 1, var, 0.0)), 0.0)
    # fewer than three values: no clipping (one: itself; two: the smaller, |a − b|)
    first = srt[0].astype(F64) if ny else np.zeros(nx)
    second = srt[min(1, ny - 1)].astype(F64) if ny else np.zeros(nx)
    two_std = np.abs((srt[0] - srt[min(1, ny - 1)]).astype(F64)) if ny else np.zeros(nx)
    count = np.where(n < 3, n, nsum)
    mean = np.where(n == 1, first, np.where(n == 2, np.minimum(first, second), np.where(n == 0, 0.0, mean)))
    std = np.where(n == 2, two_std, np.where(n < 2, 0.0, std))
    return count, mean, std


def flag_cr(
    sci: np.ndarray,
    dq: np.ndarray,
    *,
    sdqflags: int,
    nsigma_cr: float,
    nsigma_illum: float,
    mad_reject: float,
    min_mad: float,
    dispaxis: int = 1,
) -> int:
    """``FlagCR`` on one imset (dispersion along x when `dispaxis` is 1): DATAREJECT set in `dq`
    in place; returns the number of pixels flagged."""
    if dispaxis == 2:
        return flag_cr(
            sci.T,
            dq.T,
            sdqflags=sdqflags,
            nsigma_cr=nsigma_cr,
            nsigma_illum=nsigma_illum,
            mad_reject=mad_reject,
            min_mad=min_mad,
        )
    sdq = np.uint16((sdqflags & ~DATAMASKED) & 0xFFFF)
    ok = (dq & sdq) == 0
    masked = (dq & np.uint16(DATAMASKED)) != 0
    ni, i_mean, i_std = clean_mean(sci, ok & ~masked, min_mad, mad_reject)
    nm, m_mean, m_std = clean_mean(sci, ok & masked, min_mad, mad_reject)
    i_std2 = np.where(ni == 0, m_std, i_std)
    m_std2 = np.where((nm == 0) & (ni != 0), i_std, m_std)
    active = ~((ni == 0) & (nm == 0))
    s = sci.astype(F64)
    cr_masked = masked & (s > (m_mean + nsigma_cr * m_std2)[None, :])
    cr_masked &= np.abs(s - i_mean[None, :]) > (nsigma_illum * i_std2)[None, :]
    sts_sdq = np.uint16(sdqflags & 0xFFFF)
    cr_illum = ~masked & ((dq & sts_sdq) == 0) & (s > (i_mean + nsigma_cr * i_std2)[None, :])
    cr = (cr_masked | cr_illum) & active[None, :]
    dq |= np.where(cr, np.uint16(DQ.DATAREJECT), np.uint16(0))
    return int(cr.sum())
