"""calstis4's shift in the dispersion direction of a 2-D rectified first-order wavecal (HSTCAL
``cs4/waveshift.c``, ``xcwave.c``, ``findwl.c``, ``convslit.c``, ``xcpeak.c``, ``peakquad3.c``,
``getlamp.c``): the wavecal averaged across the dispersion, its median subtracted (negatives to
zero), cross-correlated with the lamp template integrated over the image pixels and smoothed by
the slit width; the shift is the parabolic peak of the cross correlation. Pure array functions, in
HSTCAL's double-precision order (sequential sums).

>>> edges, flux = lamp_edges(np.arange(10.0), np.ones(10))
>>> edges[:3].tolist(), edges[-1]
([-0.5, 0.5, 1.5], np.float64(9.5))
"""

from __future__ import annotations

import numpy as np

from ..common.kernels import load

F64 = np.float64
KERNELS = "caldp.engines.stis._kernels"
MIN_RANGE = 3
CHOP_EXTRA = 10
NARROW_SLIT = 3
ARCSEC_PER_DEGREE = 3600.0


def _seqsum(values: np.ndarray) -> float:
    """A sum in index order (C's loop), not NumPy's pairwise one."""
    if values.size == 0:
        return 0.0
    return float(np.add.accumulate(values, dtype=F64)[-1])


def median_double(v: np.ndarray) -> float:
    """``MedianDouble``: the middle value, or the mean of the two middle values."""
    n = v.size
    if n < 1:
        return 0.0
    if n == 1:
        return float(v[0])
    s = np.sort(v)
    i = n // 2
    return float((s[i - 1] + s[i]) / 2.0) if n == 2 * i else float(s[i])


