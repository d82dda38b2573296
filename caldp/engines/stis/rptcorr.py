"""RPTCORR, the repeat sum of MAMA (and non-echelle) imsets (HSTCAL ``cs8/calstis8.c``): SCI summed in
float, ERR the root of the float sum of squares, DQ the OR, imset by imset in file order.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def rpt_sum(imsets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``SumOrder`` for one spectral order: `imsets` is a sequence of (sci, err, dq), the good imsets.

    >>> s, e, d = rpt_sum([(np.array([1.0], F32), np.array([3.0], F32), np.array([4], np.uint16)),
    ...                    (np.array([2.0], F32), np.array([4.0], F32), np.array([1], np.uint16))])
    >>> s.tolist(), e.tolist(), d.tolist()
    ([3.0], [5.0], [5])
    """
    it = iter(imsets)
    sci, err, dq = next(it)
    sci = sci.astype(F32, copy=True)
    err2 = err * err
    dq = dq.copy()
    for s, e, d in it:
        if s.shape != sci.shape:
            raise ValueError("imsets of different sizes")
        sci += s
        err2 += e * e
        dq |= d
    return sci, np.sqrt(err2), dq


def calstis8(flt, fname: str):
    """calstis8 on the ``_flt`` exposure in memory: the ``_sfl`` exposure, or None when there is one
    imset only (cs0.e: *Output file … was not written*). Headers as ``PutHdrInfo8``: RPTCORR, NEXTEND,
    NCOMBINE, EXPTIME (sum of the good imsets) and EXPEND (of the last imset read); statistics with
    the primary header's SDQFLAGS (default 32767)."""
    from ..common.hstio import Exposure, ImSet
    from ..common.keywords import hdr_double
    from . import basic2d
    from .calstis1 import _write_stats

    if len(flt.imsets) <= 1:
        return None
    good = [im for im in flt.imsets if im.sci_hdr.get("IMSET_OK", True) is not False]
    if not good:
        return None
    sci, err, dq = rpt_sum([(im.sci, im.err, im.dq) for im in good])
    sumexptime = 0.0
    for im in good:
        sumexptime += float(im.sci_hdr["EXPTIME"])
    expend = float(flt.imsets[-1].sci_hdr["EXPEND"])
    first = good[0]
    headers = {k: h.copy() for k, h in first.headers.items()}
    prim = flt.primary.copy()
    out = ImSet(sci, err, dq, headers, 1)
    sdq = int(np.int16(np.int32(prim.get("SDQFLAGS", 32767)) & 0xFFFF).astype(np.uint16))
    _write_stats(out, basic2d.good_stats(sci, err, dq, sdq))
    prim["RPTCORR"] = ("COMPLETE", "add individual repeat observations")
    prim.add_history("RPTCORR complete")
    prim.add_history("Statistics computed after rptcorr.")
    prim["NEXTEND"] = (3, "number of extensions")
    sh = headers["SCI"]
    sh["NCOMBINE"] = (len(good), "number of imsets combined")
    sh["EXPTIME"] = (hdr_double(sumexptime), "exposure time")
    sh["EXPEND"] = (hdr_double(expend), "exposure end time")
    return Exposure(primary=prim, imsets=[out], filename=fname)
