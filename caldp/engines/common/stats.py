"""Statistics keywords written after calibration (HSTCAL ``lib/dostat.c``; IR ``statcalc.c``).

Over pixels with ``(DQ & SDQFLAGS) == 0`` and ``ERR > 0``: SCI gets NGOODPIX, GOODMIN,
GOODMAX, GOODMEAN, SNRMIN, SNRMAX, SNRMEAN; ERR gets NGOODPIX, GOODMIN, GOODMAX, GOODMEAN.
Values, errors and S/N are taken in float64, summed *sequentially* in raster order (as HSTCAL's
loop does, so the float32 means are HSTCAL's exactly on any image size) and stored as float32.

One pass of :func:`good_pixel_stats` serves every engine: the C kernel
(``caldp.engines.common._kernels.good_stats``) when built, else the NumPy reference below, which
walks row strips with an exact sequential float64 sum (a few MB of temporaries per chip).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .kernels import c_array, load

F64 = np.float64
STRIP_ROWS = 256


class GoodStats(NamedTuple):
    """Good-pixel count and float64 min/max/sum of SCI, ERR and SCI/ERR."""

    n: int
    sci_min: float
    sci_max: float
    sci_sum: float
    err_min: float
    err_max: float
    err_sum: float
    snr_min: float
    snr_max: float
    snr_sum: float


def _seq_sum(acc: float, values: np.ndarray) -> float:
    """``acc + v0 + v1 + …`` added one at a time in float64 (as HSTCAL's loop); overwrites `values`.

    >>> _seq_sum(1.0, np.array([1e16, 1.0, -1e16]))
    0.0
    """
    if values.size == 0:
        return acc
    values[0] += acc
    np.add.accumulate(values, out=values)
    return float(values[-1])


def _good_pixel_stats_numpy(sci, err, dq, sdqflags: int) -> GoodStats:
    mask = np.uint16(sdqflags & 0xFFFF)
    n = 0
    lows, highs, sums = [np.inf] * 3, [-np.inf] * 3, [0.0] * 3
    for r0 in range(0, sci.shape[0], STRIP_ROWS):
        rows = slice(r0, r0 + STRIP_ROWS)
        good = ((dq[rows] & mask) == 0) & (err[rows] > 0)
        s = sci[rows][good].astype(F64)
        if s.size == 0:
            continue
        e = err[rows][good].astype(F64)
        n += s.size
        for k, v in enumerate((s, e, s / e)):
            lows[k] = min(lows[k], float(v.min()))
            highs[k] = max(highs[k], float(v.max()))
            sums[k] = _seq_sum(sums[k], v)
    if n == 0:
        return GoodStats(0, *([0.0] * 9))
    return GoodStats(n, lows[0], highs[0], sums[0], lows[1], highs[1], sums[1], lows[2], highs[2], sums[2])


def good_pixel_stats(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, sdqflags: int) -> GoodStats:
    """The good-pixel statistics pass (HSTCAL ``doStat``'s loop) over 2-D `sci`, `err`, `dq`.

    >>> g = good_pixel_stats(np.array([[1., 2.], [3., 9.]], np.float32),
    ...                      np.array([[1., 1.], [0., 1.]], np.float32),
    ...                      np.array([[0, 0], [0, 4]], np.uint16), 4)
    >>> g.n, g.sci_sum, g.snr_max, g.err_min
    (2, 3.0, 2.0, 1.0)
    """
    kernels = load("caldp.engines.common._kernels")
    if kernels is None:
        return _good_pixel_stats_numpy(sci, err, dq, sdqflags)
    raw = kernels.good_stats(c_array(sci, np.float32), c_array(err, np.float32), c_array(dq, np.uint16), sdqflags)
    return GoodStats(*raw)


def _f32(x: float) -> float:
    return float(np.float32(x))


def image_statistics(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, sdqflags: int) -> dict:
    """Statistics of the good pixels; returns ``{"SCI": {...}, "ERR": {...}}``.

    >>> s = image_statistics(np.array([[1., 2.], [3., 9.]], np.float32),
    ...                      np.array([[1., 1.], [0., 1.]], np.float32),
    ...                      np.array([[0, 0], [0, 4]], np.uint16), 4)
    >>> s["SCI"]["NGOODPIX"], s["SCI"]["GOODMEAN"], s["ERR"]["GOODMAX"], s["SCI"]["SNRMAX"]
    (2, 1.5, 1.0, 2.0)
    """
    g = good_pixel_stats(sci, err, dq, sdqflags)
    if g.n == 0:
        zero = {"GOODMIN": 0.0, "GOODMAX": 0.0, "GOODMEAN": 0.0}
        return {
            "SCI": {"NGOODPIX": 0, **zero, "SNRMIN": 0.0, "SNRMAX": 0.0, "SNRMEAN": 0.0},
            "ERR": {"NGOODPIX": 0, **zero},
        }
    return {
        "SCI": {
            "NGOODPIX": g.n,
            "GOODMIN": _f32(g.sci_min),
            "GOODMAX": _f32(g.sci_max),
            "GOODMEAN": _f32(g.sci_sum / g.n),
            "SNRMIN": _f32(g.snr_min),
            "SNRMAX": _f32(g.snr_max),
            "SNRMEAN": _f32(g.snr_sum / g.n),
        },
        "ERR": {
            "NGOODPIX": g.n,
            "GOODMIN": _f32(g.err_min),
            "GOODMAX": _f32(g.err_max),
            "GOODMEAN": _f32(g.err_sum / g.n),
        },
    }


def write_statistics(imset, sdqflags: int | None = None) -> dict:
    """Compute the statistics of `imset` and write them into its SCI and ERR headers."""
    if sdqflags is None:
        sdqflags = int(imset.sci_hdr.get("SDQFLAGS", 65535))
    stats = image_statistics(imset.sci, imset.err, imset.dq, sdqflags)
    for ext in ("SCI", "ERR"):
        for key, value in stats[ext].items():
            imset.headers[ext][key] = value
    return stats
