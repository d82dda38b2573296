"""calstis4 for echelle wavecals (HSTCAL ``cs4/echshift.c``, ``maketemplate.c``, ``xc4.c``,
``getdisp4.c``, ``getangle4.c``, ``getinang4.c``, ``gettrace4.c``, ``newtrace4.c``, ``lib/evaldisp.c``):
both shifts at once from a 2-D cross correlation of the (unrectified) wavecal with a template
image of the lamp spectrum drawn along every order's trace.

Pure steps: :func:`eval_inv_disp` (with the echelle wavelength search), :func:`esum_spec` (the
template integrated over image pixels through the dispersion relation), :func:`make_template`
(``MakeTemplate``/``AddTrace``), :func:`xc_wavecal` and :func:`find_offset` (``XCWavecal``,
``FindOffset``) over :mod:`.fftpack`, and :func:`ech_shift` (``EchShift``: twice, the second time
with the dispersion corrected by A4CORR for the spatial shift). The thin layer
:func:`calstis4_echelle` reads the tables and writes SHIFTA1/SHIFTA2 and the history as calstis4.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..common.errors import EngineError
from ..common.hstio import Exposure
from ..common.kernels import load
from ..common.keywords import hdr_double
from ..common.refs import column, is_given
from . import fftpack, waveshift
from .calstis1 import Refs
from .calstis4 import UNDEFINED_SHIFT, read_lamp, read_wcp, tab_history

log = logging.getLogger(__name__)

F32, F64 = np.float32, np.float64
TOLERANCE = 1.0e-6  # maketemplate.c, for inverting the dispersion relation
TOO_FAR, WL_STEP, MAX_ITER = 1024.0, 100.0, 100  # evaldisp.c
KERNELS = "caldp.engines.stis._kernels"
MIDDLE_LINE = 512.0  # getdisp4.c
MAX_DISP_COEFF = 10


@dataclass(slots=True)
class Disp:
    """DISPTAB row (``DispRelation``): coefficients (as adjusted), those saved, reference order."""

    coeff: np.ndarray
    ncoeff: int
    mref: int = 0
    yref: float = 0.0
    a4corr: float = 0.0
    ref_aper: str = ""
    coeff_save: np.ndarray = field(default_factory=lambda: np.zeros(MAX_DISP_COEFF))


@dataclass(slots=True)
class Trace:
    """SPTRCTAB row (zero-indexed A1CENTER/A2CENTER, A2DISPL as rotated)."""

    sporder: int
    a1center: float
    a2center: float
    a2displ: np.ndarray


def nint(x: float) -> int:
    """calstis's ``NINT``."""
    return int(x + 0.5) if x >= 0.0 else -int(-(x - 0.5))


# ----------------------------------------------------------------------------- dispersion


def eval_disp(c, ncoeff: int, m: float, wl: float) -> float:
    """``evalDisp``: zero-indexed reference pixel of `wl` in order `m`."""
    if ncoeff == 1:
        x = c[0]
    elif 2 <= ncoeff <= 9:
        terms = (
            c[1] * m * wl,
            c[2] * m * m * wl * wl,
            c[3] * m,
            c[4] * wl,
            c[5] * m * m * wl,
            c[6] * m * wl * wl,
            c[7] * m * m * m * wl * wl * wl,
            c[8] * m * m,
        )
        x = c[0]
        for t in terms[: ncoeff - 1]:
            x = x + t
    else:
        x = -1000000.0
    return x - 1.0


def eval_deriv_disp(c, ncoeff: int, m: float, wl: float) -> float:
    """``evalDerivDisp``: d(pixel)/d(wavelength)."""
    if ncoeff == 1:
        return 0.0
    if not 2 <= ncoeff <= 9:
        return 1000000.0
    return _deriv_terms(c, ncoeff, m, wl)


