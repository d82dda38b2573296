"""FLATCORR for IR (HSTCAL ``wf3ir/flatcorr.c``, ``math.c: adiv_noref``, ``mult_gain``; §I12).

Science area: ``S/F`` and ``ERR = sqrt(f32(E²/F² + S²·Fe²/F⁴))`` (all float32 steps), 0 where
F = 0; ``dq |= flat DQ``. Then the **whole** image (reference pixels too) is multiplied by the
mean gain. DQ flags: those of the flat.
"""

from __future__ import annotations

import numpy as np

from .common import F32, F64


def divide_flat(sci, err, dq, f, fe, fdq) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Science-area arrays in, new arrays out.

    >>> s, e, d = divide_flat(np.array([4.], np.float32), np.array([1.], np.float32), np.zeros(1, np.uint16),
    ...     np.array([2.], np.float32), np.array([0.], np.float32), np.array([512], np.uint16))
    >>> s.tolist(), e.tolist(), d.tolist()
    ([2.0], [0.5], [512])
    """
    f2 = (f * f).astype(F32)
    nz = f != 0
    fs = np.where(nz, f, F32(1))
    f2s = np.where(nz, f2, F32(1))
    s = np.where(nz, sci / fs, F32(0)).astype(F32)
    t1 = ((err * err).astype(F32) / f2s).astype(F32)
    t2 = ((((sci * sci).astype(F32) * fe).astype(F32) * fe).astype(F32) / (f2s * f2s).astype(F32)).astype(F32)
    e = np.where(nz, np.sqrt((t1 + t2).astype(F32).astype(F64)).astype(F32), F32(0)).astype(F32, copy=False)
    return s, e, dq | fdq


def times_gain(a: np.ndarray, mean_gain) -> np.ndarray:
    return (a * F32(mean_gain)).astype(F32)
