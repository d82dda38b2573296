"""Single-precision complex FFT of HSTCAL's ``lib/ncarfft.f`` (NCAR FFTPACK ``cffti``/``cfftf``/``cfftb``,
P. Swarztrauber) and calstis's ``lib/xcfft.c`` (``fft2d``/``ifft2d``), in the same float32 operations
and order, so cross correlations equal calstis4's bit for bit.

Transforms run along the last axis of ``(batch, n)`` arrays (real and imaginary parts separate);
the 2-D transforms do every line, then every column, as ``fft2d`` does. Lengths whose factors are
2, 3 and 4 only are ported (FFTPACK's radix-5 and general passes are not): other lengths raise
ValueError. The trigonometric table (``cffti1``) is made with the C library's ``cosf``/``sinf``, as
the Fortran's single-precision ``cos``/``sin``.

>>> import numpy as np
>>> re = np.arange(8, dtype=np.float32)[None, :]
>>> fr, fi = cfft(re, np.zeros_like(re), forward=True)
>>> float(fr[0, 0]), float(fi[0, 0])
(28.0, 0.0)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from functools import lru_cache

import numpy as np

from ..common.kernels import load
from ..common.threads import thread_count

F32 = np.float32
KERNELS = "caldp.engines.stis._kernels"


def _libm():
    name = ctypes.util.find_library("m")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        lib = None
    if lib is None:
        return None
    for f in (lib.cosf, lib.sinf):
        f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
    return lib


_LIBM = _libm()


def _cosf(x: np.float32) -> np.float32:
    if _LIBM is not None:
        return F32(_LIBM.cosf(float(x)))
    return F32(math.cos(float(x)))


def _sinf(x: np.float32) -> np.float32:
    if _LIBM is not None:
        return F32(_LIBM.sinf(float(x)))
    return F32(math.sin(float(x)))


def factors(n: int) -> list[int]:
    """``cffti1``'s factorisation: trial factors 3, 4, 2, 5, 7, 9, …; a factor 2 found after others
    moves to the front."""
    nl, fac, j, ntry = n, [], 0, 0
    tries = (3, 4, 2, 5)
    while nl != 1:
        ntry = tries[j] if j < 4 else ntry + 2
        j += 1
        while nl % ntry == 0:
            fac.append(ntry)
            nl //= ntry
            if ntry == 2 and len(fac) > 1:
                fac = [2] + fac[:-1]
            if nl == 1:
                break
    return fac


@lru_cache(maxsize=16)
def cffti(n: int) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    """(factors, twiddle real parts, twiddle imaginary parts) of length `n` (``cffti``/``cffti1``)."""
    fac = factors(n)
    if any(p not in (2, 3, 4) for p in fac):
        raise ValueError(f"FFT length {n} has factors other than 2, 3 and 4 (not ported)")
    tpi = F32(6.28318530717959)
    argh = F32(tpi / F32(n))
    wr: list[np.float32] = []
    wi: list[np.float32] = []
    l1 = 1
    for ip in fac:
        l2 = l1 * ip
        ido = n // l2
        ld = 0
        for _ in range(ip - 1):
            ld += l1
            argld = F32(F32(ld) * argh)
            wr.append(F32(1.0))
            wi.append(F32(0.0))
            for c in range(1, ido):
                arg = F32(F32(c) * argld)
                wr.append(_cosf(arg))
                wi.append(_sinf(arg))
        l1 = l2
    return tuple(fac), np.array(wr, F32), np.array(wi, F32)


def _pass2(cr, ci, wr, wi, ido, l1, forward):
    """``passf2``/``passb2``: cc (batch, l1, 2, ido) → ch (batch, 2, l1, ido)."""
    r1, r2 = cr[:, :, 0], cr[:, :, 1]
    i1, i2 = ci[:, :, 0], ci[:, :, 1]
    if ido == 1:
        return np.stack((r1 + r2, r1 - r2), 1), np.stack((i1 + i2, i1 - i2), 1)
    tr2, ti2 = r1 - r2, i1 - i2
    w1r, w1i = wr[:ido], wi[:ido]
    if forward:
        ch2i = w1r * ti2 - w1i * tr2
        ch2r = w1r * tr2 + w1i * ti2
    else:
        ch2i = w1r * ti2 + w1i * tr2
        ch2r = w1r * tr2 - w1i * ti2
    return np.stack((r1 + r2, ch2r), 1), np.stack((i1 + i2, ch2i), 1)


def _pass3(cr, ci, wr, wi, ido, l1, forward):
    taur = F32(-0.5)
    taui = F32(-0.866025403784439) if forward else F32(0.866025403784439)
    r1, r2, r3 = cr[:, :, 0], cr[:, :, 1], cr[:, :, 2]
    i1, i2, i3 = ci[:, :, 0], ci[:, :, 1], ci[:, :, 2]
    tr2 = r2 + r3
    cr2 = r1 + taur * tr2
    h1r = r1 + tr2
    ti2 = i2 + i3
    ci2 = i1 + taur * ti2
    h1i = i1 + ti2
    cr3 = taui * (r2 - r3)
    ci3 = taui * (i2 - i3)
    if ido == 1:
        return np.stack((h1r, cr2 - ci3, cr2 + ci3), 1), np.stack((h1i, ci2 + cr3, ci2 - cr3), 1)
    dr2, dr3, di2, di3 = cr2 - ci3, cr2 + ci3, ci2 + cr3, ci2 - cr3
    w1r, w1i, w2r, w2i = wr[:ido], wi[:ido], wr[ido : 2 * ido], wi[ido : 2 * ido]
    if forward:
        h2i, h2r = w1r * di2 - w1i * dr2, w1r * dr2 + w1i * di2
        h3i, h3r = w2r * di3 - w2i * dr3, w2r * dr3 + w2i * di3
    else:
        h2i, h2r = w1r * di2 + w1i * dr2, w1r * dr2 - w1i * di2
        h3i, h3r = w2r * di3 + w2i * dr3, w2r * dr3 - w2i * di3
    return np.stack((h1r, h2r, h3r), 1), np.stack((h1i, h2i, h3i), 1)


def _pass4(cr, ci, wr, wi, ido, l1, forward):
    r1, r2, r3, r4 = (cr[:, :, k] for k in range(4))
    i1, i2, i3, i4 = (ci[:, :, k] for k in range(4))
    ti1, ti2, ti3 = i1 - i3, i1 + i3, i2 + i4
    tr1, tr2, tr3 = r1 - r3, r1 + r3, r2 + r4
    if forward:
        tr4, ti4 = i2 - i4, r4 - r2
    else:
        tr4, ti4 = i4 - i2, r2 - r4
    h1r, cr3, h1i, ci3 = tr2 + tr3, tr2 - tr3, ti2 + ti3, ti2 - ti3
    cr2, cr4, ci2, ci4 = tr1 + tr4, tr1 - tr4, ti1 + ti4, ti1 - ti4
    if ido == 1:
        return np.stack((h1r, cr2, cr3, cr4), 1), np.stack((h1i, ci2, ci3, ci4), 1)
    ws = [(wr[k * ido : (k + 1) * ido], wi[k * ido : (k + 1) * ido]) for k in range(3)]
    outr, outi = [h1r], [h1i]
    for (w_r, w_i), (a, b) in zip(ws, ((cr2, ci2), (cr3, ci3), (cr4, ci4)), strict=True):
        if forward:
            outr.append(w_r * a + w_i * b)
            outi.append(w_r * b - w_i * a)
        else:
            outr.append(w_r * a - w_i * b)
            outi.append(w_r * b + w_i * a)
    return np.stack(outr, 1), np.stack(outi, 1)


_PASSES = {2: _pass2, 3: _pass3, 4: _pass4}


def cfft(re: np.ndarray, im: np.ndarray, *, forward: bool) -> tuple[np.ndarray, np.ndarray]:
    """``cfftf`` (forward) or ``cfftb`` (backward, unnormalised) of each row of (re, im), float32.
    The C kernel (``_kernels.cfft``, the same passes row by row) when built, else
    :func:`cfft_numpy` (the reference)."""
    k = load(KERNELS)
    if k is None:
        return cfft_numpy(re, im, forward=forward)
    re = np.array(re, F32, order="C")  # a copy: transformed in place
    im = np.array(im, F32, order="C")
    batch, n = re.shape
    if n == 1:
        return re, im
    fac, wr, wi = cffti(n)
    k.cfft(re, im, batch, n, bytes(fac), wr, wi, bool(forward))
    return re, im


def cfft_numpy(re: np.ndarray, im: np.ndarray, *, forward: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cfft` in NumPy, every pass over all rows at once (the C kernel's reference)."""
    re = np.ascontiguousarray(re, F32)
    im = np.ascontiguousarray(im, F32)
    batch, n = re.shape
    if n == 1:
        return re.copy(), im.copy()
    fac, wr, wi = cffti(n)
    l1, iw = 1, 0
    for ip in fac:
        l2 = ip * l1
        ido = n // l2
        cr = re.reshape(batch, l1, ip, ido)
        ci = im.reshape(batch, l1, ip, ido)
        hr, hi = _PASSES[ip](cr, ci, wr[iw:], wi[iw:], ido, l1, forward)
        re = np.ascontiguousarray(hr, F32).reshape(batch, n)
        im = np.ascontiguousarray(hi, F32).reshape(batch, n)
        l1 = l2
        iw += (ip - 1) * ido
    return re, im


