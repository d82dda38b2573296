"""NUV-MAMA dark scaling (HSTCAL ``cs1/gettdccorr.c`` post-SM4 TDCTAB, ``meanNUVDark`` in ``cs1/dodark.c``):
the dark reference is multiplied by the modelled dark rate over the reference's own mean rate.
"""

from __future__ import annotations

import math

import numpy as np

F64 = np.float64


def mean_nuv_dark(sci: np.ndarray, dq: np.ndarray) -> float:
    """``meanNUVDark``: double mean of the DQ == 0 pixels (added in raster order) times
    nx/1024·ny/1024 (the high-res reference's rate per low-res pixel).

    >>> mean_nuv_dark(np.full((2048, 2048), 0.25, np.float32), np.zeros((2048, 2048), np.int16))
    1.0
    """
    good = sci[dq == 0].astype(F64)
    ny, nx = sci.shape
    mean = float(np.add.accumulate(good)[-1]) / good.size if good.size else 0.0
    return mean * float(nx) / 1024.0 * float(ny) / 1024.0


def choose_row(date0: np.ndarray, expstart: float) -> int | None:
    """The row with the latest DATE0 before EXPSTART (the first such row on ties); None when every
    DATE0 is at or after it. Raises ValueError when EXPSTART precedes every DATE0."""
    if expstart < float(np.min(date0)):
        raise ValueError("Exposure start time precedes earliest date in TDCTAB.")
    best = None
    for row, d in enumerate(date0.tolist()):
        if d < expstart and (best is None or d > date0[best]):
            best = row
    return best


def post_sm4_factor(row: dict, expstart: float, temperature: float, mean_dark: float) -> float:
    """``postSM4TdcCorr``: ``(A1·e^(−Δt/D1) + A2·e^(−Δt/D2) + TA + TB·ΔT + TC·ΔT²) / mean_dark`` with
    Δt = EXPSTART − DATE0 and ΔT = OM2CAT − TEMP0, in double in C's order.

    >>> post_sm4_factor(dict(DATE0=0.0, TEMP0=30.0, A1=0.0, D1=1.0, A2=0.0, D2=1.0, TA=2.0, TB=0.5,
    ...                      TC=0.0), 10.0, 32.0, 1.5)
    2.0
    """
    dd = expstart - row["DATE0"]
    dt = temperature - row["TEMP0"]
    rate = row["A1"] * math.exp(-dd / row["D1"]) + row["A2"] * math.exp(-dd / row["D2"]) + row["TA"] + row["TB"] * dt
    rate = rate + row["TC"] * dt * dt
    return rate / mean_dark
