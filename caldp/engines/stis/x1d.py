"""calstis6's 1-D extraction of first-order spectra, unweighted (HSTCAL ``cs6/crosscor.c``
CrossCorr, ``background.c`` CalcBack/X1DBack/SmoothBack, ``poly.c`` FitPoly/ComputePoly,
``x1dspec.c`` X1DSpec/AccPixUnw, ``wave.c`` Wave with ``lib/evaldisp.c`` evalInvDisp). Pure
functions in HSTCAL's double/float operation order.

- The spectrum is located by cross correlation: for each trial line ``y`` within ±MAXSRCH of the
  nominal position, the mean over columns of the input interpolated along the trace (SDQFLAGS
  pixels left out); the offset is the parabolic peak.
- Each column's background is the sigma-clipped (3σ, ≤ 5 passes) mean — or line, BACKORD 1 — of the
  pixels sampled along the two background boxes; the extraction box (EXTRSIZE, centred on the
  trace) sums the pixels with fractional end pixels; GROSS, BACKGROUND, NET and ERROR are per
  second.
- The pipeline smooths the CCD background (BKS_MEDIAN: a 9-pixel running median, then a cubic fit
  over the columns 10 … n−10) and NET = GROSS − smoothed BACKGROUND; ERROR leaves out the
  background variance.
- WAVELENGTH inverts the dispersion relation column by column by Newton's method, each column
  starting from the previous one's wavelength (so this loop is sequential), times the
  heliocentric factor.

Loops: over columns only where HSTCAL's result depends on the previous column (Wave) and over the
handful of box rows / clip passes otherwise, with the columns as vectors.

>>> float(median_float(np.array([3.0, 1.0, 2.0, 10.0], np.float32)))
2.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..common.kernels import load
from .x2d import DETECTORPROB, TraceRow, interp2d, interp_trace, nint

F32, F64 = np.float32, np.float64
PI = 3.1415926535897932384626433  # calstis6.h
HCFACTOR = 299792.458
MAX_CLIP = 5
X1D_BAD_BACKGROUND = 2048
X1D_DISCARDED = 4096
HOTPIX, SMALLBLEM = 16, 1024
BKS_WINDOW = 9
DBL_MAX = np.finfo(np.float64).max
KERNELS = "caldp.engines.stis._kernels"


@dataclass(slots=True)
class Xtract:
    """One XTRACTAB row (XtractInfo); sizes and offsets in reference pixels (float in the table)."""

    sporder: int
    extrsize: float
    bksize: tuple[float, float]
    bkoffset: tuple[float, float]
    bktcoeff: tuple[float, ...]
    backord: int
    maxsearch: int
    xtracalg: str = "UNWEIGHTED"


def box_tilt(bktcoeff, rpix: int) -> float:
    """``BoxTilt``: the background boxes' tilt (degrees) at reference column `rpix`."""
    angle = 0.0
    for i, c in enumerate(bktcoeff):
        angle += c * math.pow(float(rpix + 1), float(i))
    return angle


def cc_sdqflags(sdqflags: int) -> int:
    """``GetGrpInfo6``: SDQFLAGS without HOTPIX and SMALLBLEM (used by the cross correlation only)."""
    return int(np.int16(sdqflags & ~HOTPIX & ~SMALLBLEM))


def trace_y_at(trace: np.ndarray, rpix: np.ndarray, *, strict: bool) -> np.ndarray:
    """A2DISPL at reference columns `rpix` (0 outside; `strict`: column 0 outside too, as CrossCorr)."""
    lo = 0 if strict else -1
    ok = (rpix > lo) & (rpix < trace.size)
    return np.where(ok, trace[np.clip(rpix, 0, max(trace.size - 1, 0))] if trace.size else 0.0, 0.0)


