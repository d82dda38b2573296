"""Statistics keywords of IR imsets (HSTCAL ``wf3ir/statcalc.c``, ``stats.c: qstats``; §I13).

Over the science area, pixels with ``(DQ & SDQFLAGS) == 0`` and ``ERR > 0``: float64 sequential sums.
HSTCAL's ``statcalc`` passes the SNR and ERR results to ``qstats`` in swapped positions, so the
SCI header's SNRMEAN/SNRMIN/SNRMAX hold the **ERR** statistics and the ERR header's
GOODMEAN/GOODMIN/GOODMAX hold the **SNR** statistics; reproduced here.
"""

from __future__ import annotations

import numpy as np

from .common import F32, F64, seq_sum


def ir_statistics(sci, err, dq, sdqflags: int) -> dict:
    """``{"SCI": {...}, "ERR": {...}}`` as calwf3 writes them for IR.

    >>> s = ir_statistics(np.array([[2., 4.]], np.float32), np.array([[1., 2.]], np.float32),
    ...                   np.zeros((1, 2), np.uint16), 31743)
    >>> s["SCI"]["GOODMEAN"], s["SCI"]["SNRMAX"], s["ERR"]["GOODMEAN"]
    (3.0, 2.0, 2.0)
    """
    good = ((dq & np.uint16(sdqflags & 0xFFFF)) == 0) & (err > 0)
    n = int(np.count_nonzero(good))
    if n == 0:
        return {"SCI": {"NGOODPIX": 0}, "ERR": {"NGOODPIX": 0}}
    s = sci[good].astype(F64)
    e = err[good].astype(F64)
    r = s / e

    def f(x):
        return float(F32(x))

    return {
        "SCI": {
            "NGOODPIX": n,
            "GOODMEAN": f(seq_sum(s) / n),
            "GOODMIN": f(s.min()),
            "GOODMAX": f(s.max()),
            "SNRMEAN": f(seq_sum(e) / n),
            "SNRMIN": f(e.min()),
            "SNRMAX": f(e.max()),
        },
        "ERR": {
            "NGOODPIX": n,
            "GOODMEAN": f(seq_sum(r) / n),
            "GOODMIN": f(r.min()),
            "GOODMAX": f(r.max()),
        },
    }
