"""Full-well saturation from the SATUFILE map (HSTCAL ``wf3ccd/dofwsat.c``; calib-wfc3.md §U7).

Runs after BLEVCORR and BIASCORR (data are bias-subtracted DN). The map is in electrons, raw
geometry, 0 in the serial-virtual columns. Full frame: over each amp's science region (rows of
the first amp's range), ``DQ |= SATPIXEL`` where ``sci > f32(map / mean_gain)``. Subarray: the
whole subarray against the map section at the subarray's corner, x0 moved by 60 when it starts
right of column 2072, and 60 map columns skipped where a subarray straddles column 2072.

DQ flags set: SATPIXEL (256).
"""

from __future__ import annotations

import numpy as np

from ..dq import DQ
from .geometry import AmpRegion

F32 = np.float32
END_PIX_AC_AMP = 2072
SIZE_SV_OVERSCAN = 60


def flag_full_well(
    sci: np.ndarray, dq: np.ndarray, satmap: np.ndarray, *, mean_gain: float, regions: list[AmpRegion]
) -> np.ndarray:
    """Full-frame case: `satmap` has the raw shape of `sci`; returns a new DQ (uint16).

    >>> from caldp.engines.wfc3.uvis.geometry import AmpRegion
    >>> reg = [AmpRegion("A", 0, 0, 1, 3, 0, 1)]
    >>> flag_full_well(np.array([[9e4, 40., 60.]], F32), np.zeros((1, 3), np.uint16),
    ...                np.full((1, 3), 100., F32), mean_gain=2.0, regions=reg).tolist()
    [[0, 0, 256]]
    """
    out = dq.copy()
    if not regions:
        return out
    y0, y1 = regions[0].begy, regions[0].endy
    thresh = satmap / F32(mean_gain)
    for r in regions[:2]:
        sl = (slice(y0, y1), slice(r.begx, r.endx))
        out[sl] |= np.where(sci[sl] > thresh[sl], np.uint16(DQ.SATPIXEL), np.uint16(0))
    return out


def subarray_map(satmap: np.ndarray, *, x0: int, y0: int, shape: tuple[int, int]) -> np.ndarray:
    """The map section under a subarray of `shape` at reference corner (x0, y0) (``doFullWellSat``).

    >>> m = np.arange(4300, dtype=F32)[None, :].repeat(2, 0)
    >>> subarray_map(m, x0=2070, y0=0, shape=(1, 5))[0].tolist()
    [2070.0, 2071.0, 2072.0, 2133.0, 2134.0]
    """
    ny, nx = shape
    if x0 > END_PIX_AC_AMP:
        cols = np.arange(nx) + x0 + SIZE_SV_OVERSCAN
    else:
        cols = np.arange(nx) + x0
        if x0 + nx > END_PIX_AC_AMP:
            overstart = END_PIX_AC_AMP + 1 - x0
            cols[overstart:] += SIZE_SV_OVERSCAN
    return satmap[y0 : y0 + ny][:, cols]


def flag_full_well_subarray(
    sci: np.ndarray, dq: np.ndarray, satmap_section: np.ndarray, *, mean_gain: float
) -> np.ndarray:
    """Subarray case: every pixel against `satmap_section` (same shape as `sci`)."""
    hit = sci > satmap_section / F32(mean_gain)
    return dq | np.where(hit, np.uint16(DQ.SATPIXEL), np.uint16(0))