def cross_corr(
    sci,
    err,
    dq,
    trace: list[TraceRow],
    nm_a2center: float,
    maxsearch: int,
    ltm,
    ltv,
    sdqflags: int,
    thresh: float = 0.0,
) -> float | None:
    """``CrossCorr``: the offset (reference pixels) of the spectrum from `nm_a2center`, or None when
    the peak is not found (CrossCorr's failure: first-order data are then not extracted)."""
    if maxsearch == 0:
        return 0.0
    ny, nx = sci.shape
    ipix = np.arange(nx)
    rpix = ((ipix - ltv[0]) / ltm[0]).astype(np.int64)
    rows = []
    y_nom = nm_a2center - float(maxsearch)
    high = nm_a2center + float(maxsearch)
    while y_nom <= high:
        a2d = interp_trace(trace, y_nom)
        y_trc = y_nom + trace_y_at(a2d, rpix, strict=True)
        rows.append(y_trc * ltm[1] + ltv[1])
        y_nom += 1.0
    n = len(rows)
    sums, weis = [], []
    if n:  # every trial row interpolated in one call (point by point), summed row by row in order
        iy = np.stack(rows)
        ix = np.tile(ipix.astype(F64), (n, 1))
        osci, _, odq = interp2d(sci, err, dq, ix, iy, sdqflags)
        use = (odq != DETECTORPROB) & ((odq & np.uint16(sdqflags & 0xFFFF)) == 0)
        vals = np.where(use, osci.astype(F64), 0.0)
        sums = np.add.accumulate(vals, axis=1)[:, -1].tolist() if nx else [0.0] * n
        weis = np.count_nonzero(use, axis=1).astype(F64).tolist()
    s = [sums[i] / weis[i] if weis[i] > 0.0 else 0.0 for i in range(n)]
    peak, imax = -DBL_MAX, 0
    for i in range(n):
        if weis[i] > 0.0 and s[i] > peak:
            peak, imax = s[i], i
    if not (0 < imax < n - 1):
        return None
    if s[imax] < thresh or s[imax + 1] < thresh or s[imax - 1] < thresh:
        return None
    hold = 2.0 * s[imax] - s[imax + 1] - s[imax - 1]
    if hold == 0.0:
        return None
    off = float(imax) - 0.5 * (s[imax - 1] - s[imax + 1]) / hold
    off -= float(maxsearch)
    return off if abs(off) <= float(maxsearch) else None


@dataclass(slots=True)
class Background:
    """CalcBack's result per column: coefficients, variances, error and DQ bit."""

    bck0: np.ndarray
    bck1: np.ndarray
    vbck0: np.ndarray
    vbck1: np.ndarray
    ebck: np.ndarray
    dqbck: np.ndarray


def calc_back(sci, err, dq, y_box: np.ndarray, xtr: Xtract, ltm, ltv) -> Background:
    """``CalcBack``/``X1DBack`` for every column at once (BACKORD 0 or 1, sdqflags 0): the pixels
    sampled along both background boxes, sigma-clipped at 3σ for up to five passes; each column
    stops on its own as the C loop does."""
    ny, nx = sci.shape
    ipix = np.arange(nx)
    rpix_i = ((ipix - ltv[0]) / ltm[0]).astype(np.int64)
    tilt = np.array([box_tilt(xtr.bktcoeff, int(r)) for r in rpix_i]) if any(xtr.bktcoeff) else np.zeros(nx)
    sin_t = np.array([math.sin(t / 180.0 * PI) for t in tilt]) if tilt.any() else np.zeros(nx)
    cos_t = np.array([math.cos(t / 180.0 * PI) for t in tilt]) if tilt.any() else np.ones(nx)
    rpix = (ipix - ltv[0]) / ltm[0]
    xs, ys = [], []  # the sample positions of both boxes, stepped along the tilt as the C steps
    for k in range(2):
        size = float(xtr.bksize[k])
        off = float(xtr.bkoffset[k])
        xc = rpix + off * sin_t
        yc = y_box + off * cos_t
        x1 = xc - (size / 2.0 * sin_t)
        y1 = yc - (size / 2.0 * cos_t) + 0.5
        xx = x1 * ltm[0] + ltv[0]
        yy = y1 * ltm[1] + ltv[1]
        for _ in range(int(nint(size))):
            xs.append(xx)
            ys.append(yy)
            xx = xx + sin_t
            yy = yy + cos_t
    if not xs:
        return back_clip_numpy([], nx, xtr.backord)
    yall = np.stack(ys)
    o_sci, _o_err, o_dq = interp2d(sci, err, dq, np.stack(xs), yall, 0)  # one call: point by point
    osci = o_sci.astype(F64)
    flagged = (o_dq & np.uint16(DETECTORPROB)) != 0
    k = load(KERNELS)
    if k is None:
        return back_clip_numpy(list(zip(yall, osci, flagged, strict=True)), nx, xtr.backord)
    nbck = yall.shape[0]
    out = np.zeros((5, nx), F64)
    dqbck = np.zeros(nx, np.uint16)
    k.back_clip(
        np.ascontiguousarray(yall, F64),
        np.ascontiguousarray(osci),
        np.ascontiguousarray(flagged, np.uint8),
        nbck,
        nx,
        int(xtr.backord),
        MAX_CLIP,
        X1D_BAD_BACKGROUND,
        out,
        dqbck,
    )
    return Background(out[0], out[1], out[2], out[3], out[4], dqbck)