def _deriv_terms(c, ncoeff: int, m, wl):
    """``evalDerivDisp``'s sum for 2 ≤ NCOEFF ≤ 9, for scalars or arrays (the same float64 operations)."""
    d = c[1] * m
    if ncoeff >= 3:
        d = d + c[2] * 2.0 * m * m * wl
    if ncoeff >= 5:
        d = d + c[4]
    if ncoeff >= 6:
        d = d + c[5] * m * m
    if ncoeff >= 7:
        d = d + c[6] * 2.0 * m * wl
    if ncoeff >= 8:
        d = d + c[7] * 3.0 * m * m * m * wl * wl
    return d


def eval_inv_disp(c, ncoeff: int, m: float, pixel: float, wl_estimate: float, tolerance: float) -> tuple[float, int]:
    """``evalInvDisp``: the wavelength of zero-indexed reference `pixel` in order `m`; for echelle
    orders a coarse-to-fine search over 1123–3170 Å first when the estimate is more than 1024 pixels
    off (or the slope is not positive), then Newton steps. Returns (wavelength, status). The C kernel
    (``_kernels.eval_inv_disp``, the same float64 operations) when built, else :func:`eval_inv_disp_py`
    (the reference); ``Wave`` calls it once per column of every order."""
    k = load(KERNELS)
    if k is None or len(c) < 9:  # evalDisp's terms read nine coefficients
        return eval_inv_disp_py(c, ncoeff, m, pixel, wl_estimate, tolerance)
    wl, status, warn = k.eval_inv_disp(c, ncoeff, m, pixel, wl_estimate, tolerance, TOO_FAR, WL_STEP, MAX_ITER)
    if warn:
        log.warning("(evalInvDisp) slope of dispersion relation is negative")
    return wl, status


def eval_inv_disp_py(c, ncoeff: int, m: float, pixel: float, wl_estimate: float, tolerance: float) -> tuple[float, int]:
    """:func:`eval_inv_disp` in Python (the C kernel's reference)."""
    if ncoeff < 1 or ncoeff > 9:
        return -1.0, 1
    wl_test = wl_estimate
    x_test = eval_disp(c, ncoeff, m, wl_test)
    save_x_test = x_test
    slope = eval_deriv_disp(c, ncoeff, m, wl_test)
    x_diff = abs(x_test - pixel)
    wl_min = wl_test
    if slope <= 0.0 and m < 1.5:
        log.warning("(evalInvDisp) slope of dispersion relation is negative")
    if (slope <= 0.0 or x_diff > TOO_FAR) and m > 1.5:
        wl_low, wl_high, wl_step = 1123.0, 3170.0, WL_STEP
        min_x_diff = 1024.0 * 100 if slope <= 0.0 else x_diff
        wl_min = wl_estimate
        for _ in range(2):
            wl_test = wl_low
            while wl_test <= wl_high:
                if eval_deriv_disp(c, ncoeff, m, wl_test) > 0.0:
                    x_test = eval_disp(c, ncoeff, m, wl_test)
                    x_diff = abs(x_test - pixel)
                    if x_diff < min_x_diff:
                        min_x_diff, save_x_test, wl_min = x_diff, x_test, wl_test
                wl_test += wl_step
            wl_low, wl_high = wl_min - wl_step, wl_min + wl_step
            wl_step /= 10.0
    niter = 0
    x_test, wl_test, last = save_x_test, wl_min, wl_min
    while True:
        slope = eval_deriv_disp(c, ncoeff, m, wl_test)
        if slope == 0.0:
            return wl_test, 3
        wl_test = wl_test + (pixel - x_test) / slope
        if abs(wl_test - last) < tolerance:
            return wl_test, 0
        if niter > MAX_ITER:
            return wl_test, 2
        last = wl_test
        x_test = eval_disp(c, ncoeff, m, wl_test)
        niter += 1


def _disp_terms(c, ncoeff: int, m, wl):
    """evalDisp's terms after c[0], in its order (arrays or scalars)."""
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
    return [t() for t in terms[: ncoeff - 1]]


