"""ATODCORR: analog-to-digital correction (HSTCAL ``wf3ccd/doatod.c``; calib-wfc3.md §U4). **[READ]**

ATODTAB row: CCDAMP and CCDGAIN match (wildcards), and among those the one whose REF_KEY_VALUE
is closest to the science header value of the keyword named in REF_KEY. Each SCI value is
replaced by ``ATOD[int(value)]``; values ≥ NELEM get the last entry and ``DQ |= SATPIXEL``;
negative values are unchanged. Normally OMIT for WFC3 (ATODTAB = N/A).
"""

from __future__ import annotations

import numpy as np

from ..dq import DQ

F32 = np.float32


def atodcorr(sci: np.ndarray, dq: np.ndarray, atod: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the correction array `atod` (1-D float32) to raw `sci`.

    >>> s, d = atodcorr(np.array([[0., 1.7, 5., -1.]], F32), np.zeros((1, 4), np.uint16),
    ...                 np.array([10., 11., 12.], F32))
    >>> s.tolist(), d.tolist()
    ([[10.0, 11.0, 12.0, -1.0]], [[0, 0, 256, 0]])
    """
    atod = np.asarray(atod, dtype=F32)
    n = atod.size
    ival = np.trunc(sci).astype(np.int64)
    over = ival >= n
    inside = (ival >= 0) & ~over
    out = sci.copy()
    out[inside] = atod[ival[inside]]
    out[over] = atod[n - 1]
    return out, dq | np.where(over, np.uint16(DQ.SATPIXEL), np.uint16(0))
