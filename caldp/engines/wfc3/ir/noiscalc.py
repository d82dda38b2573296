"""Noise model: initial ERR of IR reads (HSTCAL ``wf3ir/noiscalc.c``; calib-wfc3.md §I5).

``ERR = f32(f32(sqrt(f64(RN²) + |f64(f32(S·g))|)) / g)`` in DN, per amp quadrant. The quadrant
boundaries are ``bx = AMPX + LTV1 − TRIMX1`` and ``by = AMPY + LTV2 − TRIMY1`` (507 for full frame,
five pixels off the physical boundary, as HSTCAL has it): rows < by use amps B | C (left | right),
rows ≥ by amps A | D. Only the science area is computed.
"""

from __future__ import annotations

import numpy as np

from .common import F32, F64, Area

# amp index (A=0 … D=3) of the quadrants [lower-left, lower-right, upper-left, upper-right]
_QUADS = (1, 2, 0, 3)


def amp_maps(area: Area, gains, readnoise, bx: int, by: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel float32 gain and RN² over the science area."""
    ny, nx = area.y1 - area.y0, area.x1 - area.x0
    rows = np.arange(area.y0, area.y1)[:, None]
    cols = np.arange(area.x0, area.x1)[None, :]
    quad = (rows >= by).astype(np.int8) * 2 + (cols >= bx).astype(np.int8)
    amp = np.asarray(_QUADS)[quad]
    g = np.asarray(gains, F32)[amp]
    rn = np.asarray(readnoise, F32)
    r2 = (rn * rn).astype(F32)[amp]
    return np.broadcast_to(g, (ny, nx)), np.broadcast_to(r2, (ny, nx))


def noise(sci_area: np.ndarray, gain: np.ndarray, rn2: np.ndarray) -> np.ndarray:
    """ERR of a read (DN) from its signal `sci_area` (DN, zero read subtracted).

    >>> a = lambda v: np.array([[v]], np.float32)
    >>> float(noise(a(100.0), a(2.5), a(400.0))[0, 0])
    10.198039054870605
    """
    sg = (sci_area * gain).astype(F32)
    n = np.sqrt(rn2.astype(F64) + np.abs(sg.astype(F64))).astype(F32)
    return (n / gain).astype(F32)
