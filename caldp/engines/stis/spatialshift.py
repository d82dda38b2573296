"""calstis4's shift across the dispersion of a 2-D rectified first-order wavecal on a long slit
(HSTCAL ``cs4/spatialshift.c``, ``whichslit.c``, ``findbars.c``, ``invert.c``, ``lib/spline.c``):
the wavecal is collapsed along the dispersion weighted by its (median-subtracted) spectrum, the
slit illumination is normalised by a natural spline through section medians and inverted, and
each occulting bar of APDESTAB is found by cross-correlating with a one-bar template; the shift is
the weighted mean of the bars' shifts. Pure array functions in HSTCAL's double-precision order.
Short slits (< 5″, ``xcechelle.c``) are cross-correlated with a box the slit's length; medium
slits (5–7″, ``findends.c``, ``findedge.c``) give the shift from their two ends.

>>> template_bar(5.0, 2.0, 10).tolist()
[0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 0.5, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

import logging

import numpy as np

from .waveshift import column_sums, median_double, peak_quad3, xc_peak, xc_range

log = logging.getLogger(__name__)

F64 = np.float64
ARCSEC_PER_DEGREE = 3600.0
MEDIUM_SHORT, MEDIUM_LONG = 5.0, 7.0
NPARTS1, NPARTS2, MAX_MAD = 8, 12, 6.0
MIN_BARWEIGHT, MAX_BARWEIGHT = 0.5, 1.5
CENTROID_CUTOFF, OUTLIER_CUTOFF = 0.5, 0.3
MAX_DIFF_WARNING, MAX_DIFF_ERROR = 5.0, 10.0
SHORT_ECHELLE_SLIT, MEDIUM_ECHELLE_SLIT, LONG_SLIT, UNKNOWN_SLIT = 1, 2, 3, 0


def _nint(x: float) -> int:
    return int(x + 0.5) if x >= 0.0 else int(x - 0.5)


def _atof(text: str) -> float:
    """C's ``atof``: the longest leading number, 0 when there is none."""
    import re

    m = re.match(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text)
    return float(m.group(0)) if m else 0.0


def which_slit(aperture: str, dispaxis: int = 1) -> int:
    """``WhichSlit``: long, medium or short slit from the length in the aperture name."""
    if dispaxis == 1:
        length = _atof(aperture)
    else:
        k = aperture.upper().find("X")
        if k < 0:
            return UNKNOWN_SLIT
        length = _atof(aperture[k + 1 :])
    if length == 0.0:
        return UNKNOWN_SLIT
    if length < MEDIUM_SHORT:
        return SHORT_ECHELLE_SLIT
    if length < MEDIUM_LONG:
        return MEDIUM_ECHELLE_SLIT
    return LONG_SLIT


def slit_profile(sci, dq, sdqflags: int, sp_cols, sp_rows, wl_rows) -> tuple[np.ndarray, np.ndarray]:
    """``SpatialShift`` for rectified data: the per-row average weighted by the median-subtracted
    spectrum (columns `sp_cols`, spectrum from rows `wl_rows`), and its flags."""
    ny, nx = sci.shape
    i0, i1 = sp_cols
    j0, j1 = sp_rows
    sdq = np.uint16(sdqflags & 0xFFFF)
    # spectrum: column means over the wavelength rows (rows added in order)
    w = np.zeros(nx, F64)
    good_w = (dq[wl_rows[0] : wl_rows[1] + 1, i0 : i1 + 1] & sdq) == 0
    acc = column_sums(np.where(good_w, sci[wl_rows[0] : wl_rows[1] + 1, i0 : i1 + 1].astype(F64), 0.0))
    ng = good_w.sum(axis=0)
    w[i0 : i1 + 1] = np.where(ng > 0, acc / np.maximum(ng, 1), acc)
    median = median_double(w)
    w = np.where(w < median, 0.0, w - median)
    v = np.zeros(ny, F64)
    qv = np.zeros(ny, np.int16)
    block = sci[j0 : j1 + 1, i0 : i1 + 1].astype(F64)
    good = (dq[j0 : j1 + 1, i0 : i1 + 1] & sdq) == 0
    wi = w[i0 : i1 + 1]
    prod = np.where(good, block * wi[None, :], 0.0)
    wts = np.where(good, wi[None, :], 0.0)
    sv = np.add.accumulate(prod, axis=1)[:, -1]  # columns in order, as the C loop
    sw = np.add.accumulate(wts, axis=1)[:, -1]
    v[j0 : j1 + 1] = np.where(sw > 0.0, sv / np.where(sw > 0.0, sw, 1.0), sv)
    qv[j0 : j1 + 1] = np.where(sw > 0.0, 0, np.int16(sdqflags))
    qv[:j0] = np.int16(sdqflags)
    qv[j1 + 1 :] = np.int16(sdqflags)
    return v, qv