def lamp_edges(wl: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``GetLamp``: LAMPTAB's pixel-centre wavelengths turned into nelem+1 pixel edges."""
    wl = np.asarray(wl, F64)
    n = wl.size
    edges = np.empty(n + 1, F64)
    wsave = wl[0] - (wl[1] - wl[0]) / 2.0
    wlast = wl[n - 1] + (wl[n - 1] - wl[n - 2]) / 2.0
    mids = (wl[:-1] + wl[1:]) / 2.0
    edges[0] = wsave
    edges[1:n] = mids
    edges[n] = wlast
    return edges, np.asarray(flux, F64)


def scale_one(trim: int, scale: float, npix: int) -> tuple[int, int]:
    """``ScaleOne``: first and last (zero-indexed) pixels left after trimming `trim` reference pixels."""
    btrim = float(trim) / scale
    itrim = int(np.floor(btrim + 0.5)) if btrim >= 0 else -int(np.floor(-btrim + 0.5))
    lo, hi = itrim, npix - 1 - itrim
    lo, hi = max(lo, 0), min(hi, npix - 1)
    if hi <= lo:
        lo, hi = 0, npix - 1
    return lo, hi


def column_sums(block: np.ndarray) -> np.ndarray:
    """Each column's sum with the rows added in order (the C loops' order), as float64."""
    if block.shape[0] == 0:
        return np.zeros(block.shape[1], F64)
    return np.add.accumulate(block, axis=0, dtype=F64)[-1]


def collapse_rows(sci: np.ndarray, dq: np.ndarray, sdqflags: int, cols, rows) -> tuple[np.ndarray, np.ndarray]:
    """The average over rows ``rows[0]..rows[1]`` of the good pixels of each column in
    ``cols[0]..cols[1]`` (others zero, flagged `sdqflags`): WaveShift's 1-D spectrum and its flags."""
    ny, nx = sci.shape
    v = np.zeros(nx, F64)
    qv = np.zeros(nx, np.int16)
    i0, i1 = cols
    j0, j1 = rows
    good = (dq[j0 : j1 + 1, i0 : i1 + 1] & np.uint16(sdqflags & 0xFFFF)) == 0
    acc = column_sums(np.where(good, sci[j0 : j1 + 1, i0 : i1 + 1].astype(F64), 0.0))
    ngood = good.sum(axis=0)
    v[i0 : i1 + 1] = np.where(ngood > 0, acc / np.maximum(ngood, 1), acc)
    qv[i0 : i1 + 1] = np.where(ngood > 0, 0, np.int16(sdqflags))
    qv[:i0] = np.int16(sdqflags)
    qv[i1 + 1 :] = np.int16(sdqflags)
    return v, qv


def find_wl(wavelength: float, wl: np.ndarray, nelem: int, index: int) -> int:
    """``FindWL``: index with ``wl[index] < wavelength <= wl[index+1]`` (-1 below, nelem+1 above)."""
    if wavelength < wl[0]:
        return -1
    if wavelength > wl[nelem]:
        return nelem + 1
    if nelem == 1 or wavelength == wl[0]:
        return 0
    if index < 0 or index > nelem or wavelength <= wl[index]:
        return _binary_search(wavelength, wl, nelem + 1)
    i = index
    while i < nelem:
        if wl[i] < wavelength <= wl[i + 1]:
            break
        i += 1
    return i


def _binary_search(x: float, wl: np.ndarray, n: int) -> int:
    if x < wl[0]:
        return -1
    if x >= wl[n - 1]:
        return n
    low, high = 0, n - 1
    while high - low > 1:
        k = (low + high) // 2
        if x < wl[k]:
            high = k
        elif x > wl[k + 1]:
            low = k
        else:
            high = low = k
    if low < high:
        return high if wl[high] <= x else low
    return low


def sum_spec(edges: np.ndarray, flux: np.ndarray, crpix: float, crval: float, cdelt: float, nwl: int) -> np.ndarray:
    """``SumSpec``: the template integrated over each image pixel of a rectified spectrum."""
    # pixel k's left edge is at pixel k - 0.5 (an exact float for these small integers)
    return sum_between(edges, flux, [crval + (k - 0.5 - crpix) * cdelt for k in range(nwl + 1)], nwl)


def sum_between(edges: np.ndarray, flux: np.ndarray, wl_edges, nwl: int) -> np.ndarray:
    """``SumSpec``/``ESumSpec``'s loop: the template (pixel `edges`, `flux`) integrated over each of
    `nwl` image pixels whose edges are at wavelengths `wl_edges` (nwl + 1 of them). The C kernel
    (``_kernels.sum_between``) when built and the template is float64, else :func:`sum_between_numpy`."""
    k = load(KERNELS)
    if k is None or not (edges.dtype == flux.dtype == F64) or flux.size < 1 or edges.size != flux.size + 1:
        return sum_between_numpy(edges, flux, wl_edges, nwl)
    tspec = np.zeros(nwl, F64)
    wle = np.ascontiguousarray(np.asarray(wl_edges, F64)[: nwl + 1])
    if wle.size != nwl + 1:
        return sum_between_numpy(edges, flux, wl_edges, nwl)
    k.sum_between(np.ascontiguousarray(edges), np.ascontiguousarray(flux), wle, tspec)
    return tspec


def sum_between_numpy(edges: np.ndarray, flux: np.ndarray, wl_edges, nwl: int) -> np.ndarray:
    """:func:`sum_between` in Python, pixel by pixel (the C kernel's reference)."""
    nelem = flux.size
    tspec = np.zeros(nwl, F64)
    wl_left = float(wl_edges[0])
    jl = find_wl(wl_left, edges, nelem, -1)
    jr = jl
    for i in range(nwl):
        wl_right = float(wl_edges[i + 1])
        jr = find_wl(wl_right, edges, nelem, jr)
        if jr >= nelem:
            break
        if jl >= 0:
            if jl == jr:
                tspec[i] = flux[jl] * (wl_right - wl_left)
            else:
                t = flux[jl] * (edges[jl + 1] - wl_left)
                for j in range(jl + 1, jr):
                    t += flux[j] * (edges[j + 1] - edges[j])
                tspec[i] = t + flux[jr] * (wl_right - edges[jr])
        jl = jr
        wl_left = wl_right
    return tspec


def conv_slit(slitwidth: float, tspec: np.ndarray) -> np.ndarray:
    """``ConvSlit``: running mean over the slit width (odd, in pixels); narrower than 3: unchanged."""
    iwidth = int(slitwidth)
    if iwidth // 2 * 2 == iwidth:
        iwidth += 1
    if iwidth < NARROW_SLIT:
        return tspec
    half = iwidth // 2
    nwl = tspec.size
    buf = np.zeros(nwl + 2 * half, F64)
    buf[half : half + nwl] = tspec
    s0 = _seqsum(buf[:iwidth])
    # running sum: s_j = s_{j-1} + (buf[j + 2·half] − buf[j − 1]), added in order as the C loop
    steps = buf[2 * half + 1 : nwl + 2 * half] - buf[: nwl - 1]
    sums = np.add.accumulate(np.concatenate(([s0], steps)))
    return sums / float(iwidth)


def chop_template(tspec: np.ndarray, qv: np.ndarray, sdqflags: int) -> np.ndarray:
    """``ChopTemplate``: zero the template where the data are flagged at the ends, plus 10 pixels."""
    nwl = tspec.size
    good = np.flatnonzero((qv & np.int16(sdqflags)) == 0)
    first = int(good[0]) if good.size else 0
    last = int(good[-1]) if good.size else nwl - 1
    first += CHOP_EXTRA
    if first >= nwl:
        return tspec
    last -= CHOP_EXTRA
    if last < 0:
        return tspec
    out = tspec.copy()
    out[:first] = 0.0
    out[last + 1 :] = 0.0
    return out


def cross_corr(x: np.ndarray, qx: np.ndarray, y: np.ndarray, sdqflags: int, nrange: int) -> np.ndarray | None:
    """``CrossCorr4``: ``xc[j] = Σ_i x[i]·y[i+skip−j]`` over the middle ``nv − (range−1)`` elements,
    flagged x set to zero; None when no element is good."""
    nv = x.size
    skip = (nrange - 1) // 2
    tx = np.zeros(nv, F64)
    ok = (qx[skip : nv - skip] & np.int16(sdqflags)) == 0
    if not ok.any():
        return None
    tx[skip : nv - skip] = np.where(ok, x[skip : nv - skip], 0.0)
    xc = np.empty(nrange, F64)
    for j in range(nrange):
        xc[j] = _seqsum(tx[skip : nv - skip] * y[2 * skip - j : nv - j])
    return xc


def peak_quad3(y) -> float | None:
    """``PeakQuad3``: vertex of the parabola through three points, relative to the middle one."""
    den = y[0] - 2.0 * y[1] + y[2]
    if den == 0.0:
        return None
    return float((y[0] - y[2]) / (2.0 * den))


def xc_peak(v: np.ndarray, qv: np.ndarray, tspec: np.ndarray, nrange: int, sdqflags: int) -> float | None:
    """``XCPeak``: the shift from `tspec` to `v` (None: no good data or the peak at an end)."""
    xc = cross_corr(v, qv, tspec, sdqflags, nrange)
    if xc is None:
        return None
    middle = nrange // 2
    imax = int(np.argmax(xc))  # the first maximum, as the C loop with '>'
    if imax == 0 or imax == nrange - 1:
        return None
    i = imax - 1
    peak = peak_quad3(xc[i : i + 3])
    if peak is None:
        return None
    return peak + (i + 1) - middle


def xc_range(wl_range: int, nwl: int) -> int:
    r = wl_range
    if r > nwl // 2:
        r = nwl // 2
    if r < MIN_RANGE:
        r = MIN_RANGE
    if r // 2 * 2 == r:
        r += 1
    return r


def wave_shift(
    sci: np.ndarray,
    dq: np.ndarray,
    *,
    sdqflags: int,
    cols: tuple[int, int],
    rows: tuple[int, int],
    crpix: float,
    crval: float,
    cdelt: float,
    slitwidth: float,
    edges: np.ndarray,
    flux: np.ndarray,
    wl_range: int,
) -> float | None:
    """``WaveShift`` for 2-D rectified data: the shift (image pixels) of the wavecal relative to
    the lamp template, or None (UNDEFINED) when it cannot be found. `crpix` is zero-indexed,
    `slitwidth` in pixels."""
    nwl = sci.shape[1]
    if nwl <= 0:
        return None
    v, qv = collapse_rows(sci, dq, sdqflags, cols, rows)
    median = median_double(v)
    v = np.where(v < median, 0.0, v - median)
    nrange = xc_range(wl_range, nwl)
    tspec = sum_spec(edges, flux, crpix, crval, cdelt, nwl)
    tspec = conv_slit(slitwidth, tspec)
    tspec = chop_template(tspec, qv, sdqflags)
    return xc_peak(v, qv, tspec, nrange, sdqflags)
