"""DARKCORR for UVIS (HSTCAL ``wf32d/dodark.c``, ``lib/multk1d.c``; calib-wfc3.md §D1).

DARKFILE: trimmed geometry, e⁻/s. Per line, ``k = f32(f32(EXPTIME) / gain_slot)`` (slot 0 for
columns ``< ampx``; EXPTIME of the primary header: one exposure for ``_flt``, the sum for
``_crj``), ``z = f32(k·dark)``, ``ze = f32(k·darkerr)``; then ``sub1d``: ``sci = f32(sci − z)``,
``err = sqrt(f32(err² + ze²))``, ``dq |= darkdq``.

MEANDARK = ``f32(Σ_l f32(m_l·w_l) / Σ_l w_l)`` (float32 accumulators) with ``m_l`` the float64
(sequential) mean of the scaled dark over the line's pixels whose dark DQ has no SDQFLAGS bit
(rounded to float32) and ``w_l = f32(ngood / nx)``.

DQ flags set: whatever the dark DQ holds.
"""

from __future__ import annotations

import numpy as np

from ...common.strips import out_arrays, row_blocks, same_2d_shape
from .biascorr import subtract_image
from .kernelcalls import DarkPars, kernels, twod_pass_c

F32 = np.float32
F64 = np.float64


def scale_by_slot(ref: np.ndarray, ref_err: np.ndarray, *, k0: float, gain, ampx: int):
    """``multgn1d``: multiply by ``k = f32(k0/gain)`` per amp slot (columns < ampx: slot 0).

    >>> z, ze = scale_by_slot(np.ones((1, 4), F32), np.ones((1, 4), F32), k0=100., gain=(2., 4.), ampx=2)
    >>> z.tolist()
    [[50.0, 50.0, 25.0, 25.0]]
    """
    nx = ref.shape[1]
    k0 = F32(k0)
    g0, g1 = F32(gain[0]), F32(gain[1])
    z = np.empty_like(ref, dtype=F32)
    ze = np.empty_like(ref_err, dtype=F32)
    k = k0 / g0 if g0 > 0 else F32(0)
    z[:, :ampx] = k * ref[:, :ampx]
    ze[:, :ampx] = k * ref_err[:, :ampx]
    if ampx < nx:
        with np.errstate(divide="ignore"):
            k = k0 / g1
        z[:, ampx:] = k * ref[:, ampx:]
        ze[:, ampx:] = k * ref_err[:, ampx:]
    return z, ze


def line_weighted_mean(z: np.ndarray, zdq: np.ndarray, sdqflags: int) -> float:
    """MEANDARK/MEANFLSH: line means weighted by the good fraction (``AvgSciValLine``).

    >>> line_weighted_mean(np.array([[1., 3.], [10., 10.]], F32), np.array([[0, 0], [4, 0]], np.uint16), 4)
    4.666666507720947
    """
    return weighted_mean(*line_means(z, zdq, sdqflags))


def line_means(z: np.ndarray, zdq: np.ndarray, sdqflags: int) -> tuple[np.ndarray, np.ndarray]:
    """Per line: float32 mean ``m`` of the good pixels (float64 sequential sum) and weight ``w = ngood/nx``."""
    good = (zdq & np.uint16(sdqflags & 0xFFFF)) == 0
    ngood = good.sum(axis=1)
    sums = np.cumsum(np.where(good, z.astype(F64), 0.0), axis=1)[:, -1] if z.shape[1] else np.zeros(z.shape[0])
    nx = z.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(ngood > 0, (sums / np.maximum(ngood, 1)), 0.0).astype(F32)
        w = np.where(ngood > 0, ngood.astype(F32) / F32(nx), F32(0)).astype(F32)
    return m, w


def weighted_mean(m: np.ndarray, w: np.ndarray) -> float:
    """``f32(Σ f32(m·w) / Σ w)`` with float32 sequential sums over the lines."""
    prod = (m * w).astype(F32)
    mean = np.cumsum(prod, dtype=F32)[-1] if prod.size else F32(0)
    weight = np.cumsum(w, dtype=F32)[-1] if w.size else F32(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(F32(mean / weight))


def darkcorr(
    sci, err, dq, dark, dark_err, dark_dq, *, exptime: float, gain, ampx: int, sdqflags: int, out=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Subtract the dark scaled to DN; returns (sci, err, dq, MEANDARK).

    `out`: optional (sci, err, dq) arrays to write the result into (may be the inputs themselves).

    >>> s, e, d, m = darkcorr(np.full((1, 2), 100., F32), np.full((1, 2), 3., F32), np.zeros((1, 2), np.uint16),
    ...     np.full((1, 2), 0.01, F32), np.full((1, 2), 0.004, F32), np.zeros((1, 2), np.uint16),
    ...     exptime=300., gain=(1.5, 1.5), ampx=1, sdqflags=31743)
    >>> s.tolist(), m
    ([[98.0, 98.0]], 2.0)
    """
    return scaled_subtract(
        sci, err, dq, dark, dark_err, dark_dq, k0=exptime, gain=gain, ampx=ampx, sdqflags=sdqflags, out=out
    )


def scaled_subtract(sci, err, dq, ref, ref_err, ref_dq, *, k0: float, gain, ampx: int, sdqflags: int, out=None):
    """``multgn1d`` then ``sub1d`` per line, and the weighted mean of the scaled reference.

    Done in row strips (every operation is per pixel or per line), so no full-chip temporaries.
    `out`: optional (sci, err, dq) arrays for the result; they may be the inputs (each strip is
    read completely before it is written).
    """
    k = kernels()
    if k is not None and same_2d_shape(sci, err, dq, ref, ref_err, ref_dq, out):
        pars = DarkPars(ref, ref_err, ref_dq, k0=k0, gain=gain, ampx=ampx, sdqflags=sdqflags)
        sci, err, dq, m, w, _ = twod_pass_c(k, sci, err, dq, dark=pars, flat=None, out=out)
        return sci, err, dq, weighted_mean(m, w)
    out_sci, out_err, out_dq = out_arrays(sci, err, dq, out)
    ms, ws = [], []
    for r0, r1 in row_blocks(sci.shape[0]):
        z, ze = scale_by_slot(ref[r0:r1], ref_err[r0:r1], k0=k0, gain=gain, ampx=ampx)
        m, w = line_means(z, ref_dq[r0:r1], sdqflags)
        ms.append(m)
        ws.append(w)
        out_sci[r0:r1], out_err[r0:r1], out_dq[r0:r1] = subtract_image(
            sci[r0:r1], err[r0:r1], dq[r0:r1], z, ze, ref_dq[r0:r1]
        )
    mean = (
        weighted_mean(np.concatenate(ms), np.concatenate(ws))
        if ms
        else weighted_mean(np.zeros(0, F32), np.zeros(0, F32))
    )
    return out_sci, out_err, out_dq, mean
