"""Row strips and output arrays for whole-chip array arithmetic.

Per-pixel float32 arithmetic gives the same result whether done on a whole chip or on strips of
rows; strips keep each temporary small (a few MB instead of tens), which lowers peak memory and
keeps the working set in the CPU caches.
"""

from __future__ import annotations

import numpy as np

BLOCK_ROWS = 128
F32 = np.float32


def row_blocks(ny: int, block_rows: int = BLOCK_ROWS) -> list[tuple[int, int]]:
    """Row strips ``(r0, r1)`` covering ``0..ny``.

    >>> row_blocks(5, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    return [(r0, min(ny, r0 + block_rows)) for r0 in range(0, ny, block_rows)]


def same_2d_shape(*arrays) -> bool:
    """All arrays 2-D of one shape (the kernels do not broadcast); `out` may be None or a tuple."""
    flat = []
    for a in arrays:
        if a is None:
            continue
        flat.extend(a if isinstance(a, tuple) else [a])
    return all(np.ndim(a) == 2 and np.shape(a) == np.shape(flat[0]) for a in flat)


def out_arrays(sci, err, dq, out):
    """(sci, err, dq) arrays for a step's result: `out` checked against the inputs' shapes, or new float32/uint16."""
    if out is None:
        return np.empty(sci.shape, F32), np.empty(err.shape, F32), np.empty(dq.shape, np.uint16)
    o_sci, o_err, o_dq = out
    if o_sci.shape != sci.shape or o_err.shape != err.shape or o_dq.shape != dq.shape:
        raise ValueError("out arrays must have the shapes of sci, err, dq")
    return o_sci, o_err, o_dq
