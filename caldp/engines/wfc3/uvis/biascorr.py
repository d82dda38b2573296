"""BIASCORR: bias-image subtraction (HSTCAL ``wf3ccd/dobias.c``, ``lib/sub1d.c``; calib-wfc3.md §U6).

The BIASFILE has the raw geometry (overscan included); the whole raw array is corrected::

    sci = f32(sci − b);  err = sqrt(f32(err·err + be·be));  dq |= bdq

For a subarray the matching section of the full-frame bias is used; if the bias CCDAMP is
ABCD/ANY/SINGLE_AMP/SINGLE_OR_ALL and the science amp is B or D, 60 columns are skipped (the
serial virtual overscan of the full-frame reference). DQ flags set: whatever the bias DQ holds
(BADBIAS 128 in practice).
"""

from __future__ import annotations

import numpy as np

from ...common.strips import row_blocks

F32 = np.float32


def subtract_image(
    sci: np.ndarray, err: np.ndarray, dq: np.ndarray, ref_sci: np.ndarray, ref_err: np.ndarray, ref_dq: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HSTCAL ``sub1d`` over a whole array: float32 difference, errors in quadrature, DQ OR.

    >>> s, e, d = subtract_image(np.array([[10.]], F32), np.array([[3.]], F32), np.array([[1]], np.uint16),
    ...                          np.array([[4.]], F32), np.array([[4.]], F32), np.array([[128]], np.uint16))
    >>> float(s[0, 0]), float(e[0, 0]), int(d[0, 0])
    (6.0, 5.0, 129)
    """
    out_sci = np.subtract(sci, ref_sci, dtype=F32)
    out_err = np.empty(np.broadcast_shapes(err.shape, ref_err.shape), F32)
    for r0, r1 in row_blocks(out_err.shape[0]):
        e, re = err[r0:r1], ref_err[r0:r1]
        t = e * e
        t += re * re
        np.sqrt(t, out=out_err[r0:r1])
    return out_sci, out_err, dq | ref_dq


def bias_x_offset(bias_ccdamp: str, sci_ccdamp: str) -> int:
    """Extra x offset into a full-frame bias for B/D subarrays (``doBias``).

    >>> bias_x_offset("ABCD", "D"), bias_x_offset("ABCD", "C"), bias_x_offset("A", "B")
    (60, 0, 0)
    """
    full = bias_ccdamp.strip().upper() in ("ABCD", "ANY", "SINGLE_AMP", "SINGLE_OR_ALL")
    return 60 if full and sci_ccdamp.strip().upper() in ("B", "D") else 0
