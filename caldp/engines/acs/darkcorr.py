"""DARKCORR: dark-current subtraction (HSTCAL ``acs2d/dodark.c``, ``lib/multk2d.c``, ``lib/sub2d.c``;
calib-acs-wfc.md §6.1).

The DARKFILE is in e⁻/s at the trimmed size; it is scaled by DARKTIME (which ACSCCD already
increased by the CCDTAB overhead, or summed by ACSREJ for a CR-split product).
DQ flags: the dark DQ is ORed in (HOTPIX 16 and others).
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def scale_dark(dark: np.ndarray, dark_err: np.ndarray, darktime) -> tuple[np.ndarray, np.ndarray]:
    """``f32(t·D)``, ``f32(t·De)``; unchanged when ``t == 1`` (``multk2d``)."""
    t = F32(darktime)
    if t == 1:
        return dark, dark_err
    return t * dark, t * dark_err


def mean_dark(z: np.ndarray, zdq: np.ndarray, sdqflags: int) -> F32:
    """MEANDARK: float64 mean of the scaled dark where ``(DQ & SDQFLAGS) == 0`` (``AvgSciVal``), as
    float32; 0 if no pixel is good. (HSTCAL sums sequentially; the float32 result does not see the order.)

    >>> float(mean_dark(np.array([[1., 2.], [3., 100.]], F32), np.array([[0, 0], [0, 16]], np.uint16), 16))
    2.0
    """
    good = (zdq & np.uint16(sdqflags & 0xFFFF)) == 0
    v = z[good]
    if v.size == 0:
        return F32(0)
    return F32(np.sum(v, dtype=np.float64) / v.size)


def subtract(sci, err, dq, z, zerr, zdq):
    """``sub2d``: ``SCI − Z``, ``ERR = sqrt(f32(ERR² + Ze²))``, ``DQ | Zdq`` (float32).

    >>> s, e, d = subtract(np.array([[5.]], F32), np.array([[3.]], F32), np.zeros((1, 1), np.uint16),
    ...                    np.array([[1.]], F32), np.array([[4.]], F32), np.array([[16]], np.uint16))
    >>> s.tolist(), e.tolist(), d.tolist()
    ([[4.0]], [[5.0]], [[16]])
    """
    return sci - z, np.sqrt(err * err + zerr * zerr), dq | zdq


def darkcorr(sci, err, dq, dark, dark_err, dark_dq, *, darktime, sdqflags: int):
    """Scale and subtract the dark; returns ``(sci, err, dq, sum of good Z, number of good Z)`` so that a
    caller working in strips can form MEANDARK = f32(Σ/n)."""
    z, ze = scale_dark(dark, dark_err, darktime)
    good = (dark_dq & np.uint16(sdqflags & 0xFFFF)) == 0
    s = float(np.sum(z[good], dtype=np.float64))
    n = int(np.count_nonzero(good))
    out = subtract(sci, err, dq, z, ze, dark_dq)
    return (*out, np.array([s]), np.array([n]))