def _eval_disp_v(c, ncoeff: int, m: np.ndarray, wl: np.ndarray) -> np.ndarray:
    x = np.full(wl.shape, c[0])
    for t in _disp_terms(c, ncoeff, m, wl):
        x = x + t
    return x - 1.0


def _deriv_v(c, ncoeff: int, m: np.ndarray, wl: np.ndarray) -> np.ndarray:
    return _deriv_terms(c, ncoeff, m, wl) * np.ones_like(wl)


def edge_wavelengths(disp: Disp, orders, ltm: float, ltv: float, cenwave: int, nwl: int) -> np.ndarray:
    """``ESumSpec``'s ``PixToWl`` chain for several orders: the wavelengths of image pixel edges
    −0.5 … nwl − 0.5 (rows: orders), each edge's evalInvDisp started from the previous edge's
    wavelength (the first from CENWAVE). The C kernel (``_kernels.wave_row``, order by order) when built,
    else :func:`edge_wavelengths_numpy` (the orders side by side, the reference)."""
    k = load(KERNELS)
    c, n = disp.coeff, disp.ncoeff
    if k is None or len(c) < 9 or not 2 <= n <= 9:
        return edge_wavelengths_numpy(disp, orders, ltm, ltv, cenwave, nwl)
    c9 = np.array([float(v) for v in c[:9]], F64)
    out = np.empty((len(orders), nwl + 1))
    status = np.empty(nwl + 1, np.int32)
    warn = np.empty(nwl + 1, np.int32)
    for r, m in enumerate(orders):
        row = np.empty(nwl + 1)
        k.wave_row(c9, n, float(m), nwl + 1, float(ltv), float(ltm), float(cenwave), TOLERANCE, TOO_FAR, WL_STEP,
                   MAX_ITER, 1.0, False, row, status, warn, -0.5, True)  # fmt: skip
        for i in np.flatnonzero((status != 0) | (warn != 0)).tolist():
            if warn[i]:
                log.warning("(evalInvDisp) slope of dispersion relation is negative")
            if status[i] != 0:
                log.warning("PixToWl status = %d from evalInvDisp", int(status[i]))
        out[r] = row
    return out


def edge_wavelengths_numpy(disp: Disp, orders, ltm: float, ltv: float, cenwave: int, nwl: int) -> np.ndarray:
    """:func:`edge_wavelengths` for the orders side by side, element by element the operations of
    :func:`eval_inv_disp` (an element that would search or fail is done by it)."""
    m = np.asarray(orders, F64)
    c, n = disp.coeff, disp.ncoeff
    out = np.empty((m.size, nwl + 1))
    if not 2 <= n <= 9:
        raise EngineError(f"NCOEFF = {n} is not supported for echelle wavecals", keyword="DISPTAB")

    def scalar(k: int, pixel: float, estimate: float) -> float:
        wl, status = eval_inv_disp(c, n, float(m[k]), pixel, estimate, TOLERANCE)
        if status != 0:
            log.warning("PixToWl status = %d from evalInvDisp", status)
        return wl

    for k in range(m.size):
        out[k, 0] = scalar(k, (-0.5 - ltv) / ltm, float(cenwave))
    for i in range(nwl):
        pixel = (i + 0.5 - ltv) / ltm
        est = out[:, i]
        x = _eval_disp_v(c, n, m, est)
        slope = _deriv_v(c, n, m, est)
        odd = ((slope <= 0.0) | (np.abs(x - pixel) > TOO_FAR)) & (m > 1.5)
        wl, last = est.copy(), est.copy()
        res = np.empty(m.size)
        active = np.flatnonzero(~odd)
        for k in np.flatnonzero(odd):
            res[k] = scalar(int(k), pixel, float(est[k]))
        niter = 0
        while active.size:
            sl = _deriv_v(c, n, m[active], wl[active])
            if (sl == 0.0).any() or niter > MAX_ITER:  # rare: element by element
                for k in active:
                    res[k] = scalar(int(k), pixel, float(est[k]))
                break
            wl[active] = wl[active] + (pixel - x[active]) / sl
            done = np.abs(wl[active] - last[active]) < TOLERANCE
            res[active[done]] = wl[active[done]]
            active = active[~done]
            last[active] = wl[active]
            x[active] = _eval_disp_v(c, n, m[active], wl[active])
            niter += 1
        out[:, i + 1] = res
    return out


