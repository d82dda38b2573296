"""Reference pixels under a science image, binned or expanded (HSTCAL ``stis/lib/getcorner.c``,
``cs1/findbin.c``, ``lib/bin2d.c``, ``lib/unbin2d.c``, ``lib/binupdate.c``).

For the MAMAs calstis counts corners and bin sizes in high-res pixels (a reference pixel size of 2:
a low-res image with LTM = 1 has bin 2, a high-res reference with LTM = 2 has bin 1). Float32
arithmetic in calstis's order: the bin sums add the input pixels one at a time, row by row.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..common.errors import EngineError
from ..common.kernels import c_array, load
from ..common.refimage import nint

F32, F64 = np.float32, np.float64
KERNELS = "caldp.engines.stis._kernels"


def corner(ltm: tuple[float, float], ltv: tuple[float, float], rsize: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """``GetCorner``/``FromLT``: ((bin x, bin y), (corner x, corner y)) in units of `rsize`-sized pixels.

    >>> corner((1.0, 1.0), (0.0, -448.0), 2), corner((2.0, 2.0), (-0.5, -0.5), 2)
    (((2, 2), (0, 896)), ((1, 1), (0, 0)))
    """
    bins, corners = [], []
    for m, v in zip(ltm, ltv, strict=True):
        if m <= 0:
            raise EngineError(f"(LTM1_1, LTM2_2) = ({ltm[0]:.8g}, {ltm[1]:.8g}) is invalid", keyword="LTM1_1")
        dbin = rsize / m
        corners.append(nint((dbin - rsize) / 2.0 - dbin * v))
        bins.append(nint(dbin))
    return (bins[0], bins[1]), (corners[0], corners[1])


class Bin(NamedTuple):
    same_size: bool
    high_res: bool
    rx: int
    ry: int
    x0: int
    y0: int


def find_bin(sci_lt, sci_shape, ref_lt, ref_shape, *, rsize: int, dispaxis: int = 1) -> Bin:
    """``FindBin``: how the reference (ltm, ltv) maps onto the science image. A reference binned more
    coarsely than the image, or by a ratio that is not an integer, is an error (cs0.e: REF_TOO_SMALL,
    SIZE_MISMATCH)."""
    sbin, scorner = corner(*sci_lt, rsize)
    rbin, rcorner = corner(*ref_lt, rsize)
    high_res = (dispaxis == 1 and rbin[0] == 1) or (dispaxis == 2 and rbin[1] == 1)
    if scorner == rcorner and sbin == rbin and tuple(sci_shape) == tuple(ref_shape):
        return Bin(True, high_res, 1, 1, 0, 0)
    if rbin[0] > sbin[0] or rbin[1] > sbin[1]:
        raise EngineError(
            f"reference binned {rbin[0]}x{rbin[1]} is coarser than the science data ({sbin[0]}x{sbin[1]})"
        )
    ratio = (sbin[0] // rbin[0], sbin[1] // rbin[1])
    if ratio[0] * rbin[0] != sbin[0] or ratio[1] * rbin[1] != sbin[1]:
        raise EngineError(f"science bin {sbin} is not a multiple of the reference bin {rbin}")
    shift = (scorner[0] - rcorner[0], scorner[1] - rcorner[1])
    zero = (int(shift[0] / rbin[0]), int(shift[1] / rbin[1]))  # C integer division
    return Bin(False, high_res, ratio[0], ratio[1], zero[0], zero[1])


def bin2d(sci, err, dq, x0: int, y0: int, binx: int, biny: int, shape: tuple[int, int], *, avg: bool):
    """``bin2d``: the `shape` (ny, nx) output starting at input pixel (x0, y0), each output pixel the
    float sum of binx × biny inputs (divided by their number when `avg`), ERR the root of the sum of
    squares (divided likewise, in double), DQ the OR. A subset beyond the input is an error.

    >>> s = np.arange(16, dtype=F32).reshape(4, 4); e = np.ones((4, 4), F32); d = np.zeros((4, 4), np.uint16)
    >>> d[0, 1] = 4
    >>> b = bin2d(s, e, d, 0, 0, 2, 2, (2, 2), avg=False)
    >>> b[0].tolist(), b[1].tolist(), b[2].tolist()
    ([[10.0, 18.0], [42.0, 50.0]], [[2.0, 2.0], [2.0, 2.0]], [[4, 0], [0, 0]])
    """
    ny, nx = shape
    if x0 < 0 or y0 < 0 or x0 + nx * binx > sci.shape[1] or y0 + ny * biny > sci.shape[0]:
        raise EngineError(
            f"(bin2d) subset is out of bounds: input is {sci.shape[1]} x {sci.shape[0]}, output is {nx} x {ny}, "
            f"start = ({x0 + 1},{y0 + 1}), binx = {binx}, biny = {biny}"
        )
    if binx == 1 and biny == 1:
        sl = (slice(y0, y0 + ny), slice(x0, x0 + nx))
        return sci[sl].copy(), err[sl].copy(), dq[sl].copy()
    s, e2, d = _bin_sums(sci, err, dq, x0, y0, binx, biny, shape)
    if avg:
        weight = F32(binx * biny)
        s /= weight
        e = (np.sqrt(e2.astype(F64)) / F64(weight)).astype(F32)
    else:
        e = np.sqrt(e2)
    return s, e, d


def _bin_sums(sci, err, dq, x0: int, y0: int, binx: int, biny: int, shape: tuple[int, int]):
    """bin2d's float32 sums (SCI, ERR², DQ OR): the C kernel (``_kernels.bin2d_sums``) when built and
    the inputs are float32/uint16, else :func:`bin_sums_numpy` (the reference)."""
    k = load(KERNELS)
    if k is None or not (
        sci.dtype == err.dtype == F32 and dq.dtype == np.uint16 and sci.shape == err.shape == dq.shape
    ):
        return bin_sums_numpy(sci, err, dq, x0, y0, binx, biny, shape)
    ny, nx = shape
    s, e2, d = np.empty(shape, F32), np.empty(shape, F32), np.empty(shape, np.uint16)
    iny, inx = sci.shape
    k.bin2d_sums(
        c_array(sci, F32), c_array(err, F32), c_array(dq, np.uint16), iny, inx, x0, y0, binx, biny, s, e2, d, ny, nx
    )
    return s, e2, d


def bin_sums_numpy(sci, err, dq, x0: int, y0: int, binx: int, biny: int, shape: tuple[int, int]):
    """bin2d's sums in NumPy, input row offset outer, column offset inner (the C kernel's reference)."""
    ny, nx = shape
    s = np.zeros(shape, F32)
    e2 = np.zeros(shape, F32)
    d = np.zeros(shape, dq.dtype)
    for j in range(biny):
        for i in range(binx):
            sl = (slice(y0 + j, y0 + j + ny * biny, biny), slice(x0 + i, x0 + i + nx * binx, binx))
            s += sci[sl]
            ev = err[sl]
            e2 += ev * ev
            d |= dq[sl]
    return s, e2, d


def _interp_info(n_out: int, n_in: int, b: int):
    """``InterpInfo`` for every output index: (i, p, q) with float32 weights."""
    off = F32(b - 1) / F32(2.0)
    a = (np.arange(n_out, dtype=F32) - off) / F32(b)
    i = np.trunc(a).astype(np.int64)
    i = np.clip(i, 0, max(n_in - 2, 0))
    q = (a - i.astype(F32)).astype(F32)
    p = (F32(1.0) - q).astype(F32)
    return i, p, q, a


def _interp_dq_info(a: float, n_in: int):
    """``InterpDQInfo`` of one float32 coordinate: (i1, i2, num)."""
    i1 = int(np.trunc(a))
    i2 = i1 + 1
    num = 1 if F32(a) == F32(i1) else 2
    if i1 <= 0:
        i1, num = 0, 1
    if i1 >= n_in - 1:
        i1, num = n_in - 1, 1
    return i1, i2, num


def unbin2d(sci, err, dq, shape: tuple[int, int], *, rows: tuple[int, int] | None = None):
    """``unbin2d`` (both axes expanded, as for a low-order flat): bilinear interpolation in float32,
    ``p·r·a + q·r·b + p·s·c + q·s·d`` left to right; ERR the root of the weighted squares (not scaled);
    DQ the OR of the neighbours — with calstis's quirk that the row neighbours of every output row are
    those of the last output row (its DQ loop reuses the last ``aj`` of the error loop). `rows`
    (n0, n1): only those output rows of the `shape` expansion.

    >>> s = np.array([[1.0, 3.0], [5.0, 7.0]], F32)
    >>> out = unbin2d(s, np.zeros((2, 2), F32), np.zeros((2, 2), np.uint16), (4, 4))
    >>> out[0][0].tolist(), out[0][3].tolist()
    ([-0.5, 0.5, 1.5, 2.5], [5.5, 6.5, 7.5, 8.5])
    """
    iny, inx = sci.shape
    ony, onx = shape
    binx, biny = onx // inx, ony // iny
    if binx * inx != onx or biny * iny != ony:
        raise EngineError("(unbin2d) bin ratio is not an integer.")
    n0, n1 = rows if rows is not None else (0, ony)
    if binx == 1 and biny == 1:
        return sci[n0:n1].copy(), err[n0:n1].copy(), dq[n0:n1].copy()
    if binx == 1 or biny == 1:
        raise EngineError("(unbin2d) expansion along one axis only is not supported by the builtin STIS engine yet")
    ii, p, q, ax = _interp_info(onx, inx, binx)
    jj, r, s_, ay = _interp_info(ony, iny, biny)
    out_shape = (n1 - n0, onx)
    out_s, out_e = _unbin_sci_err(sci, err, ii, p, q, jj[n0:n1], r[n0:n1], s_[n0:n1], out_shape)
    j1, j2, num_j = _interp_dq_info(float(ay[-1]), iny)
    line = dq[j1].copy() if num_j == 1 else dq[j1] | dq[j2]  # the same row neighbours for every row
    i1 = np.trunc(ax).astype(np.int64)
    two = ax != i1.astype(F32)
    low, high = i1 <= 0, i1 >= inx - 1
    i1 = np.clip(i1, 0, inx - 1)
    two &= ~(low | high)
    cols = line[i1] | np.where(two, line[np.minimum(i1 + 1, inx - 1)], 0).astype(dq.dtype)
    out_d = np.broadcast_to(cols, out_shape).copy()
    return out_s, out_e, out_d


def _unbin_sci_err(sci, err, ii, p, q, jj, r, s_, out_shape):
    """unbin2d's SCI and ERR of the output rows whose input rows and weights are `jj`, `r`, `s_`: the C
    kernel (``_kernels.unbin2d_rows``) when built and the inputs are float32, else
    :func:`unbin_sci_err_numpy` (the reference)."""
    k = load(KERNELS)
    iny, inx = sci.shape
    if k is None or not (sci.dtype == err.dtype == F32 and sci.shape == err.shape and iny >= 2 and inx >= 2):
        return unbin_sci_err_numpy(sci, err, ii, p, q, jj, r, s_, out_shape)
    out_s, out_e = np.empty(out_shape, F32), np.empty(out_shape, F32)
    i64 = np.int64
    k.unbin2d_rows(
        c_array(sci, F32), c_array(err, F32), iny, inx, c_array(ii, i64), c_array(p, F32), c_array(q, F32),
        c_array(jj, i64), c_array(r, F32), c_array(s_, F32), out_s, out_e, out_shape[0], out_shape[1],
    )  # fmt: skip
    return out_s, out_e


def unbin_sci_err_numpy(sci, err, ii, p, q, jj, r, s_, out_shape):
    """:func:`_unbin_sci_err` in NumPy, blocks of 128 rows (the C kernel's reference)."""
    # the input columns each output column needs, for every input row (small), then blocks of rows
    sa, sb = sci[:, ii], sci[:, ii + 1]
    ea, eb = err[:, ii], err[:, ii + 1]
    out_s = np.empty(out_shape, F32)
    out_e = np.empty(out_shape, F32)
    for b0 in range(0, out_shape[0], 128):
        b1 = min(b0 + 128, out_shape[0])
        j = jj[b0:b1]
        rr, ss = r[b0:b1, None], s_[b0:b1, None]
        pr, qr, ps, qs = rr * p, rr * q, ss * p, ss * q
        out_s[b0:b1] = pr * sa[j] + qr * sb[j] + ps * sa[j + 1] + qs * sb[j + 1]
        e1, e2, e3, e4 = ea[j], eb[j], ea[j + 1], eb[j + 1]
        with np.errstate(invalid="ignore"):  # extrapolated corners can go negative: NaN, as sqrt in C
            out_e[b0:b1] = np.sqrt(pr * e1 * e1 + qr * e2 * e2 + ps * e3 * e3 + qs * e4 * e4)
    return out_s, out_e


def bin_update(block, offset, ltm, ltv, cd, crpix):
    """``BinUpdate``: coordinate keywords (LTM, LTV, CD1_1, CD1_2, CD2_1, CD2_2, CRPIX) of an image binned
    by `block` from `offset` (in unbinned pixels).

    >>> bin_update((2.0, 2.0), (0.0, 0.0), (2.0, 2.0), (-0.5, -0.5), (1.0, 0.0, 0.0, 1.0), (1024.5, 1024.5))
    ((1.0, 1.0), (0.0, 0.0), (2.0, 0.0, 0.0, 2.0), (512.5, 512.5))
    """
    ltm_o = (ltm[0] / block[0], ltm[1] / block[1])
    ltv_o = tuple((ltv[k] - offset[k] + (block[k] - 1.0) / 2.0) / block[k] for k in range(2))
    crpix_o = tuple((crpix[k] - offset[k] + (block[k] - 1.0) / 2.0) / block[k] for k in range(2))
    cd_o = (cd[0] * block[0], cd[1] * block[1], cd[2] * block[0], cd[3] * block[1])
    return ltm_o, ltv_o, cd_o, crpix_o
