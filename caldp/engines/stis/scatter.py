"""SC2DCORR, the echelle scattered-light correction of calstis6 (HSTCAL ``lib/idtalg``: the IDT
algorithm of Lindler and Bowers): pure array steps and the kernels built from the seven tables.

:func:`.x1d_echelle.calstis6_idt` drives it (the extractions are calstis6's own); the corrected
``_x1d`` of the full-size echelle sim equals cs0.e's bit for bit (docs/notes/stis.md, "SC2DCORR").

Pieces (C names):

- :func:`read_scatter` — ``EchScatRead``: ECHSCTAB (per order), EXSTAB, CDSTAB, RIPTAB (per order),
  SRWTAB (reference wavelengths), HALOTAB (HALDIM² halo per reference wavelength), TELTAB (the PSF cut
  to the aperture and binned to STIS pixels, :func:`bin_psf`), and :func:`make_ft`'s kernels.
- :func:`interpolate` — the C's ``Interpolate`` (search outward from a start index, linear
  extrapolation), :func:`splice` (``Splice``), :func:`median_rows_per_angstrom`.
- :func:`fft_convolve2` — ``FFTConvolve2`` over :mod:`.fftpack` (``lib/xcfft.c``), ``FFTShift``.
- :func:`model_image` — one iteration's scattered-light model (the echelle scattering spread, the
  cross-disperser convolution, the halo ⊗ PSF convolution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..common.errors import EngineError
from ..common.kernels import load
from . import fftpack

KERNELS = "caldp.engines.stis._kernels"

F32, F64 = np.float32, np.float64
NITER = 3
NSBIG = 3000
PLATE = {"E140M": 0.036, "E140H": 0.0466, "E230M": 0.033, "E230H": 0.0466}  # GetPSF's x plate scale
YPLATE = 0.029
#: per grating: (scale of order m or a constant, inc_scale, yyamp)
PARAMS = {"E140H": (1.5, 1.3, 1.25), "E230M": (1.0, 1.0, 0.0), "E230H": (1.5, 1.0, 0.0)}


@dataclass(slots=True)
class Scatter:
    """``ScatterFunctions``: the tables' functions for one grating and CENWAVE, and the kernels' FTs."""

    echsc: list  # [(sporder, values float64)] in table order
    spsf: np.ndarray  # EXSTAB (float32)
    xdisp: np.ndarray  # CDSTAB (float32)
    ripple: list  # [(sporder, wavelengths, values)]
    kernw: list  # reference wavelengths of the halos (nwave)
    psfw: list
    ft: list = field(default_factory=list)  # [(re, im)] per reference wavelength
    fto: list = field(default_factory=list)


# ----------------------------------------------------------------------------- C helpers


def interpolate(x1: float, begin: int, x, y, bounds: tuple[float, float] | None = None) -> tuple[float, int]:
    """``Interpolate``: linear in the first interval found scanning out from `begin` (up, then down)
    that brackets `x1`; beyond the table, extrapolated from the end pair. Returns (value, index).
    `bounds` (min, max of `x`), when given, skips the scan for a value no interval can bracket."""
    n = len(x)
    if begin < 0:
        return float(y[0]), 0
    if begin >= n:
        return float(y[n - 1]), n - 2
    if bounds is not None and not (bounds[0] <= x1 <= bounds[1]):
        return _outside(x1, x, y)
    for i in range(n):
        i1, i2 = begin + i, begin + i + 1
        if i2 < n and ((x[i1] <= x1 <= x[i2]) or (x[i2] <= x1 <= x[i1])):
            return _linear(x[i1], y[i1], x[i2], y[i2], x1), i1
        i1, i2 = begin - i, begin - i + 1
        if 0 <= i1 and i2 < n and ((x[i1] <= x1 <= x[i2]) or (x[i2] <= x1 <= x[i1])):  # (the C reads x[n]
            # for begin = n − 1; the algorithm never starts there)
            return _linear(x[i1], y[i1], x[i2], y[i2], x1), i1
    return _outside(x1, x, y)


def _outside(x1: float, x, y) -> tuple[float, int]:
    n = len(x)
    low = x1 < x[0] if x[1] > x[0] else x1 > x[0]
    if low:
        return _linear(x[0], y[0], x[1], y[1], x1), 0
    return _linear(x[n - 1], y[n - 1], x[n - 2], y[n - 2], x1), n - 2


def _linear(x1, y1, x2, y2, x) -> float:
    x1, y1, x2, y2, x = float(x1), float(y1), float(x2), float(y2), float(x)
    if x2 != x1:
        a = (y2 - y1) / (x2 - x1)
        b = y2 - a * x2
        return a * x + b
    return 0.0


def interpolate_run(xs, begin: int, x, y, bounds: tuple[float, float] | None = None) -> tuple[np.ndarray, int]:
    """:func:`interpolate` of each value of `xs` in turn, each search starting at the index the one
    before returned (the C's loops over a grid). Returns (values float64, last index). The C kernel
    (``_kernels.interp_run``) when built, else :func:`interpolate_run_py` (the reference)."""
    k = load(KERNELS)
    xa = np.ascontiguousarray(x, F64)
    if k is None or xa.size < 2 or begin < 0 or begin >= xa.size:
        return interpolate_run_py(xs, begin, x, y, bounds)
    xs = np.ascontiguousarray(xs, F64)
    out = np.empty(xs.size, F64)
    lo, hi = bounds if bounds is not None else (0.0, 0.0)
    last = k.interp_run(xs, begin, xa, np.ascontiguousarray(y, F64), bounds is not None, lo, hi, out)
    return out, last


def interpolate_run_py(xs, begin: int, x, y, bounds: tuple[float, float] | None = None) -> tuple[np.ndarray, int]:
    """:func:`interpolate_run` by :func:`interpolate` one value at a time."""
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    out = np.empty(len(xs), F64)
    k = begin
    for i, v in enumerate(np.asarray(xs, F64).tolist()):
        out[i], k = interpolate(v, k, x, y, bounds)
    return out, k


def select(k: int, values) -> float:
    """``Select``: the k-th smallest (1-indexed) by the C's in-place partition (the same pivots)."""
    a = [float(v) for v in values]
    length = len(a)
    if length < 2 or k <= 0 or k > length:
        return 0.0
    lo, hi = 0, length - 1
    i, j = lo, hi
    k -= 1
    while lo < hi:
        if a[k] < a[i]:
            a[i], a[k] = a[k], a[i]
        if a[j] < a[i]:
            a[i], a[j] = a[j], a[i]
        if a[j] < a[k]:
            a[k], a[j] = a[j], a[k]
        x = a[k]
        while j > k and i < k:
            i += 1
            while a[i] < x:
                i += 1
            j -= 1
            while a[j] > x:
                j -= 1
            a[i], a[j] = a[j], a[i]
        i += 1
        j -= 1
        if j < k:
            while a[i] < x:
                i += 1
            lo, j = i, hi
        if k < i:
            while x < a[j]:
                j -= 1
            hi, i = j, lo
    return a[k]


def median_rows_per_angstrom(extrlocy: list, wave: list) -> float:
    """``MedianRowsPerAngstrom``: Select(n/2) of the rows-per-Å steps between adjacent orders at
    their middle columns."""
    n = len(wave)
    mid = [len(w) // 2 for w in wave]
    temp = [
        (float(extrlocy[j][mid[j]]) - float(extrlocy[j - 1][mid[j - 1]]))
        / (float(wave[j][mid[j]]) - float(wave[j - 1][mid[j - 1]]))
        for j in range(1, n)
    ]
    return select(n // 2, temp)


def clamped_window(n: int, width: int) -> np.ndarray:
    """Row indices the C's column convolutions read for each output row: the window starts at
    ``j − width/2`` and steps by one, a negative index is raised to 0 *before* stepping on (so the low
    edge shifts the window) and an index past the end stays at the last row. Shape (n, width)."""
    start = np.maximum(np.arange(n, dtype=np.int64) - width // 2, 0)
    return np.minimum(start[:, None] + np.arange(width, dtype=np.int64)[None, :], n - 1)


def clamped_window_py(n: int, width: int) -> np.ndarray:
    """:func:`clamped_window` as the C steps it (the reference of the vector form)."""
    out = np.empty((n, width), np.int64)
    for j in range(n):
        kk = j - width // 2
        for k in range(width):
            kk = max(kk, 0)
            kk = min(kk, n - 1)
            out[j, k] = kk
            kk += 1
    return out


def splice(waves: list, nets: list, exptime: float) -> tuple[np.ndarray, np.ndarray]:
    """``Splice``: the orders (wavelengths ascending) joined at the midpoints of their overlaps,
    4 pixels cut at each order's start and 3 at its end; NET × EXPTIME in double (counts)."""
    nrows, npt = len(waves), len(waves[0])
    order = range(nrows - 1, -1, -1) if waves[nrows - 1][0] < waves[0][0] else range(nrows)
    tw, tf = [], []
    for j in order:
        w = np.asarray(waves[j], F64)
        f = np.asarray(nets[j], F32).astype(F64) * exptime
        if w[1] < w[0]:
            w, f = w[::-1], f[::-1]
        tw.append(w)
        tf.append(f)

    def find(arr, value) -> int:
        hit = np.flatnonzero(arr > value)
        return int(hit[0]) if hit.size else 0

    wm, fm = [], []
    i1 = 0
    for j in range(nrows - 1):
        i2 = find(tw[j], tw[j + 1][0])
        i3 = find(tw[j + 1], tw[j][npt - 1])
        midw = (tw[j + 1][i3] - tw[j][i2]) / 2.0 + tw[j][i2]
        i2 = find(tw[j], midw)
        i3 = find(tw[j + 1], midw)
        i2 = i2 if i2 < npt - 3 else npt - 4
        i3 = i3 if i3 > 3 else 4
        wm.append(tw[j][i1 : i2 + 1])
        fm.append(tf[j][i1 : i2 + 1])
        i1 = i3
    wm.append(tw[nrows - 1][i1:])
    fm.append(tf[nrows - 1][i1:])
    return np.concatenate(wm), np.concatenate(fm)


# ----------------------------------------------------------------------------- FFTs


def fft_shift(re: np.ndarray, im: np.ndarray) -> None:
    """``FFTShift``: negate the elements whose row + column is odd (even sizes). In place."""
    ny, nx = re.shape
    if nx % 2 or ny % 2:
        raise EngineError(f"FFTShift of an odd-sized grid {nx}x{ny}", keyword="SC2DCORR")
    jj, ii = np.ogrid[:ny, :nx]
    odd = ((jj + ii) % 2) == 1
    re[odd] = -re[odd]
    im[odd] = -im[odd]


def _product(r1, i1, r2, i2):
    """The complex product of the C loops, in float: (r1·r2 − i1·i2, r1·i2 + i1·r2)."""
    return (r1 * r2 - i1 * i2).astype(F32), (r1 * i2 + i1 * r2).astype(F32)


def product_shift(r1, i1, r2, i2) -> tuple[np.ndarray, np.ndarray]:
    """The complex product of two transforms and ``FFTShift`` on it (float32). The C kernel
    (``_kernels.mul_shift``, in place on `r1`/`i1`) when built, else :func:`product_shift_numpy`."""
    k = load(KERNELS)
    ny, nx = r1.shape
    ok = all(a.dtype == F32 for a in (r1, i1, r2, i2)) and r1.flags.c_contiguous and i1.flags.c_contiguous
    if k is None or nx % 2 or ny % 2 or not ok:
        return product_shift_numpy(r1, i1, r2, i2)
    k.mul_shift(r1, i1, np.ascontiguousarray(r2, F32), np.ascontiguousarray(i2, F32), ny, nx)
    return r1, i1


def product_shift_numpy(r1, i1, r2, i2) -> tuple[np.ndarray, np.ndarray]:
    """:func:`product_shift` by :func:`_product` and :func:`fft_shift` (the reference)."""
    re, im = _product(r1, i1, r2, i2)
    fft_shift(re, im)
    return re, im


def fft_convolve(z1: np.ndarray, z2: np.ndarray) -> np.ndarray:
    """``FFTConvolve`` of two real arrays of one size: both transformed, multiplied, shifted, inverse
    transformed; returns the real part."""
    r1, i1 = fftpack.fft2d(z1.astype(F32), np.zeros_like(z1, F32))
    r2, i2 = fftpack.fft2d(z2.astype(F32), np.zeros_like(z2, F32))
    re, im = product_shift(r1, i1, r2, i2)
    return fftpack.ifft2d(re, im)[0]


def fft_convolve2(image: np.ndarray, ft: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``Float2Cmplx``, ``FFTConvolve2`` (the image's FT times a kernel FT, shifted, inverse) and
    ``Cmplx2Float``: `image` centred in a zero grid the size of the kernel's FT, the central part
    returned (float32)."""
    kr, ki = ft
    ny, nx = image.shape
    gy, gx = 2 * ny, 2 * nx
    if kr.shape != (gy, gx):  # the C would read the kernel with the image grid's stride (cs0.e aborts)
        raise EngineError(f"kernel grid {kr.shape} is not the image's {(gy, gx)}", keyword="HALOTAB")
    zr = np.zeros((gy, gx), F32)
    j1, i1 = (gy - ny) // 2, (gx - nx) // 2
    zr[j1 : j1 + ny, i1 : i1 + nx] = image
    r, i = fftpack.fft2d(zr, np.zeros_like(zr))
    re, im = product_shift(r, i, kr, ki)
    out = fftpack.ifft2d_columns(re, im, i1, i1 + nx)[0]  # only the central columns are kept
    return np.ascontiguousarray(out[j1 : j1 + ny], F32)


# ----------------------------------------------------------------------------- tables and kernels


def bin_psf(tel: np.ndarray, psfscale: float, xsize: float, ysize: float, xplate: float) -> np.ndarray:
    """``GetPSF`` for one TELTAB image: the part through the aperture (around the peak, the first
    maximum in column-major order), binned to STIS pixels by fractional boxes (float sums), normalised
    to unit sum. Returns (ml, ms) float32."""
    nl, ns = tel.shape
    flat_cm = tel.T.ravel()  # the C scans i (column) outer, j inner
    kmax = int(np.argmax(flat_cm))
    s, l_ = divmod(kmax, nl)
    ns2 = int(round_half_away(xsize / psfscale)) // 2
    nl2 = int(round_half_away(ysize / psfscale)) // 2
    s1, s2 = max(s - ns2, 0), min(s + ns2, ns - 1)
    l1, l2 = max(l_ - nl2, 0), min(l_ + nl2, nl - 1)
    os_ = np.ascontiguousarray(tel[l1 : l2 + 1, s1 : s2 + 1], F32)
    nl, ns = os_.shape
    ms = 2 * (int(round_half_away(ns / (xplate / psfscale))) // 2) + 1
    ml = 2 * (int(round_half_away(nl / (YPLATE / psfscale))) // 2) + 1
    cols = _box_bin(os_, ms, axis=1)
    rows = _box_bin(cols, ml, axis=0)
    total = 0.0
    for v in rows.ravel():  # row-major, as psf.pix
        total += float(v)
    return (rows.astype(F64) / total).astype(F32)


def _box_bin(a: np.ndarray, m: int, axis: int) -> np.ndarray:
    """One axis of GetPSF's binning: each output cell the float sum of the whole input cells inside
    its box, then the two partial end cells (× (1 − frac)) added in double and stored as float."""
    a = np.moveaxis(a, axis, -1)
    n = a.shape[-1]
    out = np.zeros((*a.shape[:-1], m), F32)
    box = n / float(m)
    for i in range(m):
        rstart, rstop = i * box, (i + 1) * box
        istart, istop = int(math.floor(rstart)), int(math.floor(rstop))
        istop = istop if istop < n else n - 1
        frac1 = rstart - istart
        frac2 = 1.0 - (rstop - istop)
        acc = np.zeros(a.shape[:-1], F32)
        for k in range(istart + 1, istop):
            acc = (acc + a[..., k]).astype(F32)
        acc = (acc.astype(F64) + a[..., istart].astype(F64) * (1.0 - frac1)).astype(F32)
        acc = (acc.astype(F64) + a[..., istop].astype(F64) * (1.0 - frac2)).astype(F32)
        out[..., i] = acc
    return np.moveaxis(out, -1, axis)


def round_half_away(x: float) -> float:
    """NINT: round half away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def make_ft(halo: np.ndarray, psf: np.ndarray, xdisp: np.ndarray) -> tuple[tuple, tuple]:
    """``MakeFT``: the halo (shifted one pixel in, border zero) convolved with the PSF (centred) by
    FFT, then column by column with CDSTAB's function (float sums, the C's clamped window); returns the
    FTs of it in a grid twice the size (centred) and of its central 13 × 13 "object" part."""
    ny, nx = halo.shape
    iso = np.zeros((ny, nx), F32)
    iso[1 : ny - 1, 1 : nx - 1] = halo[: ny - 2, : nx - 2]
    zpsf = np.zeros((ny, nx), F32)
    py, px = psf.shape
    if px <= nx:
        i1, i2, ki1 = (nx - px) // 2, (nx - px) // 2 + px, 0
    else:
        i1, i2, ki1 = 0, nx, (px - nx) // 2
    if py <= ny:
        j1, j2, kj1 = (ny - py) // 2, (ny - py) // 2 + py, 0
    else:
        j1, j2, kj1 = 0, ny, (py - ny) // 2
    zpsf[j1:j2, i1:i2] = psf[kj1 : kj1 + (j2 - j1), ki1 : ki1 + (i2 - i1)]
    conv = fft_convolve(zpsf, iso)
    win = clamped_window(ny, xdisp.size)
    hold = np.zeros((ny, nx), F32)
    for k in range(xdisp.size):
        hold = (hold + (conv[win[:, k], :] * xdisp[k]).astype(F32)).astype(F32)
    big = np.zeros((2 * ny, 2 * nx), F32)
    big[ny // 2 : ny // 2 + ny, nx // 2 : nx // 2 + nx] = hold
    ft = fftpack.fft2d(big, np.zeros_like(big))
    obj = np.zeros((2 * ny, 2 * nx), F32)
    w = 6
    obj[ny - w : ny + w + 1, nx - w : nx + w + 1] = hold[ny // 2 - w : ny // 2 + w + 1, nx // 2 - w : nx // 2 + w + 1]
    fto = fftpack.fft2d(obj, np.zeros_like(obj))
    return ft, fto


def read_scatter(tables: dict, opt_elem: str, cenwave: int, ap_size: tuple[float, float]) -> Scatter:
    """``EchScatRead`` for OPT_ELEM and CENWAVE from the tables' row data (``{keyword: FITS_rec}``),
    the aperture's (x, y) size in arcsec for the PSF cut; the kernels' FTs included."""

    def rows(key, **match):
        t = tables[key]
        sel = []
        for r in range(len(t)):
            ok = True
            for col, val in match.items():
                v = t[col][r]
                ok &= (str(v).strip().upper() == str(val).upper()) if isinstance(val, str) else int(v) == val
            if ok:
                sel.append(r)
        if not sel:
            raise EngineError(f"Row not found in {key} ({match})", keyword=key)
        return t, sel

    t, sel = rows("ECHSCTAB", OPT_ELEM=opt_elem)
    echsc = [(int(t["SPORDER"][r]), np.asarray(t["ECHSCAT"][r], F64).ravel()[: int(t["NELEM"][r])]) for r in sel]
    t, sel = rows("EXSTAB", OPT_ELEM=opt_elem)
    spsf = np.asarray(t["EXSCAT"][sel[0]], F32).ravel()[: int(t["NELEM"][sel[0]])]
    t, sel = rows("CDSTAB", OPT_ELEM=opt_elem)
    xdisp = np.asarray(t["CDSCAT"][sel[0]], F32).ravel()[: int(t["NELEM"][sel[0]])]
    t, sel = rows("RIPTAB", OPT_ELEM=opt_elem, CENWAVE=cenwave)
    ripple = [
        (int(t["SPORDER"][r]), np.asarray(t["WAVELENGTH"][r], F64).ravel(), np.asarray(t["RIPPLE"][r], F64).ravel())
        for r in sel
    ]
    t, sel = rows("SRWTAB", OPT_ELEM=opt_elem, CENWAVE=cenwave)
    nwave = int(t["NRW"][sel[0]])
    kernw = [float(v) for v in np.asarray(t["HALOWAVES"][sel[0]]).ravel()[:nwave]]
    psfw = [float(v) for v in np.asarray(t["PSFWAVES"][sel[0]]).ravel()[:nwave]]
    sc = Scatter(echsc, spsf, xdisp, ripple, kernw, psfw)
    halos = []
    t = tables["HALOTAB"]
    for r in range(len(t)):
        k = len(halos)
        if k < nwave and float(t["HALOWAVE"][r]) == kernw[k] and str(t["OPT_ELEM"][r]).strip().upper() == opt_elem:
            d = int(t["HALDIM"][r])
            halos.append(np.asarray(t["HALO"][r], F32).ravel()[: d * d].reshape(d, d))
    psfs = []
    t = tables["TELTAB"]
    for r in range(len(t)):
        k = len(psfs)
        if k < nwave and float(t["PSFWAVE"][r]) == psfw[k]:
            d = int(t["PSFDIM"][r])
            img = np.asarray(t["TELEPSF"][r], F32).ravel()[: d * d].reshape(d, d)
            psfs.append(bin_psf(img, float(t["PSCALE"][r]), ap_size[0], ap_size[1], PLATE[opt_elem]))
    if len(halos) < nwave or len(psfs) < nwave:
        raise EngineError("HALOTAB/TELTAB rows missing for the reference wavelengths", keyword="HALOTAB")
    for h, p in zip(halos, psfs, strict=True):
        ft, fto = make_ft(h, p, xdisp)
        sc.ft.append(ft)
        sc.fto.append(fto)
    return sc


# ----------------------------------------------------------------------------- the model


def order_scale(opt_elem: str, orders) -> tuple[list[float], float, float]:
    """The per-order scale, inc_scale and yyamp of the algorithm (E140M: 14.5 − 0.275 m + 0.001435 m²,
    at least 2.5)."""
    if opt_elem == "E140M":
        sc = [max(14.5 - 0.275 * m + 0.001435 * m * m, 2.5) for m in orders]
        return sc, 1.4, 1.0
    if opt_elem not in PARAMS:
        raise EngineError(f"OPT_ELEM {opt_elem} has no scattered-light parameters", keyword="SC2DCORR")
    s, inc, yy = PARAMS[opt_elem]
    return [s] * len(orders), inc, yy


def index_scatter(sc: Scatter, sporder: int) -> int:
    """``GetScatterOrder``: the last ECHSCTAB row of the order (−1: none)."""
    idx = -1
    for i, (m, _) in enumerate(sc.echsc):
        if m == sporder:
            idx = i
    return idx


def matching_ripple(sc: Scatter, sporder: int) -> int:
    """``GetMatchingOrder``: the first RIPTAB row of the nearest order."""
    best, mindist = -1, 100000
    for i, (m, _, _) in enumerate(sc.ripple):
        if abs(sporder - m) < mindist:
            mindist, best = abs(sporder - m), i
    return best


@dataclass(slots=True)
class Rows:
    """The columns of an ``_x1d`` table the algorithm uses (one entry per row, table order)."""

    sporder: list
    wave: list  # float64
    gross: list  # float32
    net: list  # float32
    extrlocy: list  # float32


def _extended(rows: Rows, sc: Scatter) -> tuple[np.ndarray, np.ndarray]:
    """The wavelengths (float) of every order extended to NSBIG points by its mean dispersion, and the
    ripple (float) on them, extrapolated linearly from the end pairs of RIPTAB."""
    nrows = len(rows.wave)
    wbig = np.zeros((nrows, NSBIG), F32)
    blaze = np.zeros((nrows, NSBIG), F32)
    for j in range(nrows):
        w = rows.wave[j]
        npts = w.size
        i1 = (NSBIG - npts) // 2
        i2 = i1 + npts - 1
        disp = (w[npts - 1] - w[0]) / float(npts)
        wbig[j, :i1] = ((np.arange(i1) - i1) * disp + w[0]).astype(F32)
        wbig[j, i1 : i2 + 1] = w.astype(F32)
        wbig[j, i2 + 1 :] = ((np.arange(i2 + 1, NSBIG) - i2) * disp + w[npts - 1]).astype(F32)
        mrip = matching_ripple(sc, rows.sporder[j])
        if mrip < 0:
            raise EngineError("No matching spectral order in ripple table.", keyword="RIPTAB")
        m, rw, rv = sc.ripple[mrip]
        hold = rw * (float(m) / float(rows.sporder[j]))
        blaze[j, i1 : i2 + 1] = interpolate_run(wbig[j, i1 : i2 + 1], 0, hold, rv)[0]
        n = rv.size
        lo = (rv[1] - rv[0]) / (hold[1] - hold[0])
        dlow = (wbig[j, :i1] - wbig[j, i1]).astype(F32).astype(F64)
        blaze[j, :i1] = (dlow * lo + float(blaze[j, i1])).astype(F32)
        hi = (rv[n - 1] - rv[n - 2]) / (hold[n - 1] - hold[n - 2])
        dhigh = (wbig[j, i2 + 1 :] - wbig[j, i2]).astype(F32).astype(F64)
        blaze[j, i2 + 1 :] = (dhigh * hi + float(blaze[j, i2])).astype(F32)
    return wbig, blaze


def _lsf_parts(values: np.ndarray, yyamp: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An order's scattering function split at ±5 points: (wings with a flat top, the core excess,
    the cross-dispersion offset ramp ±yyamp over the function)."""
    nel = values.size
    off = nel // 2
    hx = [0.0, 0.25 * nel, 0.5 * nel, 0.75 * nel, float(nel)]
    hy = [0.0, yyamp, 0.0, -yyamp, 0.0]
    ramp = interpolate_run(np.arange(nel, dtype=F64), 0, hx, hy)[0]
    s1 = values.copy()
    s1[off - 5 : off + 6] = values[off - 5]
    return s1, values - s1, ramp


def _spread(rows: Rows, sc: Scatter, wbig, blaze, fbig, dydw, yyamp, shape, last: bool):
    """The echelle scattering of one iteration, (mod1, mod2, object): the C kernel (``_kernels.spread``,
    :func:`spread_reference`'s loops order by order) when built, else :func:`spread_numpy`."""
    k = load(KERNELS)
    if k is None:
        return spread_numpy(rows, sc, wbig, blaze, fbig, dydw, yyamp, shape, last)
    ny, nx = shape
    mod1 = np.zeros(shape, F32)
    mod2 = np.zeros(shape, F32)
    obj = np.zeros(shape, F32)
    for j in range(len(rows.wave)):
        m = index_scatter(sc, rows.sporder[j])
        if m < 0:
            raise EngineError(f"No matching order (# {rows.sporder[j]}) in ECHSCTAB table.", keyword="ECHSCTAB")
        values = sc.echsc[m][1]
        s1, s2, ramp = _lsf_parts(values, yyamp)
        npts = rows.wave[j].size
        i1 = (NSBIG - npts) // 2
        if i1 - values.size // 2 < 0 or npts != nx:  # beyond what the kernel takes: the reference's errors
            return spread_reference(rows, sc, wbig, blaze, fbig, dydw, yyamp, shape, last)
        code = k.spread(
            mod1,
            mod2,
            obj,
            ny,
            nx,
            bool(last),
            np.ascontiguousarray(s1, F64),
            np.ascontiguousarray(s2, F64),
            np.ascontiguousarray(ramp, F64),
            np.ascontiguousarray(blaze[j], F32),
            np.ascontiguousarray(fbig[j], F32),
            np.ascontiguousarray(wbig[j], F32),
            np.ascontiguousarray(rows.wave[j], F64),
            np.ascontiguousarray(rows.extrlocy[j], F32).astype(F64),
            float(dydw),
            i1,
        )
        if code == 1:
            raise EngineError("scattering function outside the image", keyword="ECHSCTAB")
        if code == 2:
            raise EngineError("zero ripple in the extended order", keyword="RIPTAB")
    return mod1, mod2, obj


def spread_numpy(rows: Rows, sc: Scatter, wbig, blaze, fbig, dydw, yyamp, shape, last: bool):
    """:func:`_spread` in NumPy (:func:`spread_reference`'s sums in the same order):
    a receiving column ``ixx`` gets, at scattering-function index ``ilsf``, the flux of source pixel
    ``ipix = ixx − ilsf + lsf_off + i1``, so stepping ``ilsf`` down over all columns at once visits
    every pixel's sources in the C's ascending ``ipix`` order."""
    ny, nx = shape
    mod1 = np.zeros(shape, F32)
    mod2 = np.zeros(shape, F32)
    obj = np.zeros(shape, F32)
    cols = np.arange(nx)
    for j in range(len(rows.wave)):
        k = index_scatter(sc, rows.sporder[j])
        if k < 0:
            raise EngineError(f"No matching order (# {rows.sporder[j]}) in ECHSCTAB table.", keyword="ECHSCTAB")
        values = sc.echsc[k][1]
        nel = values.size
        lsf_off = nel // 2
        s1, s2, ramp = _lsf_parts(values, yyamp)
        npts = rows.wave[j].size
        if npts != nx:
            return spread_reference(rows, sc, wbig, blaze, fbig, dydw, yyamp, shape, last)
        i1 = (NSBIG - npts) // 2
        eblaze, forder, worder = blaze[j], fbig[j], wbig[j]
        if not np.all(eblaze[i1 - lsf_off : i1 + npts + lsf_off] != 0.0):
            raise EngineError("zero ripple in the extended order", keyword="RIPTAB")
        eon = eblaze[i1 : i1 + npts]
        w_on, y_on = rows.wave[j], rows.extrlocy[j].astype(F64)
        for ilsf in range(nel - 1, -1, -1):
            ipix = cols - ilsf + lsf_off + i1
            p2 = ipix + lsf_off - i1
            l2 = np.where(p2 > nx - 1, (nx - 1) + (nel - 1) - p2, nel - 1)
            f = ((forder[ipix] * eon).astype(F32) / eblaze[ipix]).astype(F32).astype(F64)
            dw = w_on - worder[ipix].astype(F64)
            y = y_on - dydw * dw + ramp[ilsf]
            y1 = np.trunc(y).astype(np.int64)
            fr2 = y - y1
            fr1 = 1.0 - fr2
            ok = (y1 >= 0) & (y1 + 1 < ny) & (ilsf < l2)
            if not ok.any():
                continue
            ixx, iy1 = cols[ok], y1[ok]
            fa, a1, a2 = f[ok], fr1[ok], fr2[ok]
            for img, sv in ((mod1, s1[ilsf]), (mod2, s2[ilsf])) + (((obj, s2[ilsf]),) if last else ()):
                img[iy1, ixx] = (img[iy1, ixx].astype(F64) + fa * sv * a1).astype(F32)
                img[iy1 + 1, ixx] = (img[iy1 + 1, ixx].astype(F64) + fa * sv * a2).astype(F32)
    return mod1, mod2, obj


def spread_reference(rows: Rows, sc: Scatter, wbig, blaze, fbig, dydw, yyamp, shape, last: bool):
    """The echelle scattering of one iteration as the C loops it: every extended pixel's model flux
    spread along its order's scattering function onto the image rows at EXTRLOCY (split between two
    rows), float sums in the C's order (orders, source pixels, receiving pixels). Returns (mod1,
    mod2, object)."""
    ny, nx = shape
    mod1 = np.zeros(shape, F32)
    mod2 = np.zeros(shape, F32)
    obj = np.zeros(shape, F32)
    for j in range(len(rows.wave)):
        k = index_scatter(sc, rows.sporder[j])
        if k < 0:
            raise EngineError(f"No matching order (# {rows.sporder[j]}) in ECHSCTAB table.", keyword="ECHSCTAB")
        values = sc.echsc[k][1]
        nel = values.size
        lsf_off = nel // 2
        s1, s2, ramp = _lsf_parts(values, yyamp)
        npts = rows.wave[j].size
        i1 = (NSBIG - npts) // 2
        i2 = i1 + npts - 1
        eblaze, forder, worder = blaze[j], fbig[j], wbig[j]
        eon = eblaze[i1 : i1 + npts]
        w_on, y_on = rows.wave[j], rows.extrlocy[j].astype(F64)
        for ipix in range(i1 - lsf_off, i2 + lsf_off + 1):
            p1, p2 = ipix - lsf_off - i1, ipix + lsf_off - i1
            l1, l2 = 0, nel - 1
            if p1 < 0:
                l1, p1 = -p1, 0
            if p2 > nx - 1:
                l2, p2 = (nx - 1) + l2 - p2, nx - 1
            if p2 < p1:
                raise EngineError("scattering function outside the image", keyword="ECHSCTAB")
            if eblaze[ipix] == 0.0:
                raise EngineError("zero ripple in the extended order", keyword="RIPTAB")
            L = p2 - p1 + 1
            f = ((forder[ipix] * eon[p1 : p2 + 1]).astype(F32) / eblaze[ipix]).astype(F32).astype(F64)
            dw = w_on[p1 : p2 + 1] - float(worder[ipix])
            ilsf = l1 + np.arange(L)
            y = y_on[p1 : p2 + 1] - dydw * dw + ramp[ilsf]
            y1 = np.trunc(y).astype(np.int64)
            fr2 = y - y1
            fr1 = 1.0 - fr2
            ixx = p1 + np.arange(L)
            ok = (y1 >= 0) & (y1 < ny) & (y1 + 1 < ny) & (y1 + 1 >= 0) & (ilsf < l2)
            if not ok.any():
                continue
            ixx, iy1, il = ixx[ok], y1[ok], ilsf[ok]
            fa, a1, a2 = f[ok], fr1[ok], fr2[ok]
            for img, s in ((mod1, s1), (mod2, s2)) + (((obj, s2),) if last else ()):
                img[iy1, ixx] = (img[iy1, ixx].astype(F64) + fa * s[il] * a1).astype(F32)
                img[iy1 + 1, ixx] = (img[iy1 + 1, ixx].astype(F64) + fa * s[il] * a2).astype(F32)
    return mod1, mod2, obj


def _cross_disperse(img: np.ndarray, spsf: np.ndarray) -> np.ndarray:
    """The model's first part convolved column by column with EXSTAB's profile: zero-padded columns,
    double sums over the C's clamped window, stored as float. The image's rows of the padded column
    never reach a clamped edge (the padding is half the profile), so row ``r``'s window is the padded
    rows ``r … r + n − 1``: the sums are taken over shifted slices, in the window's order."""
    ny, nx = img.shape
    n = spsf.size
    i1 = n // 2
    pad = np.zeros((ny + n, nx), F64)
    pad[i1 : i1 + ny] = img
    acc = np.zeros((ny, nx), F64)
    for k in range(n):
        acc += pad[k : k + ny] * float(spsf[k])
    return acc.astype(F32)


def cross_disperse_reference(img: np.ndarray, spsf: np.ndarray) -> np.ndarray:
    """:func:`_cross_disperse` over every padded row with the clamped windows (as the C loops)."""
    ny, nx = img.shape
    n = spsf.size
    npix = ny + n
    i1 = n // 2
    pad = np.zeros((npix, nx), F64)
    pad[i1 : i1 + ny] = img
    win = clamped_window(npix, n)
    acc = np.zeros((npix, nx), F64)
    for k in range(n):
        acc += pad[win[:, k], :] * float(spsf[k])
    return acc[i1 : i1 + ny].astype(F32)


def _blend(images: list, linepos, mpsfpos, mline, ny_in: int) -> np.ndarray:
    """The convolved models at the reference wavelengths joined by rows (``FillArray`` between the
    kernel rows, the next image from its row on)."""
    out = images[0].copy()
    for k in range(1, len(images)):
        a, b = images[k - 1], images[k]
        for j in range(int(linepos[k - 1]), int(linepos[k])):
            if 0 <= j < out.shape[0]:
                frac2 = F32((mline[j] - mpsfpos[k - 1]) / (mpsfpos[k] - mpsfpos[k - 1]))
                frac1 = F32(1.0) - frac2
                out[j] = (frac1 * a[j] + frac2 * b[j]).astype(F32)
        out[int(linepos[k]) :] = b[int(linepos[k]) :]
    return out


def scattered_light(sci_shape, rows: Rows, sc: Scatter, opt_elem: str, exptime: float, extract) -> np.ndarray:
    """The IDT iterations for one imset (low-res): from the first extraction `rows` (no flux
    calibration, no background smoothing), NITER rounds of model building, each but the last
    re-extracted with `extract(model image) -> Rows`; returns the scattered-light image (the model
    minus its object part), float32."""
    ny, nx = sci_shape
    nrows = len(rows.wave)
    if nrows < 3:
        raise EngineError("fewer than 3 orders extracted", keyword="SC2DCORR")
    if opt_elem in ("E230M", "E230H"):
        raise EngineError("the NUV-MAMA window ghost (AddGhost) is not ported", keyword="SC2DCORR")
    scale, inc_scale, yyamp = order_scale(opt_elem, rows.sporder)
    mid = [w.size // 2 for w in rows.wave]
    h1 = [float(rows.wave[j][mid[j]]) for j in range(nrows)]
    h2 = [float(rows.extrlocy[j][mid[j]]) for j in range(nrows)]
    h3 = [float(m) for m in rows.sporder]
    nwave = len(sc.kernw)
    linepos, mpsfpos = [0.0] * 3, [0.0] * 3
    k1 = k2 = 0
    for i in range(3):
        kw = sc.kernw[i] if i < nwave else 0.0
        if kw > 0.0:
            v, k1 = interpolate(kw, k1, h1, h2)
            v = float(round_half_away(v))
            v = min(max(v, 0.0), float(ny - 1))
            linepos[i] = v
            mpsfpos[i], k2 = interpolate(v, k2, h2, h3)
    mline = interpolate_run(np.arange(ny, dtype=F64), 0, h2, h3)[0]
    wbig, blaze = _extended(rows, sc)
    dydw = median_rows_per_angstrom(rows.extrlocy, rows.wave)
    if dydw == 0.0:
        raise EngineError("MedianRowsPerAngstrom failed", keyword="SC2DCORR")
    net = [n.copy() for n in rows.net]
    for j in range(nrows):
        npts = net[j].size
        i1 = (NSBIG - npts) // 2
        b = blaze[j, i1 : i1 + npts]
        net[j] = (net[j].astype(F64) * scale[j]).astype(F32)
        net[j] = np.where(b != 0.0, (net[j] / np.where(b != 0.0, b, F32(1))).astype(F32), net[j])
    wm, fm = splice(rows.wave, net, exptime)
    fm = np.where(fm > -20.0 * exptime, fm, -20.0 * exptime)
    for j in range(nrows):
        npts = net[j].size
        i1 = (NSBIG - npts) // 2
        b = blaze[j, i1 : i1 + npts]
        net[j] = np.where(b != 0.0, (net[j] * b).astype(F32), net[j])
        net[j] = (net[j].astype(F64) / scale[j]).astype(F32)
    for it in range(1, NITER + 1):
        last = it == NITER
        fbig = np.zeros((nrows, NSBIG), F32)
        bounds = (float(wm.min()), float(wm.max()))
        for j in range(nrows):
            v = interpolate_run(wbig[j], 0, wm, fm, bounds)[0]
            fbig[j] = (v * blaze[j].astype(F64)).astype(F32)
        n0 = rows.wave[0].size
        i2 = (NSBIG - n0) // 2 + n0 - 1
        fbig[0, i2:] = fbig[0, i2 - 10]
        nl = rows.wave[nrows - 1].size
        i1 = (NSBIG - nl) // 2
        fbig[nrows - 1, :i1] = fbig[nrows - 1, i1 + 10]
        mod1, mod2, obj = _spread(rows, sc, wbig, blaze, fbig, dydw, yyamp, (ny, nx), last)
        mod1 = _cross_disperse(mod1, sc.spsf)
        model = (mod1 + mod2).astype(F32)
        conv = [fft_convolve2(model, sc.ft[k]) for k in range(nwave)]
        model = _blend(conv, linepos, mpsfpos, mline, ny)
        if last:
            oconv = [fft_convolve2(obj, sc.fto[k]) for k in range(nwave)]
            obj = _blend(oconv, linepos, mpsfpos, mline, ny)
            break
        rows2 = extract(model)
        if len(rows2.wave) != nrows:
            raise EngineError("the model's extraction has a different number of orders", keyword="SC2DCORR")
        new = []
        for j in range(nrows):
            npts = rows2.net[j].size
            i1 = (NSBIG - npts) // 2
            d = (net[j] - rows2.net[j]).astype(F32).astype(F64) * inc_scale
            v = (fbig[j, i1 : i1 + npts].astype(F64) / exptime + d).astype(F32)
            b = blaze[j, i1 : i1 + npts]
            new.append(np.where(b != 0.0, (v / np.where(b != 0.0, b, F32(1))).astype(F32), v))
        wm, fm = splice(rows2.wave, new, exptime)
    return (model - obj).astype(F32)