def esum_spec(edges, flux, wl_edges: np.ndarray, nwl: int) -> np.ndarray:
    """``ESumSpec``: the template (pixel `edges`, `flux`) integrated over each of `nwl` image pixels
    whose edges are at wavelengths `wl_edges` (nwl + 1, :func:`edge_wavelengths`)."""
    return waveshift.sum_between(edges, flux, wl_edges, nwl)


def a4corr_adjust(disp: Disp, traces: list[Trace], shifta2: float, ltm2: float, cenwave: int) -> None:
    """``A4corrAdjustDisp``: coefficients 0 and 4 corrected for the order's offset from YREF."""
    if disp.a4corr == 0.0:
        return
    a2 = None
    for t in traces:
        if t.sporder == disp.mref:
            a2 = t.a2center
    if a2 is None:
        log.warning("Order %d not found in list of spectral traces; no A4CORR correction will be applied.", disp.mref)
        return
    ydiff = shifta2 / ltm2 + a2 - disp.yref
    disp.coeff[0] = disp.coeff_save[0] - ydiff * cenwave * disp.a4corr
    disp.coeff[4] = disp.coeff_save[4] + ydiff * disp.a4corr


# ----------------------------------------------------------------------------- template and correlation


def slit_size(aper_fov: str, cdelt2: float) -> tuple[float, float]:
    """``ReadWidth``: (width, height) of the aperture in image pixels from APER_FOV ("<h>x<w>",
    arcsec) and CD2_2; (1, 1) when it cannot be read."""
    num = r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
    m1 = re.match(num, aper_fov)
    ywidth = float(m1.group()) if m1 else 0.0
    if ywidth == 0.0:
        log.warning("Can't interpret APER_FOV = `%s'", aper_fov)
        return 1.0, 1.0
    m2 = re.match(num, aper_fov[m1.end() + 1 :])
    xwidth = float(m2.group()) if m2 else 0.0
    if xwidth == 0.0:
        log.warning("Can't interpret APER_FOV = `%s'", aper_fov)
        return 1.0, 1.0
    return xwidth / (3600.0 * cdelt2), ywidth / (3600.0 * cdelt2)


def make_template(shape, traces: list[Trace], edges, flux, disp: Disp, slitwidth, ltm, ltv, cenwave: int) -> np.ndarray:
    """``MakeTemplate``: the lamp template of every order (in the list's order), convolved with the
    slit width, added (float += double) over the slit height along the trace."""
    ny, nx = shape
    clamp = np.zeros(shape, F32)
    cols = np.arange(nx)
    x_ref = (cols - ltv[0]) / ltm[0]
    ix_ref = np.where(x_ref >= 0.0, (x_ref + 0.5).astype(np.int64), -((-(x_ref - 0.5)).astype(np.int64)))
    rows = np.arange(ny)[:, None]
    on = []
    for t in traces:
        i = int(t.a1center / 2)
        y_ref = t.a2displ[i] + t.a2center
        j = math.trunc(ltm[1] * y_ref + ltv[1])
        if 0 <= j < ny:  # the middle of the trace on the image
            on.append(t)
    wls = edge_wavelengths(disp, [t.sporder for t in on], ltm[0], ltv[0], cenwave, nx) if on else None
    for k, t in enumerate(on):
        tspec = esum_spec(edges, flux, wls[k], nx)
        tspec = waveshift.conv_slit(slitwidth[0], tspec)
        ok = (ix_ref >= 0) & (ix_ref < t.a2displ.size)
        y_im = ltm[1] * (t.a2center + t.a2displ[np.clip(ix_ref, 0, t.a2displ.size - 1)]) + ltv[1]
        lo, hi = y_im - slitwidth[1] / 2.0, y_im + slitwidth[1] / 2.0
        y_low = np.where(lo >= 0.0, (lo + 0.5).astype(np.int64), -((-(lo - 0.5)).astype(np.int64)))
        y_high = np.where(hi >= 0.0, (hi + 0.5).astype(np.int64), -((-(hi - 0.5)).astype(np.int64)))
        ok &= (y_high >= 0) & (y_low < ny)
        y_low, y_high = np.maximum(y_low, 0), np.minimum(y_high, ny - 1)
        if not ok.any():
            continue
        # only the band of rows the slit covers in some column can change (the rest of the image
        # would be masked out): the same pixels, in the same order, as masking the whole image
        r0, r1 = int(y_low[ok].min()), int(y_high[ok].max()) + 1
        band = rows[r0:r1]
        mask = ok[None, :] & (band >= y_low[None, :]) & (band <= y_high[None, :])
        add = np.broadcast_to(tspec[None, :], mask.shape)[mask]
        view = clamp[r0:r1]
        view[mask] = (view[mask].astype(F64) + add).astype(F32)
    return clamp


