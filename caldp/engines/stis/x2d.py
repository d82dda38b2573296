"""calstis7's 2-D rectification of first-order spectra (HSTCAL ``cs7/x2dcorr7.c`` X2DCorr7 and the
functions it calls: ``newdisp.c`` InterpDisp, ``adjustdisp.c`` AdjustDisp, ``lib/evaldisp.c``
evalDisp, ``newtrace.c`` InterpTrace, ``lib/rotatetrace.c``, ``scalewcs.c`` ScaleWCS,
``lib/interp2d.c`` Interp2D, ``datamasked.c`` DataMasked). Pure array functions in HSTCAL's
double/float operation order.

For each output line j the dispersion coefficients and the spectrum trace are interpolated at the
line's reference-pixel position (``line0``), corrected for the slit tilt, the incidence angle and
the wavecal shift (SHIFTA1); each output pixel's wavelength (divided by the heliocentric factor) is
turned into an input column by the dispersion relation and into an input line by the trace; the
input is bilinearly interpolated there (every neighbour used: cs7 sets the serious DQ flags to zero;
variance-weighted errors, Jacobian 1). Points off the input are zero with DQ 4 (DETECTORPROB).
Lines behind the occulting bars (and beyond a short slit) get DQ 8 (DATAMASKED).

The loop is over output lines (scalar coefficient work, as the C), the pixels of a line are vectors.

>>> coeff = np.zeros(10); coeff[:2] = [-1000.0, 0.5]
>>> float(eval_disp(coeff, 2, 1.0, np.array([4000.0]))[0])  # one-indexed 1000 -> zero-indexed 999
999.0
>>> nint(np.array([-1.5, -0.5, 0.5, 1.49]))
array([-2, -1,  1,  1])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..common.kernels import c_array, load

F32, F64 = np.float32, np.float64
DETECTORPROB = 4
KERNELS = "caldp.engines.stis._kernels"
DATAMASKED = 8
REF_ANGLE = 0.315  # degrees: the nominal slit angle of the dispersion relations (calstis7.h)
SIGNIFICANT_FRACTION = 0.5  # DataMasked flags beyond the slit ends only if it is this much shorter
SPEED_OF_LIGHT = 299792.458  # km/s (heliofactor.c)
ARCSEC_TO_DEGREES = 1.0 / 3600.0
MAX_DISP_COEFF = 10
CCD_NPIX = (1024, 1024)
MAMA_NPIX = (1024, 1024)


@dataclass(slots=True)
class DispRow:
    """One DISPTAB row: A2CENTER zero-indexed, COEFF zero-padded to 10."""

    a2center: float
    ncoeff: int
    coeff: np.ndarray
    ref_aper: str = ""


@dataclass(slots=True)
class TraceRow:
    """One SPTRCTAB row: A1CENTER/A2CENTER zero-indexed, A2DISPL (double) after the trace rotation."""

    a1center: float
    a2center: float
    a2displ: np.ndarray


@dataclass(slots=True)
class Coord:
    """One SDCTAB row (CoordInfo): crpix and a2center zero-indexed."""

    sporder: int
    a2center: float
    npix: tuple[int, int]
    crpix: tuple[float, float]
    crval: tuple[float, float]
    cdelt: tuple[float, float]


@dataclass(slots=True)
class Slit:
    """The APDESTAB row of the aperture (ApInfo), arcseconds."""

    width: tuple[float, float]
    ap_offset: tuple[float, float]
    angle: float = REF_ANGLE
    barlocn: tuple[float, ...] = ()
    barwidth: tuple[float, ...] = ()


@dataclass(slots=True)
class Iac:
    """INANGTAB coefficients of one order."""

    coeff1: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coeff2: np.ndarray = field(default_factory=lambda: np.zeros(0))


def nint(x):
    """HSTCAL's NINT: ``(int)(x + 0.5)`` for x ≥ 0, ``(int)(x − 0.5)`` below (C truncation)."""
    x = np.asarray(x, F64)
    return np.where(x >= 0.0, np.trunc(x + 0.5), np.trunc(x - 0.5)).astype(np.int64)


