"""Statistics keywords of IR imsets (HSTCAL ``wf3ir/statcalc.c``, ``stats.c: qstats``; §I13).

Over the science area, pixels with ``(DQ & SDQFLAGS) == 0`` and ``ERR > 0``: float64 sequential
sums (the shared pass :func:`caldp.engines.common.stats.good_pixel_stats`). HSTCAL's ``statcalc``
passes the SNR and ERR results to ``qstats`` in swapped positions, so the SCI header's
SNRMEAN/SNRMIN/SNRMAX hold the **ERR** statistics and the ERR header's GOODMEAN/GOODMIN/GOODMAX
hold the **SNR** statistics; reproduced here.
"""

from __future__ import annotations

import numpy as np

from ...common.stats import good_pixel_stats


def _f32(x: float) -> float:
    return float(np.float32(x))


def ir_statistics(sci, err, dq, sdqflags: int) -> dict:
    """``{"SCI": {...}, "ERR": {...}}`` as calwf3 writes them for IR.

    >>> s = ir_statistics(np.array([[2., 4.]], np.float32), np.array([[1., 2.]], np.float32),
    ...                   np.zeros((1, 2), np.uint16), 31743)
    >>> s["SCI"]["GOODMEAN"], s["SCI"]["SNRMAX"], s["ERR"]["GOODMEAN"]
    (3.0, 2.0, 2.0)
    """
    g = good_pixel_stats(sci, err, dq, sdqflags)
    if g.n == 0:
        return {"SCI": {"NGOODPIX": 0}, "ERR": {"NGOODPIX": 0}}
    return {
        "SCI": {
            "NGOODPIX": g.n,
            "GOODMEAN": _f32(g.sci_sum / g.n),
            "GOODMIN": _f32(g.sci_min),
            "GOODMAX": _f32(g.sci_max),
            "SNRMEAN": _f32(g.err_sum / g.n),
            "SNRMIN": _f32(g.err_min),
            "SNRMAX": _f32(g.err_max),
        },
        "ERR": {
            "NGOODPIX": g.n,
            "GOODMEAN": _f32(g.snr_sum / g.n),
            "GOODMIN": _f32(g.snr_min),
            "GOODMAX": _f32(g.snr_max),
        },
    }
