"""Fused per-read passes over the IR stack: the C kernels and their NumPy reference.

Each function applies several calwf3 steps to the same pixels in one sweep, in HSTCAL's order
per pixel; the NumPy branch calls the step functions of ``noiscalc``, ``nlincorr``,
``darkcorr``, ``unitcorr`` and ``flatcorr`` (the reference), the C branch
(``caldp.engines.wfc3.ir._kernels``) does the same arithmetic per pixel without temporaries.
Arrays are modified in place; the stack is ``(N, ny, nx)`` in file order (index N−1 = zeroth read).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...common.kernels import c_array, load
from ..dq import DQ
from . import darkcorr, flatcorr, nlincorr, noiscalc, unitcorr, zsigcorr
from .common import F32, Area

KERNELS = "caldp.engines.wfc3.ir._kernels"


def _plane(a, dtype) -> np.ndarray:
    """A dark plane for the kernels: one value for a constant (broadcast) plane, else a C array."""
    if a.ndim == 2 and a.strides == (0, 0):
        return np.asarray(a[0, 0], dtype).reshape(1)
    return c_array(a, dtype)


def _kernels(*arrays):
    """The C module when built and every array it would write in place is C-contiguous."""
    k = load(KERNELS)
    return k if k is not None and all(a.flags.c_contiguous for a in arrays) else None


@dataclass(frozen=True, slots=True)
class Amps:
    """Noise-model amplifier layout: gains and read noises of amps A–D, quadrant boundaries."""

    gains: tuple
    readnoise: tuple
    bx: int
    by: int

    def quadrants(self) -> tuple[np.ndarray, np.ndarray]:
        """float32 gain and RN² of the quadrants (lower-left, lower-right, upper-left, upper-right)."""
        amp = np.asarray(noiscalc._QUADS)
        rn = np.asarray(self.readnoise, F32)
        return np.asarray(self.gains, F32)[amp], (rn * rn).astype(F32)[amp]


@dataclass(slots=True)
class Nlin:
    """NLINFILE arrays over the science area, and the ZSIGCORR zero-read signal (or None)."""

    coef: np.ndarray  # (ncoef, ay, ax) float32
    node: np.ndarray  # (ay, ax) float32
    dq: np.ndarray  # (ay, ax) uint16
    zs: np.ndarray | None = None  # (ay, ax) float32
    zsdq: np.ndarray | None = None  # (ay, ax) uint16


def noise_nlin(stack, area: Area, r0: int, r1: int, noise_reads, amps: Amps, nlin: Nlin | None, nsat) -> None:
    """Noise model (ERR of the reads in `noise_reads`) and NLINCORR (when `nlin`) on image rows r0:r1.

    `stack` = ``(sci, err, dq)``. NLINCORR runs from the zeroth read to the last and carries
    SATPIXEL from each read to the next over whole rows; `nsat` (int64, N) accumulates the
    saturated pixels of each read. Rows outside the science area only carry saturation.
    """
    sci, err, dq = stack
    N, ny, nx = sci.shape
    kern = _kernels(sci, err, dq, nsat)
    ncoef = 0 if nlin is None else nlin.coef.shape[0]
    if kern is not None and ncoef <= 4:
        flags = np.zeros(N, np.uint8)
        flags[list(noise_reads)] = 1
        qg, qr = amps.quadrants()
        empty_f, empty_q = np.zeros(0, F32), np.zeros(0, np.uint16)
        has_zs = nlin is not None and nlin.zs is not None
        kern.noise_nlin(
            sci, err, dq, N, ny, nx, area.y0, area.y1, area.x0, area.x1, r0, r1, flags, qg, qr, amps.bx, amps.by,
            ncoef, c_array(nlin.coef, F32) if ncoef else empty_f, c_array(nlin.node, F32) if ncoef else empty_f,
            c_array(nlin.dq, np.uint16) if ncoef else empty_q, c_array(nlin.zs, F32) if has_zs else empty_f,
            c_array(nlin.zsdq, np.uint16) if has_zs else empty_q, nsat,
        )  # fmt: skip
        return
    a0, a1 = max(r0, area.y0), min(r1, area.y1)
    band = Area(a0, max(a0, a1), area.x0, area.x1)
    sl = band.sl
    asl = (slice(band.y0 - area.y0, band.y1 - area.y0), slice(None))
    if band.y1 > band.y0:
        gm, rm = noiscalc.amp_maps(band, amps.gains, amps.readnoise, amps.bx, amps.by)
        for g in noise_reads:
            err[g][sl] = noiscalc.noise(sci[g][sl], gm, rm)
    if nlin is None:
        return
    coef = [c[asl] for c in nlin.coef]
    for g in range(N - 1, -1, -1):
        use_zs = nlin.zs is not None and g != N - 1
        if band.y1 > band.y0:
            s, d, n = nlincorr.correct_read(
                sci[g][sl], dq[g][sl], coef, nlin.node[asl], nlin.dq[asl],
                nlin.zs[asl] if use_zs else None, nlin.zsdq[asl] if use_zs else None,
            )  # fmt: skip
            sci[g][sl], dq[g][sl] = s, d
            nsat[g] += n
        if g > 0:
            dq[g - 1, r0:r1] |= dq[g, r0:r1] & np.uint16(DQ.SATPIXEL)


def zsig(stack, area: Area, nlin_ref: dict, amps: Amps) -> zsigcorr.ZSig:
    """ZSIGCORR on the stack (``(sci, dq)``): zero-read signal added to the zeroth read, its DQ and
    the first read's DQ flagged (ZEROSIG, SATPIXEL); returns the zero-read signal (``zsigcorr``)."""
    sci, dq = stack
    N = sci.shape[0]
    zsci, zerr, node = nlin_ref["ZSCI"], nlin_ref["ZERR"], nlin_ref["NODE"]
    kern = _kernels(sci, dq)
    if kern is not None:
        ny, nx = sci.shape[1:]
        ay, ax = area.y1 - area.y0, area.x1 - area.x0
        zs, zdq = np.empty((ay, ax), F32), np.empty((ay, ax), np.uint16)
        qg, qr = amps.quadrants()
        n0, n1 = kern.zsigcorr(
            sci[N - 1], dq[N - 1], sci[N - 2], dq[N - 2], ny, nx, area.y0, area.y1, area.x0, area.x1,
            c_array(zsci, F32), c_array(zerr, F32), c_array(node, F32), qg, qr, amps.bx, amps.by, zs, zdq,
        )  # fmt: skip
        return zsigcorr.ZSig(zs, zdq, n0, n1)
    sl = area.sl
    gm, rm = noiscalc.amp_maps(area, amps.gains, amps.readnoise, amps.bx, amps.by)
    zs, new0, m0, m1 = zsigcorr.zsigcorr(sci[N - 1][sl], dq[N - 1][sl], sci[N - 2][sl], zsci, zerr, node, gm, rm)
    dq[N - 1][sl] |= m0
    dq[N - 2][sl] |= m1
    sci[N - 1][sl] = new0
    return zs