def eval_disp(coeff: np.ndarray, ncoeff: int, m: float, wl: np.ndarray) -> np.ndarray:
    """``evalDisp``: zero-indexed reference pixel of wavelength `wl` in order `m` (the table's
    coefficients are one-indexed), the terms added left to right as the C does."""
    c = [float(v) for v in coeff[:MAX_DISP_COEFF]]
    wl = np.asarray(wl, F64)
    if not 1 <= ncoeff <= 9:
        return np.full(wl.shape, -1000000.0 - 1.0)
    terms = [
        lambda: c[1] * m * wl,
        lambda: c[2] * m * m * wl * wl,
        lambda: np.full(wl.shape, c[3] * m),
        lambda: c[4] * wl,
        lambda: c[5] * m * m * wl,
        lambda: c[6] * m * wl * wl,
        lambda: c[7] * m * m * m * wl * wl * wl,
        lambda: np.full(wl.shape, c[8] * m * m),
    ]
    ix = np.full(wl.shape, c[0])
    for k in range(ncoeff - 1):
        ix = ix + terms[k]()
    return ix - 1.0


def interp_disp(rows: list[DispRow], a2center: float) -> DispRow:
    """``InterpDisp``: the dispersion relation at line `a2center` (rows sorted by A2CENTER); outside
    the rows' range the nearest row is copied, between two rows the coefficients are interpolated."""
    k = 0
    while True:
        cur = rows[k]
        nxt = rows[k + 1] if k + 1 < len(rows) else None
        if a2center <= cur.a2center or nxt is None:
            return DispRow(a2center, cur.ncoeff, cur.coeff.copy(), cur.ref_aper)
        if cur.a2center < a2center < nxt.a2center:
            p = (a2center - cur.a2center) / (nxt.a2center - cur.a2center)
            n = max(cur.ncoeff, nxt.ncoeff)
            coeff = np.zeros(MAX_DISP_COEFF)
            coeff[:n] = (1.0 - p) * cur.coeff[:n] + p * nxt.coeff[:n]
            return DispRow(a2center, n, coeff, cur.ref_aper)
        k += 1


def interp_trace(rows: list[TraceRow], a2center: float) -> np.ndarray:
    """``InterpTrace``: the spectrum trace (A2DISPL) at line `a2center`, as :func:`interp_disp`."""
    k = 0
    while True:
        cur = rows[k]
        nxt = rows[k + 1] if k + 1 < len(rows) else None
        if a2center <= cur.a2center or nxt is None:
            return cur.a2displ
        if cur.a2center < a2center < nxt.a2center:
            p = (a2center - cur.a2center) / (nxt.a2center - cur.a2center)
            n = max(cur.a2displ.size, nxt.a2displ.size)
            a = np.zeros(n)
            b = np.zeros(n)
            a[: cur.a2displ.size] = cur.a2displ
            b[: nxt.a2displ.size] = nxt.a2displ
            return (1.0 - p) * a + p * b
        k += 1


