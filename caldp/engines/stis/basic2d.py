"""calstis1 (basic 2-D) array steps after BLEVCORR, CCD and MAMA (HSTCAL ``cs1/donoise.c``, ``dobias.c``,
``dodark.c``, ``doflat.c``, ``lib/sub2d.c``, ``multk2d.c``, ``div2d.c``, ``mult2d.c``, ``dostat.c``).

Float32 arithmetic where calstis uses float, float64 where C promotes (``sqrt`` returns double
and the division after it is done in double before the store to float).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..common.kernels import c_array, load
from .dq import DQ

F32, F64 = np.float32, np.float64
KERNELS = "caldp.engines.stis._kernels"


def _in_place_kernel(sci, err, dq, rsci, rerr, rdq):
    """The kernel module when an in-place step can use it: float32 SCI/ERR and uint16 DQ, C-contiguous
    and writable, references of the same shape and types (anything else: None, the NumPy path)."""
    k = load(KERNELS)
    if k is None:
        return None
    mine, refs = (sci, err, dq), (rsci, rerr, rdq)
    types = (F32, F32, np.uint16)
    for a, r, t in zip(mine, refs, types, strict=True):
        if not (isinstance(a, np.ndarray) and isinstance(r, np.ndarray)):
            return None
        if a.dtype != t or r.dtype != t or a.shape != sci.shape or r.shape != sci.shape:
            return None
        if not (a.flags.c_contiguous and a.flags.writeable):
            return None
    return k


def _refs(rsci, rerr, rdq):
    return c_array(rsci, F32), c_array(rerr, F32), c_array(rdq, np.uint16)


def init_error_ccd(sci: np.ndarray, *, bias: float, gain: float, readnoise: float) -> np.ndarray:
    """``doNoise`` (CCD): ``ERR = sqrt((SCI − bias)·gain + rn²) / gain`` where the signal is positive,
    else ``rn / gain``; `bias` is CCDBIAS when BLEVCORR was not done here, else 0.

    >>> init_error_ccd(np.array([0.0, 100.0], F32), bias=0.0, gain=1.0, readnoise=5.0).tolist()
    [5.0, 11.180339813232422]
    """
    b, g, rn = F32(bias), F32(gain), F32(readnoise)
    k = load(KERNELS)
    if k is not None and sci.dtype == F32:
        err = np.empty(sci.shape, F32)
        k.noise_ccd(c_array(sci, F32), err, float(b), float(g), float(rn))
        return err
    return init_error_ccd_numpy(sci, b, g, rn)


def init_error_ccd_numpy(sci: np.ndarray, b: F32, g: F32, rn: F32) -> np.ndarray:
    """:func:`init_error_ccd` in NumPy (the C kernel's reference)."""
    value = (sci - b) * g
    rn2 = rn * rn
    pos = value > 0
    err = np.full(sci.shape, F32(F64(rn) / F64(g)), F32)
    err[pos] = (np.sqrt((value[pos] + rn2).astype(F64)) / F64(g)).astype(F32)
    return err


def error_is_dummy(err: np.ndarray) -> bool:
    """``doNoise`` only fills an ERR array that is all zeros."""
    return not np.any(err)


def scale_ref(sci: np.ndarray, err: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """``multk2d``: SCI and ERR times the float constant `k` (unchanged for k == 1)."""
    k = F32(k)
    if k == F32(1.0):
        return sci, err
    return sci * k, err * k


def subtract(sci, err, dq, rsci, rerr, rdq) -> None:
    """``sub2d``: SCI −= ref, ERR = sqrt(ERR² + ref ERR²) (float), DQ |= ref DQ. In place. The C
    kernel when built and the arrays fit it, else :func:`subtract_numpy`."""
    k = _in_place_kernel(sci, err, dq, rsci, rerr, rdq)
    if k is None:
        subtract_numpy(sci, err, dq, rsci, rerr, rdq)
        return
    k.sub2d(sci, err, dq, *_refs(rsci, rerr, rdq))


def subtract_numpy(sci, err, dq, rsci, rerr, rdq) -> None:
    """:func:`subtract` in NumPy (the C kernel's reference)."""
    np.subtract(sci, rsci, out=sci)
    e = err * err
    e += rerr * rerr
    np.sqrt(e, out=err)
    dq |= rdq


def divide(sci, err, dq, fsci, ferr, fdq) -> None:
    """``div2d``: where the flat is non-zero SCI /= flat and
    ERR = sqrt((ERR/flat)² + (flat ERR·SCI/flat/flat)²) (float32, with the old SCI); where it is zero
    the pixel keeps its values and gets CALIBDEFECT. DQ |= flat DQ. In place.

    >>> s, e, d = np.array([4.0, 4.0], F32), np.array([1.0, 1.0], F32), np.zeros(2, np.uint16)
    >>> divide(s, e, d, np.array([2.0, 0.0], F32), np.array([0.0, 0.0], F32), np.zeros(2, np.uint16))
    >>> s.tolist(), e.tolist(), d.tolist()
    ([2.0, 4.0], [0.5, 1.0], [0, 512])
    """
    k = _in_place_kernel(sci, err, dq, fsci, ferr, fdq)
    if k is None:
        divide_numpy(sci, err, dq, fsci, ferr, fdq)
        return
    k.div2d(sci, err, dq, *_refs(fsci, ferr, fdq), int(DQ.CALIBDEFECT))


def divide_numpy(sci, err, dq, fsci, ferr, fdq) -> None:
    """:func:`divide` in NumPy (the C kernel's reference)."""
    zero = fsci == 0
    nz = ~zero
    a, b = sci[nz], fsci[nz]
    a_expr = err[nz] / b
    b_expr = ferr[nz] * a / b / b
    sci[nz] = a / b
    err[nz] = np.sqrt(a_expr * a_expr + b_expr * b_expr)
    dq[zero] |= np.uint16(DQ.CALIBDEFECT)
    dq |= fdq


def multiply(asci, aerr, adq, bsci, berr, bdq) -> None:
    """``mult2d`` (delta flat times pixel flat): SCI = a·b, ERR = sqrt((a·ERRb)² + (b·ERRa)²). In place.
    The C kernel when built and the arrays fit it, else :func:`multiply_numpy`."""
    k = _in_place_kernel(asci, aerr, adq, bsci, berr, bdq)
    if k is None:
        multiply_numpy(asci, aerr, adq, bsci, berr, bdq)
        return
    k.mult2d(asci, aerr, adq, *_refs(bsci, berr, bdq))


def multiply_numpy(asci, aerr, adq, bsci, berr, bdq) -> None:
    """:func:`multiply` in NumPy (the C kernel's reference)."""
    a_db = asci * berr
    b_da = bsci * aerr
    np.multiply(asci, bsci, out=asci)
    np.sqrt(a_db * a_db + b_da * b_da, out=aerr)
    adq |= bdq


def dark_factor(detector_temp: float, ref_temp: float, drk_vs_t: float) -> float:
    """``CCDFactor``: ``1 + DRK_VS_T·(T − REF_TEMP)`` for a side-2 temperature T > 0, else 1.

    >>> round(dark_factor(19.3, 18.0, 0.07), 6)
    1.091
    """
    if detector_temp <= 0.0:
        return 1.0
    return 1.0 + drk_vs_t * (detector_temp - ref_temp)


def median_good(sci: np.ndarray, dq: np.ndarray) -> float:
    """``MedSciVal``: float32 median of the pixels with DQ == 0 (0 when none)."""
    vals = sci[dq == 0]
    if vals.size == 0:
        return 0.0
    if vals.size % 2:
        return float(np.partition(vals, vals.size // 2)[vals.size // 2])
    k = vals.size // 2
    part = np.partition(vals, (k - 1, k))
    return float(F32(F64(part[k - 1] + part[k]) / 2.0))  # (float + float) / 2.F


class Stats(NamedTuple):
    n: int
    sci_min: float
    sci_max: float
    sci_mean: float
    err_min: float
    err_max: float
    err_mean: float
    snr_min: float
    snr_max: float
    snr_mean: float


def good_stats(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, sdqflags: int) -> Stats:
    """``doStat`` (STIS): over pixels without an SDQFLAGS bit, skipping those with ERR ≤ 0 and SCI > 0
    (S/N of 0/0 counts as 0); float64 values summed in raster order, means = sum / n. One pass of the
    C kernel (``_kernels.good_stats``) when built, else :func:`good_stats_numpy` (the reference)."""
    k = load(KERNELS)
    if k is None or dq.dtype != np.uint16:
        return good_stats_numpy(sci, err, dq, sdqflags)
    n, *v = k.good_stats(c_array(sci, F32), c_array(err, F32), c_array(dq, np.uint16), int(sdqflags))
    if n == 0:
        return Stats(0, *([0.0] * 9))
    return Stats(n, v[0], v[1], v[2] / n, v[3], v[4], v[5] / n, v[6], v[7], v[8] / n)


def good_stats_numpy(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, sdqflags: int) -> Stats:
    """:func:`good_stats` in NumPy (the reference of the C kernel)."""
    good = (dq & np.uint16(sdqflags & 0xFFFF)) == 0
    s = sci[good].astype(F64)
    e = err[good].astype(F64)
    keep = ~((e <= 0) & (s > 0))
    s, e = s[keep], e[keep]
    if s.size == 0:
        return Stats(0, *([0.0] * 9))
    snr = np.zeros_like(s)
    pos = e > 0
    snr[pos] = s[pos] / e[pos]
    n = s.size

    def seq(v):
        return float(np.add.accumulate(v)[-1])

    return Stats(
        n,
        float(s.min()),
        float(s.max()),
        seq(s) / n,
        float(e.min()),
        float(e.max()),
        seq(e) / n,
        float(snr.min()),
        float(snr.max()),
        seq(snr) / n,
    )


def init_error_mama(sci: np.ndarray) -> np.ndarray:
    """``doNoise`` (MAMA): ``ERR = sqrt(SCI)`` where SCI > 0, else 0 (counting statistics).

    >>> init_error_mama(np.array([-1.0, 0.0, 4.0], F32)).tolist()
    [0.0, 0.0, 2.0]
    """
    err = np.zeros(sci.shape, F32)
    pos = sci > 0
    err[pos] = np.sqrt(sci[pos])
    return err
