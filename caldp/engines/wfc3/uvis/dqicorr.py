"""DQICORR for UVIS (HSTCAL ``pkg/wfc3/lib/dodqi.c``, ``lib/computelimits.c``; calib-wfc3.md §U3).

On the raw (untrimmed) chip, in raw DN:

1. A-to-D saturation: ``DQ |= ATODSAT`` where ``sci > 65534``.
2. Full-well saturation with the CCDTAB SATURATE scalar (``sci > SATURATE or sci > 65534`` →
   ``DQ |= SATPIXEL``): over the **whole** array when no SATUFILE will be used; only over the
   **overscan** (parallel-virtual rows and the three serial column ranges; for subarrays the
   physical-overscan columns, stopping one column short) when the SATUFILE map will flag the
   science area later (§U7).
3. BPIXTAB: each matching row ORs VALUE into a run of LENGTH pixels along AXIS (1: x, 2: y)
   starting at the 1-based *trimmed* pixel (PIX1, PIX2). For 4-amp readouts, runs starting at
   or right of ``ampx·bin`` are shifted right by the ``(TRIMX3+TRIMX4)·bin`` virtual columns
   (+2 when bin = 2); the run is then placed at ``int(x + LTV1 + LTM1_1 − 1)`` and is **not split**
   where it crosses the virtual columns.

DQ flags set: ATODSAT (2048), SATPIXEL (256), and any BPIXTAB VALUE.
"""

from __future__ import annotations

import logging

import numpy as np

from ...common.errors import EngineError
from ...common.refs import column
from ..dq import DQ
from .geometry import AmpRegion

log = logging.getLogger(__name__)

ATOD_SATURATE = np.float32(65534)


def flag_atod_saturation(sci: np.ndarray, dq: np.ndarray) -> np.ndarray:
    """``dq | ATODSAT`` where ``sci > 65534`` (uint16 in, new uint16 out).

    >>> flag_atod_saturation(np.array([[65534., 65535.]], np.float32), np.zeros((1, 2), np.uint16)).tolist()
    [[0, 2048]]
    """
    return dq | np.where(sci > ATOD_SATURATE, np.uint16(DQ.ATODSAT), np.uint16(0))


def flag_saturation_scalar(
    sci: np.ndarray, dq: np.ndarray, *, saturate: float, where: np.ndarray | None = None
) -> np.ndarray:
    """``dq | SATPIXEL`` where ``sci > SATURATE or sci > 65534`` (optionally only inside `where`).

    >>> flag_saturation_scalar(np.array([[10., 70000., 60000.]], np.float32), np.zeros((1, 3), np.uint16),
    ...                        saturate=50000.).tolist()
    [[0, 256, 256]]
    """
    hit = (sci > np.float32(saturate)) | (sci > ATOD_SATURATE)
    if where is not None:
        hit &= where
    return dq | np.where(hit, np.uint16(DQ.SATPIXEL), np.uint16(0))


def overscan_mask(
    shape: tuple[int, int], regions: list[AmpRegion], *, subarray: bool, trimx=(0, 0, 0, 0)
) -> np.ndarray:
    """Pixels HSTCAL tests for saturation in DQICORR when a SATUFILE will be used (``doDQI``).

    Full frame: rows outside ``[ybeg0, yend0)`` on the parallel-virtual side (all rows
    ``≥ yend0`` if ``ybeg0 == 0``, else rows ``< ybeg0``) and the column ranges
    ``[0, xbeg0−1]``, ``[xend0, xbeg1−1]``, ``[xend1, NX−1]`` (``xbeg1 = xend1 = −1`` when the chip
    has one amp, as in HSTCAL). Subarray: physical-overscan columns ``[beg, end)`` with the end
    one short (``i < xoscan_end``).

    >>> from caldp.engines.wfc3.uvis.geometry import amp_regions
    >>> regs = amp_regions("ABCD", 2, ampx=4, ampy=0, trimx=(1, 1, 2, 2), trimy=(0, 2), nx=14, ny=5)
    >>> overscan_mask((5, 14), regs, subarray=False).astype(int)
    array([[1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1],
           [1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1],
           [1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1],
           [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
           [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]])
    """
    rows, cols = overscan_rows_cols(shape, regions, subarray=subarray, trimx=trimx)
    return rows[:, None] | cols[None, :]


