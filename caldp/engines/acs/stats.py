"""Statistics keywords NGOODPIX, GOODMIN/MAX/MEAN, SNRMIN/MAX/MEAN (HSTCAL ``lib/dostat.c``; calib-acs-wfc.md §6.6).

Same definition as :func:`caldp.engines.common.stats.image_statistics` (pixels with
``(DQ & SDQFLAGS) == 0`` and ``ERR > 0``, float64 accumulators, float32 results), computed
without float64 copies of the images and with pairwise sums: the keywords are float32 written
with 8 significant digits, which the summation order cannot reach on a full WFC chip.
"""

from __future__ import annotations

import numpy as np

F64 = np.float64


def image_statistics(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, sdqflags: int) -> dict:
    """``{"SCI": {...}, "ERR": {...}}`` of the good pixels.

    >>> s = image_statistics(np.array([[1., 2.], [3., 9.]], np.float32),
    ...                      np.array([[1., 1.], [0., 1.]], np.float32),
    ...                      np.array([[0, 0], [0, 4]], np.uint16), 4)
    >>> s["SCI"]["NGOODPIX"], s["SCI"]["GOODMEAN"], s["SCI"]["SNRMAX"], s["ERR"]["GOODMAX"]
    (2, 1.5, 2.0, 1.0)
    """
    good = ((dq & np.uint16(sdqflags & 0xFFFF)) == 0) & (err > 0)
    n = int(np.count_nonzero(good))
    if n == 0:
        zero = {"GOODMIN": 0.0, "GOODMAX": 0.0, "GOODMEAN": 0.0}
        return {
            "SCI": {"NGOODPIX": 0, **zero, "SNRMIN": 0.0, "SNRMAX": 0.0, "SNRMEAN": 0.0},
            "ERR": {"NGOODPIX": 0, **zero},
        }
    s = sci[good]
    e = err[good]
    snr = np.divide(s, e, dtype=F64)

    def f32(x):
        return float(np.float32(x))

    return {
        "SCI": {
            "NGOODPIX": n,
            "GOODMIN": f32(s.min()),
            "GOODMAX": f32(s.max()),
            "GOODMEAN": f32(np.sum(s, dtype=F64) / n),
            "SNRMIN": f32(snr.min()),
            "SNRMAX": f32(snr.max()),
            "SNRMEAN": f32(np.sum(snr) / n),
        },
        "ERR": {
            "NGOODPIX": n,
            "GOODMIN": f32(e.min()),
            "GOODMAX": f32(e.max()),
            "GOODMEAN": f32(np.sum(e, dtype=F64) / n),
        },
    }
