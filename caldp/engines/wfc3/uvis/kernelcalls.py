"""C-kernel calls of the fused UVIS passes (``caldp.engines.wfc3.uvis._kernels``) and their parameters.

:mod:`~caldp.engines.wfc3.uvis.passes` chooses between these and the NumPy step functions; a step
function (``darkcorr``, ``flatcorr``, ``noise``) calls them directly for its own fast path. This
module imports no step module, so the step modules and ``passes`` import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...common.kernels import c_array, load
from .geometry import AmpRegion

F32 = np.float32
F64 = np.float64
U16 = np.uint16
KERNELS = "caldp.engines.wfc3.uvis._kernels"


def kernels():
    """The UVIS kernel module, or None (NumPy implementations)."""
    return load(KERNELS)


def own(a: np.ndarray, dtype) -> np.ndarray:
    """`a` if it is a writable C-contiguous native array of `dtype`, else a copy that is.

    >>> a = np.zeros(3, np.float32); own(a, np.float32) is a, own(a[::2], np.float32) is a
    (True, False)
    """
    dtype = np.dtype(dtype).newbyteorder("=")
    if a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable:
        return a
    return np.array(a, dtype=dtype, order="C", copy=True)


def ref_rows(a: np.ndarray, dtype) -> np.ndarray:
    """A reference array for the kernels: C-contiguous, or — when every row is the same view of one
    row (strides 0 along y, e.g. a constant extension) — just that row, which the kernels reuse.

    >>> ref_rows(np.broadcast_to(np.float32(2), (3, 4)), np.float32).shape, ref_rows(np.ones((3, 4)), np.float32).shape
    ((4,), (3, 4))
    """
    if a.ndim == 2 and a.shape[0] > 1 and a.strides[0] == 0:
        return c_array(a[0], dtype)
    return c_array(a, dtype)


def _empty(n: int, dtype) -> np.ndarray:
    return np.zeros(n, dtype=dtype)


def _is_own(a: np.ndarray, dtype) -> bool:
    return a.dtype == np.dtype(dtype).newbyteorder("=") and a.flags.c_contiguous and a.flags.writeable


@dataclass(frozen=True, slots=True)
class NoisePars:
    """Inputs of :func:`noise.init_error` (slot values, float32)."""

    boundary: int
    gain: tuple
    readnoise: tuple
    bias: tuple


@dataclass(frozen=True, slots=True)
class SatPars:
    """DQICORR saturation test: `mask` None → whole array, else (rows, cols) bool masks (union)."""

    saturate: float
    mask: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True, slots=True)
class FullWellPars:
    """Full-frame full-well test: `satmap` (raw shape, e⁻), the chip's regions, the mean gain."""

    satmap: np.ndarray
    regions: list[AmpRegion]
    mean_gain: float


@dataclass(frozen=True, slots=True)
class DarkPars:
    """A DARKCORR/FLSHCORR scaled subtraction: reference section, k0 (EXPTIME/FLASHDUR), slot gains."""

    ref: np.ndarray
    ref_err: np.ndarray
    ref_dq: np.ndarray
    k0: float
    gain: tuple
    ampx: int
    sdqflags: int


@dataclass(frozen=True, slots=True)
class FlatPars:
    """A flat division: section under the data and, for the first flat, the mean gain to scale by."""

    flat: np.ndarray
    flat_err: np.ndarray
    flat_dq: np.ndarray
    mean_gain: float | None = None


