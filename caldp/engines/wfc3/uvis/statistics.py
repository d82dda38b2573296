"""Statistics keywords of a calibrated imset (HSTCAL ``lib/dostat.c``), in row strips.

Same definitions and arithmetic as :func:`caldp.engines.common.stats.image_statistics` — good
pixels ``(DQ & SDQFLAGS) == 0 and ERR > 0``; min/max; means from float64 *sequential* sums in
raster order — but computed strip by strip, so a 4096×2051 chip needs a few MB of temporaries
instead of ~260 MB (which matters with two chips or exposures in flight).
"""

from __future__ import annotations

import numpy as np

from .strips import row_blocks

F64 = np.float64


def _seq_sum(acc: float, values: np.ndarray) -> float:
    """``acc + v0 + v1 + …`` added one at a time in float64 (as a C loop); overwrites `values`.

    >>> _seq_sum(1.0, np.array([1e16, 1.0, -1e16]))
    0.0
    """
    if values.size == 0:
        return acc
    values[0] += acc
    np.add.accumulate(values, out=values)
    return float(values[-1])


def _good_values(sci, err, dq, mask, r0, r1):
    good = ((dq[r0:r1] & mask) == 0) & (err[r0:r1] > 0)
    s = sci[r0:r1][good].astype(F64)
    e = err[r0:r1][good].astype(F64)
    return s, e, s / e


def _f32(x) -> float:
    return float(np.float32(x))


def _mean_if_unambiguous(total: float, abs_total: float, n: int, nstrips: int) -> float | None:
    """float32 of the *sequential* float64 mean, decided from a pairwise sum when that is safe.

    A sequential sum of n terms differs from the exact sum by at most ``(n−1)·u·Σ|x|`` (u = 2⁻⁵³)
    and the strip-wise pairwise sum by less; with a bound twice as large plus rounding margins,
    every mean the sequential loop could produce lies in ``[lo, hi]``. Rounding to float32 is
    monotonic, so if both ends round alike that is the answer; otherwise None (sum sequentially).

    >>> _mean_if_unambiguous(3.0, 3.0, 2, 1)
    1.5
    """
    bound = (n + nstrips + 64) * 2.0**-52 * abs_total * 1.001 + 8 * 2.0**-53 * abs_total
    lo, hi = (total - bound) / n, (total + bound) / n
    a, b = _f32(lo), _f32(hi)
    return a if a == b and np.isfinite(a) else None


def image_statistics(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, sdqflags: int) -> dict:
    """``{"SCI": {...}, "ERR": {...}}`` with NGOODPIX, GOODMIN/MAX/MEAN (and SNRMIN/MAX/MEAN for SCI).

    The means equal float32(sequential float64 sum / n) exactly: a fast pairwise sum decides them
    whenever the rounding is unambiguous (:func:`_mean_if_unambiguous`), else a second pass sums
    sequentially.

    >>> s = image_statistics(np.array([[1., 2.], [3., 9.]], np.float32),
    ...                      np.array([[1., 1.], [0., 1.]], np.float32),
    ...                      np.array([[0, 0], [0, 4]], np.uint16), 4)
    >>> s["SCI"]["NGOODPIX"], s["SCI"]["GOODMEAN"], s["ERR"]["GOODMAX"], s["SCI"]["SNRMAX"]
    (2, 1.5, 1.0, 2.0)
    """
    mask = np.uint16(sdqflags & 0xFFFF)
    n = 0
    lows, highs = [None] * 3, [None] * 3  # sci, err, snr
    sums, abs_sums = [0.0] * 3, [0.0] * 3
    strips = row_blocks(sci.shape[0])
    for r0, r1 in strips:
        values = _good_values(sci, err, dq, mask, r0, r1)
        if values[0].size == 0:
            continue
        n += values[0].size
        for k, v in enumerate(values):
            lo, hi = v.min(), v.max()
            lows[k] = lo if lows[k] is None else np.minimum(lows[k], lo)
            highs[k] = hi if highs[k] is None else np.maximum(highs[k], hi)
            sums[k] += float(np.sum(v))
            abs_sums[k] += float(np.sum(np.abs(v)))
    if n == 0:
        zero = {"GOODMIN": 0.0, "GOODMAX": 0.0, "GOODMEAN": 0.0}
        return {
            "SCI": {"NGOODPIX": 0, **zero, "SNRMIN": 0.0, "SNRMAX": 0.0, "SNRMEAN": 0.0},
            "ERR": {"NGOODPIX": 0, **zero},
        }
    means = [_mean_if_unambiguous(sums[k], abs_sums[k], n, len(strips)) for k in range(3)]
    todo = [k for k in range(3) if means[k] is None]
    if todo:
        seq = [0.0] * 3
        for r0, r1 in strips:
            values = _good_values(sci, err, dq, mask, r0, r1)
            for k in todo:
                seq[k] = _seq_sum(seq[k], values[k])
        for k in todo:
            means[k] = _f32(seq[k] / n)
    return {
        "SCI": {
            "NGOODPIX": n,
            "GOODMIN": _f32(lows[0]),
            "GOODMAX": _f32(highs[0]),
            "GOODMEAN": means[0],
            "SNRMIN": _f32(lows[2]),
            "SNRMAX": _f32(highs[2]),
            "SNRMEAN": means[2],
        },
        "ERR": {"NGOODPIX": n, "GOODMIN": _f32(lows[1]), "GOODMAX": _f32(highs[1]), "GOODMEAN": means[1]},
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
