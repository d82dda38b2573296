"""FLSHCORR: post-flash subtraction (HSTCAL ``acs2d/doflash.c``; calib-acs-wfc.md §6.2).

``Z = f32(FLSH·FLASHDUR)`` subtracted like a dark; MEANFLSH is the line-weighted mean of the
good pixels of Z (``w_line`` = fraction of good pixels on the line).
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def scale_flash(flash: np.ndarray, flash_err: np.ndarray, flashdur) -> tuple[np.ndarray, np.ndarray]:
    t = F32(flashdur)
    return flash * t, flash_err * t


def mean_flash(z: np.ndarray, zdq: np.ndarray, sdqflags: int) -> F32:
    """Σ(line mean·line weight)/Σ(line weight) over lines with good pixels (float32 arithmetic).

    >>> float(mean_flash(np.array([[1., 3.], [5., 9.]], F32), np.array([[0, 0], [0, 4]], np.uint16), 4))
    3.0
    """
    good = (zdq & np.uint16(sdqflags & 0xFFFF)) == 0
    n = good.sum(axis=1)
    sums = np.cumsum(np.where(good, z.astype(np.float64), 0.0), axis=1)[:, -1]  # sequential, as AvgSciValLine
    return mean_flash_lines(sums, n, z.shape[1])


def mean_flash_lines(sums: np.ndarray, n: np.ndarray, width: int) -> F32:
    """MEANFLSH from each line's float64 sum of good pixels and their number (lines of `width`).

    >>> float(mean_flash_lines(np.array([4.0, 5.0]), np.array([2, 1]), 2))
    3.0
    """
    have = n > 0
    means = np.where(have, sums / np.maximum(n, 1), 0.0).astype(F32)
    w = (n / width).astype(F32)
    num = np.cumsum((means * w)[have], dtype=F32)
    den = np.cumsum(w[have], dtype=F32)
    return F32(num[-1] / den[-1]) if num.size and den[-1] > 0 else F32(0)
