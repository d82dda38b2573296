"""PCTECORR for WFC3/UVIS: pixel-based CTE correction (HSTCAL ``wf3cte/wf3cte.c``, calwf3 3.7.x).

The step runs first, on the raw counts of both chips at once, and makes the CTE-corrected raw
image ``_rac_tmp`` that the whole UVIS chain then processes a second time (``_blc_tmp`` → ``_flc``,
``_crc``). Steps, each a pure function below:

1. BIACFILE subtraction (``doCteBias``: ``sci = f32(sci − biac)``, raw geometry) — :func:`subtract_biac`;
2. the RAZ image (``makeRAZ``): the four amps side by side in the order C, D, A, B, each turned so
   its amp is at the lower left: ``(2070, 8412)`` float32 — :func:`make_raz`;
3. per amp, the resistant mean (σ = 7.5) of the trailing serial overscan (RAZ columns 2075…2101,
   rows 0…2050, column by column; ``findPostScanBias``) is subtracted and the result multiplied by
   CCDGAIN (float32) — :func:`raz_electrons`;
4. the read noise: PCTERNOI from the raw header if non-zero, else ``find_raz2rnoival``
   (:func:`find_read_noise`);
5. per column, ``sub_ctecor_v2c``: NITFOR forward-model iterations, each a read-noise smoothing
   (``rm_rnZ_colj``, :func:`smooth_read_noise`) followed by NITPAR simulated readouts
   (``sim_colreadout_l_uvis_w``, :func:`readout`) with the trap model scaled by
   ``f32(PCTEFRAC·(j+1)/2048)`` at row j; then the read-out cosmic-ray fix (the over-subtraction
   threshold PCTETRSH is what calwf3 passes as ``FIX_ROCR``), repeating the column up to 10
   times — :func:`correct_columns` (C kernel fast path, NumPy reference);
6. ``rac = f32(raw + f32(f32(rzc − raz)/gain))`` in raw geometry (``undoRAZ``) — :func:`wf3cte`.

Arrays here are float64 ``(rows, columns)`` for the per-column model (HSTCAL's ``double`` column
buffers), vectorised across columns: every column keeps HSTCAL's operation order.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...common import kernels
from ...common.threads import parallel_map, thread_count
from ..ir.blevcorr import resistant_mean
from .pctetab import TDIM, CTEModel

log = logging.getLogger(__name__)

F32, F64 = np.float32, np.float64
RAZ_ROWS, RAZ_COLS, NAMPS = 2070, 8412, 4
AMP_COLS = RAZ_COLS // NAMPS  # 2103: 25 prescan + 2048 science + 30 virtual overscan
XAMP_SCI_DIM, YAMP_SCI_DIM = 2048, 2051
NITMAX = 299
WSMAX = 999
POSTSCAN_MAX = 55377  # 27 × 2051 pixels at most per amp (findPostScanBias)
KERNEL_MODULE = "caldp.engines.wfc3.uvis._cte_kernels"


# --------------------------------------------------------------------------------------------
# Geometry


def make_raz(cd: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """``makeRAZ``: chips (2070, 4206) → RAZ (2070, 8412), amps C, D, A, B, amp at lower left.

    `cd` is SCI,1 (chip 2, amps C|D), `ab` SCI,2 (chip 1, amps A|B, read out at the top).
    """
    n = AMP_COLS
    return np.concatenate([cd[:, :n], cd[:, ::-1][:, :n], ab[::-1, :n], ab[::-1, ::-1][:, :n]], axis=1)


def undo_raz(raz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``undoRAZ``: the inverse of :func:`make_raz`."""
    n = AMP_COLS
    cd = np.concatenate([raz[:, :n], raz[:, n : 2 * n][:, ::-1]], axis=1)
    ab = np.concatenate([raz[:, 2 * n : 3 * n], raz[:, 3 * n :][:, ::-1]], axis=1)[::-1]
    return np.ascontiguousarray(cd), np.ascontiguousarray(ab)


def subtract_biac(sci: np.ndarray, biac: np.ndarray) -> np.ndarray:
    """``doCteBias`` (full frame): ``f32(sci − biac)`` in raw geometry (HSTCAL ``sub1d``)."""
    return (sci.astype(F32) - biac.astype(F32)).astype(F32)