def find_offset(z: np.ndarray, lmaxx: int, lmaxy: int) -> tuple[float, float]:
    """``FindOffset``: centroid of the cross-correlation peak above a third of the way from the
    background (the central quarter's mean) to the peak, in a box reaching where the peak falls
    below that along x and y (periodic); (0, 0) when the peak is too broad."""
    ny, nx = z.shape
    too_far = nx // 2
    j1, j2 = ny // 2 - ny // 8, ny // 2 + ny // 8
    i1, i2 = nx // 2 - nx // 8, nx // 2 + nx // 8
    block = z[j1:j2, i1:i2].astype(F64).ravel()
    sumv = float(np.add.accumulate(block)[-1]) if block.size else 0.0
    bkg = F32(sumv / ((j2 - j1) * (i2 - i1)))
    peak = z[lmaxy, lmaxx]
    cutoff = F32(float(bkg) + float(F32(peak - bkg)) / 3.0)
    xdir = 1 if lmaxx < nx // 2 else -1
    i = lmaxx
    while True:
        if xdir * (i - lmaxx) > too_far or i < 0 or i >= nx:
            log.warning("peak in cross correlation is too broad")
            return 0.0, 0.0
        if z[lmaxy, i] < cutoff:
            xrange_ = xdir * (i - lmaxx)
            break
        i += xdir
    ydir = 1 if lmaxy < ny // 2 else -1
    j = lmaxy
    while True:
        if ydir * (j - lmaxy) > too_far or j < 0 or j >= ny:
            log.warning("peak in cross correlation is too broad")
            return 0.0, 0.0
        if z[j, lmaxx] < cutoff:
            yrange_ = ydir * (j - lmaxy)
            break
        j += ydir
    jj = np.arange(lmaxy - yrange_, lmaxy + yrange_ + 1)
    ii = np.arange(lmaxx - xrange_, lmaxx + xrange_ + 1)
    box = z[np.mod(jj, ny)[:, None], np.mod(ii, nx)[None, :]]
    sel = box > cutoff
    dx = np.broadcast_to((ii - lmaxx).astype(F32)[None, :], box.shape)
    dy = np.broadcast_to((jj - lmaxy).astype(F32)[:, None], box.shape)
    v = box[sel].astype(F64)  # row-major order, as the loops
    if v.size == 0:
        return 0.0, 0.0
    sumv = float(np.add.accumulate(v)[-1])
    sumxv = float(np.add.accumulate((dx[sel] * box[sel]).astype(F64))[-1])
    sumyv = float(np.add.accumulate((dy[sel] * box[sel]).astype(F64))[-1])
    if sumv == 0.0:
        return 0.0, 0.0
    return sumxv / sumv, sumyv / sumv


