"""GLINCORR and LFLGCORR, MAMA non-linearity (HSTCAL ``cs1/dononlin.c``, ``cs1/getlintab.c``).

GLINCORR: the global count rate (all pixels, double sum in raster order, over EXPTIME) is corrected
for dead time ``y = x·exp(−τx)`` by three Newton steps, and the image is multiplied by
true/observed; above the MLINTAB GLOBAL_LIMIT nothing is corrected and GLOBLIM = EXCEEDED.
LFLGCORR: pixels above LOCAL_LIMIT·EXPTIME (scaled by bin area / 4) get SATPIXEL, with every pixel
within EXPAND high-res pixels of them.
"""

from __future__ import annotations

import math

import numpy as np

from .dq import DQ

F32, F64 = np.float32, np.float64


def glob_rate(sci: np.ndarray, exptime: float) -> float:
    """``FindGlobRate``: the double sum of every pixel, added in raster order, over the exposure time."""
    flat = sci.astype(F64).ravel()
    total = float(np.add.accumulate(flat)[-1]) if flat.size else 0.0
    return total / exptime


def find_rate(y: float, tau: float) -> float:
    """``FindRate``: true/observed rate for the observed rate `y` (three Newton steps from x = y).

    >>> find_rate(0.0, 3e-7), round(find_rate(1e5, 3e-7), 6)
    (1.0, 1.031426)
    """
    if y <= 0.0:
        return 1.0
    x = y
    for _ in range(3):
        dy = y - (x * math.exp(-tau * x))
        dx = dy / ((1.0 - tau * x) * math.exp(-tau * x))
        x = x + dx
    return x / y


def local_limit(limit: float, exptime: float, bin_: tuple[int, int]) -> float:
    """LOCAL_LIMIT·EXPTIME·(float)(binx·biny)/4 in double, as ``doNonLin``."""
    return limit * exptime * (float(F32(bin_[0] * bin_[1])) / 4.0)


def flag_local(sci: np.ndarray, dq: np.ndarray, limit: float, expand: float, bin_: tuple[int, int]) -> int:
    """``ExpandDQ`` around every pixel with SCI > `limit`: SATPIXEL where
    ``(float)(dx²·binx² + dy²·biny²) ≤ expand²`` (float) inside the search box. In place; returns the
    number of such pixels.

    >>> s = np.zeros((5, 5), F32); s[2, 2] = 10.0; d = np.zeros((5, 5), np.uint16)
    >>> flag_local(s, d, 5.0, 2.5, (2, 2)), (d > 0).astype(int).tolist()
    (1, [[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]])
    """
    hot = sci.astype(F64) > limit
    n = int(np.count_nonzero(hot))
    if n == 0:
        return 0
    iexpand = int(F32(expand) + F32(1.0))
    radius2 = F32(expand) * F32(expand)
    reach = []
    for b in bin_:
        reach.append(iexpand if b == 1 else (iexpand + 1) // b)
    bx2, by2 = bin_[0] * bin_[0], bin_[1] * bin_[1]
    ny, nx = dq.shape
    mask = np.zeros(dq.shape, bool)
    for dy in range(-reach[1], reach[1] + 1):
        for dx in range(-reach[0], reach[0] + 1):
            if F32(dx * dx * bx2 + dy * dy * by2) > radius2:
                continue
            ys, yd = (slice(0, ny - dy), slice(dy, ny)) if dy >= 0 else (slice(-dy, ny), slice(0, ny + dy))
            xs, xd = (slice(0, nx - dx), slice(dx, nx)) if dx >= 0 else (slice(-dx, nx), slice(0, nx + dx))
            mask[yd, xd] |= hot[ys, xs]
    dq[mask] |= np.uint16(DQ.SATPIXEL)
    return n
