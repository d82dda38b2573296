"""Flat division shared by the CCD engines (HSTCAL ``lib/div1d.c`` in ``pkg/acs`` and ``pkg/wfc3``;
calib-acs-wfc.md §6.3, calib-wfc3.md §D2)::

    F == 0:  dq |= 512, SCI/ERR unchanged
    else:    sci' = f32(sci/F);  a = f32(err/F);  b = f32(f32(f32(Fe·sci)/F)/F);  err' = sqrt(f32(a² + b²))
    dq |= flatdq  (every pixel)

Flag 512 is ACS's CALIBDEFECT and WFC3's BADFLAT (the same bit in ``acsdq.h`` and ``wf3dq.h``).
The UVIS engine runs the same arithmetic in its fused C pass (``wfc3.uvis.passes.twod_pass``).
"""

from __future__ import annotations

import numpy as np

from ..common.strips import out_arrays, row_blocks

F32 = np.float32
#: DQ bit set where the flat is 0: ACS ``CALIBDEFECT``, WFC3 ``BADFLAT``
ZERO_FLAT = np.uint16(512)


def divide_flat(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    flat: np.ndarray,
    flat_err: np.ndarray,
    flat_dq: np.ndarray,
    *,
    out=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``div1d`` over whole arrays (all float32): the NumPy reference, also ACS's FLATCORR and SHADCORR.

    `out`: optional (sci, err, dq) arrays for the result; they may be the inputs (done in row
    strips, each strip read completely before it is written).

    >>> s, e, d = divide_flat(np.array([[10., 10.]], F32), np.array([[3., 3.]], F32), np.zeros((1, 2), np.uint16),
    ...                       np.array([[2., 0.]], F32), np.array([[0.2, 0.]], F32), np.array([[4, 0]], np.uint16))
    >>> s.tolist(), e.tolist(), d.tolist()
    ([[5.0, 10.0]], [[1.5811388492584229, 3.0]], [[4, 512]])
    """
    ny = sci.shape[0]
    out_sci, out_err, out_dq = out_arrays(sci, err, dq, out)
    badflat = ZERO_FLAT
    for r0, r1 in row_blocks(ny):  # strips keep the temporaries small; arithmetic is per pixel
        s, e, f, fe = sci[r0:r1], err[r0:r1], flat[r0:r1], flat_err[r0:r1]
        zero = f == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            q = s / f
            a = e / f
            b = fe * s / f / f
            enew = np.sqrt(a * a + b * b)
        out_sci[r0:r1] = np.where(zero, s, q)
        out_err[r0:r1] = np.where(zero, e, enew)
        out_dq[r0:r1] = dq[r0:r1] | np.where(zero, badflat, np.uint16(0)) | flat_dq[r0:r1]
    return out_sci, out_err, out_dq
