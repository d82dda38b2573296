"""NLINCORR: classical non-linearity correction (HSTCAL ``wf3ir/nlincorr.c``, ``satcheck.c``; §I7).

Per read, from the zeroth read to the last: ``sv = S (+ zs for reads after the zeroth)``;
``dq |= ZEROSIG`` where zs has it; ``dq |= NLIN DQ``; already SATPIXEL → untouched; ``sv ≤ NODE`` →
``S = f32(sv·c) (− zs)`` with ``c = 1 + Σ COEF_k·sv^k`` accumulated in double and rounded to float
at each term; ``sv > NODE`` → SATPIXEL. Saturation then propagates to the next (later) read over
the whole image. DQ flags: SATPIXEL (256), ZEROSIG (2048), NLINFILE DQ.
"""

from __future__ import annotations

import numpy as np

from ..dq import DQ
from .common import F32, F64


def correct_read(sci, dq, coef, node, nldq, zs=None, zsdq=None) -> tuple[np.ndarray, np.ndarray, int]:
    """One read's science area; returns ``(sci, dq, nsat)`` (new arrays).

    >>> s, d, n = correct_read(np.array([[1000.]], np.float32), np.zeros((1, 1), np.uint16),
    ...     [np.zeros((1, 1), np.float32), np.full((1, 1), 1e-5, np.float32)], np.full((1, 1), 5e4, np.float32),
    ...     np.zeros((1, 1), np.uint16))
    >>> float(s[0, 0]), n
    (1010.0, 0)
    """
    sv = sci
    dq = dq.copy()
    if zs is not None:
        sv = (sci + zs).astype(F32)
        dq |= zsdq & np.uint16(DQ.ZEROSIG)
    dq |= nldq
    sat_in = (dq & np.uint16(DQ.SATPIXEL)) != 0
    ok = ~sat_in & (sv <= node)
    over = ~sat_in & (sv > node)
    sv64 = sv.astype(F64)
    c = np.ones_like(sv, dtype=F32)
    pw = None  # sv**k in double: exact for k ≤ 2, one rounding for k = 3 (as pow), pow() beyond
    for k, ck in enumerate(coef):
        if k == 0:
            term = ck.astype(F64)
        else:
            pw = sv64 if k == 1 else (pw * sv64 if k <= 3 else np.power(sv64, float(k)))
            term = ck.astype(F64) * pw
        c = (c + term).astype(F32)
    new = (sv * c).astype(F32)
    if zs is not None:
        new = (new - zs).astype(F32)
    out = np.where(ok, new, sci).astype(F32)
    dq[over] |= np.uint16(DQ.SATPIXEL)
    return out, dq, int(np.count_nonzero(sat_in | over))