def fft2d(re: np.ndarray, im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``fft2d``: forward transform of every line (ny, nx), then of every column. The C kernel
    (``_kernels.fft2d``: the same passes, columns gathered in blocks instead of transposed copies) when
    built, else :func:`fft2d_numpy` (the reference)."""
    out = _fft2d_kernel(re, im, forward=True)
    return out if out is not None else fft2d_numpy(re, im)


def ifft2d(re: np.ndarray, im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ifft2d``: backward transform of every line, then of every column, each column divided by
    nx·ny (as a float) as it is copied back. C kernel or :func:`ifft2d_numpy`, as :func:`fft2d`."""
    out = _fft2d_kernel(re, im, forward=False)
    return out if out is not None else ifft2d_numpy(re, im)


def ifft2d_columns(re: np.ndarray, im: np.ndarray, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns ``x0:x1`` of :func:`ifft2d` (the kernel does the column pass of those columns only)."""
    out = _fft2d_kernel(re, im, forward=False, cols=(x0, x1))
    if out is None:
        out = ifft2d_numpy(re, im)
    return np.ascontiguousarray(out[0][:, x0:x1]), np.ascontiguousarray(out[1][:, x0:x1])


def _fft2d_kernel(re, im, *, forward: bool, cols: tuple[int, int] | None = None):
    k = load(KERNELS)
    if k is None or re.ndim != 2 or min(re.shape) < 2:
        return None
    ny, nx = re.shape
    re = np.array(re, F32, order="C")  # copies: transformed in place
    im = np.array(im, F32, order="C")
    fx, wrx, wix = cffti(nx)
    fy, wry, wiy = cffti(ny)
    nthreads = min(thread_count(), 2)
    x0, x1 = cols if cols is not None else (0, nx)
    k.fft2d(
        re, im, ny, nx, bytes(fx), wrx, wix, bytes(fy), wry, wiy, bool(forward), float(F32(nx * ny)), nthreads, x0, x1
    )
    return re, im


def fft2d_numpy(re: np.ndarray, im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fft2d` by :func:`cfft_numpy` over the lines, then over the transposed columns."""
    re, im = cfft_numpy(re, im, forward=True)
    re, im = cfft_numpy(re.T, im.T, forward=True)
    return np.ascontiguousarray(re.T), np.ascontiguousarray(im.T)


def ifft2d_numpy(re: np.ndarray, im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ifft2d` by :func:`cfft_numpy`."""
    ny, nx = re.shape
    re, im = cfft_numpy(re, im, forward=False)
    re, im = cfft_numpy(re.T, im.T, forward=False)
    norm = F32(nx * ny)
    return np.ascontiguousarray(re.T / norm), np.ascontiguousarray(im.T / norm)
