"""Statistics keywords of a calibrated imset (HSTCAL ``lib/dostat.c``), in row strips.

Same definitions and arithmetic as :func:`caldp.engines.common.stats.image_statistics` — good
pixels ``(DQ & SDQFLAGS) == 0 and ERR > 0``; min/max; means from float64 *sequential* sums in
raster order — but computed strip by strip, carrying the running sums, so a 4096×2051 chip needs
a few MB of temporaries instead of ~260 MB (which matters with two chips or exposures in flight).
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


def image_statistics(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, sdqflags: int) -> dict:
    """``{"SCI": {...}, "ERR": {...}}`` with NGOODPIX, GOODMIN/MAX/MEAN (and SNRMIN/MAX/MEAN for SCI).

    >>> s = image_statistics(np.array([[1., 2.], [3., 9.]], np.float32),
    ...                      np.array([[1., 1.], [0., 1.]], np.float32),
    ...                      np.array([[0, 0], [0, 4]], np.uint16), 4)
    >>> s["SCI"]["NGOODPIX"], s["SCI"]["GOODMEAN"], s["ERR"]["GOODMAX"], s["SCI"]["SNRMAX"]
    (2, 1.5, 1.0, 2.0)
    """
    mask = np.uint16(sdqflags & 0xFFFF)
    n = 0
    smin = smax = emin = emax = rmin = rmax = None
    ssum = esum = rsum = 0.0
    for r0, r1 in row_blocks(sci.shape[0]):
        good = ((dq[r0:r1] & mask) == 0) & (err[r0:r1] > 0)
        k = int(np.count_nonzero(good))
        if k == 0:
            continue
        s = sci[r0:r1][good].astype(F64)
        e = err[r0:r1][good].astype(F64)
        r = s / e
        n += k
        smin = s.min() if smin is None else np.minimum(smin, s.min())
        smax = s.max() if smax is None else np.maximum(smax, s.max())
        emin = e.min() if emin is None else np.minimum(emin, e.min())
        emax = e.max() if emax is None else np.maximum(emax, e.max())
        rmin = r.min() if rmin is None else np.minimum(rmin, r.min())
        rmax = r.max() if rmax is None else np.maximum(rmax, r.max())
        ssum, esum, rsum = _seq_sum(ssum, s), _seq_sum(esum, e), _seq_sum(rsum, r)  # s, e, r used up
    if n == 0:
        zero = {"GOODMIN": 0.0, "GOODMAX": 0.0, "GOODMEAN": 0.0}
        return {
            "SCI": {"NGOODPIX": 0, **zero, "SNRMIN": 0.0, "SNRMAX": 0.0, "SNRMEAN": 0.0},
            "ERR": {"NGOODPIX": 0, **zero},
        }

    def f32(x):
        return float(np.float32(x))

    return {
        "SCI": {
            "NGOODPIX": n,
            "GOODMIN": f32(smin),
            "GOODMAX": f32(smax),
            "GOODMEAN": f32(ssum / n),
            "SNRMIN": f32(rmin),
            "SNRMAX": f32(rmax),
            "SNRMEAN": f32(rsum / n),
        },
        "ERR": {"NGOODPIX": n, "GOODMIN": f32(emin), "GOODMAX": f32(emax), "GOODMEAN": f32(esum / n)},
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