def xc_wavecal(clamp_ft, cwave_ft) -> tuple[float, float]:
    """``XCWavecal``: conj(template) × data, inverse transform, the first maximum and its centroid;
    returns (shiftx, shifty) from the template to the data (wrapped to ±half the size)."""
    cr, ci = clamp_ft
    wr, wi = cwave_ft
    xr = cr * wr + ci * wi
    xi = cr * wi - ci * wr
    zr, _ = fftpack.ifft2d(xr, xi)
    ny, nx = zr.shape
    k = int(np.argmax(zr))
    lmaxy, lmaxx = divmod(k, nx)
    offx, offy = find_offset(zr, lmaxx, lmaxy)
    sx = lmaxx + offx if lmaxx < nx // 2 else lmaxx - nx + offx
    sy = lmaxy + offy if lmaxy < ny // 2 else lmaxy - ny + offy
    return sx, sy


def ech_shift(
    sci: np.ndarray,
    cols: tuple[int, int],
    rows: tuple[int, int],
    traces: list[Trace],
    edges,
    flux,
    disp: Disp,
    slitwidth,
    ltm,
    ltv,
    cenwave: int,
) -> tuple[float, float]:
    """``EchShift``: (shiftx, shifty) in image pixels of the wavecal section `cols` × `rows`
    (inclusive, zero-indexed; the rest of the image zero) against the template; found twice, the
    second time after A4CORR (identical when A4CORR is zero, so then once)."""
    ny, nx = sci.shape
    data = np.zeros((ny, nx), F32)
    data[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1] = sci[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1]
    cwave = fftpack.fft2d(data, np.zeros_like(data))
    disp.coeff[:] = disp.coeff_save
    passes = 2 if disp.a4corr != 0.0 else 1
    sx = sy = 0.0
    for k in range(passes):
        clamp = make_template((ny, nx), traces, edges, flux, disp, slitwidth, ltm, ltv, cenwave)
        sx, sy = xc_wavecal(fftpack.fft2d(clamp, np.zeros_like(clamp)), cwave)
        if k == 0:
            a4corr_adjust(disp, traces, sy, ltm[1], cenwave)
    return sx, sy


# ----------------------------------------------------------------------------- tables and headers


def _same(rowvalue, value) -> bool:
    r = str(rowvalue).strip()
    return r == "ANY" or r == str(value).strip()


def read_disp(refs: Refs, opt_elem: str, cenwave: int, seen: dict) -> Disp:
    """``GetDisp4``: the OPT_ELEM/CENWAVE row with A2CENTER closest to 512 (the first of equals)."""
    data, _, _ = refs.table("DISPTAB")
    best, best_diff = -1, 2.0 * MIDDLE_LINE
    for i in range(len(data)):
        if _same(data["OPT_ELEM"][i], opt_elem) and int(data["CENWAVE"][i]) == cenwave:
            d = abs(float(data["A2CENTER"][i]) - MIDDLE_LINE)
            if d < best_diff:
                best, best_diff = i, d
    if best < 0:
        raise EngineError(
            f"matching row not found (OPT_ELEM {opt_elem}, CENWAVE {cenwave})",
            file=refs.primary.get("DISPTAB"),
            keyword="DISPTAB",
        )
    seen["DISPTAB"] = (data, best)
    r = data[best]
    n = int(r["NCOEFF"])
    if n > MAX_DISP_COEFF:
        raise EngineError("too many dispersion coefficients", file=refs.primary.get("DISPTAB"), keyword="DISPTAB")
    coeff = np.zeros(MAX_DISP_COEFF)
    coeff[:n] = np.asarray(r["COEFF"], F64).ravel()[:n]
    names = data.names
    return Disp(
        coeff,
        n,
        int(r["MREF"]) if "MREF" in names else 0,
        float(r["YREF"]) if "YREF" in names else 0.0,
        float(r["A4CORR"]) if "A4CORR" in names else 0.0,
        str(r["REF_APER"]).strip(),
    )


