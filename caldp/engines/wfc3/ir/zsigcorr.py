"""ZSIGCORR: signal already present in the zeroth read (HSTCAL ``wf3ir/zsigcorr.c``; calib-wfc3.md §I3).

``zs = f32(zeroth − ZSCI)`` over the science area; pixels below ``4σ`` (σ combining the noise
model of ``zs`` and ZERR) are zeroed, the others flagged ZEROSIG. Saturation in the zeroth read
(``zs > NODE``) or in the first read (``first − ZSCI > NODE``) sets SATPIXEL. ``zs`` is then added to
the zeroth read. DQ flags: ZEROSIG (2048), SATPIXEL (256).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dq import DQ
from .common import F32, F64
from .noiscalc import noise

ZSTHRESH = F32(4.0)


@dataclass(slots=True)
class ZSig:
    sci: np.ndarray  # science-area zero-read signal (DN)
    dq: np.ndarray  # science-area DQ of the zsig image (only ZEROSIG is used later)
    nsat0: int
    nsat1: int


def zsigcorr(
    zeroth: np.ndarray,
    zeroth_dq: np.ndarray,
    first: np.ndarray,
    zsci: np.ndarray,
    zerr: np.ndarray,
    node: np.ndarray,
    gain: np.ndarray,
    rn2: np.ndarray,
) -> tuple[ZSig, np.ndarray, np.ndarray, np.ndarray]:
    """Science-area arrays in; returns ``(zsig, new zeroth sci, zeroth dq OR-mask, first-read dq OR-mask)``."""
    zs = (zeroth - zsci).astype(F32)
    err = noise(zs, gain, rn2)
    n = np.sqrt(((err * err).astype(F32) + (zerr * zerr).astype(F32)).astype(F32).astype(F64)).astype(F32)
    sig = zs >= (ZSTHRESH * n).astype(F32)
    zdq = zeroth_dq.copy()
    zdq[sig] |= np.uint16(DQ.ZEROSIG)
    mask0 = np.where(sig, np.uint16(DQ.ZEROSIG), np.uint16(0))
    zs = np.where(sig, zs, F32(0)).astype(F32)
    sat0 = zs > node
    sat1 = ~sat0 & ((first - zsci).astype(F32) > node)
    both = np.uint16(DQ.SATPIXEL | DQ.ZEROSIG)
    zdq[sat0 | sat1] |= both
    mask0[sat0] |= both
    mask1 = np.where(sat0 | sat1, np.uint16(DQ.SATPIXEL), np.uint16(0))
    new0 = (zeroth + zs).astype(F32)
    nsat0 = int(np.count_nonzero(sat0))
    return ZSig(zs, zdq, nsat0, nsat0 + int(np.count_nonzero(sat1))), new0, mask0, mask1