def rotate_trace(a2displ: np.ndarray, expstart: float, mjd: float, degperyr: float) -> tuple[np.ndarray, float]:
    """``rotatetrace``: the trace rotated by DEGPERYR since MJD; returns (trace, angle in degrees)."""
    angle = degperyr * (expstart - mjd) / 365.25
    temp = math.tan(angle * (3.14159265358979323846 / 180))
    n = a2displ.size
    i = np.arange(n)
    return a2displ - (i - n // 2).astype(F64) * temp, angle


def adjust_disp(disp: DispRow, delta: float, iac: Iac, msm_slop1: float) -> DispRow:
    """``AdjustDisp``: incidence-angle correction for a slit `delta` arcsec from the reference
    aperture, then the wavecal shift SHIFTA1 (`msm_slop1`, reference pixels) added to coeff[0]."""
    c = disp.coeff.copy()
    n = min(disp.ncoeff, iac.coeff1.size)
    for i in range(n):
        c[i] += iac.coeff1[i] * delta
    if iac.coeff2.size > 0:
        c[0] += iac.coeff2[0] * delta
    if iac.coeff2.size > 1:
        c[0] += iac.coeff2[1] * delta * delta
    c[0] += msm_slop1
    return replace(disp, coeff=c)


def scale_wcs(
    coord: Coord, ltm, ltv, nx: int, ny: int, *, first_order: bool, dispaxis: int = 1, ccd: bool = True
) -> tuple[Coord, tuple[float, float]]:
    """``ScaleWCS``: the output size and WCS for a binned or subarray input; returns the scaled
    coordinates (crpix in image pixels, zero-indexed) and the plate scale per image pixel."""
    npix0 = int(nint(coord.npix[0] * ltm[0]))
    npix1 = int(nint(coord.npix[1] * ltm[1]))
    full = CCD_NPIX if ccd else MAMA_NPIX
    fb0 = int(nint(full[0] * ltm[0]))
    fb1 = int(nint(full[1] * ltm[1]))
    if nx < fb0:
        npix0 -= fb0 - nx
    if ny < fb1 and first_order:
        npix1 -= fb1 - ny
    plate = coord.cdelt[1] if dispaxis == 1 else coord.cdelt[0]
    plate_scale = (plate / ltm[0], plate / ltm[1])
    out = replace(
        coord,
        npix=(npix0, npix1),
        cdelt=(coord.cdelt[0] / ltm[0], coord.cdelt[1] / ltm[1]),
        crpix=(coord.crpix[0] * ltm[0] + ltv[0], coord.crpix[1] * ltm[1] + ltv[1]),
    )
    return out, plate_scale


def helio_factor(v_helio: float) -> float:
    """``HelioFactor``: observed = heliocentric wavelength × (1 − v/c)."""
    return 1.0 - v_helio / SPEED_OF_LIGHT


def interp2d(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, ix, iy, sdqflags: int = 0):
    """``Interp2D`` (Jacobian 1, WGT_VARIANCE errors) at input points (ix, iy): bilinear weights in
    float, a neighbour with an `sdqflags` bit gets weight 0 and the others are renormalised (all
    four flagged: the nearest pixel is copied); ``Σ w·v`` and ``Σ (w·e)·e`` added left to right in
    float, the error ``sqrt`` in double; DQ the OR of the four neighbours. Off the image: 0, 0,
    DETECTORPROB. calstis7 calls it with sdqflags 0, calstis6's cross correlation with SDQFLAGS.
    The C kernel (``_kernels.interp2d``, point by point) when built and the points are finite, else
    :func:`interp2d_numpy` (the reference)."""
    ix = np.asarray(ix, F64)
    iy = np.asarray(iy, F64)
    k = load(KERNELS)
    types_ok = sci.dtype == err.dtype == F32 and dq.dtype == np.uint16 and sci.shape == err.shape == dq.shape
    if k is None or not (types_ok and sci.ndim == 2 and min(sci.shape) >= 2 and ix.shape == iy.shape):
        return interp2d_numpy(sci, err, dq, ix, iy, sdqflags)
    if not (np.isfinite(ix).all() and np.isfinite(iy).all()):
        return interp2d_numpy(sci, err, dq, ix, iy, sdqflags)
    osci, oerr, odq = np.empty(ix.shape, F32), np.empty(ix.shape, F32), np.empty(ix.shape, np.uint16)
    iny, inx = sci.shape
    k.interp2d(
        c_array(sci, F32), c_array(err, F32), c_array(dq, np.uint16), iny, inx, c_array(ix, F64), c_array(iy, F64),
        int(sdqflags), DETECTORPROB, osci, oerr, odq,
    )  # fmt: skip
    return osci, oerr, odq


def interp2d_numpy(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, ix, iy, sdqflags: int = 0):
    """:func:`interp2d` in NumPy, all points at once (the C kernel's reference)."""
    ix = np.asarray(ix, F64)
    iy = np.asarray(iy, F64)
    iny, inx = sci.shape
    iix, iiy = nint(ix), nint(iy)
    off = (iix < 0) | (iix > inx - 1) | (iiy < 0) | (iiy > iny - 1)
    ixs = np.where(off, 0.0, ix)
    iys = np.where(off, 0.0, iy)
    ii = np.clip(np.trunc(ixs).astype(np.int64), 0, inx - 2)
    ij = np.clip(np.trunc(iys).astype(np.int64), 0, iny - 2)
    q = (ixs - ii).astype(F32)
    p = F32(1.0) - q
    s = (iys - ij).astype(F32)
    r = F32(1.0) - s
    w0, w1, w2, w3 = p * r, q * r, p * s, q * s
    flat = ij * inx + ii
    sf, ef, df = sci.ravel(), err.ravel(), dq.ravel()
    i00, i10, i01, i11 = flat, flat + 1, flat + inx, flat + inx + 1
    d00, d10, d01, d11 = df[i00], df[i10], df[i01], df[i11]
    nearest = None
    if sdqflags:
        mask = np.uint16(sdqflags & 0xFFFF)
        b0, b1, b2, b3 = (d00 & mask) != 0, (d10 & mask) != 0, (d01 & mask) != 0, (d11 & mask) != 0
        z = F32(0.0)
        w0, w1, w2, w3 = np.where(b0, z, w0), np.where(b1, z, w1), np.where(b2, z, w2), np.where(b3, z, w3)
        ngood = 4 - (b0.astype(np.int8) + b1 + b2 + b3)
        sumw = w0 + w1 + w2 + w3
        nearest = (ngood == 0) | (sumw <= 0)
        renorm = (ngood < 4) & ~nearest
        safe = np.where(renorm, sumw, F32(1.0))
        w0, w1, w2, w3 = (np.where(renorm, w / safe, w) for w in (w0, w1, w2, w3))
    value = w0 * sf[i00] + w1 * sf[i10] + w2 * sf[i01] + w3 * sf[i11]
    e0, e1, e2, e3 = ef[i00], ef[i10], ef[i01], ef[i11]
    var = w0 * e0 * e0 + w1 * e1 * e1 + w2 * e2 * e2 + w3 * e3 * e3
    oerr = np.where(var > 0, np.sqrt(np.maximum(var, 0).astype(F64)), 0.0).astype(F32)
    if nearest is not None and nearest.any():
        near = np.clip(iiy, 0, iny - 1) * inx + np.clip(iix, 0, inx - 1)
        value = np.where(nearest, sf[near], value)
        oerr = np.where(nearest, ef[near], oerr)
    odq = d00 | d10 | d01 | d11
    osci = np.where(off, F32(0.0), value).astype(F32)
    oerr = np.where(off, F32(0.0), oerr).astype(F32)
    odq = np.where(off, np.uint16(DETECTORPROB), odq).astype(np.uint16)
    return osci, oerr, odq


def data_masked(dq: np.ndarray, crpix2: float, cdelt2: float, slit: Slit) -> None:
    """``DataMasked`` (dispersion along lines): DATAMASKED on the lines beyond a slit shorter than
    half the image and on those behind each occulting bar; `crpix2` zero-indexed, `cdelt2` arcsec
    per output pixel. `dq` is changed in place."""
    ny = dq.shape[0]
    length = slit.width[1] / cdelt2
    center = crpix2
    flag = np.zeros(ny, bool)
    if length < SIGNIFICANT_FRACTION * ny:
        bottom = int(nint(center - length / 2.0 - 0.5))
        top = int(nint(center + length / 2.0 + 0.5))
        bottom = min(bottom, ny)
        top = max(top, -1)
        flag[: max(bottom, 0)] = True
        flag[top + 1 :] = True
    for locn, width in zip(slit.barlocn, slit.barwidth, strict=True):
        bl, bw = locn / cdelt2, width / cdelt2
        bottom = int(nint(center + bl - bw / 2.0))
        top = int(nint(center + bl + bw / 2.0))
        if top >= 0 and bottom < ny:
            flag[max(bottom, 0) : min(top, ny - 1) + 1] = True
    dq[flag] |= np.uint16(DATAMASKED)


@dataclass(slots=True)
class Geometry:
    """Everything X2DCorr7 needs besides the pixels (one order of one imset)."""

    coord: Coord  # after :func:`scale_wcs`
    disp: list[DispRow]  # sorted by a2center
    trace: list[TraceRow]  # sorted by a2center, rotated
    iac: Iac
    slit: Slit
    delta: float  # arcsec, GetApOffset
    ltm: tuple[float, float]
    ltv: tuple[float, float]  # zero-indexed (GetLT0)
    msm_slop: tuple[float, float]  # SHIFTA1, SHIFTA2 (0 for a wavecal)
    total_offset2: float  # msm_slop[1] + aperture offset / plate scale
    hfactor: float = 1.0
    prism: bool = False


def input_positions(geo: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The input image position (ix, iy) of each output pixel: X2DCorr7's loop over lines, every line
    at once — InterpDisp/InterpTrace's walk over the rows as masks, AdjustDisp and evalDisp on a
    coefficient per line, the same float64 operations per element as :func:`input_positions_reference`."""
    c = geo.coord
    ny, nx = c.npix[1], c.npix[0]
    if geo.prism:
        raise NotImplementedError("PRISM dispersion (SolveDisp)")
    dtor = math.acos(0) / 90.0
    del_tan = math.tan(geo.slit.angle * dtor) - math.tan(REF_ANGLE * dtor)
    ox = np.arange(nx, dtype=F64)
    wl = ((ox - c.crpix[0]) * c.cdelt[0] + c.crval[0]) / geo.hfactor
    m = float(c.sporder)
    rel = (np.arange(ny, dtype=F64) - c.crpix[1]) / geo.ltm[1]
    line0 = rel + c.a2center + geo.total_offset2
    coeff, ncoeff = _interp_rows(
        [(d.a2center, d.coeff, d.ncoeff) for d in geo.disp], line0, MAX_DISP_COEFF, interp_size=True
    )
    coeff[:, 0] += rel * del_tan
    iac = geo.iac
    n_iac = np.minimum(ncoeff, iac.coeff1.size)
    for i in range(min(iac.coeff1.size, MAX_DISP_COEFF)):  # AdjustDisp, per line up to its NCOEFF
        coeff[:, i] = np.where(i < n_iac, coeff[:, i] + iac.coeff1[i] * geo.delta, coeff[:, i])
    if iac.coeff2.size > 0:
        coeff[:, 0] += iac.coeff2[0] * geo.delta
    if iac.coeff2.size > 1:
        coeff[:, 0] += iac.coeff2[1] * geo.delta * geo.delta
    coeff[:, 0] += geo.msm_slop[0]
    ix_r = np.empty((ny, nx), F64)
    for n in np.unique(ncoeff).tolist():
        sel = ncoeff == n
        ix_r[sel] = _eval_disp_lines(coeff[sel], int(n), m, wl)
    tmax = max(t.a2displ.size for t in geo.trace)
    a2displ, tsize = _interp_rows([(t.a2center, t.a2displ, t.a2displ.size) for t in geo.trace], line0, tmax)
    k = nint(ix_r)
    inside = (k >= 0) & (k < tsize[:, None])
    kk = np.clip(k, 0, tmax - 1)
    ydispl = np.where(inside, np.take_along_axis(a2displ, kk, axis=1), 0.0)
    iy_r = line0[:, None] + ydispl
    return ix_r * geo.ltm[0] + geo.ltv[0], iy_r * geo.ltm[1] + geo.ltv[1]


def _interp_rows(rows: list, a2: np.ndarray, width: int, *, interp_size: bool = False):
    """InterpDisp/InterpTrace for many lines: rows ``(a2center, values, size)`` sorted by A2CENTER;
    each line walks them as the C does (the first row at or above it, or the last row: a copy; strictly
    between two rows: ``(1 − p)·a + p·b`` over the first n values, zero-padded). n and the line's size
    are the larger of the two rows' sizes (`interp_size`: the sizes given, InterpDisp's NCOEFF) or of
    their arrays' lengths (InterpTrace). Returns the values (lines, width) and the sizes."""
    nl = a2.size
    out = np.zeros((nl, width), F64)
    size = np.zeros(nl, np.int64)
    undecided = np.ones(nl, bool)
    for k, (ca, cv, cn) in enumerate(rows):
        last = k + 1 >= len(rows)
        copy = undecided & ((a2 <= ca) | last)
        if copy.any():
            v = np.zeros(width, F64)
            v[: min(cv.size, width)] = cv[:width]
            out[copy] = v
            size[copy] = cn
        undecided &= ~copy
        if last:
            break
        na, nv, nn = rows[k + 1]
        between = undecided & (ca < a2) & (a2 < na)
        if between.any():
            p = ((a2[between] - ca) / (na - ca))[:, None]
            n = max(cn, nn) if interp_size else max(cv.size, nv.size)
            a = np.zeros(n, F64)
            b = np.zeros(n, F64)
            a[: min(cv.size, n)] = cv[:n]
            b[: min(nv.size, n)] = nv[:n]
            vals = np.zeros((int(between.sum()), width), F64)
            vals[:, :n] = (1.0 - p) * a[None, :n] + p * b[None, :n]
            out[between] = vals
            size[between] = n
        undecided &= ~between
    return out, size


def _eval_disp_lines(coeff: np.ndarray, ncoeff: int, m: float, wl: np.ndarray) -> np.ndarray:
    """:func:`eval_disp` for lines with their own coefficients (lines, ≥ 9) and one NCOEFF: the terms
    added left to right, each line's scalar factors multiplied first, as the C does."""
    nl = coeff.shape[0]
    if not 1 <= ncoeff <= 9:
        return np.full((nl, wl.size), -1000000.0 - 1.0)
    c = [coeff[:, i][:, None] for i in range(9)]
    w = wl[None, :]
    terms = [
        lambda: c[1] * m * w,
        lambda: c[2] * m * m * w * w,
        lambda: np.broadcast_to(c[3] * m, (nl, wl.size)),
        lambda: c[4] * w,
        lambda: c[5] * m * m * w,
        lambda: c[6] * m * w * w,
        lambda: c[7] * m * m * m * w * w * w,
        lambda: np.broadcast_to(c[8] * m * m, (nl, wl.size)),
    ]
    ix = np.broadcast_to(c[0], (nl, wl.size))
    for k in range(ncoeff - 1):
        ix = ix + terms[k]()
    return ix - 1.0


def input_positions_reference(geo: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """:func:`input_positions` line by line, as X2DCorr7 loops (the reference of the vector form)."""
    c = geo.coord
    ny, nx = c.npix[1], c.npix[0]
    if geo.prism:
        raise NotImplementedError("PRISM dispersion (SolveDisp)")
    dtor = math.acos(0) / 90.0
    del_tan = math.tan(geo.slit.angle * dtor) - math.tan(REF_ANGLE * dtor)
    ox = np.arange(nx, dtype=F64)
    wl = ((ox - c.crpix[0]) * c.cdelt[0] + c.crval[0]) / geo.hfactor
    m = float(c.sporder)
    ix = np.empty((ny, nx), F64)
    iy = np.empty((ny, nx), F64)
    for j in range(ny):
        rel = (j - c.crpix[1]) / geo.ltm[1]
        line0 = rel + c.a2center + geo.total_offset2
        d = interp_disp(geo.disp, line0)
        d.coeff[0] += rel * del_tan
        d = adjust_disp(d, geo.delta, geo.iac, geo.msm_slop[0])
        a2displ = interp_trace(geo.trace, line0)
        ix_r = eval_disp(d.coeff, d.ncoeff, m, wl)
        k = nint(ix_r)
        inside = (k >= 0) & (k < a2displ.size)
        ydispl = np.where(inside, a2displ[np.clip(k, 0, a2displ.size - 1)], 0.0)
        iy_r = line0 + ydispl
        ix[j] = ix_r * geo.ltm[0] + geo.ltv[0]
        iy[j] = iy_r * geo.ltm[1] + geo.ltv[1]
    return ix, iy


def order_on_image(geo: Geometry, nx: int, ny: int) -> bool:
    """``CheckBoundary`` (echelle): the order's nominal line (A2CENTER + offset) mapped through its
    trace at the middle column of the input image falls on the image's lines."""
    line0 = geo.coord.a2center + geo.total_offset2
    a2displ = interp_trace(geo.trace, line0)
    ix_r = (nx / 2.0 - geo.ltv[0]) / geo.ltm[0]
    i = int(nint(ix_r))
    ydispl = float(a2displ[i]) if 0 <= i < a2displ.size else 0.0
    iy = (line0 + ydispl) * geo.ltm[1] + geo.ltv[1]
    return 0.0 <= iy < ny


def x2dcorr(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, geo: Geometry):
    """``X2DCorr7`` for one spectral order: the rectified (sci, err, dq), DATAMASKED set."""
    ix, iy = input_positions(geo)
    osci, oerr, odq = interp2d(sci, err, dq, ix, iy)
    data_masked(odq, geo.coord.crpix[1], geo.coord.cdelt[1], geo.slit)
    return osci, oerr, odq


# ----------------------------------------------------------------------------- FLUXCORR

HST_AREA = 45238.93416  # cm², absflux.c
H_PLANCK = 6.6260755e-27  # erg s
C_LIGHT = 29979245800.0  # cm/s
CM_PER_ANGSTROM = 1.0e-8
CALIBDEFECT = 512


def interp1d(x, wl: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``interp1d`` at each of `x`: linear, the end values beyond the table (the C's search start
    index only speeds it up; at a knot both neighbouring intervals give the same value)."""
    x = np.asarray(x, F64)
    wl = np.asarray(wl, F64)
    f = np.asarray(f, F64)
    n = wl.size
    if n == 1:
        return np.full(x.shape, f[0])
    i = np.clip(np.searchsorted(wl, x, side="right") - 1, 0, n - 2)
    p0 = (wl[i + 1] - x) / (wl[i + 1] - wl[i])
    p1 = 1.0 - p0
    y = f[i] * p0 + f[i + 1] * p1
    return np.where(x <= wl[0], f[0], np.where(x >= wl[n - 1], f[n - 1], y))


def spline_nr(xa: np.ndarray, ya: np.ndarray) -> np.ndarray:
    """``spline_nr``: second derivatives of the natural cubic spline through (xa, ya)."""
    n = xa.size
    xa = [float(v) for v in xa]
    ya = [float(v) for v in ya]
    y2 = [0.0] * n
    ua = [0.0] * n
    for i in range(1, n - 1):  # the tridiagonal recurrence: sequential by nature
        sig = (xa[i] - xa[i - 1]) / (xa[i + 1] - xa[i - 1])
        p = sig * y2[i - 1] + 2.0
        y2[i] = (sig - 1.0) / p
        d = (ya[i + 1] - ya[i]) / (xa[i + 1] - xa[i]) - (ya[i] - ya[i - 1]) / (xa[i] - xa[i - 1])
        ua[i] = (6.0 * d / (xa[i + 1] - xa[i - 1]) - sig * ua[i - 1]) / p
    for i in range(n - 2, -1, -1):
        y2[i] = y2[i] * y2[i + 1] + ua[i]
    return np.array(y2)


def splint_nr(xa, ya, x) -> np.ndarray:
    """``splint_nr``: the natural cubic spline through (xa, ya) at each of `x` (extrapolated from
    the end intervals)."""
    xa = np.asarray(xa, F64)
    ya = np.asarray(ya, F64)
    x = np.asarray(x, F64)
    y2 = spline_nr(xa, ya)
    klo = np.clip(np.searchsorted(xa, x, side="right") - 1, 0, xa.size - 2)
    khi = klo + 1
    h = xa[khi] - xa[klo]
    a = (xa[khi] - x) / h
    b = (x - xa[klo]) / h
    return a * ya[klo] + b * ya[khi] + ((a * a * a - a) * y2[klo] + (b * b * b - b) * y2[khi]) * h * h / 6.0


@dataclass(slots=True)
class FluxResult:
    diff2pt: np.float32
    cont2eml: np.float32
    scale_a1: np.float32
    omegapix: float


def abs_flux(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    coord: Coord,
    *,
    phot_wl: np.ndarray,
    phot_thru: np.ndarray,
    resp_wl: np.ndarray | None = None,
    pcorr: np.ndarray,
    slit_wl: np.ndarray,
    slit_thr: np.ndarray,
    slit_width1: float,
    plate_scale: tuple[float, float],
    atodgain: float,
    exptime: float,
    hfactor: float,
    tds: tuple[np.ndarray, np.ndarray] | None = None,
) -> FluxResult:
    """``AbsFlux`` (calstis7): each column of the rectified image times
    ``h·c·ATODGAIN / (A·t·ΔλΔs·w) / (R(λ)·λ)`` in float (λ the heliocentric wavelength of the
    column, R the PHOTTAB throughput — on `resp_wl`, the blaze-shifted wavelengths of an echelle
    order, when given; PCTAB's factors stay on `phot_wl`), then divided in double by the TDSTAB
    factor interpolated at λ when `tds` = (wavelengths, ``TdsCorrection`` factors) is given and
    stored as float again; λ ≤ 0 or a correction ≤ 0 flags CALIBDEFECT. Returns
    DIFF2PT (from the mean APERTAB/PCTAB throughput), CONT2EML, SCALE_A1, OMEGAPIX. In place."""
    nx = sci.shape[1]
    diff_pt = F32(coord.cdelt[1] * slit_width1)
    cont_eml = F32(coord.cdelt[0] * slit_width1 / plate_scale[0])
    photfactor = H_PLANCK * C_LIGHT * atodgain / (HST_AREA * exptime * coord.cdelt[0] * coord.cdelt[1] * slit_width1)
    i = np.arange(nx, dtype=F64)
    wl = ((i - coord.crpix[0]) * coord.cdelt[0] + coord.crval[0]) / hfactor
    neg = wl <= 0.0
    response = interp1d(wl, phot_wl if resp_wl is None else resp_wl, phot_thru)
    pct = interp1d(wl, phot_wl, pcorr)
    thr = interp1d(wl, slit_wl, slit_thr)
    terms = np.where(neg, 0.0, thr / pct)
    total = float(np.add.accumulate(terms)[-1]) if nx else 0.0  # C's running sum skips λ ≤ 0
    use = ~neg & (response > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = (photfactor / (response * (wl * CM_PER_ANGSTROM))).astype(F32)
        if tds is not None:  # correction /= tds_factor (float /= double)
            corr = (corr.astype(F64) / interp1d(wl, tds[0], tds[1])).astype(F32)
    bad = neg | (use & (corr <= 0))
    good = use & (corr > 0)
    sci[:, good] *= corr[good]
    err[:, good] *= corr[good]
    dq[:, bad] |= np.uint16(CALIBDEFECT)
    throughput = total / float(nx)
    d2p = F32(float(diff_pt) / throughput) if throughput > 0.0 else F32(-9999.0)
    return FluxResult(d2p, cont_eml, F32(plate_scale[0]), plate_scale[0] * plate_scale[1])
