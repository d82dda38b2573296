"""SINKCORR: flag sink pixels and their trails (HSTCAL ``acsccd/dosink.c``; calib-acs-wfc.md §3.10).

The SNKCFILE (untrimmed full-frame layout) holds, per pixel, ``< −1`` for a sink, ``−1`` for the
pixel downstream of it, and positive values upstream (the trail). Rows are scanned in readout
order (imset 1: from row 0 up; imset 2: from the last row down); in each column a negative
reference value flags the pixel and starts a trail (a sink pixel remembers its science value),
then positive reference values keep flagging while they exceed the remembered value; a zero or
a smaller value ends the trail. DQ flag set: SINK (1024). The scan is sequential along each
column, so it runs row by row over all columns at once.
"""

from __future__ import annotations

import numpy as np

from .dq import DQ

F32 = np.float32


def flag_sinks(sci: np.ndarray, dq: np.ndarray, sink: np.ndarray, *, upward: bool) -> tuple[np.ndarray, int]:
    """DQ with SINK set on sink pixels and trails; returns ``(dq, number of flags set)``.

    `sink` is the reference section under `sci` (same shape).

    Column 0: a sink holding 10 e⁻ with a trail 12, 11, 4 (4 is not above 10: the trail ends).
    Column 1: a downstream pixel (−1) also starts a trail, compared with the remembered value (0
    here): 9 is flagged, the 0 ends the trail, so the later 7 is not.

    >>> sci = np.array([[10., 5.], [0., 0.], [0., 0.], [0., 0.]], F32)
    >>> ref = np.array([[-2., -1.], [12., 9.], [11., 0.], [4., 7.]], F32)
    >>> d, n = flag_sinks(sci, np.zeros((4, 2), np.uint16), ref, upward=True)
    >>> d.tolist(), n
    ([[1024, 1024], [1024, 1024], [1024, 0], [0, 0]], 5)
    """
    ny, nx = sci.shape
    out = dq.copy()
    keep = np.zeros(nx, bool)
    cur = np.zeros(nx, F32)
    flag = np.uint16(DQ.SINK)
    n = 0
    rows = range(ny) if upward else range(ny - 1, -1, -1)
    for j in rows:
        ref = sink[j]
        neg = ref < 0
        pos = ref > 0
        keep |= neg
        is_sink = ref < -1
        cur = np.where(is_sink, sci[j], cur)
        trail = pos & keep
        more = trail & (ref > cur)
        keep &= ~(trail & ~more)
        keep &= ~((ref == 0) & keep)
        hit = neg | more
        out[j] |= np.where(hit, flag, np.uint16(0))
        n += int(np.count_nonzero(hit))
    return out, n