def read_angle(refs: Refs, aperture: str, ref_aper: str, seen: dict) -> float:
    """``GetAngle4``: OFFSET1 of the aperture minus that of the reference aperture (APDESTAB)."""
    data, _, _ = refs.table("APDESTAB")
    ap = ref = None
    for i in range(len(data)):
        if _same(data["APERTURE"][i], aperture):
            ap = float(data["OFFSET1"][i])
            seen["APDESTAB"] = (data, i)
        if _same(data["APERTURE"][i], ref_aper):
            ref = float(data["OFFSET1"][i])
        if ap is not None and ref is not None:
            break
    if ap is None or ref is None:
        missing = aperture if ap is None else ref_aper
        raise EngineError(f"APERTURE {missing} not found", file=refs.primary.get("APDESTAB"), keyword="APDESTAB")
    return ap - ref


def apply_inang(refs: Refs, disp: Disp, opt_elem: str, cenwave: int, angle: float, seen: dict) -> None:
    """``GetInang4``/``AdjustDisp``: the incidence-angle terms added to the coefficients in place."""
    data, _, _ = refs.table("INANGTAB")
    for i in range(len(data)):
        if _same(data["OPT_ELEM"][i], opt_elem) and int(data["CENWAVE"][i]) == cenwave:
            seen["INANGTAB"] = (data, i)
            n1, n2 = int(data["NCOEFF1"][i]), int(data["NCOEFF2"][i])
            c1 = np.asarray(data["COEFF1"][i], F64).ravel()
            c2 = np.asarray(data["COEFF2"][i], F64).ravel()
            if disp.ncoeff < n1:
                log.warning("%d dispersion coefficients, but %d incidence-angle coeff.", disp.ncoeff, n1)
            for k in range(min(disp.ncoeff, n1)):
                disp.coeff[k] += c1[k] * angle
            if n2 > 0:
                disp.coeff[0] += c2[0] * angle
            if n2 > 1:
                disp.coeff[0] += c2[1] * angle * angle
            if n2 > 2:
                log.warning("%d incidence-angle second coefficents, limit is 2;", n2)
            return
    raise EngineError(
        f"matching row not found (OPT_ELEM {opt_elem}, CENWAVE {cenwave})",
        file=refs.primary.get("INANGTAB"),
        keyword="INANGTAB",
    )


