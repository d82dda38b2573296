"""FLATCORR for UVIS (HSTCAL ``wf32d/doflat.c``, ``lib/div1d.c``; calib-wfc3.md §D2).

Flats (PFLT, then DFLT, then LFLT; trimmed geometry, unitless). The **first** flat applied is
divided by the mean gain of all four amps (``kf = f32(1.0f / mean_gain)``, ``F = f32(kf·flat)``,
``Fe = f32(kf·flaterr)``); later flats are used as they are. Division (``div1d``)::

    F == 0:  dq |= BADFLAT, SCI/ERR unchanged
    else:    sci' = f32(sci/F);  a = f32(err/F);  b = f32(f32(f32(Fe·sci)/F)/F);  err' = sqrt(f32(a² + b²))
    dq |= flatdq  (every pixel)

The result is in electrons (BUNIT = ELECTRONS). DQ flags set: BADFLAT (512) and the flat DQ.
"""

from __future__ import annotations

import numpy as np

from ...ccd.flatcorr import divide_flat as flat_division
from ...common.strips import same_2d_shape
from .kernelcalls import FlatPars, kernels, twod_pass_c

F32 = np.float32


def gain_scale(flat: np.ndarray, flat_err: np.ndarray, mean_gain: float) -> tuple[np.ndarray, np.ndarray]:
    """``multgn1d`` with k0 = 1 and every gain = mean_gain: ``k = f32(1/mean_gain)`` (0 if mean_gain ≤ 0).

    >>> f, fe = gain_scale(np.array([[1.5]], F32), np.array([[0.3]], F32), np.float32(1.5))
    >>> float(f[0, 0]), float(fe[0, 0])
    (1.0, 0.20000001788139343)
    """
    g = F32(mean_gain)
    k = F32(1.0) / g if g > 0 else F32(0)
    return k * flat, k * flat_err


def divide_flat(sci, err, dq, flat, flat_err, flat_dq, *, out=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``div1d`` (:func:`caldp.engines.ccd.flatcorr.divide_flat`, the NumPy reference), through the UVIS
    fused C pass when it is built; `out` as there. DQ: BADFLAT where the flat is 0, and the flat DQ.

    >>> s, e, d = divide_flat(np.array([[10., 10.]], F32), np.array([[3., 3.]], F32), np.zeros((1, 2), np.uint16),
    ...                       np.array([[2., 0.]], F32), np.array([[0.2, 0.]], F32), np.array([[4, 0]], np.uint16))
    >>> s.tolist(), e.tolist(), d.tolist()
    ([[5.0, 10.0]], [[1.5811388492584229, 3.0]], [[4, 512]])
    """
    k = kernels()
    if k is not None and same_2d_shape(sci, err, dq, flat, flat_err, flat_dq, out):
        s, e, d, _, _, _ = twod_pass_c(k, sci, err, dq, dark=None, flat=FlatPars(flat, flat_err, flat_dq), out=out)
        return s, e, d
    return flat_division(sci, err, dq, flat, flat_err, flat_dq, out=out)