def slot_scales(k0: float, gain) -> tuple[np.float32, np.float32]:
    """(k of columns < ampx, k of the others) of ``multgn1d`` (slot 0 is 0 without a positive gain).

    >>> [float(v) for v in slot_scales(100.0, (2.0, 4.0))]
    [50.0, 25.0]
    """
    k0 = F32(k0)
    g0, g1 = F32(gain[0]), F32(gain[1])
    k_0 = k0 / g0 if g0 > 0 else F32(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        k_1 = k0 / g1
    return F32(k_0), F32(k_1)


def first_pass_c(k, sci, err, dq, *, noise: NoisePars | None, dqicorr: bool, sat: SatPars | None):
    """The C branch of :func:`~caldp.engines.wfc3.uvis.passes.ccd_first_pass` (kernel module `k`); returns (err, dq)."""
    ny, nx = sci.shape
    sci = c_array(sci, F32)
    err = own(err, F32) if noise is None else (err if _is_own(err, F32) else np.empty((ny, nx), F32))
    dq = own(dq, U16) if dqicorr else dq  # without DQICORR the kernel does not touch dq
    if noise is not None:
        g = [float(F32(v)) for v in noise.gain]
        r2 = [float(F32(F32(v) * F32(v))) for v in noise.readnoise]
        b = [float(F32(v)) for v in noise.bias]
    else:
        g = r2 = b = [0.0, 0.0]
    mode, rows, cols = 0, _empty(0, np.uint8), _empty(0, np.uint8)
    if dqicorr and sat is not None:
        mode = 1
        if sat.mask is not None:
            mode = 2
            rows, cols = (c_array(m, np.uint8) for m in sat.mask)
    k.ccd_init(
        sci,
        err,
        dq if dqicorr else _empty(0, U16),
        ny,
        nx,
        noise is not None,
        int(noise.boundary) if noise is not None else 0,
        g[0],
        g[1],
        r2[0],
        r2[1],
        b[0],
        b[1],
        dqicorr,
        mode,
        float(F32(sat.saturate)) if sat is not None else 0.0,
        rows,
        cols,
    )
    return err, dq


def bias_pass_c(k, sci, err, dq, *, levels: list | None, bias, fullwell: FullWellPars | None):
    """The C branch of :func:`~caldp.engines.wfc3.uvis.passes.ccd_bias_pass`; returns (sci, err, dq, nbias, nsat)."""
    ny, nx = sci.shape
    sci, err, dq = own(sci, F32), own(err, F32), own(dq, U16)
    levels = levels or []
    regions = np.array([[lv.region.begx, lv.region.endx, lv.region.begy, lv.region.endy] for lv in levels], np.int64)
    rowbias = np.zeros((len(levels), ny), F64)
    colbias = np.zeros((len(levels), nx), F64)
    for i, lv in enumerate(levels):
        rowbias[i, lv.region.begy : lv.region.endy] = lv.rows
        colbias[i, lv.region.begx : lv.region.endx] = lv.cols
    if bias is not None:
        bs, be, bd = (ref_rows(a, t) for a, t in zip(bias, (F32, F32, U16), strict=True))
    else:
        bs, be, bd = _empty(0, F32), _empty(0, F32), _empty(0, U16)
    if fullwell is not None and fullwell.regions:
        if fullwell.satmap.shape != sci.shape:
            raise ValueError("satmap must have the shape of sci")
        satmap = ref_rows(fullwell.satmap, F32)
        fy0, fy1 = fullwell.regions[0].begy, fullwell.regions[0].endy
        fwcols = np.array([[r.begx, r.endx] for r in fullwell.regions[:2]], np.int64)
        mean_gain = float(F32(fullwell.mean_gain))
    else:
        satmap, fy0, fy1, fwcols, mean_gain = _empty(0, F32), 0, 0, np.zeros((0, 2), np.int64), 1.0
    nbias, nsat = k.ccd_bias(
        sci,
        err,
        dq,
        ny,
        nx,
        len(levels),
        regions,
        rowbias,
        colbias,
        bias is not None,
        bs,
        be,
        bd,
        fullwell is not None and bool(fullwell.regions),
        satmap,
        max(fy0, 0),
        min(fy1, ny),
        len(fwcols),
        fwcols,
        mean_gain,
    )
    return sci, err, dq, int(nbias), int(nsat)


def twod_pass_c(k, sci, err, dq, *, dark: DarkPars | None, flat: FlatPars | None, out=None):
    """The C branch of :func:`~caldp.engines.wfc3.uvis.passes.twod_pass`: returns (sci, err, dq, per-row sums
    m and weights w of the scaled reference for MEANDARK, pixels newly flagged BADFLAT)."""
    sci, err, dq = _into(sci, err, dq, out)
    ny, nx = sci.shape
    m, w = np.zeros(ny, F32), np.zeros(ny, F32)
    if dark is not None:
        r, re, rd = (
            ref_rows(a, t) for a, t in zip((dark.ref, dark.ref_err, dark.ref_dq), (F32, F32, U16), strict=True)
        )
        k0, k1 = slot_scales(dark.k0, dark.gain)
        ampx = max(0, min(int(dark.ampx), nx))
        sdq = int(dark.sdqflags)
    else:
        r, re, rd = _empty(0, F32), _empty(0, F32), _empty(0, U16)
        k0 = k1 = F32(0)
        ampx, sdq = 0, 0
    if flat is not None:
        f, fe, fd = (
            ref_rows(a, t) for a, t in zip((flat.flat, flat.flat_err, flat.flat_dq), (F32, F32, U16), strict=True)
        )
        scale = flat.mean_gain is not None
        kf = F32(0)
        if scale:
            g = F32(flat.mean_gain)
            kf = F32(F32(1.0) / g) if g > 0 else F32(0)
    else:
        f, fe, fd = _empty(0, F32), _empty(0, F32), _empty(0, U16)
        scale, kf = False, F32(0)
    nbad = k.twod(
        sci, err, dq, ny, nx, dark is not None, r, re, rd, float(k0), float(k1), ampx, sdq, m, w,
        flat is not None, f, fe, fd, scale, float(kf),
    )  # fmt: skip
    return sci, err, dq, m, w, int(nbad)


def _into(sci, err, dq, out):
    """Arrays the kernel may write: `out` (filled with the inputs first unless it is them) or copies."""
    if out is None:
        return (
            np.array(sci, F32, order="C", copy=True),
            np.array(err, F32, order="C", copy=True),
            np.array(dq, U16, order="C", copy=True),
        )
    result = []
    for src, dst, t in zip((sci, err, dq), out, (F32, F32, U16), strict=True):
        if dst.shape != src.shape:
            raise ValueError("out arrays must have the shapes of sci, err, dq")
        if not _is_own(dst, t):  # not writable in place: the result goes to a new array
            dst = np.array(src, t, order="C", copy=True)
        elif dst is not src:
            dst[...] = src
        result.append(dst)
    return tuple(result)