def _qmedian(v: np.ndarray, q: np.ndarray) -> float | None:
    vals = v[q == 0]
    if vals.size < 1:
        return None
    if vals.size == 1:
        return float(vals[0])
    s = np.sort(vals)
    i = s.size // 2
    return float((s[i - 1] + s[i]) / 2.0) if s.size == 2 * i else float(s[i])


def _median_sections(v, q, first_good: int, last_good: int, nparts: int):
    nvals = (last_good - first_good + 1) // nparts
    if nvals * nparts < last_good - first_good + 1:
        nvals += 1
    xmed, med = [], []
    start = first_good
    for _ in range(nparts):
        if start >= last_good:
            break
        n = nvals if start + nvals - 1 <= last_good else last_good - start + 1
        y = _qmedian(v[start : start + n], q[start : start + n])
        if y is not None:
            med.append(y)
            xmed.append(start + float(n - 1) / 2.0)
        start += n
    return np.array(xmed, F64), np.array(med, F64)


def spline(xa: np.ndarray, ya: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``splint_nr``: natural cubic spline through (xa, ya) evaluated at x (Numerical Recipes order)."""
    n = xa.size
    y2 = np.zeros(n, F64)
    u = np.zeros(n, F64)
    for i in range(1, n - 1):
        sig = (xa[i] - xa[i - 1]) / (xa[i + 1] - xa[i - 1])
        p = sig * y2[i - 1] + 2.0
        y2[i] = (sig - 1.0) / p
        u[i] = (
            6.0
            * ((ya[i + 1] - ya[i]) / (xa[i + 1] - xa[i]) - (ya[i] - ya[i - 1]) / (xa[i] - xa[i - 1]))
            / (xa[i + 1] - xa[i - 1])
            - sig * u[i - 1]
        ) / p
    for i in range(n - 2, -1, -1):
        y2[i] = y2[i] * y2[i + 1] + u[i]
    khi = np.clip(np.searchsorted(xa, x, side="right"), 1, n - 1)  # xa[klo] <= x < xa[khi]
    klo = khi - 1
    h = xa[khi] - xa[klo]
    a = (xa[khi] - x) / h
    b = (x - xa[klo]) / h
    return a * ya[klo] + b * ya[khi] + ((a * a * a - a) * y2[klo] + (b * b * b - b) * y2[khi]) * h * h / 6.0


def invert_slit(v: np.ndarray, qv: np.ndarray) -> np.ndarray | None:
    """``InvertSlit``: 1 − v / smooth(v) where v is good and the smooth fit positive (else 0)."""
    nv = v.size
    qtemp = np.where(qv == 0, 0, 1).astype(np.int16)
    good = np.flatnonzero(qv == 0)
    if good.size == 0:
        return None
    first, last = int(good[0]), int(good[-1])
    x = np.arange(nv, dtype=F64)
    xmed, med = _median_sections(v, qv, first, last, NPARTS1)
    sm = spline(xmed, med, x)
    mad = _qmedian(np.abs(v - sm), qv)
    if mad is None:
        return None
    qtemp[np.abs(v - sm) > MAX_MAD * mad] = 1
    xmed, med = _median_sections(v, qtemp, first, last, NPARTS2)
    gmed = _qmedian(v, qtemp)
    if gmed is None:
        return None
    med_ok = _check_medians(med, gmed)
    sm = spline(xmed, med_ok, x)
    ok = (qv == 0) & (sm > 0.0)
    return np.where(ok, (sm - v) / np.where(ok, sm, 1.0), 0.0)


def _check_medians(med: np.ndarray, global_median: float) -> np.ndarray:
    out = med.copy()
    nmed = med.size
    prev, first = med[nmed // 2], True
    for i in range(nmed // 2, nmed):
        if med[i] <= 0.0:
            out[i] = global_median if first else prev
        prev, first = out[i], False
    first = True
    for i in range(nmed // 2 - 1, -1, -1):
        if med[i] <= 0.0:
            out[i] = global_median if first else prev
        prev, first = out[i], False
    return out


def template_bar(pbarlocn: float, pbarwidth: float, nv: int) -> np.ndarray:
    """``MakeTemplateBar``: one where the bar covers a pixel, the covered fraction at its edges."""
    lower = pbarlocn - pbarwidth / 2.0
    upper = pbarlocn + pbarwidth / 2.0
    il, iu = _nint(lower), _nint(upper)
    t = np.zeros(nv, F64)
    if iu > 0 and il < nv - 1:
        lo = 0 if il < 0 else il + 1
        hi = nv - 1 if iu >= nv else iu - 1
        if hi >= lo:
            t[lo : hi + 1] = 1.0
    t[max(iu + 1, 0) :] = 0.0
    if 0 <= il < nv:
        t[il] = 0.5 - lower + il
    if 0 <= iu < nv:
        t[iu] = upper + 0.5 - iu
    return t


def xcorr(inv: np.ndarray, template: np.ndarray, nrange: int) -> np.ndarray:
    """``XCorr``: the template shifted by −half…+half against the inverted slit (no wrap-around);
    an even range leaves the last element unset in HSTCAL (zero here)."""
    nv = inv.size
    half = (nrange - 1) // 2
    xc = np.zeros(nrange, F64)

    def s(a):
        return float(np.add.accumulate(a)[-1]) if a.size else 0.0

    xc[half] = s(inv * template)
    for j in range(1, half + 1):
        xc[half - j] = s(inv[: nv - j] * template[j:])
        xc[half + j] = s(inv[j:] * template[: nv - j])
    return xc


def centroid(xc: np.ndarray, pbarwidth: float) -> tuple[float, float]:
    """``Centroid``: (shift, weight) of one bar; weight 0 when it was not found."""
    nrange = xc.size
    middle = nrange // 2
    imax = int(np.argmax(xc))
    maxval = float(xc[imax])
    weight = maxval / pbarwidth
    if imax == 0 or imax == nrange - 1:
        log.warning("Peak of cross correlation is at end of search range.")
        return 0.0, 0.0
    if weight < MIN_BARWEIGHT or weight > MAX_BARWEIGHT:
        log.warning(
            "Peak of cross correlation is %.6g of the expected value, which is outside the allowed range %.6g to %.6g",
            weight,
            MIN_BARWEIGHT,
            MAX_BARWEIGHT,
        )
        return 0.0, 0.0
    minval = maxval * CENTROID_CUTOFF
    cent = []
    value = maxval - 1.0
    while value > minval:
        i = imax
        found = False
        while i > 0:
            if xc[i] <= value and xc[i + 1] > value:
                found = True
                break
            i -= 1
        if not found:
            break
        x_left = float(i) + (value - xc[i]) / (xc[i + 1] - xc[i])
        found = False
        i = imax
        while i < nrange - 1:
            if xc[i] >= value and xc[i + 1] < value:
                found = True
                break
            i += 1
        if not found:
            break
        x_right = float(i) + (xc[i] - value) / (xc[i] - xc[i + 1])
        cent.append((x_left + x_right) / 2.0)
        value -= 1.0
    n = len(cent)
    if n == 0:
        return 0.0, 0.0
    if n == 1:
        log.warning("Only one point used for bar location.")
        return cent[0] - float(middle), weight
    c = np.array(cent, F64)
    med = median_double(c)
    c[np.abs(c - med) > OUTLIER_CUTOFF] = -1.0
    sumv, ssum = 0.0, 0.0
    for ci in c:
        if ci >= 0.0:
            ssum += 1.0
            sumv += ci
    if ssum > 0.0:
        return sumv / ssum - float(middle), weight
    return 0.0, 0.0


def avg_shifts(shifts, weights) -> float | None:
    """``AvgShifts``: the weighted mean of the bars found (None: none found, or too discordant)."""
    if sum(weights) < MIN_BARWEIGHT:
        return None
    found = [(i, s, w) for i, (s, w) in enumerate(zip(shifts, weights, strict=True)) if w > MIN_BARWEIGHT]
    if not found:
        return None
    smin = min(s for _, s, _ in found)
    smax = max(s for _, s, _ in found)
    wmin, minw = found[0][0], found[0][2]
    for i, _, w in found[1:]:
        if w < minw:
            wmin, minw = i, w
    if smax - smin > MAX_DIFF_WARNING:
        log.warning("Shifts of individual bars differ by %.2f", smax - smin)
    if smax - smin > MAX_DIFF_ERROR:
        return None
    if smax - smin <= MAX_DIFF_WARNING:
        wmin = -10
    sumw, sumsw, ngood = 0.0, 0.0, 0
    for i, (s, w) in enumerate(zip(shifts, weights, strict=True)):
        if i == wmin:
            log.warning("bar %d excluded due to low weight", i + 1)
            continue
        if w > MIN_BARWEIGHT:
            sumw += w
            sumsw += s * w
            ngood += 1
    return sumsw / sumw if ngood > 0 else 0.0


def find_bars(v, qv, bars, crpix: float, cdelt: float, sp_range: int) -> tuple[float | None, list]:
    """``FindBars``: the spatial shift (pixels) from the occulting bars ``[(locn, width) arcsec]``
    about `crpix` (zero-indexed) at `cdelt` degrees per pixel; also each bar's (shift, weight)."""
    scale = cdelt * ARCSEC_PER_DEGREE
    inv = invert_slit(v, qv)
    if inv is None:
        return None, []
    per_bar = []
    for locn, width in bars:
        plocn, pwidth = crpix + locn / scale, width / scale
        if pwidth > 0.0:
            xc = xcorr(inv, template_bar(plocn, pwidth, v.size), sp_range)
            per_bar.append(centroid(xc, pwidth))
        else:
            per_bar.append((0.0, 0.0))
    for k, (s, w) in enumerate(per_bar):
        if w == 0.0:
            log.warning("Bar %d could not be found.", k + 1)
        else:
            log.info("shift of bar %d is %.3f, weight = %.5g", k + 1, s, w)
    return avg_shifts([s for s, _ in per_bar], [w for _, w in per_bar]), per_bar


def xc_echelle(v, qv, length: float, crpix: float, cdelt: float, sp_range: int, sdqflags: int) -> float | None:
    """``XCEchelle``: the shift of a short slit (`length` arcsec) from the cross correlation of the
    slit profile with a box of that length centred on `crpix` (None: off the image or no peak)."""
    nv = v.size
    length = length / (cdelt * ARCSEC_PER_DEGREE)
    nrange = xc_range(sp_range, nv)
    low, high = crpix - length / 2.0, crpix + length / 2.0
    ilow, ihigh = _nint(low), _nint(high)
    if ilow < 0 or ilow >= nv or ihigh < 0 or ihigh >= nv:
        return None
    tslit = np.zeros(nv, F64)
    tslit[ilow + 1 : ihigh] = 1.0
    tslit[ilow] = low + 0.5 - float(ilow)
    tslit[ihigh] = float(ihigh) - (high - 0.5)
    return xc_peak(v, qv, tslit, nrange, sdqflags)


LOW_TO_HIGH, HIGH_TO_LOW = 1, -1


def find_edge(v, qv, maxmin: int, locn0: float, sp_range: int) -> float | None:
    """``FindEdge``: where the slit profile rises (`maxmin` +1) or falls (−1) near `locn0`: the
    parabolic extreme of the [−1, 0, 1] cross correlation within the good pixels around it."""
    nv = v.size
    ilocn0 = _nint(locn0)
    if ilocn0 < 0 or ilocn0 >= nv:
        log.info("Estimated location (%d) of edge is off the image.", ilocn0 + 1)
        return None
    first = int(locn0 + 0.5) - sp_range // 2
    last = first + sp_range - 1
    first, last = max(first, 0), min(last, nv - 1)
    i_min, i_max = last, first
    for i in range(ilocn0, last + 1):
        if qv[i]:
            break
        i_max = i
    for i in range(ilocn0, first - 1, -1):
        if qv[i]:
            break
        i_min = i
    if i_max - i_min < 3 + 1:
        return None
    first, last = i_min, i_max
    xc = np.zeros(nv, F64)
    i = np.arange(1, nv - 1 - 3 + 1)  # the C loop stops at nv − half − 3
    if i.size:
        xc[i] = (-v[i - 1] + 0.0 * v[i]) + v[i + 1]
    seg = xc[first : last + 1]
    ipeak = first + int(np.argmax(seg) if maxmin == LOW_TO_HIGH else np.argmin(seg))
    if ipeak <= first or ipeak >= last:
        log.warning("Edge not found, appears to be at end of range.")
        return None
    i0 = ipeak - 1
    peak = peak_quad3(xc[i0 : i0 + 3])
    if peak is None:
        return None
    return peak + float(i0) + 1.0


def find_ends(v, qv, length: float, crpix: float, cdelt: float, sp_range: int) -> float | None:
    """``FindEnds``: a medium slit's shift, the mean of its two ends' offsets from where a slit of
    `length` arcsec centred on `crpix` would put them (None: neither found, or they disagree)."""
    scale = cdelt * ARCSEC_PER_DEGREE
    slit_end = crpix - length / scale / 2.0
    shifts = []
    for maxmin, locn0 in ((LOW_TO_HIGH, slit_end), (HIGH_TO_LOW, slit_end + length / scale)):
        locn = find_edge(v, qv, maxmin, locn0, sp_range)
        if locn is not None:
            shifts.append(locn - locn0)
    if not shifts:
        return None
    if len(shifts) == 2:
        spread = max(shifts) - min(shifts)
        if spread > MAX_DIFF_WARNING:
            log.warning("Shifts of lower and upper edges differ by %.2f", spread)
        if spread > MAX_DIFF_ERROR:
            return None
    total = 0.0
    for sh in shifts:
        total += sh
    return total / float(len(shifts))