def back_clip_numpy(points: list, nx: int, backord: int) -> Background:
    """:func:`calc_back`'s clipped fits over the sampled points ``[(y, sci, flagged)]`` for every
    column at once (the C kernel ``_kernels.back_clip``'s reference)."""
    nbck = len(points)
    bck0, bck1 = np.zeros(nx), np.zeros(nx)
    vbck0, vbck1 = np.zeros(nx), np.zeros(nx)
    ebck = np.zeros(nx)
    dqbck = np.zeros(nx, np.uint16)
    sigma = np.full(nx, DBL_MAX / 3.1)
    active = np.ones(nx, bool)
    for iclip in range(1, MAX_CLIP + 1):
        npts = np.zeros(nx)
        sx = np.zeros(nx)
        sy = np.zeros(nx)
        sx2 = np.zeros(nx)
        sy2 = np.zeros(nx)
        sxy = np.zeros(nx)
        new_sigma = np.zeros(nx)
        nf = np.zeros(nx, np.int64)
        ns = np.zeros(nx, np.int64)
        for yy, osci, flagged in points:
            residual = np.abs(osci - (bck0 + bck1 * yy))
            keep = ~flagged & (residual <= 3.0 * sigma)
            clip = ~flagged & ~keep
            npts = np.where(keep, npts + 1.0, npts)
            sx = np.where(keep, sx + yy, sx)
            sy = np.where(keep, sy + osci, sy)
            sx2 = np.where(keep, sx2 + yy * yy, sx2)
            sxy = np.where(keep, sxy + yy * osci, sxy)
            o32 = osci.astype(F32)  # X1DBack's oSci is a float: its square is a float product
            sy2 = np.where(keep, sy2 + (o32 * o32).astype(F64), sy2)
            new_sigma = np.where(keep, new_sigma + residual * residual, new_sigma)
            nf += flagged
            ns += clip
        frac = (nf + ns).astype(F32) / F32(nbck) if nbck else np.zeros(nx, F32)
        dq_it = np.where(frac > F32(0.33333), np.uint16(X1D_BAD_BACKGROUND), np.uint16(0))
        with np.errstate(divide="ignore", invalid="ignore"):
            if backord == 1:
                delta = npts * sx2 - sx * sx
                okd = np.abs(delta) > 0.0
                c0 = np.where(okd, (sx2 * sy - sx * sxy) / delta, 0.0)
                c1 = np.where(okd, (sxy * npts - sx * sy) / delta, 0.0)
                v0 = np.where(okd, sx2 / delta, 0.0)
                v1 = np.where(okd, npts / delta, 0.0)
            else:
                c0 = np.where(npts > 0.0, sy / npts, 0.0)
                v0 = np.where(npts > 1.0, (sy2 - sy * sy / npts) / (npts - 1.0), 0.0)
                c1 = np.zeros(nx)
                v1 = np.zeros(nx)
            new_sig = np.where(npts > 1.0, np.sqrt(new_sigma / (npts - 1.0)), sigma)
        bck0 = np.where(active, c0, bck0)
        bck1 = np.where(active, c1, bck1)
        vbck0 = np.where(active, v0, vbck0)
        vbck1 = np.where(active, v1, vbck1)
        dqbck = np.where(active, dq_it, dqbck)
        more = npts > 1.0
        ebck = np.where(active & more, new_sig, ebck)
        sigma = np.where(active & more, new_sig, sigma)
        stop = ~more | ((ns == 0) & (iclip > 1))
        active = active & ~stop
        if not active.any():
            break
    return Background(bck0, bck1, vbck0, vbck1, ebck, dqbck.astype(np.uint16))


