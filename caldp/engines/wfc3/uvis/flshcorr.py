"""FLSHCORR: post-flash subtraction (HSTCAL ``wf3ccd/doflash.c``; calib-wfc3.md §U10). **[READ]**

FLSHFILE is in e⁻/s with the raw geometry. Per line the reference is scaled by
``k = f32(FLASHDUR / gain)`` of the amp slot (columns ``< ampx`` use slot 0, as ``multgn1d``
does — on the raw frame), subtracted with ``sub1d`` (errors in quadrature, DQ OR), and
MEANFLSH is the weighted mean of the scaled lines (same rule as MEANDARK, §D1).
"""

from __future__ import annotations

import numpy as np

from .darkcorr import scaled_subtract

F32 = np.float32


def flshcorr(
    sci, err, dq, flash, flash_err, flash_dq, *, flashdur: float, gain, ampx: int, sdqflags: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Subtract the scaled post-flash image; returns (sci, err, dq, MEANFLSH).

    `gain`: (slot0, slot1) float32 gains; `flash*`: the reference section under the data.
    """
    return scaled_subtract(
        sci, err, dq, flash, flash_err, flash_dq, k0=flashdur, gain=gain, ampx=ampx, sdqflags=sdqflags
    )
