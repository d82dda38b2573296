"""Gain conversion and error initialisation (HSTCAL ``lib/toelectrons.c``, ``lib/donoise.c``,
``lib/detnsegn.c``; calib-acs-wfc.md §3.5, §3.9).

Amp layout (``get_nsegn``): a WFC chip has two amp slots, left (A on chip 1, C on chip 2) for
columns ``< ampx`` and right (B/D) for the rest; a single-amp HRC/WFC readout with AMPX = AMPY
= 0 uses the first amp with a non-zero gain for the whole image. ``ampx`` in raw columns is
``AMPX + max(LTV1, 0)``, widened to the full row if it reaches the trailing overscan.
Rows ``< ampy`` use the C/D slots of the general four-quadrant (HRC) layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

F32 = np.float32
AMPS = "ABCD"


@dataclass(frozen=True, slots=True)
class AmpLayout:
    """Per-slot gain and read noise (float32) in ``get_nsegn`` order and the raw-pixel boundaries."""

    gain: tuple[F32, F32, F32, F32]
    readnoise: tuple[F32, F32, F32, F32]
    ampx: int
    ampy: int

    def maps(self, shape) -> tuple[np.ndarray, np.ndarray]:
        """Broadcastable float32 (gain, readnoise) maps for an array of `shape`.

        Quadrants: rows ``< ampy`` → slots C (2) / D (3), other rows → A (0) / B (1); columns
        ``< ampx`` the first of each pair.
        """
        ny, nx = shape
        left = np.arange(nx)[None, :] < self.ampx
        g, r = self.gain, self.readnoise
        gm = np.where(left, g[0], g[1]).astype(F32)
        rm = np.where(left, r[0], r[1]).astype(F32)
        if self.ampy > 0:
            top = np.arange(ny)[:, None] < self.ampy
            gm = np.where(top, np.where(left, g[2], g[3]), gm).astype(F32)
            rm = np.where(top, np.where(left, r[2], r[3]), rm).astype(F32)
        return gm, rm

    def check(self, shape) -> bool:
        """False where HSTCAL finds no valid gain: the left slot of a region when ``ampx > 0``,
        the right slot when ``ampx == 0``."""
        ny, _ = shape
        for rows, (lo, hi) in ((self.ampy > 0, (2, 3)), (self.ampy < ny, (0, 1))):
            if not rows:
                continue
            if self.ampx > 0 and self.gain[lo] == 0:
                return False
            if self.ampx == 0 and self.gain[hi] == 0:
                return False
        return True


def amp_layout(detector: str, chip: int, atodgain, readnoise, *, ampx: int, ampy: int, ltv, shape) -> AmpLayout:
    """Slot values and raw boundaries (``get_nsegn`` + the boundary logic of ``to_electrons``).

    >>> lay = amp_layout("WFC", 2, [0, 0, 2.0, 2.1], [0, 0, 4.0, 4.1], ampx=2048, ampy=0, ltv=(24, 0),
    ...                  shape=(2068, 4144))
    >>> lay.ampx, [float(g) for g in lay.gain[:2]]
    (2072, [2.0, 2.0999999046325684])
    """
    g = [F32(v) for v in atodgain]
    r = [F32(v) for v in readnoise]
    sg, sr = [F32(1)] * 4, [F32(0)] * 4
    if detector == "WFC":
        idx = (2, 3, 2, 3) if chip == 2 else (0, 1, 0, 1)
        sg, sr = [g[i] for i in idx], [r[i] for i in idx]
    elif ampx == 0 and ampy == 0:
        for j in range(4):
            if g[j] > 0:
                sg[1], sr[1] = g[j], r[j]
                break
    elif g[0] == 0 and g[3] == 0:
        sg, sr = [g[2], g[1], g[2], g[1]], [r[2], r[1], r[2], r[1]]
    elif g[1] == 0 and g[2] == 0:
        sg, sr = [g[0], g[3], g[0], g[3]], [r[0], r[3], r[0], r[3]]
    else:
        sg, sr = g, r
    ny, nx = shape
    offx, offy = int(ltv[0]), int(ltv[1])
    bx = 0 if ampx == 0 else ampx + max(offx, 0)
    by = 0 if ampy == 0 else ampy + max(offy, 0)
    if bx >= nx - offx or bx > nx:
        bx = nx
    if by >= ny - offy or by > ny:
        by = ny
    return AmpLayout(tuple(sg), tuple(sr), bx, by)


def to_electrons(sci: np.ndarray, err: np.ndarray, layout: AmpLayout) -> tuple[np.ndarray, np.ndarray]:
    """Multiply SCI and ERR by the gain of the amp owning each pixel (float32).

    >>> lay = AmpLayout((F32(2), F32(3), F32(1), F32(1)), (F32(0),) * 4, 1, 0)
    >>> to_electrons(np.ones((1, 2), F32), np.ones((1, 2), F32), lay)[0].tolist()
    [[2.0, 3.0]]
    """
    g, _ = layout.maps(sci.shape)
    return sci * g, err * g


def init_error(sci: np.ndarray, err: np.ndarray, layout: AmpLayout, *, bias_target: bool = False) -> np.ndarray:
    """``ERR = sqrt(f32(f32(max(SCI, 0) + f32(rn²)) + f32(ERR²)))`` in electrons (``doNoise``);
    ``ERR = rn`` when TARGNAME starts with BIAS.

    >>> lay = AmpLayout((F32(1),) * 4, (F32(3), F32(4), F32(0), F32(0)), 1, 0)
    >>> init_error(np.array([[16., -5.]], F32), np.zeros((1, 2), F32), lay).tolist()
    [[5.0, 4.0]]
    """
    _, rn = layout.maps(sci.shape)
    if bias_target:
        return np.broadcast_to(rn, sci.shape).astype(F32)
    value = np.maximum(sci, F32(0))
    return np.sqrt((value + rn * rn) + err * err)