@dataclass(slots=True)
class Extracted:
    gross: np.ndarray
    back: np.ndarray
    net: np.ndarray
    error: np.ndarray
    dq: np.ndarray
    extrlocy: np.ndarray


def extract(
    sci,
    err,
    dq,
    y_box: np.ndarray,
    extrsize: float,
    bg: Background | None,
    exptime: float,
    ltm,
    ltv,
    *,
    smoothing: bool = True,
) -> Extracted:
    """``X1DSpec`` unweighted (sdqflags 0: every pixel used): per column the box of EXTRSIZE
    reference pixels centred on `y_box`, its end pixels by their fractional areas, summed in
    C's order (lower end, upper end, then the inner pixels); the background (fit per column) per
    pixel times the area; with `smoothing` (the pipeline's BKS_MEDIAN) no background variance in
    ERROR. Values per second of `exptime`."""
    ny, nx = sci.shape
    ycen = y_box * ltm[1] + ltv[1]
    half = extrsize * ltm[1] / 2.0
    ilow = ycen - half
    ihigh = ycen + half
    extrlocy = (y_box * ltm[1] + ltv[1] + 1.0).astype(F32)
    til = np.trunc(ilow)
    tih = np.trunc(ihigh)
    j1 = np.where((ilow - til) < 0.5, til, til + 1.0).astype(np.int64)
    j2 = np.where((ihigh - tih) < 0.5, tih, tih + 1.0).astype(np.int64)
    s1 = 0.5 - (ilow - j1)
    s2 = 0.5 + ihigh - j2
    cols = np.arange(nx)
    acc_sum = np.zeros(nx)
    acc_back = np.zeros(nx)
    acc_net = np.zeros(nx)
    acc_err = np.zeros(nx)
    wei = np.zeros(nx)
    odq = np.zeros(nx, np.uint16)
    if bg is None:
        bg = Background(*(np.zeros(nx) for _ in range(5)), np.zeros(nx, np.uint16))

    def accum(j, area, use):
        nonlocal acc_sum, acc_back, acc_net, acc_err, wei, odq
        jj = np.clip(j, 0, ny - 1)
        pix = sci[jj, cols].astype(F64)
        perr = err[jj, cols].astype(F64)
        back = bg.bck0 + bg.bck1 * j
        backvar = np.zeros(nx) if smoothing else bg.vbck0 + bg.vbck1 * j * j
        acc_back = np.where(use, acc_back + back * area, acc_back)
        acc_sum = np.where(use, acc_sum + pix * area, acc_sum)
        acc_net = np.where(use, acc_net + (pix - back) * area, acc_net)
        acc_err = np.where(use, acc_err + ((perr * perr) + backvar) * area, acc_err)
        wei = np.where(use, 1.0, wei)
        odq = np.where(use, odq | dq[jj, cols], odq)

    accum(j1, s1, (j1 > 0) & (j1 < ny))
    accum(j2, s2, (j2 > j1) & (j2 > 0) & (j2 < ny))
    inner = j2 > j1 + 1
    span = int((j2 - j1).max()) if nx else 0
    for k in range(1, span):
        j = j1 + k
        accum(j, np.ones(nx), inner & (j < j2) & (j > 0) & (j < ny))
    odq = odq | bg.dqbck
    ok = (wei > 0.0) & (exptime > 0.0)
    gross = (acc_sum / np.where(ok, wei, 1.0)).astype(F32)
    back = (acc_back / np.where(ok, wei, 1.0)).astype(F32)
    net = (acc_net / np.where(ok, wei, 1.0)).astype(F32)
    error = np.where(acc_err > 0.0, np.sqrt(np.maximum(acc_err, 0.0) / np.where(ok, wei, 1.0)), 0.0).astype(F32)
    z = F32(0.0)
    return Extracted(
        np.where(ok, (gross.astype(F64) / exptime).astype(F32), z),
        np.where(ok, (back.astype(F64) / exptime).astype(F32), z),
        np.where(ok, (net.astype(F64) / exptime).astype(F32), z),
        np.where(ok, (error.astype(F64) / exptime).astype(F32), z),
        odq.astype(np.uint16),
        extrlocy,
    )


