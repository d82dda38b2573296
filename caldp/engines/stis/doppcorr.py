"""DOPPCORR for MAMA ACCUM data (HSTCAL ``cs1/makedopp.c``, ``cs1/doppconv.c``): the on-board Doppler
correction moved the image along the dispersion (x) axis during the exposure, so calstis1 smears the
dark and the flat (and widens the BPIXTAB flags) with the same motion before using them.

:func:`make_dopp` is the smearing function (one-second steps of the exposure, each shift rounded to
whole high-res pixels, normalised in float); :func:`dopp_conv` convolves SCI/ERR/DQ rows with it.
"""

from __future__ import annotations

import math

import numpy as np

from ..common.errors import EngineError
from ..common.kernels import c_array, load

F32 = np.float32
PI = 3.1415926535897932384626433
DT = 1.0 / 86400.0  # one second in days
KERNELS = "caldp.engines.stis._kernels"


def _nint(x: float) -> int:
    return int(x + 0.5) if x >= 0 else int(x - 0.5)


def make_dopp(doppzero: float, doppmag: float, orbitper: float, expstart: float, exptime: float, dispsign: int):
    """``MakeDopp``: (ds float32[2n+1], d0 = n) with n = int(DOPPMAG + 1); ds[d0 + i] is the fraction of
    one-second steps whose shift ``∓DOPPMAG·sin(2π(t − DOPPZERO)/ORBITPER)`` rounds to i.

    >>> ds, d0 = make_dopp(60000.0, 2.0, 5760.0, 60000.0, 0.0, 1)
    >>> d0, ds.tolist()
    (3, [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    """
    if orbitper <= 0.0:
        raise EngineError(f"ORBITPER = {orbitper:.6g}.", keyword="ORBITPER")
    if doppmag <= 0.0:
        raise EngineError(f"DOPPMAG = {doppmag:.6g}.", keyword="DOPPMAG")
    n = int(doppmag + 1.0)
    ds = np.zeros(2 * n + 1, F32)
    period = orbitper / 86400.0
    days = exptime / 86400.0
    t0 = expstart - doppzero
    end = t0 + days
    # t += DT in double, one step at a time, while t <= end (np.add.accumulate adds in that order)
    steps = np.full(int(days / DT) + 3, DT)
    steps[0] = t0
    times = np.add.accumulate(steps)
    times = times[: int(np.count_nonzero(times <= end)) if times[0] <= end else 0]
    count = F32(0.0)
    for t in times.tolist():
        shift = math.sin(t * 2.0 * PI / period) * doppmag
        shift = -shift if dispsign == 1 else shift
        ds[n + _nint(shift)] += F32(1.0)
        count += F32(1.0)
    if count > 0:
        ds /= count
    return ds, n


def dopp_range(ds: np.ndarray, d0: int) -> tuple[int, int]:
    """(kmin − d0, kmax − d0): the offsets of the non-zero elements of `ds` (0, 0 when none)."""
    nz = np.flatnonzero(ds > 0)
    if nz.size == 0:
        return (len(ds) - 1) - d0, -d0
    return int(nz[0]) - d0, int(nz[-1]) - d0


def dopp_conv(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, ds: np.ndarray, d0: int, border: int) -> None:
    """``DoppConv`` in place, row by row along x: SCI (its `border` pixels at each end taken as 0, for
    the flight software's effective subarray) and ERR (root of the sum of (ERR·ds)²) are float sums over
    the ds elements from the first to the last non-zero one, in index order; DQ is the OR over the same
    pixels. The C kernel (``_kernels.dopp_conv``, one pass per row) when built and the arrays are
    C-contiguous float32/uint16, else :func:`dopp_conv_numpy` (the reference).

    >>> s = np.array([[0.0, 4.0, 0.0, 0.0]], F32); e = s.copy(); d = np.array([[0, 4, 0, 0]], np.uint16)
    >>> dopp_conv(s, e, d, np.array([0.0, 0.5, 0.5], F32), 1, 0)
    >>> s.tolist(), e.tolist(), d.tolist()
    ([[0.0, 2.0, 2.0, 0.0]], [[0.0, 2.0, 2.0, 0.0]], [[0, 4, 4, 0]])
    """
    k = load(KERNELS)
    arrays_ok = all(a.flags.c_contiguous and a.flags.writeable for a in (sci, err, dq))
    types_ok = (
        sci.dtype == err.dtype == ds.dtype == F32 and dq.dtype == np.uint16 and sci.shape == err.shape == dq.shape
    )
    weights_ok = types_ok and bool(np.all(np.isfinite(ds) & (ds >= 0)))  # the kernel skips padding terms (+0)
    if k is None or not (arrays_ok and weights_ok and sci.ndim == 2):
        dopp_conv_numpy(sci, err, dq, ds, d0, border)
        return
    nz = np.flatnonzero(ds > 0)
    if nz.size == 0:  # no term: SCI and ERR sums of nothing (0), DQ the OR of nothing
        sci[...] = 0
        err[...] = 0
        dq[...] = 0
        return
    ny, nx = sci.shape
    k.dopp_conv(sci, err, dq, ny, nx, c_array(ds, F32), int(nz[0]), int(nz[-1]), int(d0), int(border))


def dopp_conv_numpy(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, ds: np.ndarray, d0: int, border: int) -> None:
    """:func:`dopp_conv` in NumPy (the reference of the C kernel)."""
    ny, nx = sci.shape
    nds = ds.size
    nz = np.flatnonzero(ds > 0)
    kmin, kmax = (int(nz[0]), int(nz[-1])) if nz.size else (nds - 1, 0)
    ks = range(kmin, kmax + 1)
    pad = np.zeros((ny, nx + nds - 1), F32)
    if nx - 2 * border > 0:
        pad[:, border + d0 : nx - border + d0] = sci[:, border : nx - border]
    acc = np.zeros((ny, nx), F32)
    for k in ks:
        acc += pad[:, 2 * d0 - k : 2 * d0 - k + nx] * ds[k]
    sci[...] = acc
    pad[:, d0 : d0 + nx] = err
    acc[...] = 0
    for k in ks:
        x = pad[:, 2 * d0 - k : 2 * d0 - k + nx]
        acc += x * x * ds[k] * ds[k]
    np.sqrt(acc, out=err)
    dpad = np.zeros((ny, nx + nds - 1), dq.dtype)
    dpad[:, d0 : d0 + nx] = dq
    out = np.zeros_like(dq)
    for k in ks:
        out |= dpad[:, 2 * d0 - k : 2 * d0 - k + nx]
    dq[...] = out
