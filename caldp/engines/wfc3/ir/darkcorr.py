"""DARKCORR for IR (HSTCAL ``wf3ir/darkcorr.c``, ``refdata.c: getDarkInfo/getDarkImage``; §I8).

The dark imset of each read is the one whose ``EXPOS_k`` is within 0.01 s of the read's time
(after ZOFFCORR); with SAMP_SEQ = NONE two bracketing imsets are interpolated (or one is
extrapolated). Science area: ``S − D``, ``ERR = sqrt(f32(E² + De²))``, ``dq |= Ddq``. MEANDARK is the
mean of the dark over the science area where its DQ has none of 4|8|16|32|128|256|512.
"""

from __future__ import annotations

import math

import numpy as np

from .common import F32, F64, seq_sum

ALLOWDIFF = 0.01
STAT_MASK = np.uint16(4 | 8 | 16 | 32 | 128 | 256 | 512)


def select_dark(dtimes, exptime: float, sampseq: str) -> tuple[str, int, int, float, float]:
    """``(kind, frame1, frame2, t1, t2)`` with 1-based dark imsets; kind MATCH/INTERP/EXTRAP/NONE.

    >>> select_dark([0.0, 2.9, 12.9], 12.9, "SPARS10")
    ('MATCH', 3, 0, 0.0, 0.0)
    >>> select_dark([0.0, 10.0, 20.0], 15.0, "NONE")
    ('INTERP', 2, 3, 10.0, 20.0)
    """
    f1 = f2 = 0
    lo = hi = 0.0
    kind = "NONE"
    for i, t in enumerate(dtimes):
        if math.fabs(t - exptime) <= ALLOWDIFF:
            return "MATCH", i + 1, 0, 0.0, 0.0
        if sampseq.startswith("NONE"):
            if t < exptime:
                kind, f1, lo = "INTERP", i + 1, t
            elif t > exptime and f2 == 0:
                kind, f2, hi = "INTERP", i + 1, t
    if sampseq.startswith("NONE") and not (f1 and f2) and (f1 or f2):
        kind = "EXTRAP"
    return kind, f1, f2, lo, hi


def interp(d1, d2, t1: float, t2: float, t: float):
    """``dark_interp``: ``d1 + frac·(d2 − d1)`` with asub/amulk/aadd error propagation."""
    (s1, e1, q1), (s2, e2, q2) = d1, d2
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = F32((F64(t) - t1) / (F64(t2) - t1))
    s = (s2 - s1).astype(F32)
    e = np.sqrt(((e2 * e2).astype(F32) + (e1 * e1).astype(F32)).astype(F32).astype(F64)).astype(F32)
    s, e = (s * frac).astype(F32), (e * frac).astype(F32)
    e = np.sqrt(((e1 * e1).astype(F32) + (e * e).astype(F32)).astype(F32).astype(F64)).astype(F32)
    return (s1 + s).astype(F32), e, q1 | q2


def extrap(d, t_ref: float, t: float):
    s, e, q = d
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = F32(F64(t) / F64(t_ref))  # C double division: ±inf/nan for a zero-time imset
        return (s * frac).astype(F32), (e * frac).astype(F32), q


def subtract(sci, err, dq, dsci, derr, ddq):
    """``asub_noref`` on the science area.

    >>> s, e, d = subtract(np.array([5.], np.float32), np.array([3.], np.float32), np.zeros(1, np.uint16),
    ...     np.array([1.], np.float32), np.array([4.], np.float32), np.array([16], np.uint16))
    >>> s.tolist(), e.tolist(), d.tolist()
    ([4.0], [5.0], [16])
    """
    e = np.sqrt(((err * err).astype(F32) + (derr * derr).astype(F32)).astype(F32).astype(F64)).astype(F32)
    return (sci - dsci).astype(F32), e, dq | ddq


def meandark(dsci, ddq) -> np.float32:
    good = (ddq & STAT_MASK) == 0
    good &= (dsci > -np.finfo(F32).max) & (dsci < np.finfo(F32).max)
    n = int(np.count_nonzero(good))
    return F32(seq_sum(dsci[good]) / n) if n else F32(0)