def overscan_rows_cols(
    shape: tuple[int, int], regions: list[AmpRegion], *, subarray: bool, trimx=(0, 0, 0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`overscan_mask` as (rows, cols) bool vectors: the mask is ``rows[y] or cols[x]``.

    >>> from caldp.engines.wfc3.uvis.geometry import amp_regions
    >>> regs = amp_regions("ABCD", 2, ampx=4, ampy=0, trimx=(1, 1, 2, 2), trimy=(0, 2), nx=14, ny=5)
    >>> [v.astype(int).tolist() for v in overscan_rows_cols((5, 14), regs, subarray=False)]
    [[0, 0, 0, 1, 1], [1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1]]
    """
    ny, nx = shape
    rows, cols = np.zeros(ny, dtype=bool), np.zeros(nx, dtype=bool)
    if not subarray:
        xbeg, xend, ybeg, yend = [-1, -1], [-1, -1], [-1, -1], [-1, -1]
        for k, r in enumerate(regions[:2]):
            xbeg[k], xend[k], ybeg[k], yend[k] = r.begx, r.endx, r.begy, r.endy
        if ybeg[0] == 0:
            y0, y1 = yend[0], ny - 1
        else:
            y0, y1 = 0, ybeg[0] - 1
        if y1 >= y0:
            rows[max(y0, 0) : y1 + 1] = True
        for lo, hi in ((0, xbeg[0] - 1), (xend[0], xbeg[1] - 1), (xend[1], nx - 1)):
            if hi >= lo:
                cols[max(lo, 0) : hi + 1] = True
        return rows, cols
    beg = end = 0
    if trimx[0] > 0:
        beg, end = 0, trimx[0] - 1
    elif trimx[1] > 0:
        beg, end = nx - trimx[1], nx - 1
    if end > beg:
        cols[beg:end] = True
    return rows, cols


def select_bpix_rows(table, *, ccdamp: str, ccdgain: float, chip: int, file=None) -> dict[str, np.ndarray]:
    """BPIXTAB rows that apply to this chip (``doDQI``: CCDAMP/CCDGAIN optional, wildcards).

    Returns 0-based ``xstart``, ``ystart`` and ``length``, ``axis``, ``value`` arrays.
    """
    cols = {}
    for name in ("PIX1", "PIX2", "LENGTH", "AXIS", "VALUE", "CCDCHIP"):
        c = column(table, name)
        if c is None:
            raise EngineError(f"column {name} not found", file=file, keyword="BPIXTAB")
        cols[name] = np.asarray(c)
    n = len(cols["PIX1"])
    ok = np.ones(n, dtype=bool)
    amp = column(table, "CCDAMP")
    if amp is not None:
        a = np.char.strip(np.asarray(amp).astype(str))
        ok &= (a == "N/A") | (a == "ANY") | (a == ccdamp)
    gain = column(table, "CCDGAIN")
    if gain is not None:
        g = np.asarray(gain).astype(np.float32)
        ok &= (g == np.float32(-999)) | (g == np.float32(-1)) | (g == np.float32(ccdgain))
    cc = cols["CCDCHIP"].astype(np.int64)
    ok &= (cc == -999) | (cc == -1) | (cc == chip)
    axis = cols["AXIS"].astype(np.int64)
    length = cols["LENGTH"].astype(np.int64)
    if np.any((axis != 1) & (axis != 2)):
        raise EngineError("AXIS in BPIXTAB must be 1 or 2", file=file, keyword="BPIXTAB")
    if np.any(length <= 0):
        raise EngineError("LENGTH in BPIXTAB must be positive", file=file, keyword="BPIXTAB")
    return {
        "xstart": cols["PIX1"].astype(np.int64)[ok] - 1,
        "ystart": cols["PIX2"].astype(np.int64)[ok] - 1,
        "length": length[ok],
        "axis": axis[ok],
        "value": cols["VALUE"].astype(np.int64)[ok].astype(np.int16).view(np.uint16),
    }


def apply_bpixtab(
    dq: np.ndarray,
    rows: dict[str, np.ndarray],
    *,
    ltv=(0.0, 0.0),
    ltm=(1.0, 1.0),
    four_amp: bool = False,
    ampx: int = 0,
    virtual_cols: int = 0,
) -> np.ndarray:
    """OR the BPIXTAB runs into `dq` (unbinned data; ``DQINormal`` + ``ToWF3RawCoords``).

    `rows` as returned by :func:`select_bpix_rows`; `ltv`, `ltm` of the science SCI header;
    `virtual_cols` = TRIMX3 + TRIMX4 of the OSCNTAB row (applied when `four_amp`).

    >>> rows = {"xstart": np.array([1, 4]), "ystart": np.array([0, 0]), "length": np.array([3, 2]),
    ...         "axis": np.array([1, 2]), "value": np.array([16, 4], np.uint16)}
    >>> apply_bpixtab(np.zeros((2, 10), np.uint16), rows, four_amp=True, ampx=3, virtual_cols=2).tolist()
    [[0, 16, 16, 16, 0, 0, 4, 0, 0, 0], [0, 0, 0, 0, 0, 0, 4, 0, 0, 0]]
    """
    out = dq.copy()
    if len(rows["xstart"]) == 0:
        return out
    ny, nx = dq.shape
    rbin = round(1.0 / ltm[0])
    xs = rows["xstart"].copy()
    if four_amp:
        shift = xs >= ampx * rbin
        xs[shift] += virtual_cols * rbin + (2 if rbin == 2 else 0)
    ltv0 = (ltv[0] + (ltm[0] - 1.0), ltv[1] + (ltm[1] - 1.0))
    x0 = np.trunc(xs + ltv0[0]).astype(np.int64)
    y0 = np.trunc(rows["ystart"] + ltv0[1]).astype(np.int64)
    length, axis, value = rows["length"], rows["axis"], rows["value"]
    # Along-axis start/end (clipped) and the fixed coordinate of each run.
    lo = np.where(axis == 1, x0, y0)
    hi = lo + length - 1
    fixed = np.where(axis == 1, y0, x0)
    nalong = np.where(axis == 1, nx, ny)
    nfixed = np.where(axis == 1, ny, nx)
    keep = (hi >= 0) & (lo < nalong) & (fixed >= 0) & (fixed < nfixed)
    lo, hi = np.maximum(lo, 0)[keep], np.minimum(hi, nalong - 1)[keep]
    fixed, axis, value = fixed[keep], axis[keep], value[keep]
    counts = hi - lo + 1
    if counts.sum() == 0:
        return out
    run = np.repeat(np.arange(len(lo)), counts)
    offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    along = lo[run] + offs
    is_x = axis[run] == 1
    yy = np.where(is_x, fixed[run], along)
    xx = np.where(is_x, along, fixed[run])
    np.bitwise_or.at(out, (yy, xx), value[run])
    return out
