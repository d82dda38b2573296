"""BLEVCORR: overscan bias-level subtraction for UVIS (HSTCAL ``wf3ccd/doblev.c``, ``findblev.c``,
``blevfit.c``, ``blevdrift.c``; calib-wfc3.md §U5, §U5.1).

Per amp of the chip (raw, untrimmed coordinates; sums are sequential float64):

* **Parallel drift** (when the OSCNTAB gives VY): per column ``vx0…vx1`` (inclusive) the float64
  median of the good pixels in rows ``vy0 … vy1−1``; outliers cleaned (§U5.1); unweighted fit of the
  column medians against ``i − (vx0+vx1)//2``; only the slope ``s`` is kept. Drift at column *i* =
  ``s·(i − zerocol)`` with ``zerocol = (sect0 + sect1)/2``.
* **Serial fit**: per output line *j* the float64 median of good bias-section pixels of raw row
  ``j + TRIMY1``; cleaned (§U5.1); line fit ``bias(j) = intercept + slope·(j − sizey//2)`` (singular
  or empty → constant CCDBIAS).
* **Subtraction** (quirk: the fit is evaluated at the *input* row number):
  ``sci[r, i] = f32((f64(sci) − bias(r)) − s·(i − zerocol))`` for ``r ∈ [begy, endy)``,
  ``i ∈ [begx, endx)``. Overscan pixels are not modified.
* ``BIASLEV = Σ_r (bias(r) + s·(sizex/2 − zerocol)) / sizey``; MEANBLEV = mean over the chip's amps.

Good pixel: ``DQ == 0 or (DQ & SDQFLAGS) == 0``. DQ and ERR are not changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .geometry import AmpRegion

log = logging.getLogger(__name__)

F32 = np.float32
F64 = np.float64
FLT_MIN = float(np.finfo(np.float32).tiny)


def _seqsum(x: np.ndarray) -> float:
    """Sequential float64 sum (C loop order), 0 for an empty array."""
    return float(np.cumsum(x, dtype=F64)[-1]) if x.size else 0.0


def clean_fit_values(values: np.ndarray, mask: np.ndarray, rn: float) -> tuple[np.ndarray, int]:
    """Outlier rejection before the bias fits (``cleanBiasFit``/``cleanDriftFit``, §U5.1).

    `values` float64, `mask` bool (True = usable), `rn` float32 read noise in DN.
    Returns the new mask and the number of rejections. High-side clipping only: first
    ``v > 3.5·sd + mean`` with ``sd ≤ sqrt(mean)``, then ``v > f32(2·rn) + mean`` over the survivors.

    >>> v = np.array([100., 101., 99., 100., 150., 100.])
    >>> m, n = clean_fit_values(v, np.ones(6, bool), np.float32(0.4))
    >>> m.tolist(), n
    ([True, False, True, True, False, True], 2)
    """
    mask = mask.copy()
    vals = np.where(mask, values, 0.0)
    n = int(mask.sum())
    if n == 0:
        return mask, 0
    mean = _seqsum(values[mask]) / n
    s = values[mask] - mean
    sdev = np.sqrt(_seqsum(s * s) / n)
    with np.errstate(invalid="ignore"):
        root = np.sqrt(mean) if mean >= 0 else float("nan")
    if sdev > root:
        sdev = root
    reject1 = vals > (3.5 * sdev + mean)
    nrej = int(np.count_nonzero(reject1))
    mask &= ~reject1
    n = int(mask.sum())
    if n == 0:
        return mask, nrej
    mean = _seqsum(values[mask]) / n
    reject2 = mask & (vals > (float(F32(F32(2.0) * F32(rn))) + mean))
    nrej += int(np.count_nonzero(reject2))
    mask &= ~reject2
    return mask, nrej


def linear_fit(x: np.ndarray, y: np.ndarray, *, singular_eps: float) -> tuple[float, float] | None:
    """Unweighted LSQ of y on x with sequential sums (``BlevFit``/``DriftFit``); None if no data or singular.

    Returns ``(slope, intercept)``; singular when ``|d| < singular_eps`` (0 → exactly zero).
    """
    n = float(x.size)
    if n < 1:
        return None
    s1, s2, s3, s4 = _seqsum(x), _seqsum(y), _seqsum(x * y), _seqsum(x * x)
    d = s4 - s1 * s1 / n
    if (singular_eps == 0 and d == 0) or (singular_eps > 0 and -singular_eps < d < singular_eps):
        return None
    xmean, ymean = s1 / n, s2 / n
    slope = (s3 - xmean * ymean * n) / d
    return slope, ymean - slope * xmean


def _good(dq: np.ndarray, sdqflags: int) -> np.ndarray:
    return (dq == 0) | ((dq & np.uint16(sdqflags & 0xFFFF)) == 0)


def _masked_median(block: np.ndarray, good: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 median of the good values along `axis` (even count: mean of the middle two).

    >>> med, ok = _masked_median(np.array([[1., 5., 3., 9.]]), np.array([[True, True, True, False]]), axis=1)
    >>> med.tolist(), ok.tolist()
    ([3.0], [True])
    """
    data = np.where(good, block.astype(F64), np.inf)
    data.sort(axis=axis)
    count = good.sum(axis=axis)
    lo_i = np.expand_dims(np.maximum(count - 1, 0) // 2, axis)
    hi_i = np.expand_dims(count // 2, axis)
    hi_i = np.minimum(hi_i, data.shape[axis] - 1)
    lo = np.take_along_axis(data, lo_i, axis).squeeze(axis)
    hi = np.take_along_axis(data, hi_i, axis).squeeze(axis)
    with np.errstate(invalid="ignore"):
        med = np.where(count % 2 == 1, hi, (lo + hi) / 2.0)
    return np.where(count > 0, med, 0.0), count > 0


def parallel_drift_slope(
    sci: np.ndarray, dq: np.ndarray, *, vx: tuple[int, int], vy: tuple[int, int], sdqflags: int, rn: float
) -> float | None:
    """Slope of the virtual-overscan level against column number (``BlevDrift``); None if no fit."""
    if vx[1] <= vx[0] or vy[1] <= vy[0]:
        return None
    block = sci[vy[0] : vy[1], vx[0] : vx[1] + 1]
    good = _good(dq[vy[0] : vy[1], vx[0] : vx[1] + 1], sdqflags)
    med, ok = _masked_median(block, good, axis=0)
    mask, nrej = clean_fit_values(np.where(ok, med, 0.0), ok, rn)
    log.debug("(blevcorr) Rejected %d bias values from parallel fit.", nrej)
    cols = np.arange(vx[0], vx[1] + 1)
    mid = (vx[0] + vx[1]) // 2
    fit = linear_fit((cols[mask] - mid).astype(F64), med[mask], singular_eps=0.0)
    return None if fit is None else fit[0]


def serial_bias_fit(
    sci: np.ndarray, dq: np.ndarray, *, biassect, rows: tuple[int, int], sdqflags: int, rn: float
) -> tuple[tuple[float, float] | None, int]:
    """Line fit of the per-row overscan medians (``FitToOverscan``).

    `biassect`: (c0, c1, c2, c3) inclusive column ranges (c2 == 0: second range unused);
    `rows`: (TRIMY1, sizey). Returns ``((slope, intercept) or None, rows without good pixels)``;
    the fit's x is the *output* line number minus ``sizey//2``.
    """
    trimy1, sizey = rows
    cols = list(range(biassect[0], biassect[1] + 1))
    if biassect[2] != 0:
        cols += list(range(biassect[2], biassect[3] + 1))
    cols = np.asarray(cols, dtype=np.int64)
    block = sci[trimy1 : trimy1 + sizey][:, cols]
    good = _good(dq[trimy1 : trimy1 + sizey][:, cols], sdqflags)
    med, ok = _masked_median(block, good, axis=1)
    too_few = int(np.count_nonzero(~ok))
    mask, nrej = clean_fit_values(np.where(ok, med, 0.0), ok, rn)
    log.debug("(blevcorr) Rejected %d bias values from serial fit.", nrej)
    j = np.arange(sizey)
    fit = linear_fit((j[mask] - sizey // 2).astype(F64), med[mask], singular_eps=FLT_MIN)
    return fit, too_few


@dataclass(frozen=True, slots=True)
class AmpBias:
    """Overscan inputs of one amp: its science region, bias section(s) and drift section."""

    region: AmpRegion
    biassect: tuple[int, int, int, int]
    vx: tuple[int, int]
    vy: tuple[int, int]
    readnoise: float  # DN, f32(READNSE/ATODGN)
    ccdbias: float  # CCDTAB default bias of the chip's first amp (DN)


@dataclass(slots=True)
class BlevResult:
    levels: dict[str, float] = field(default_factory=dict)  # BIASLEV per amp letter
    meanblev: float = 0.0
    too_few: int = 0
    driftcorr: bool = False


def bias_sections(biassect_a, biassect_b, biassect_c, biassect_d, *, xhalf: int, numamps: int):
    """The column ranges used for an amp's bias level (``doBlev``, §U5 "Bias section").

    >>> bias_sections((5, 21), (4183, 4199), (2078, 2099), (2105, 2126), xhalf=1, numamps=2)
    (2105, 2126, 0, 0)
    >>> bias_sections((5, 21), (0, 0), (0, 0), (0, 0), xhalf=0, numamps=1)
    (5, 21, 0, 0)
    """
    c, d, a, b = biassect_c, biassect_d, biassect_a, biassect_b
    if c[1] > 0 and d[1] > 0:
        first = c if xhalf == 0 else d
        second = (d if xhalf == 0 else c) if numamps == 1 else (0, 0)
        return (first[0], first[1], second[0], second[1])
    if c[1] <= 0 and d[1] <= 0:
        sect = b if a[1] == 0 else a
        return (sect[0], sect[1], 0, 0)
    sect = d if c[1] == 0 else c
    return (sect[0], sect[1], 0, 0)


@dataclass(frozen=True, slots=True)
class AmpLevels:
    """The fitted levels of one amp: `rows` = bias(r) for r in [begy, endy), `cols` = drift(i) for
    i in [begx, endx) (float64; zeros without drift correction)."""

    region: AmpRegion
    rows: np.ndarray
    cols: np.ndarray


def fit_levels(
    sci: np.ndarray, dq: np.ndarray, amps: list[AmpBias], *, sdqflags: int, dodrift: bool, trimy1: int
) -> tuple[list[AmpLevels], BlevResult]:
    """The overscan fits of each amp (nothing is subtracted): per-row and per-column levels and
    the BIASLEV/MEANBLEV results."""
    res = BlevResult()
    levels = []
    sumblev = 0.0
    for amp in amps:
        r = amp.region
        sizex, sizey = r.sizex, r.sizey
        slope_d = 0.0
        zerocol = (amp.biassect[0] + amp.biassect[1]) / 2.0
        if dodrift:
            s = parallel_drift_slope(sci, dq, vx=amp.vx, vy=amp.vy, sdqflags=sdqflags, rn=amp.readnoise)
            if s is None:
                log.debug("(blevcorr) no usable virtual overscan for amp %s: no drift correction", r.amp)
            else:
                slope_d = s
                res.driftcorr = True
            averagedrift = (sizex / 2.0 - zerocol) * slope_d
        else:
            averagedrift = 0.0
        fit, too_few = serial_bias_fit(
            sci, dq, biassect=amp.biassect, rows=(trimy1, sizey), sdqflags=sdqflags, rn=amp.readnoise
        )
        res.too_few += too_few
        if fit is None:
            log.warning("No bias level data, or singular fit; bias from CCDTAB will be subtracted.")
            slope, intercept = 0.0, float(amp.ccdbias)
        else:
            slope, intercept = fit
        mid = sizey // 2
        rows = np.arange(r.begy, r.endy, dtype=F64)
        biaslevel = (rows - mid) * slope + intercept
        cols = np.arange(r.begx, r.endx, dtype=F64)
        deval = (cols - zerocol) * slope_d if dodrift else np.zeros(cols.size)
        levels.append(AmpLevels(region=r, rows=biaslevel, cols=deval))
        sumbias = _seqsum(biaslevel + averagedrift)
        level = sumbias / sizey
        res.levels[r.amp] = level
        sumblev += level
    if amps:
        res.meanblev = sumblev / len(amps)
    return levels, res


def apply_levels(sci: np.ndarray, levels: list[AmpLevels]) -> np.ndarray:
    """``sci[r, i] = f32((f64(sci) − bias(r)) − drift(i))`` inside each amp's region; returns a new array.

    >>> from caldp.engines.wfc3.uvis.geometry import AmpRegion
    >>> lv = AmpLevels(AmpRegion("A", 0, 0, 1, 3, 0, 1), np.array([0.5]), np.array([0.25, 0.0]))
    >>> apply_levels(np.array([[1., 2., 3.]], F32), [lv]).tolist()
    [[1.0, 1.25, 2.5]]
    """
    out = sci.copy()
    for lv in levels:
        r = lv.region
        block = out[r.begy : r.endy, r.begx : r.endx].astype(F64)
        block -= lv.rows[:, None]
        block -= lv.cols[None, :]
        out[r.begy : r.endy, r.begx : r.endx] = block.astype(F32)
    return out


def blevcorr(
    sci: np.ndarray, dq: np.ndarray, amps: list[AmpBias], *, sdqflags: int, dodrift: bool, trimy1: int
) -> tuple[np.ndarray, BlevResult]:
    """Subtract the overscan bias level of each amp from `sci` (float32 raw DN, 2-D).

    Returns a new SCI array and the per-amp levels. `dodrift`: the OSCNTAB gives a
    virtual-overscan row range (VY); `trimy1`: the TRIMY1 of the chip.
    """
    levels, res = fit_levels(sci, dq, amps, sdqflags=sdqflags, dodrift=dodrift, trimy1=trimy1)
    return apply_levels(sci, levels), res


def subtract_default_bias(sci: np.ndarray, ccdbias: float) -> np.ndarray:
    """No overscan in the data: subtract the CCDTAB bias from every pixel (float32)."""
    return sci - F32(ccdbias)
