"""Row strips for whole-chip array arithmetic.

Per-pixel float32 arithmetic gives the same result whether done on a whole chip or on strips of
rows; strips keep each temporary small (a few MB instead of tens), which lowers peak memory and
keeps the working set in the CPU caches.
"""

from __future__ import annotations

BLOCK_ROWS = 128


def row_blocks(ny: int, block_rows: int = BLOCK_ROWS) -> list[tuple[int, int]]:
    """Row strips ``(r0, r1)`` covering ``0..ny``.

    >>> row_blocks(5, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    return [(r0, min(ny, r0 + block_rows)) for r0 in range(0, ny, block_rows)]