def read_traces(refs: Refs, opt_elem: str, cenwave: int, expstart: float, seen: dict) -> list[Trace]:
    """``GetTrace4``: every OPT_ELEM/CENWAVE row (DUMMY pedigree skipped), rotated by DEGPERYR since
    MJD, in ``NewTrace4``'s order (A2CENTER ascending, a later row before an equal earlier one)."""
    data, _, _ = refs.table("SPTRCTAB")
    ped = column(data, "PEDIGREE")
    rot = column(data, "MJD") is not None
    out: list[tuple[float, int, Trace]] = []
    for i in range(len(data)):
        if not (_same(data["OPT_ELEM"][i], opt_elem) and int(data["CENWAVE"][i]) == cenwave):
            continue
        seen["SPTRCTAB"] = (data, i)
        if ped is not None and str(ped[i]).strip().upper().startswith("DUMMY"):
            log.warning("DUMMY pedigree in row %d of %s.", i + 1, refs.primary.get("SPTRCTAB"))
            continue
        n = int(data["NELEM"][i])
        displ = np.asarray(data["A2DISPL"][i], F64).ravel()[:n].copy()
        if displ.size < n:
            raise EngineError("Not all elements were read", file=refs.primary.get("SPTRCTAB"), keyword="SPTRCTAB")
        if rot:
            angle = float(data["DEGPERYR"][i]) * (expstart - float(data["MJD"][i])) / 365.25
            temp = math.tan(angle * (math.pi / 180))
            displ = displ - (np.arange(n) - n // 2).astype(F64) * temp
        a1, a2 = float(data["A1CENTER"][i]) - 1.0, float(data["A2CENTER"][i]) - 1.0
        out.append((a2, -i, Trace(int(data["SPORDER"][i]), a1, a2, displ)))
    if not out:
        raise EngineError(
            f"No matching row found (OPT_ELEM {opt_elem}, CENWAVE {cenwave})",
            file=refs.primary.get("SPTRCTAB"),
            keyword="SPTRCTAB",
        )
    return [t for _, _, t in sorted(out, key=lambda r: (r[0], r[1]))]


def calstis4_echelle(wav: Exposure, refs: Refs) -> list[tuple[float, float]]:
    """calstis4 on an echelle wavecal (calstis1's ``_fwv_tmp``), headers updated in place as calstis4
    writes them; returns each imset's (SHIFTA1, SHIFTA2) in reference pixels (-9999 undefined)."""
    p = wav.primary
    fname = wav.filename
    for key in ("LAMPSET", "CENWAVE"):
        if key not in p:
            raise EngineError("required keyword missing", file=fname, keyword=key)
    detector = str(p.get("DETECTOR", "")).strip()
    opt_elem = str(p.get("OPT_ELEM", "")).strip()
    aperture = str(p.get("APERTURE", "")).strip()
    cenwave = int(p["CENWAVE"])
    seen: dict = {}
    wcp = read_wcp(refs, detector, opt_elem, seen)
    edges, flux = read_lamp(refs, str(p["LAMPSET"]).strip(), str(p.get("SCLAMP", "")).strip(), opt_elem, seen)
    disp = read_disp(refs, opt_elem, cenwave, seen)
    angle = read_angle(refs, aperture, disp.ref_aper, seen)
    apply_inang(refs, disp, opt_elem, cenwave, angle, seen)
    disp.coeff_save = disp.coeff.copy()
    disp.coeff_save[disp.ncoeff :] = 0.0
    aper_fov = str(p.get("APER_FOV", "")).strip()
    out = []
    for im in wav.imsets:
        h = im.sci_hdr
        ltm = (float(h.get("LTM1_1", 1.0)), float(h.get("LTM2_2", 1.0)))
        ltv = (float(h.get("LTV1", 0.0)) + ltm[0] - 1.0, float(h.get("LTV2", 0.0)) + ltm[1] - 1.0)
        scale = (1.0 / ltm[0], 1.0 / ltm[1])
        traces = read_traces(refs, opt_elem, cenwave, float(h.get("EXPSTART", 0.0)), seen)
        sx = sy = None
        if h.get("IMSET_OK", True) is not False:
            ny, nx = im.shape
            cols = waveshift.scale_one(wcp.wl_trim1, scale[0], nx)
            rows = waveshift.scale_one(wcp.wl_trim2, scale[1], ny)
            slitwidth = slit_size(aper_fov, float(h.get("CD2_2", 1.0)))
            try:
                sx, sy = ech_shift(im.sci, cols, rows, traces, edges, flux, disp, slitwidth, ltm, ltv, cenwave)
            except ValueError as exc:  # an FFT length not ported
                raise EngineError(str(exc), file=fname, keyword="NAXIS") from exc
            log.info("Shift in dispersion direction is %.3f pixels.", sx)
            log.info("Shift in spatial direction is %.3f pixels.", sy)
        else:
            log.warning("wavecal imset %d skipped (IMSET_OK = F)", im.extver)
        a1 = UNDEFINED_SHIFT if sx is None else sx * scale[0]
        a2 = UNDEFINED_SHIFT if sy is None else sy * scale[1]
        h["SHIFTA1"] = (hdr_double(a1), "MSM shift in dispersion direction")
        h["SHIFTA2"] = (hdr_double(a2), "MSM shift in spatial direction")
        out.append((hdr_double(a1), hdr_double(a2)))
    p["WAVECORR"] = "COMPLETE"
    p.add_history("WAVECORR complete ...")
    for key in ("WCPTAB", "LAMPTAB", "APDESTAB", "DISPTAB", "INANGTAB", "SPTRCTAB"):
        if key == "WCPTAB" and not is_given(p.get(key)):
            continue
        tab_history(p, refs, key, seen.get(key))
    return out