def median_float(v: np.ndarray) -> np.float32:
    """``MedianFloat``: the middle value, or (a + b)/2 of the middle two in float."""
    n = v.size
    if n < 1:
        return F32(0.0)
    if n == 1:
        return F32(v[0])
    if n == 2:
        return F32((F32(v[0]) + F32(v[1])) / F32(2.0))
    s = np.sort(v.astype(F32))
    i = n // 2
    return F32((s[i - 1] + s[i]) / F32(2.0)) if n == 2 * i else F32(s[i])


def boxcar_median(a: np.ndarray, wsize: int = BKS_WINDOW) -> np.ndarray:
    """``BoxcarFilter`` in BKS_MEDIAN mode: window [w1, w2] growing from [0, wsize/2] at the start,
    shrinking at the end as the C does."""
    n = a.size
    out = np.empty(n, F32)
    w2 = wsize // 2
    vw2 = w2
    w1 = 0
    for i in range(n):  # n medians of ≤ 9 values; the window bounds follow the C's counters
        if i > 0:
            w2 += 1
            vw2 += 1
            if w2 >= n:
                w2 -= 1
            w1 = max(vw2 - wsize, 0)
        out[i] = median_float(a[w1 : w2 + 1])
    return out


def _gaussj(a: list[list[float]], b: list[float]) -> list[float]:
    """``Sgaussj``: Gauss–Jordan elimination with full pivoting (NR), one right-hand side."""
    n = len(a)
    ipiv = [0] * n
    indxr = [0] * n
    indxc = [0] * n
    row = col = 0
    for i in range(n):
        big = 0.0
        for j in range(n):
            if ipiv[j] != 1:
                for k in range(n):
                    if ipiv[k] == 0:
                        if abs(a[j][k]) >= big:
                            big = abs(a[j][k])
                            row, col = j, k
                    elif ipiv[k] > 1:
                        raise ValueError("gaussj: singular matrix")
        ipiv[col] += 1
        if row != col:
            a[row], a[col] = a[col], a[row]
            b[row], b[col] = b[col], b[row]
        indxr[i], indxc[i] = row, col
        if a[col][col] == 0.0:
            raise ValueError("gaussj: singular matrix")
        pivinv = 1.0 / a[col][col]
        a[col][col] = 1.0
        a[col] = [v * pivinv for v in a[col]]
        b[col] = b[col] * pivinv
        for j in range(n):
            if j != col:
                dum = a[j][col]
                a[j][col] = 0.0
                a[j] = [a[j][l] - a[col][l] * dum for l in range(n)]
                b[j] = b[j] - b[col] * dum
    return b


def fit_poly(x: np.ndarray, y: np.ndarray, degree: int) -> list[float]:
    """``FitPoly`` with unit weights: [x̄, ȳ, c0 … c_degree] of the polynomial in (x − x̄) fitted to
    y − ȳ (``Slfit``: normal equations summed point by point, solved by ``Sgaussj``)."""
    nterm = degree + 1
    n = x.size
    avx = float(np.add.accumulate(x)[-1]) / n
    avy = float(np.add.accumulate(y)[-1]) / n
    xs = [float(v) - avx for v in x]
    ys = [float(v) - avy for v in y]
    covar = [[0.0] * nterm for _ in range(nterm)]
    beta = [0.0] * nterm
    sig2i = 1.0 / math.sqrt(1.0)
    for xi, yi in zip(xs, ys, strict=True):
        basis = [math.pow(xi, float(i)) for i in range(nterm)]
        for l in range(nterm):
            w = basis[l] * sig2i
            for m in range(l + 1):
                covar[l][m] += w * basis[m]
            beta[l] += yi * w
    for j in range(1, nterm):
        for k in range(j):
            covar[k][j] = covar[j][k]
    coeff = _gaussj(covar, beta)
    return [avx, avy, *coeff]


def compute_poly(x: np.ndarray, coeff: list[float], degree: int) -> np.ndarray:
    """``ComputePoly``: Σ c_j·pow(x − x̄, j) in order, then + ȳ."""
    out = np.empty(x.size)
    for i, xi in enumerate(x.tolist()):
        v = 0.0
        for j in range(degree + 1):
            v += coeff[j + 2] * math.pow(xi - coeff[0], float(j))
        out[i] = v + coeff[1]
    return out