def postscan_bias(raz: np.ndarray) -> np.ndarray:
    """``findPostScanBias``: per amp the resistant mean (σ = 7.5) of the trailing overscan.

    RAZ columns ``2075 … 2102`` of each amp, rows ``0 … 2050``, gathered column by column and
    capped at 55377 pixels (so column 2102 never counts). Returns float32 (4,).
    """
    out = np.zeros(NAMPS, F32)
    ncols = POSTSCAN_MAX // YAMP_SCI_DIM
    for k in range(NAMPS):
        c0 = k * AMP_COLS + RAZ_ROWS + 5
        block = raz[:YAMP_SCI_DIM, c0 : c0 + ncols]
        out[k] = resistant_mean(np.ascontiguousarray(block.T).ravel(), 7.5)[0]
    return out


def raz_electrons(raz: np.ndarray, bias: np.ndarray, gain: float) -> np.ndarray:
    """``raw2raz`` tail: per amp ``f32(f32(raz − bias_k)·gain)`` (DN → electrons)."""
    b = np.repeat(np.asarray(bias, F32), AMP_COLS)[None, :]
    return ((raz.astype(F32) - b).astype(F32) * F32(gain)).astype(F32)


def scale_column(cte_ff: float, rows: int = RAZ_ROWS) -> np.ndarray:
    """The trap-density scaling per row: ``f32(PCTEFRAC·(j+1)/2048)`` (the ``fff`` image)."""
    j = np.arange(rows, dtype=F64)
    return ((F64(cte_ff) * (j + 1)) / F64(XAMP_SCI_DIM)).astype(F32)


# --------------------------------------------------------------------------------------------
# Read noise of the image


