"""Fused per-chip passes of WF3CCD and WF32D: one C kernel pass where HSTCAL's step order allows,
the step functions (the NumPy reference) otherwise.

* :func:`ccd_first_pass`: error initialisation (§U2) and DQICORR's saturation flags (§U3) — both
  read the raw DN only.
* :func:`ccd_bias_pass`: BLEVCORR's subtraction of the fitted levels (§U5; the fits are NumPy),
  BIASCORR (§U6) and the full-well map (§U7), in that order per pixel.
* :func:`twod_pass`: DARKCORR (§D1) then the first flat of FLATCORR (§D2), row by row.

Each function gives bit-identical results whether the kernel module
``caldp.engines.wfc3.uvis._kernels`` is loaded or ``CALDP_KERNELS=numpy`` selects the NumPy code;
the kernels work in place (on the arrays given, when they are writable native float32/uint16).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...common.kernels import c_array, load
from . import biascorr as bias_step
from . import blevcorr as blev_step
from . import darkcorr as dark_step
from . import dqicorr as dqi_step
from . import flatcorr as flat_step
from . import fullwell as fw_step
from . import noise as noise_step
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


def ccd_first_pass(
    sci: np.ndarray, err: np.ndarray, dq: np.ndarray, *, noise: NoisePars | None, dqicorr: bool, sat: SatPars | None
) -> tuple[np.ndarray, np.ndarray]:
    """Error init (when `noise` is given) and DQICORR's A-to-D and scalar saturation flags (when
    `dqicorr`; the scalar test only with `sat`) on raw `sci`. Returns (err, dq).

    The kernel writes into `err` and `dq` when they are writable native arrays (callers pass arrays
    they own).
    """
    if noise is not None:
        noise_step.check_noise_pars(noise.boundary, noise.gain, noise.readnoise)
    k = kernels()
    if k is None:
        if noise is not None:
            err = noise_step.init_error(
                sci, boundary=noise.boundary, gain=noise.gain, readnoise=noise.readnoise, bias=noise.bias
            )
        if dqicorr:
            dq = dqi_step.flag_atod_saturation(sci, dq)
            if sat is not None:
                where = None if sat.mask is None else (sat.mask[0][:, None] | sat.mask[1][None, :])
                dq = dqi_step.flag_saturation_scalar(sci, dq, saturate=sat.saturate, where=where)
        return err, dq
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


def _is_own(a: np.ndarray, dtype) -> bool:
    return a.dtype == np.dtype(dtype).newbyteorder("=") and a.flags.c_contiguous and a.flags.writeable


@dataclass(frozen=True, slots=True)
class FullWellPars:
    """Full-frame full-well test: `satmap` (raw shape, e⁻), the chip's regions, the mean gain."""

    satmap: np.ndarray
    regions: list[AmpRegion]
    mean_gain: float


def ccd_bias_pass(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    *,
    levels: list[blev_step.AmpLevels] | None,
    bias: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    fullwell: FullWellPars | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """BLEVCORR subtraction of fitted `levels`, BIASCORR with the `bias` arrays and the full-well
    flags, each when given. Returns (sci, err, dq, pixels whose DQ BIASCORR made non-zero,
    pixels newly flagged SATPIXEL by the full-well test)."""
    k = kernels()
    if k is None:
        nbias = nsat = 0
        if levels:
            sci = blev_step.apply_levels(sci, levels)
        if bias is not None:
            n0 = int(np.count_nonzero(dq))
            sci, err, dq = bias_step.subtract_image(sci, err, dq, *bias)
            nbias = int(np.count_nonzero(dq)) - n0
        if fullwell is not None:
            n0 = int(np.count_nonzero(dq & 256))
            dq = fw_step.flag_full_well(
                sci, dq, fullwell.satmap, mean_gain=fullwell.mean_gain, regions=fullwell.regions
            )
            nsat = int(np.count_nonzero(dq & 256)) - n0
        return sci, err, dq, nbias, nsat
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


def twod_pass(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    *,
    dark: DarkPars | None,
    flat: FlatPars | None,
    out=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:
    """The scaled subtraction (`dark`) then the flat division (`flat`), each when given.

    Returns (sci, err, dq, weighted mean of the scaled reference or None, pixels newly flagged
    BADFLAT (512) by the division). `out` as for :func:`darkcorr.darkcorr` (may be the inputs).
    """
    k = kernels()
    if k is None:
        mean, nbad = None, 0
        if dark is not None:
            sci, err, dq, mean = dark_step.scaled_subtract(
                sci,
                err,
                dq,
                dark.ref,
                dark.ref_err,
                dark.ref_dq,
                k0=dark.k0,
                gain=dark.gain,
                ampx=dark.ampx,
                sdqflags=dark.sdqflags,
                out=out,
            )
            out = (sci, err, dq)
        if flat is not None:
            fs, fe = flat.flat, flat.flat_err
            if flat.mean_gain is not None:
                fs, fe = flat_step.gain_scale(fs, fe, flat.mean_gain)
            n0 = int(np.count_nonzero(dq & 512))
            sci, err, dq = flat_step.divide_flat(sci, err, dq, fs, fe, flat.flat_dq, out=out)
            nbad = int(np.count_nonzero(dq & 512)) - n0
        return sci, err, dq, mean, nbad
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
    mean = dark_step.weighted_mean(m, w) if dark is not None else None
    return sci, err, dq, mean, int(nbad)


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
