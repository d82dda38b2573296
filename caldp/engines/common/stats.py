"""Statistics keywords written after calibration (HSTCAL ``lib/dostat.c``).

Over pixels with ``(DQ & SDQFLAGS) == 0`` and ``ERR > 0``: SCI gets NGOODPIX, GOODMIN,
GOODMAX, GOODMEAN, SNRMIN, SNRMAX, SNRMEAN; ERR gets NGOODPIX, GOODMIN, GOODMAX, GOODMEAN.
Accumulated in float64, stored as float32.
"""

from __future__ import annotations

import numpy as np


def image_statistics(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, sdqflags: int) -> dict:
    """Statistics of the good pixels; returns ``{"SCI": {...}, "ERR": {...}}``.

    >>> s = image_statistics(np.array([[1., 2.], [3., 9.]], np.float32),
    ...                      np.array([[1., 1.], [0., 1.]], np.float32),
    ...                      np.array([[0, 0], [0, 4]], np.uint16), 4)
    >>> s["SCI"]["NGOODPIX"], s["SCI"]["GOODMEAN"], s["ERR"]["GOODMAX"]
    (2, 1.5, 1.0)
    """
    good = ((dq & np.uint16(sdqflags & 0xFFFF)) == 0) & (err > 0)
    n = int(np.count_nonzero(good))
    if n == 0:
        zero = {"GOODMIN": 0.0, "GOODMAX": 0.0, "GOODMEAN": 0.0}
        return {"SCI": {"NGOODPIX": 0, **zero, "SNRMIN": 0.0, "SNRMAX": 0.0, "SNRMEAN": 0.0},
                "ERR": {"NGOODPIX": 0, **zero}}
    s = sci[good].astype(np.float64)
    e = err[good].astype(np.float64)
    snr = s / e

    def f32(x):
        return float(np.float32(x))

    return {
        "SCI": {"NGOODPIX": n, "GOODMIN": f32(s.min()), "GOODMAX": f32(s.max()),
                "GOODMEAN": f32(np.cumsum(s)[-1] / n), "SNRMIN": f32(snr.min()),
                "SNRMAX": f32(snr.max()), "SNRMEAN": f32(np.cumsum(snr)[-1] / n)},
        "ERR": {"NGOODPIX": n, "GOODMIN": f32(e.min()), "GOODMAX": f32(e.max()),
                "GOODMEAN": f32(np.cumsum(e)[-1] / n)},
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
