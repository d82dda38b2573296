"""FLUXCORR: put chip 2 on chip 1's flux scale (HSTCAL ``wf32d/doflux.c``; calib-wfc3.md §D5).

After both imsets are written: ``ratio = PHTFLAM2 / PHTFLAM1`` in float64 from the values **as
written in the SCI headers** (8 significant digits, see :mod:`caldp.engines.common.keywords`), and
chip 2's (imset 1's) SCI and ERR become ``f32(f64(x)·ratio)``. PHTRATIO (double) is written to the
primary and chip-2 SCI headers. Chip-1 subarrays are left alone.
"""

from __future__ import annotations

import numpy as np

from ...common.kernels import load
from ...common.strips import row_blocks

F32 = np.float32
F64 = np.float64


def flux_ratio(phtflam1: float, phtflam2: float) -> float:
    """PHTRATIO = PHTFLAM2 / PHTFLAM1 (float64).

    >>> flux_ratio(1.1575178e-19, 1.1654605e-19)
    1.00686183...
    """
    return float(phtflam2) / float(phtflam1)


def _is_own(a: np.ndarray) -> bool:
    return a.dtype == np.dtype(F32).newbyteorder("=") and a.flags.c_contiguous and a.flags.writeable


def fluxcorr(
    sci: np.ndarray, err: np.ndarray, *, ratio: float, in_place: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Scale chip-2 SCI and ERR by `ratio` (double product, rounded to float32).

    `in_place`: the kernels may scale the given arrays themselves (when they are writable native
    float32) instead of copies.

    >>> s, e = fluxcorr(np.array([[3.]], F32), np.array([[1.]], F32), ratio=1.0 / 3.0)
    >>> float(s[0, 0]), float(e[0, 0])
    (1.0, 0.3333333432674408)
    """
    k = load("caldp.engines.wfc3.uvis._kernels")
    if k is not None:
        out_sci, out_err = (
            a if in_place and _is_own(a) else np.array(a, F32, order="C", copy=True) for a in (sci, err)
        )
        k.scale64(out_sci, out_sci.size, float(ratio))
        k.scale64(out_err, out_err.size, float(ratio))
        return out_sci, out_err
    out_sci, out_err = np.empty(sci.shape, F32), np.empty(err.shape, F32)
    r = F64(ratio)
    for r0, r1 in row_blocks(sci.shape[0]):
        np.multiply(sci[r0:r1], r, out=out_sci[r0:r1], dtype=F64, casting="same_kind")
        np.multiply(err[r0:r1], r, out=out_err[r0:r1], dtype=F64, casting="same_kind")
    return out_sci, out_err