def dark_unit(sci, err, dq, time, area: Area, dark, unit: int, sampzero: float) -> None:
    """DARKCORR then UNITCORR of one read (science area).

    `dark` = ``(sci, err, dq)`` of the dark (at least the science array's size, indexed with the
    science pixel numbers as HSTCAL's ``asub_noref``; constant planes may be broadcast views), or
    None. `unit`: 0 none, 1 the zeroth read (× f32(1/sampzero)), 2 a later read (÷ TIME).
    """
    kern = _kernels(sci, err, dq, time)
    if kern is not None:
        ny, nx = sci.shape
        if dark is None:
            ds, de, dd, dny, dnx = np.zeros(0, F32), np.zeros(0, F32), np.zeros(0, np.uint16), 0, 0
        else:
            ds, de, dd = _plane(dark[0], F32), _plane(dark[1], F32), _plane(dark[2], np.uint16)
            dny, dnx = dark[0].shape
        k = float(F32(1.0 / sampzero)) if unit == 1 else 0.0
        kern.dark_unit(sci, err, dq, time, ny, nx, area.y0, area.y1, area.x0, area.x1, ds, de, dd, dny, dnx, unit, k)
        return
    sl = area.sl
    if dark is not None:
        sci[sl], err[sl], dq[sl] = darkcorr.subtract(sci[sl], err[sl], dq[sl], *(a[sl] for a in dark))
    if unit == 1:
        sci[sl], err[sl] = unitcorr.zeroth_to_rate(sci[sl], err[sl], sampzero)
    elif unit == 2:
        sci[sl], err[sl] = unitcorr.to_rate(sci[sl], err[sl], time[sl])


def meandark(dsci, ddq, area: Area) -> np.float32:
    """MEANDARK of a dark imset (dark-sized arrays) over the science area (``darkcorr.meandark``)."""
    kern = load(KERNELS)
    if kern is not None:
        ds, dd = _plane(dsci, F32), _plane(ddq, np.uint16)
        total, n = kern.meandark(ds, dd, *dsci.shape, area.y0, area.y1, area.x0, area.x1, int(darkcorr.STAT_MASK))
        return F32(total / n) if n else F32(0)
    return darkcorr.meandark(dsci[area.sl], ddq[area.sl])


def flat_gain(sci, err, dq, area: Area, flat, mean_gain) -> None:
    """FLATCORR of one image (`flat` = ``(f, fe, fdq)`` over the science area) and × mean gain (whole image)."""
    kern = _kernels(sci, err, dq)
    f, fe, fdq = flat
    if kern is not None:
        ny, nx = sci.shape
        kern.flat_gain(
            sci, err, dq, ny, nx, area.y0, area.y1, area.x0, area.x1,
            c_array(f, F32), c_array(fe, F32), c_array(fdq, np.uint16), float(F32(mean_gain)),
        )  # fmt: skip
        return
    sl = area.sl
    sci[sl], err[sl], dq[sl] = flatcorr.divide_flat(sci[sl], err[sl], dq[sl], f, fe, fdq)
    sci[...] = flatcorr.times_gain(sci, mean_gain)
    err[...] = flatcorr.times_gain(err, mean_gain)
