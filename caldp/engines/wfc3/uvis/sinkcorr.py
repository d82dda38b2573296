"""Sink pixels (HSTCAL ``wf3ccd/sink.c``, ``lib/razutil.c``; calib-wfc3.md §U8).

SNKCFILE values per pixel: 0 normal; > 50000 the MJD a sink appeared; −1 the pixel just
downstream (towards the amp) of a sink; 0 < v < 1000 the upstream trail thresholds (DN).
For every sink with ``EXPSTART > map``: flag it (TRAP); flag the downstream neighbour if its map
value is < 0; walk upstream (away from the amp) flagging each pixel with ``sci_sink ≤ map`` while
the map stays in ``1 ≤ v < 1000`` (the walk stops at ``int(v) == 0``, ``v > 50000`` or
``v ∉ (0, 1000)``).

"Upstream" is +row for imset 1 and −row for imset 2 (HSTCAL's RAZ orientation flips imset 2).
Vectorised: the walk of a sink covers exactly the run of trail pixels that follows it in its
column, so each trail pixel looks back (cumulative maximum of "non-trail" row indices) to the
pixel just before its run and is flagged if that pixel is an active sink whose science value is
≤ the trail threshold.

DQ flags set: TRAP (1024). Science values are the bias-subtracted, untrimmed DN.
"""

from __future__ import annotations

import numpy as np

from ...common.kernels import c_array, load
from ..dq import DQ

REFDATE = np.float32(50000.0)
KERNELS = "caldp.engines.wfc3.uvis._kernels"


def flag_sinks(
    sci: np.ndarray,
    dq: np.ndarray,
    sinkmap: np.ndarray,
    *,
    expstart: float,
    upstream_is_up: bool,
    in_place: bool = False,
) -> tuple[np.ndarray, int]:
    """Return (new DQ, number of pixels newly flagged) for one chip.

    `upstream_is_up`: True for imset 1 (walk towards higher rows), False for imset 2. `in_place`:
    the kernel may flag `dq` itself (when it is a writable native uint16 array) instead of a copy.

    >>> m = np.array([[0.], [60000.], [5.], [3.], [0.], [7.]], np.float32)
    >>> sci = np.array([[1.], [4.], [1.], [1.], [1.], [1.]], np.float32)
    >>> d, n = flag_sinks(sci, np.zeros((6, 1), np.uint16), m, expstart=60001.0, upstream_is_up=True)
    >>> d[:, 0].tolist(), n
    ([0, 1024, 1024, 0, 0, 0], 2)
    """
    k = load(KERNELS)
    if k is not None and sci.shape == dq.shape == sinkmap.shape and sci.ndim == 2:
        own = dq.dtype == np.dtype(np.uint16).newbyteorder("=") and dq.flags.c_contiguous and dq.flags.writeable
        out = dq if in_place and own else np.array(dq, np.uint16, order="C", copy=True)
        ny, nx = sci.shape
        newly = k.sinks(
            c_array(sci, np.float32), out, c_array(sinkmap, np.float32), ny, nx, float(expstart), upstream_is_up
        )
        return out, int(newly)
    trap = np.uint16(DQ.TRAP)
    if not upstream_is_up:
        sci, dq, sinkmap = sci[::-1], dq[::-1], sinkmap[::-1]
    m = sinkmap
    # The map is almost all zeros: work on its non-zero pixels only, in (column, row) order.
    rows, cols = np.nonzero(m)
    order = np.lexsort((rows, cols))
    rows, cols = rows[order], cols[order]
    v = m[rows, cols]
    active = (v > REFDATE) & (np.float64(expstart) > v.astype(np.float64))
    flag = active.copy()
    # Downstream neighbour (row - 1 in walking orientation) of an active sink.
    prev_same = np.zeros(v.size, bool)  # the previous non-zero pixel is the one just below in the same column
    prev_same[1:] = (cols[1:] == cols[:-1]) & (rows[1:] == rows[:-1] + 1)
    down = np.zeros(v.size, bool)
    down[:-1] = active[1:] & prev_same[1:] & (v[:-1] < 0)
    flag |= down
    # Trail pixels: 1 <= v < 1000 (int(v) != 0, 0 < v < 1000, not a sink date). Each run of trail pixels
    # belongs to the pixel just before it (the run's head), which must be an active sink.
    trail = (v >= 1) & (v < 1000)
    idx = np.arange(v.size)
    starts = trail & ~(np.concatenate(([False], trail[:-1])) & prev_same)
    run_start = np.maximum.accumulate(np.where(starts, idx, 0))
    head = run_start - 1
    ok = trail & (head >= 0)
    hidx = np.where(ok, head, 0)
    ok &= (cols[hidx] == cols) & (rows[hidx] == rows[run_start] - 1) & active[hidx]
    ok &= sci[rows[hidx], cols[hidx]] <= v
    flag |= ok
    fy, fx = rows[flag], cols[flag]
    newly = int(np.count_nonzero((dq[fy, fx] & trap) == 0))
    out = dq.copy()
    out[fy, fx] |= trap
    if not upstream_is_up:
        out = out[::-1]
    return np.ascontiguousarray(out), newly