def _noise_histograms(r: np.ndarray, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
    """``find_raz2rnoival``'s two histograms over the contiguous RAZ columns ``c0 … c1 − 1``.

    Rows 1 … 2046 (0-based j − 1 for j = 2 … 2047) between each column's first and last positive
    row; the eight neighbours are summed in HSTCAL's order in float32 and divided as a double.
    """
    lo, hi = 1, XAMP_SCI_DIM - 1

    def nb(dr, dc):
        return r[lo + dr : hi + dr, c0 + dc : c1 + dc]

    v = nb(0, 0)
    pos = v > 0
    anyp = pos.any(axis=0)
    j1 = np.where(anyp, lo + np.argmax(pos, axis=0), XAMP_SCI_DIM - 2)
    j2 = np.where(anyp, hi - 1 - np.argmax(pos[::-1], axis=0), 1)
    s = nb(1, -1)
    for dr, dc in ((1, 0), (1, 1), (0, -1), (0, 1), (-1, -1), (-1, 0), (-1, 1)):
        s = (s + nb(dr, dc)).astype(F32)
    b = (s.astype(F64) / 8.0).astype(F32)
    d = (v - b).astype(F32)
    rr = np.arange(lo, hi)[:, None]
    ok = (rr >= j1) & (rr <= j2)
    out = []
    for arr in (d, v):
        ih = (501.0 + arr.astype(F64) * 4.5 + 0.5).astype(np.int64)  # C float→int truncation
        ih = np.clip(ih, 1, 1001)
        out.append(np.bincount(ih[ok] - 1, minlength=1001))
    return out[0], out[1]


def find_read_noise(raz: np.ndarray) -> tuple[np.float32, np.float32, np.float32]:
    """``find_raz2rnoival``: read noise (clipped to 3.75 … 9.75 e⁻) from the RAZ image (electrons).

    Histograms (1001 bins, 4.5 per e⁻) of each science pixel minus the float32 mean of its eight
    neighbours, and of the pixel values, over RAZ rows ``j1 … j2`` of each column (the first and
    last rows 1 … 2046 holding a positive value) and amp columns 25 … 2070; the narrowest run of
    bins holding more than 75 % gives the noise. Returns ``(PCTERNOI, RNOIVAL, BKGDVAL)``.
    """
    r = np.asarray(raz, F32)
    # per amp the centre columns 25 … 2070 (1-based i with 25 < i − amp start < 2072), in pieces of
    # contiguous columns (slices, no gathers), histogrammed on the threads (integer counts: any order)
    pieces = []
    for k in range(NAMPS):
        lo, hi = k * AMP_COLS + 25, k * AMP_COLS + XAMP_SCI_DIM + 23
        pieces += [(c, min(c + 512, hi)) for c in range(lo, hi, 512)]
    dh = np.zeros(1001, np.int64)
    vh = np.zeros(1001, np.int64)
    for d_part, v_part in parallel_map(lambda p: _noise_histograms(r, *p), pieces):
        dh += d_part
        vh += v_part
    inner = np.zeros(1001, np.int64)
    inner[1:1000] = 1
    dcum = np.cumsum(dh * inner)
    vcum = np.cumsum(vh * inner)
    dtot, vtot = dcum[-1], vcum[-1]
    id_min, (iv1, iv2), iv_min = 999, (1, 999), 999
    for cum, tot, which in ((dcum, dtot, "d"), (vcum, vtot, "v")):
        best, pair = 999, None
        c = cum[:1000]  # bins 1 … 1000 (1-based)
        for ih in range(1, 1000):
            need = c[ih - 1] + 0.75 * tot
            # smallest iih > ih with cum[iih] − cum[ih] > 0.75·tot (cum non-decreasing)
            k = int(np.searchsorted(c[ih:], need, side="right")) + ih + 1
            if k <= 1000 and k - ih < best:
                best, pair = k - ih, (ih, k)
        if which == "d":
            id_min = best
        else:
            iv_min = best
            if pair is not None:
                iv1, iv2 = pair
    del iv_min
    sel = np.arange(iv1, iv2 + 1)
    nsum = int(vh[sel - 1].sum())
    vsum = int((vh[sel - 1] * (sel - 501)).sum())
    if vsum == 0 or nsum == 0:
        return F32(9.75), F32(9.75), F32(999.9)
    rnoival = F32(id_min / 2.30 / 4.5 / np.sqrt(1 + 1 / 8.0))
    rnu = min(rnoival, F32(9.75))
    bkg = F32(1.0 * vsum / nsum / 4.5)
    bkg = min(bkg, F32(999.9))
    rno = min(max(rnu, F32(3.75)), F32(9.75))
    return F32(rno), F32(rnu), F32(bkg)


# --------------------------------------------------------------------------------------------
# Per-column model (NumPy reference; columns along axis 1)


def readout_fast(pixi, pixf, q_w, dpde_w, nits: int, rprof, cprof) -> np.ndarray:
    """:func:`readout` through the C kernel when built (identical bits), else the NumPy code."""
    mod = kernels.load(KERNEL_MODULE)
    if mod is None:
        return readout(pixi, pixf, q_w, dpde_w, nits, rprof, cprof)
    pixi = kernels.c_array(pixi, F64)
    pixf = kernels.c_array(np.broadcast_to(pixf, pixi.shape), F64)
    out = np.empty_like(pixi)
    mod.readout(
        pixi,
        pixf,
        out,
        pixi.shape[0],
        pixi.shape[1],
        kernels.c_array(q_w, F64),
        kernels.c_array(dpde_w, F64),
        kernels.c_array(np.asarray(rprof)[:TDIM], F32),
        kernels.c_array(np.asarray(cprof)[:TDIM], F32),
        nits,
    )
    return out


def readout(pixi, pixf, q_w, dpde_w, nits: int, rprof, cprof) -> np.ndarray:
    """``sim_colreadout_l_uvis_w``: one simulated parallel readout of every column (J1 = 1).

    `pixi`, `pixf`: float64 (rows, ncol) charge and trap scaling; `q_w`, `dpde_w`: float64 (999,);
    `rprof`, `cprof`: float32 (≥60, 999). Traps from the highest one at or below the column's
    maximum (at least 10 e⁻; trap 1 when none) down to 0; row 0 is never changed. Per trap and
    row: release ``rprof·ftrap`` from a trap filled < 60 shifts ago, flush ``cprof·ftrap`` and
    refill ``ftrap = dpde/NITs·pixf`` where the pixel reaches the trap's charge level;
    ``pixo = ((pixo + release) + flush) − grab``.
    """
    pixo = np.array(pixi, dtype=F64, copy=True)
    pixf = np.asarray(pixf, F64)
    rows, ncol = pixo.shape
    pmax = np.fmax(10.0, np.fmax.reduce(pixo, axis=0))
    ge = pmax[None, :] >= np.asarray(q_w, F64)[:, None]
    anyge = ge.any(axis=0)
    wf = np.where(anyge, ge.shape[0] - 1 - np.argmax(ge[::-1], axis=0), 1)
    rp_all = np.asarray(rprof, F64)[:TDIM]
    cp_all = np.asarray(cprof, F64)[:TDIM]
    for w in range(int(wf.max()), -1, -1):
        act = w <= wf
        if not act.any():
            continue
        rp, cp = rp_all[:, w], cp_all[:, w]
        q = F64(q_w[w])
        fill = F64(dpde_w[w]) / nits
        ftrap = np.zeros(ncol)
        ttrap = np.full(ncol, TDIM + 1)
        for j in range(1, rows):
            if j > 1:
                sc = pixf[j] < pixf[j - 1]
                if sc.any():
                    ftrap = np.where(sc, pixf[j] / pixf[j - 1] * ftrap, ftrap)
            p = pixo[j]
            filled = p >= q
            live = ttrap < TDIM
            tnew = np.where(live, ttrap + 1, ttrap)
            idx = np.clip(tnew - 1, 0, TDIM - 1)
            prel1 = np.where(live, rp[idx] * ftrap, 0.0)
            prel2 = np.where(live & filled, cp[idx] * ftrap, 0.0)
            newf = fill * pixf[j]
            pgrb = np.where(filled, newf, 0.0)
            ftrap = np.where(filled, newf, ftrap)
            ttrap = np.where(filled, 0, tnew)
            pixo[j] = np.where(act, p + prel1 + prel2 - pgrb, p)
    return pixo


def smooth_read_noise(chg: np.ndarray, rnmit: float) -> tuple[np.ndarray, np.ndarray]:
    """``rm_rnZ_colj``: split each column into a smooth part and read noise (float64 (2070, n)).

    Rows ``j1 … j2`` (the first/last rows 2 … 2047 with positive charge). Up to 298 rounds: with
    ``RNN = RNMIT·(1 + 5·NIT/299)``, each pixel whose difference ``dd`` from the mean of its two
    neighbours is within ±RNN moves ``dd`` (capped at ±RNMIT/5) by halves into the noise image
    (``+dd/2`` here, ``−dd/4`` to each neighbour, applied in row order); the column stops once the
    rms noise over the flagged pixels exceeds RNMIT. Returns ``(rnz, rsz)`` (noise, smooth).
    """
    chg = np.asarray(chg, F64)
    rows, ncol = chg.shape
    rnmit = F64(rnmit)
    rsz = chg.copy()
    rnz = np.zeros_like(chg)
    ffu = np.zeros(chg.shape, bool)
    seg = chg[2:XAMP_SCI_DIM] > 0
    anyp = seg.any(axis=0)
    j1 = np.where(anyp, 2 + np.argmax(seg, axis=0), XAMP_SCI_DIM - 1)
    j2 = np.where(anyp, XAMP_SCI_DIM - 1 - np.argmax(seg[::-1], axis=0), 2)
    r = np.arange(rows)[:, None]
    inr = (r >= j1) & (r <= j2)
    active = np.ones(ncol, bool)
    cap = rnmit / 5.0
    dd = np.zeros_like(chg)
    with np.errstate(invalid="ignore", divide="ignore"):
        for nit in range(1, NITMAX):
            rnn = rnmit * (1.00 + 5.0 * nit / F64(F32(NITMAX)))
            dd[1:-1] = rsz[1:-1] - (rsz[2:] + rsz[:-2]) / 2.0
            live = inr & active
            m = live & (np.abs(dd) < rnn)
            ddc = np.minimum(np.maximum(dd, -cap), cap)
            quarter = ddc * 0.25
            prev = np.zeros_like(m)
            prev[1:] = m[:-1]
            qprev = np.zeros_like(chg)
            qprev[1:] = quarter[:-1]
            nxt = np.zeros_like(m)
            nxt[:-1] = m[1:]
            qnext = np.zeros_like(chg)
            qnext[:-1] = quarter[1:]
            rnz = np.where(prev, rnz - qprev, rnz)
            rnz = np.where(m, rnz + ddc * 0.50, rnz)
            rnz = np.where(nxt, rnz - qnext, rnz)
            ffu = np.where(live, m, ffu)
            rsz = np.where(live, chg - rnz, rsz)
            dtot = np.cumsum(np.where(inr, rnz * rnz, 0.0), axis=0)[-1]
            ftot = np.count_nonzero(ffu & inr, axis=0).astype(F64)
            rnu = np.sqrt(dtot / ftot)
            active &= ~(rnu > rnmit)
            if not active.any():
                break
    return rnz, rsz


def _rocr_hits(mod: np.ndarray, raz: np.ndarray, fix: float) -> np.ndarray:
    """Read-out cosmic-ray test of ``sub_ctecor_v2c``: per row, how often ``fff`` is cut by 10 %."""
    fix = F64(F32(fix))
    d = mod - raz
    hits = np.zeros(mod.shape, np.int64)
    for j in range(15, 2061):
        cond = (mod[j] < fix) & (d[j] < fix) & (mod[j] < mod[j + 1]) & (mod[j] < mod[j - 1])
        if not cond.any():
            continue
        jmax = np.full(mod.shape[1], j)
        for jj in (j - 2, j - 1):
            better = d[jj] > d[jmax, np.arange(mod.shape[1])]
            jmax = np.where(better, jj, jmax)
        hit = cond & (d[jmax, np.arange(mod.shape[1])] > -2.5 * fix)
        np.add.at(hits, (jmax[hit], np.nonzero(hit)[0]), 1)
    return hits


def correct_columns_numpy(raz, fff, model: CTEModel, rnoise: float, fix_rocr: float, nfor: int, npar: int):
    """``sub_ctecor_v2c`` on float32 (2070, n) `raz` (electrons) and `fff`: float32 corrected image.

    NumPy reference of the C kernel (identical bits); returns ``(rzc, fff_out)`` float32 / float64.
    """
    raz64 = np.asarray(raz, F32).astype(F64)
    fff64 = np.asarray(fff, F32).astype(F64)
    out = np.zeros(raz64.shape, F64)
    todo = np.arange(raz64.shape[1])
    ncrx = 0
    rnoise = F64(F32(rnoise))
    while todo.size:
        ncrx += 1
        r = raz64[:, todo]
        f = fff64[:, todo]
        mod = r.copy()
        for _ in range(nfor):
            _, rsz = smooth_read_noise(mod, rnoise)
            org = rsz
            for _ in range(npar):
                org = readout(org, f, model.q, model.dpde, npar, model.rprof, model.cprof)
            mod = r - (org - rsz)
        out[:, todo] = mod
        again = np.zeros(todo.size, bool)
        if fix_rocr < 0:
            hits = _rocr_hits(mod, r, fix_rocr)
            for k in range(1, int(hits.max(initial=0)) + 1):
                f = np.where(hits >= k, f * 0.90, f)
            fff64[:, todo] = f
            again = hits.any(axis=0) & (ncrx < 10)
        todo = todo[again]
    return out.astype(F32), fff64


def correct_columns(raz, fff, model: CTEModel, rnoise: float, fix_rocr: float, nfor: int, npar: int):
    """``sub_ctecor_v2c`` on every column: the C kernel when built, else the NumPy reference.

    `fff`: float32 (rows, ncol), or (rows,) when every column has the same scaling (no copy).
    Columns are spread over :func:`thread_count` threads in blocks (results do not depend on it).
    """
    raz = np.ascontiguousarray(raz, F32)
    fff = np.ascontiguousarray(fff, F32)
    mod = kernels.load(KERNEL_MODULE)
    rows, ncol = raz.shape
    if fff.ndim == 1 and mod is None:
        fff = np.broadcast_to(fff[:, None], raz.shape)
    if mod is None:
        blocks = [(c, min(c + 64, ncol)) for c in range(0, ncol, 64)]

        def run_np(b):
            return correct_columns_numpy(raz[:, b[0] : b[1]], fff[:, b[0] : b[1]], model, rnoise, fix_rocr, nfor, npar)

        parts = parallel_map(run_np, blocks)
        return np.concatenate([p[0] for p in parts], axis=1)
    out = np.zeros_like(raz)
    q = kernels.c_array(model.q, F64)
    dpde = kernels.c_array(model.dpde, F64)
    rp = kernels.c_array(model.rprof[:TDIM], F32)
    cp = kernels.c_array(model.cprof[:TDIM], F32)
    # the kernel runs 8 listed columns at a time (one per SIMD lane): give it 8 neighbouring columns
    # (one cache line of each row). Each thread takes the next 8 groups while any are left, so the
    # threads end together however their cores are shared (a slow block only holds its own thread).
    groups = [kernels.c_array(np.arange(c, min(c + 64, ncol)), np.int64) for c in range(0, ncol, 64)]
    todo = iter(groups)
    lock = threading.Lock()

    def run_c(_):
        while True:
            with lock:
                cols = next(todo, None)
            if cols is None:
                return
            mod.ctecor(raz, fff, out, rows, ncol, cols, q, dpde, rp, cp, float(rnoise), float(fix_rocr), nfor, npar)

    parallel_map(run_c, range(min(thread_count(), len(groups))))
    return out


# --------------------------------------------------------------------------------------------
# The whole step on one exposure


@dataclass(frozen=True, slots=True)
class CTEResult:
    """Corrected raw chips and the values calwf3 writes (PCTEFRAC, PCTERNOI, per-amp bias)."""

    cd: np.ndarray
    ab: np.ndarray
    pctefrac: float
    pcternoi: np.float32
    rnoival: np.float32
    bkgdval: np.float32
    postscan: np.ndarray


def wf3cte(
    raw_cd,
    raw_ab,
    biac_cd,
    biac_ab,
    *,
    gain: float,
    expstart: float,
    model: CTEModel,
    pcternoi: float,
    nfor: int,
    npar: int,
) -> CTEResult:
    """WF3CTE on a full-frame exposure: raw chips (DN, (2070, 4206) each; `raw_cd` = SCI,1) →
    CTE-corrected raw chips float32 (``_rac_tmp``), as ``WF3cte`` does.
    """
    raz = make_raz(subtract_biac(raw_cd, biac_cd), subtract_biac(raw_ab, biac_ab))
    bias = postscan_bias(raz)
    raz = raz_electrons(raz, bias, gain)
    frac = model.scale_fraction(expstart)
    fff = scale_column(frac)  # the same for every column
    rn = F32(pcternoi)
    rnoival, bkgd = F32(0), F32(0)
    if rn == 0:
        rn, rnoival, bkgd = find_read_noise(raz)
    log.info("PCTECORR: PCTEFRAC %.6f, PCTERNOI %.4f, %d traps, %d×%d iterations", frac, rn, model.ntraps, nfor, npar)
    rzc = correct_columns(raz, fff, model, rn, model.thresh, nfor, npar)
    # rac = f32(raw + f32(f32(rzc − raz)/gain)), in place to keep the peak memory down
    np.subtract(rzc, raz, out=rzc)
    del raz
    np.divide(rzc, F32(gain), out=rzc)
    np.add(make_raz(np.asarray(raw_cd, F32), np.asarray(raw_ab, F32)), rzc, out=rzc)
    cd, ab = undo_raz(rzc)
    del rzc
    return CTEResult(cd, ab, frac, rn, rnoival, bkgd, bias)


# --------------------------------------------------------------------------------------------
# Thin I/O layer: raw file → _rac_tmp file (``WF3cte``)


def _chip(hdul, name, extver, shape, dtype=F32):
    """Extension (name, extver) as an array of `shape`; a null one (no data) from its PIXVALUE."""
    hdu = hdul[name, extver]
    if hdu.data is None:
        return np.full(shape, hdu.header.get("PIXVALUE", 0), dtype)
    return np.asarray(hdu.data, dtype)


def cte_keywords(model: CTEModel, params, result: CTEResult) -> dict:
    """Primary keywords the ``_rac_tmp`` (and so ``_flc``/``_crc``) gets from WF3CTE, in calwf3's
    order: CTE_NAME, CTE_VER, CTEDATE0, PCTETRSH, CTEDATE1, the table values of PCTETLEN/PCTENFOR/
    PCTENPAR/FIXROCR (unless overridden), PCTECORR=COMPLETE, PCTEFRAC (float64), PCTERNOI (float32).
    """
    out = dict(params.header)
    out["PCTECORR"] = "COMPLETE"
    out["PCTEFRAC"] = float(result.pctefrac)
    out["PCTERNOI"] = float(result.pcternoi)
    return out


def cte_history(model: CTEModel, pctetab_name: str) -> list[str]:
    """HISTORY lines of ``cteHistory`` (UpdateSwitch + TabHistory)."""
    lines = ["PCTECORR complete ...", "CTE parameters table: ", f"  reference table {pctetab_name}"]
    lines += [f"    {v}" for v in (model.pedigree, model.descrip) if v]
    return lines


def run_wf3cte(raw_path, out_path, *, pctetab_path, biac_path, pctetab_name=None) -> tuple[CTEResult, dict]:
    """WF3CTE on a full-frame raw file: write the CTE-corrected raw image at `out_path`.

    Subarrays are refused here (calwf3 pastes those with physical overscan into a full frame; not
    implemented yet). Raises EngineError naming the file and keyword on bad input. Returns the
    result and the primary keywords written.
    """
    from astropy.io import fits

    from ...common.errors import EngineError
    from .pctetab import exposure_params, read_pctetab

    model = read_pctetab(pctetab_path)
    with fits.open(raw_path, memmap=False) as raw:
        phdr = raw[0].header
        name = Path(raw_path).name
        if str(phdr.get("SUBARRAY", "F")).strip().upper() in ("T", "TRUE", "1") or phdr.get("SUBARRAY") is True:
            raise EngineError(
                "PCTECORR on subarrays is not supported by the builtin engine", file=name, keyword="SUBARRAY"
            )
        for sw in ("BIASCORR", "DARKCORR", "BLEVCORR"):
            if str(phdr.get(sw, "")).strip().upper() == "COMPLETE":
                raise EngineError(f"{sw} complete for input image, CTE can't be performed", file=name, keyword=sw)
        params = exposure_params(model, phdr, file=name)
        shape = (RAZ_ROWS, 2 * AMP_COLS)
        cd = _chip(raw, "SCI", 1, shape)
        ab = _chip(raw, "SCI", 2, shape)
        with fits.open(biac_path, memmap=False) as bf:
            bname = Path(biac_path).name
            try:
                b_cd, b_ab = _chip(bf, "SCI", 1, shape), _chip(bf, "SCI", 2, shape)
                e_cd, e_ab = _chip(bf, "ERR", 1, shape), _chip(bf, "ERR", 2, shape)
            except KeyError as exc:
                raise EngineError(f"extension missing ({exc})", file=bname, keyword="BIACFILE") from None
            if b_cd.shape != shape or b_ab.shape != shape:
                raise EngineError(
                    f"shape {b_cd.shape} does not match the raw image {shape}", file=bname, keyword="BIACFILE"
                )
        res = wf3cte(
            cd,
            ab,
            b_cd,
            b_ab,
            gain=float(phdr["CCDGAIN"]),
            expstart=float(phdr["EXPSTART"]),
            model=model,
            pcternoi=float(phdr.get("PCTERNOI", 0.0)),
            nfor=params.nfor,
            npar=params.npar,
        )
        kw = cte_keywords(model, params, res)
        hdus = [fits.PrimaryHDU(header=phdr.copy())]
        for k, v in kw.items():
            hdus[0].header[k] = v
        for line in cte_history(model, pctetab_name or Path(pctetab_path).name):
            hdus[0].header["HISTORY"] = line
        for extver, sci, err in ((1, res.cd, e_cd), (2, res.ab, e_ab)):
            e = np.sqrt((err * err).astype(F32).astype(F64)).astype(F32)
            for ename, data in (("SCI", sci), ("ERR", e), ("DQ", np.zeros(shape, np.int16))):
                h = raw[ename, extver].header.copy()
                for card in ("BZERO", "BSCALE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PIXVALUE", "NPIX1", "NPIX2"):
                    h.remove(card, ignore_missing=True, remove_all=True)
                hdus.append(fits.ImageHDU(data, header=h, name=ename, ver=extver))
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name + ".part")
    fits.HDUList(hdus).writeto(tmp, overwrite=True)
    tmp.replace(out_path)
    return res, kw
