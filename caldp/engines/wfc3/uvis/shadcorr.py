"""SHADCORR: shutter-shading correction (HSTCAL ``wf32d/doshad.c``; calib-wfc3.md §D3). **[READ]**

With ``t = EXPTIME / NCOMBINE`` (float32), the shading image (same binning as the science data)
becomes ``z = 1 + f32(1/t)·shad`` (its error scaled by ``f32(1/t)``) and the data are divided by
it with ``div1d`` (§D2). Normally OMIT for WFC3.
"""

from __future__ import annotations

import numpy as np

from .flatcorr import divide_flat

F32 = np.float32


def shadcorr(sci, err, dq, shad, shad_err, shad_dq, *, exptime: float, ncombine: int):
    """Divide by the shading correction; returns (sci, err, dq).

    >>> s, e, d = shadcorr(np.array([[20.]], F32), np.array([[2.]], F32), np.zeros((1, 1), np.uint16),
    ...                    np.array([[10.]], F32), np.zeros((1, 1), F32), np.zeros((1, 1), np.uint16),
    ...                    exptime=10., ncombine=1)
    >>> float(s[0, 0]), float(e[0, 0])
    (10.0, 1.0)
    """
    t = F32(float(exptime) / int(ncombine))
    k = F32(1.0 / float(t))
    if k != 1:
        shad, shad_err = k * shad, k * shad_err
    z = F32(1.0) + shad
    return divide_flat(sci, err, dq, z, shad_err, shad_dq)
