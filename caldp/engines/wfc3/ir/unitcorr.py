"""UNITCORR: counts → count rate (HSTCAL ``wf3ir/unitcorr.c``; calib-wfc3.md §I10).

Zeroth read: ``k = f32(1/sampzero)``, ``S·k``, ``ERR·k``. Other reads: ``S/TIME``, ``ERR/TIME`` per
pixel, 0 where TIME = 0. Science area only.
"""

from __future__ import annotations

import numpy as np

from .common import F32


def to_rate(sci, err, time) -> tuple[np.ndarray, np.ndarray]:
    """One non-zeroth read's science area divided by its TIME.

    >>> s, e = to_rate(np.array([10., 5.], np.float32), np.array([2., 1.], np.float32), np.array([4., 0.], np.float32))
    >>> s.tolist(), e.tolist()
    ([2.5, 0.0], [0.5, 0.0])
    """
    nz = time != 0
    t = np.where(nz, time, F32(1))
    return np.where(nz, sci / t, F32(0)).astype(F32), np.where(nz, err / t, F32(0)).astype(F32)


def zeroth_to_rate(sci, err, sampzero: float) -> tuple[np.ndarray, np.ndarray]:
    k = F32(1.0 / sampzero)
    return (sci * k).astype(F32), (err * k).astype(F32)