def smooth_back(back: np.ndarray, gross: np.ndarray, order: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``SmoothBack`` for CCD data (BKS_MEDIAN): 9-pixel running median, then the cubic through
    columns 10 … n−10 replaces those columns; NET = GROSS − BACKGROUND in float."""
    n = back.size
    b = boxcar_median(back)
    idx = np.arange(n)
    valid = (idx >= 10) & (idx <= n - 10)
    x = idx[valid].astype(F64)
    coeff = fit_poly(x, b[valid].astype(F64), order)
    b = b.copy()
    b[valid] = compute_poly(x, coeff, order).astype(F32)
    return b, (gross - b).astype(F32)


def eval_disp_scalar(c, ncoeff: int, m: float, wl: float) -> float:
    """``evalDisp`` for one wavelength (zero-indexed pixel)."""
    terms = (
        lambda: c[1] * m * wl,
        lambda: c[2] * m * m * wl * wl,
        lambda: c[3] * m,
        lambda: c[4] * wl,
        lambda: c[5] * m * m * wl,
        lambda: c[6] * m * wl * wl,
        lambda: c[7] * m * m * m * wl * wl * wl,
        lambda: c[8] * m * m,
    )
    if not 1 <= ncoeff <= 9:
        return -1000000.0 - 1.0
    x = c[0]
    for k in range(ncoeff - 1):
        x = x + terms[k]()
    return x - 1.0


def eval_deriv_disp(c, ncoeff: int, m: float, wl: float) -> float:
    """``evalDerivDisp``: d(pixel)/d(wavelength)."""
    if ncoeff == 1:
        return 0.0
    if ncoeff == 2:
        return c[1] * m
    if ncoeff in (3, 4):
        return c[1] * m + c[2] * 2.0 * m * m * wl
    if ncoeff == 5:
        return c[1] * m + c[2] * 2.0 * m * m * wl + c[4]
    if ncoeff == 6:
        return c[1] * m + c[2] * 2.0 * m * m * wl + c[4] + c[5] * m * m
    if ncoeff == 7:
        return c[1] * m + c[2] * 2.0 * m * m * wl + c[4] + c[5] * m * m + c[6] * 2.0 * m * wl
    if ncoeff in (8, 9):
        return (
            c[1] * m
            + c[2] * 2.0 * m * m * wl
            + c[4]
            + c[5] * m * m
            + c[6] * 2.0 * m * wl
            + c[7] * 3.0 * m * m * m * wl * wl
        )
    return 1000000.0


def eval_inv_disp(c, ncoeff: int, m: float, pixel: float, wl_estimate: float, tol: float = 0.001):
    """``evalInvDisp`` for first-order data (no search): Newton steps from `wl_estimate` until two
    successive wavelengths differ by less than `tol`; returns (wavelength, status)."""
    if ncoeff < 1 or ncoeff > 9:
        return -1.0, 1
    wl_test = wl_estimate
    x_test = eval_disp_scalar(c, ncoeff, m, wl_test)
    last = wl_test
    niter = 0
    while True:
        slope = eval_deriv_disp(c, ncoeff, m, wl_test)
        if slope == 0.0:
            return wl_test, 3
        wl_test = wl_test + (pixel - x_test) / slope
        if abs(wl_test - last) < tol:
            return wl_test, 0
        if niter > 100:
            return wl_test, 2
        last = wl_test
        x_test = eval_disp_scalar(c, ncoeff, m, wl_test)
        niter += 1


def wavelengths(coeff, ncoeff: int, sporder: int, cenwave: int, nx: int, ltm, ltv, hfactor: float | None) -> np.ndarray:
    """``Wave`` (grating): each column's wavelength, the Newton search starting from the previous
    column's result (CENWAVE for the first); times the heliocentric factor when given."""
    c = [float(v) for v in coeff]
    wave = np.empty(nx)
    est = float(cenwave)
    m = float(sporder)
    for i in range(nx):  # sequential: each start value is the previous column's wavelength
        rpix = (i - ltv[0]) / ltm[0]
        wl, status = eval_inv_disp(c, ncoeff, m, rpix, est)
        wave[i] = wl
        if status == 0:
            est = wl
        if hfactor is not None:
            wave[i] *= hfactor
    return wave


# ----------------------------------------------------------------------------- FLUXCORR

Q_WAVE = np.array([1127.09, 2066.33, 2213.93, 2339.25, 3424.86, 11000.00])
Q_VALUE = np.array([3.00, 1.50, 1.35, 1.40, 1.00, 1.00])


def extrap1d(x, wl: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``extrap1d``: :func:`.x2d.interp1d` inside the table, the end intervals' lines outside."""
    from .x2d import interp1d

    x = np.asarray(x, F64)
    wl = np.asarray(wl, F64)
    f = np.asarray(f, F64)
    n = wl.size

    def line(x1, x2, y1, y2):
        slope = (y2 - y1) / (x2 - x1)
        intercept = y1 - slope * x1
        return slope * x + intercept

    lo = line(wl[0], wl[1], f[0], f[1])
    hi = line(wl[n - 2], wl[n - 1], f[n - 2], f[n - 1])
    return np.where((n == 1) | (x <= wl[0]), lo, np.where(x >= wl[n - 1], hi, interp1d(x, wl, f)))


def dispersion(wave: np.ndarray) -> np.ndarray:
    """``getDispersion``: central differences, one-sided at the ends."""
    d = np.empty_like(wave)
    d[1:-1] = (wave[2:] - wave[:-2]) / 2.0
    d[0] = wave[1] - wave[0]
    d[-1] = wave[-1] - wave[-2]
    return d


def q_factor(wl, width: np.float32, gross: np.ndarray, *, meandark, readnse, atodgain, ncombine, exptime) -> np.ndarray:
    """``QFactor`` (CCD): the error's correction for several electrons per photon below 3400 Å."""
    from .x2d import interp1d

    s = np.where(gross > 0, gross.astype(F64), 0.0)
    d, r, g, n, t, w = float(meandark), float(readnse), float(atodgain), float(ncombine), float(exptime), float(width)
    q = interp1d(wl, Q_WAVE, Q_VALUE)
    num = (s * t + d * w) * g / n + r * r * w
    den = (s * t / q + d * w) * g / n + r * r * w
    return np.sqrt(num / den).astype(F32)


def abs_flux6(
    wave: np.ndarray,
    net: np.ndarray,
    error: np.ndarray,
    net_error: np.ndarray,
    gross: np.ndarray,
    dq: np.ndarray,
    *,
    phot_wl,
    phot_thru,
    pcorr,
    pcorr_box,
    slit_wl,
    slit_thr,
    hfactor: float,
    atodgain: float,
    qpars: dict | None,
    extrsize: np.float32,
    resp_wl: np.ndarray | None = None,
    gac: tuple[np.ndarray, np.ndarray] | None = None,
    tds: tuple[np.ndarray, np.ndarray] | None = None,
):
    """``AbsFlux6`` (no CTE): FLUX = NET · h·c·ATODGAIN / (A·R·T·λ·Δλ) · PCT(max)/PCT(box)
    / GAC(λ) / TDS(λ) in float (each factor applied in double and stored as float), R on `resp_wl`
    (an echelle order's blaze-shifted PHOTTAB wavelengths) when given, PCT on `phot_wl`, GAC the
    GACTAB row (wavelengths, factors) and TDS the TDSTAB wavelengths and ``TdsCorrection`` factors
    when given (else 1); ERROR (and NET_ERROR) times the CCD Q factor (none: `qpars` None, the MAMAs);
    CALIBDEFECT where the aperture throughput, the dispersion or the response is ≤ 0. Returns
    (flux, error, net_error, dq)."""
    from .x2d import C_LIGHT, CALIBDEFECT, CM_PER_ANGSTROM, H_PLANCK, HST_AREA, interp1d

    photfactor = H_PLANCK * C_LIGHT / HST_AREA
    wl = wave / hfactor
    response = extrap1d(wl, phot_wl if resp_wl is None else resp_wl, phot_thru)
    pct = interp1d(wl, phot_wl, pcorr)
    pct2 = interp1d(wl, phot_wl, pcorr_box)
    thr = interp1d(wl, slit_wl, slit_thr)
    disp = dispersion(wave) / hfactor
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = (photfactor / (response * thr * wl * disp * CM_PER_ANGSTROM)).astype(F32)
        corr = (corr.astype(F64) * atodgain).astype(F32)
        corr = (corr.astype(F64) * (pct / pct2)).astype(F32)
        if gac is not None:  # correction /= gac_factor
            corr = (corr.astype(F64) / interp1d(wl, gac[0], gac[1])).astype(F32)
        if tds is not None:  # correction /= tds_factor
            corr = (corr.astype(F64) / interp1d(wl, tds[0], tds[1])).astype(F32)
    q = q_factor(wl, extrsize, gross, **qpars) if qpars is not None else np.ones(wave.size, F32)
    bad = (thr <= 0.0) | (disp <= 0.0) | (response <= 0.0) | (corr <= 0)
    z = F32(0.0)
    flux = np.where(bad, z, net * corr).astype(F32)
    err = np.where(bad, z, error * (corr * q)).astype(F32)
    nerr = np.where(bad, net_error, net_error * q).astype(F32)
    dq = np.where(bad, dq | np.uint16(CALIBDEFECT), dq).astype(np.uint16)
    return flux, err, nerr, dq


# ----------------------------------------------------------------------------- echelle


def boxcar_average(a: np.ndarray, wsize: int) -> np.ndarray:
    """``BoxcarFilter`` in BKS_AVERAGE mode: a running double sum — the first wsize/2 values, then per
    column one value added at the top and, once the window is full, one dropped at the bottom — over
    the running count, stored as float. As the C, the value at index wsize/2 is never added."""
    a = np.asarray(a, F32).astype(F64)
    n = a.size
    h = wsize // 2
    if n == 0:
        return np.zeros(0, F32)
    i = np.arange(1, n)
    top = h + i
    low = top - wsize  # w1; the value dropped is a[w1 - 1] when w1 > 0
    add = np.where(top < n, a[np.clip(top, 0, n - 1)], 0.0)
    sub = np.where(low > 0, a[np.clip(low - 1, 0, n - 1)], 0.0)
    ops = np.empty(h + 2 * (n - 1))
    ops[:h] = a[:h]
    ops[h::2] = add
    ops[h + 1 :: 2] = -sub
    run = np.add.accumulate(ops)  # sequential, as the C's sum += / sum -=
    sums = np.concatenate([[run[h - 1]], run[h + 1 :: 2]])
    npts = h + np.concatenate([[0], np.cumsum((top < n).astype(np.int64) - (low > 0))])
    return (sums / npts).astype(F32)


def smooth_back_echelle(back: np.ndarray, gross: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``SmoothBack`` for MAMA echelle data: two passes of a 31-column running average; NET = GROSS −
    BACKGROUND in float."""
    b = boxcar_average(boxcar_average(back, 31), 31)
    return b, (gross - b).astype(F32)


def _flagged_sums(data: list[float], flag: list[int]) -> tuple[float, float, int]:
    """Sum and sum of squares of the unflagged values, in list order (the C's order), and their count."""
    s = s2 = 0.0
    n = 0
    for x, f in zip(data, flag, strict=False):  # flag may be longer than data
        if f == 0:
            s += x
            s2 += x * x
            n += 1
    return s, s2, n


def _variance_sigma(s: float, s2: float, n: int) -> float:
    sig = (s2 - s * s / n) / (n - 1)
    return math.sqrt(sig) if sig > 0.0 else 0.0


def cc_average(data: list[float], flag: list[int], rejf: float) -> tuple[float, float]:
    """GCrossCorr's ``average``: mean of the unflagged offsets; those beyond `rejf`·σ are flagged
    (`flag` updated in place) and the mean taken again. Returns (mean, σ); 0 with fewer than two."""
    av, s2, n = _flagged_sums(data, flag)
    if n < 2:
        return 0.0, 0.0
    sig = _variance_sigma(av, s2, n)
    av /= n
    for i, x in enumerate(data):
        if abs(x - av) > sig * rejf:
            flag[i] = 1
    av, s2, j = _flagged_sums(data, flag)
    sig = _variance_sigma(av, s2, j) if j >= 2 else 0.0
    return (av / j if j else float("nan")), sig
