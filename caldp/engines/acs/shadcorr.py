"""SHADCORR: shutter-shading correction (HSTCAL ``acs2d/doshad.c``; calib-acs-wfc.md §6.4).

``z = f32(f32(SHAD·f32(1/(EXPTIME/NCOMBINE))) + 1)`` then divided like a flat.
"""

from __future__ import annotations

import numpy as np

from .flatcorr import divide_flat

F32 = np.float32


def shading_flat(shad: np.ndarray, exptime: float, ncombine: int) -> np.ndarray:
    """The multiplicative shading image for an exposure of `exptime` seconds.

    >>> shading_flat(np.array([[0.5]], F32), 10.0, 1).tolist()
    [[1.0499999523162842]]
    """
    return shad * shading_scale(exptime, ncombine) + F32(1)


def shading_scale(exptime: float, ncombine: int) -> F32:
    """``f32(1/(EXPTIME/NCOMBINE))`` (float32 division, as HSTCAL).

    >>> float(shading_scale(10.0, 1))
    0.10000000149011612
    """
    return F32(1.0 / (F32(exptime) / F32(ncombine)))


def shadcorr(sci, err, dq, shad, shad_err, shad_dq, *, exptime: float, ncombine: int):
    """Divide by the shading image (its ERR/DQ propagate as a flat's)."""
    z = shading_flat(shad, exptime, ncombine)
    return divide_flat(sci, err, dq, z, shad_err, shad_dq)
