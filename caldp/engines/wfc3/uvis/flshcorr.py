"""FLSHCORR: post-flash subtraction (HSTCAL ``wf3ccd/doflash.c``; calib-wfc3.md §U10). **[READ]**

FLSHFILE is in e⁻/s with the raw geometry. Per line the reference is scaled by
``k = f32(FLASHDUR / gain)`` of the amp slot (columns ``< ampx`` use slot 0, as ``multgn1d``
does — on the raw frame), subtracted with ``sub1d`` (errors in quadrature, DQ OR), and
MEANFLSH is the weighted mean of the scaled lines (same rule as MEANDARK, §D1).

Subarrays (``doflash.c``, ``multgn1dsub``, ``sub1dreform``): one amp reads the whole subarray, so a
single ``k = f32(FLASHDUR / gain_of_CCDAMP)`` scales the section. The reference is a full 4-amp
frame: a subarray starting right of raw column 2072 is shifted 60 columns (past the serial virtual
overscan); one that straddles column 2072 takes a section 60 columns wider, computes MEANFLSH over
the whole wider section, and drops its 60 virtual columns (from ``2073 − x0``) before subtracting.
"""

from __future__ import annotations

import numpy as np

from .biascorr import subtract_image
from .darkcorr import line_means, scaled_subtract, weighted_mean

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


VIRTUAL = 60  # serial virtual overscan columns in the middle of a full-frame raw row
LAST_FIRST_AMP_COLUMN = 2072  # raw column of the last pixel of amp A/C in a full frame


def subarray_section(x0: int, nx: int) -> tuple[int, int, int | None]:
    """(first reference column, section width, skip) for a subarray starting at raw column `x0`.

    >>> subarray_section(0, 537), subarray_section(2100, 512), subarray_section(2000, 200)
    ((0, 537, None), (2160, 512, None), (2000, 260, 73))
    """
    if x0 > LAST_FIRST_AMP_COLUMN:
        return x0 + VIRTUAL, nx, None
    if x0 + nx > LAST_FIRST_AMP_COLUMN:
        return x0, nx + VIRTUAL, LAST_FIRST_AMP_COLUMN + 1 - x0
    return x0, nx, None


def flshcorr_subarray(
    sci, err, dq, flash, flash_err, flash_dq, *, flashdur: float, gain: float, sdqflags: int, skip: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Subarray FLSHCORR; `flash*` are the reference section (``VIRTUAL`` columns wider when `skip`)."""
    g = F32(gain)
    with np.errstate(divide="ignore"):
        k = F32(F32(flashdur) / g)
    z = (k * flash).astype(F32)
    ze = (k * flash_err).astype(F32)
    mean = weighted_mean(*line_means(z, flash_dq, sdqflags))
    if skip is not None:
        keep = np.r_[0:skip, skip + VIRTUAL : z.shape[1]]
        z, ze, zd = z[:, keep], ze[:, keep], flash_dq[:, keep]
    else:
        zd = flash_dq
    s, e, d = subtract_image(sci, err, dq, z, ze, zd)
    return s, e, d, mean
