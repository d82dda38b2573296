"""PCTECORR: ACS/WFC pixel-based CTE correction, generation 3 ("Par/Serial PixelCTE 2023"), as
calacs.e 10.5.0 runs it (HSTCAL ``pkg/acs/lib/acscte/docte.c``, ``dopcte-gen3.c``, ``ctegen2/ctegen2.c``).

All functions work on one amp image ``[row, column]`` already turned so that the amp reads out
through row 0 (each column is a readout column), and are vectorised across columns: every column
keeps HSTCAL's sequence of float32/double operations, which is what keeps the result exact.

Per amp (``doPCTEGen3``): smooth the read noise (:func:`smooth_readnoise`, ``cteSmoothImage``), build
the trap map (:func:`trap_map`, ``populateTrapPixelMap``), invert the readout
(:func:`inverse_cte_blur`, ``inverseCTEBlur`` → ``simulateColumnReadout`` →
``simulatePixelReadout_v1_2``, ``correctCROverSubtraction``), then add the correction
``corrected − smoothed`` to SCI and 10 % of it in quadrature to ERR (:func:`correct_amp`).
The geometry (which amps, their turn for the serial and the parallel pass) is in :func:`amp_views`.

The NumPy code here is the reference; ``_cte_kernels.c`` is the fast path (bit-identical).
"""

from __future__ import annotations

import numpy as np

F32 = np.float32
F64 = np.float64
SM4MJD = 54962.0  # acs.h: serial CTE correction only from SM4 on
AMPS_ORDER = "ABCD"
RAZ_CHIP_COLUMNS = 4096  # ACS_WFC_N_COLUMNS_PER_CHIP_EXCL_OVERSCAN: amps A/B come after C/D in SCLBYCOL


# ----------------------------------------------------------------------------- geometry


def chip_amps(ccdamp: str, chip: int) -> str:
    """Amps of `chip` named in CCDAMP, in HSTCAL's order (``parseamps.c: parseWFCamps``): chip 2 → C, D;
    chip 1 → A, B."""
    return "".join(a for a in ("CD" if chip == 2 else "AB") if a in ccdamp)


def amp_columns(amp: str, amps: str, ampx: int, nx: int) -> tuple[int, int]:
    """Column range [x0, x1) of `amp` (one of the chip's `amps`) in a trimmed chip of width `nx`
    (``dopcte.c: get_amp_array_size_acs_cte``; in ACSCTE ``trimx1 = 0``): the first amp of the chip
    gets columns ``[0, ampx)`` (all if ``AMPX = 0``), the second ``[ampx, nx)``."""
    second = amp != amps[0]
    x0 = ampx if second else 0
    x1 = ampx if (not second and ampx != 0) else nx
    return min(x0, nx), min(x1, nx)


def _align(a: np.ndarray, amp: str) -> np.ndarray:
    """``alignAmpData``: put the amp at the bottom left (flip B/D about the central column, A/B upside down)."""
    if amp in "BD":
        a = a[:, ::-1]
    if amp in "AB":
        a = a[::-1, :]
    return a


def _rotate(a: np.ndarray, amp: str) -> np.ndarray:
    """``rotateAmpData_acscte``: transpose, then flip B/C side to side and A/D top to bottom."""
    a = a.T
    return a[:, ::-1] if amp in "BC" else a[::-1, :]


def _derotate(a: np.ndarray, amp: str) -> np.ndarray:
    """``derotateAmpData_acscte``: transpose, then flip B/C top to bottom and A/D side to side."""
    a = a.T
    return a[::-1, :] if amp in "BC" else a[:, ::-1]


def to_readout(a: np.ndarray, amp: str, serial: bool) -> np.ndarray:
    """The amp section `a` turned so that it reads out through row 0 (a view)."""
    if serial:
        a = _rotate(a, amp)
    return _align(a, amp)


def from_readout(a: np.ndarray, amp: str, serial: bool) -> np.ndarray:
    """Inverse of :func:`to_readout` as HSTCAL does it (align again, then de-rotate)."""
    a = _align(a, amp)
    if serial:
        a = _derotate(a, amp)
    return a


# ----------------------------------------------------------------------------- trap map


def _by_rows(fn, nrows: int) -> None:
    """``fn(r0, r1)`` over row ranges covering ``[0, nrows)``, on the engine's threads (element-wise
    NumPy work, so the split does not change any value)."""
    from ..common.threads import parallel_map, thread_count

    parallel_map(lambda r: fn(*r), even_ranges(nrows, max(1, min(thread_count(), nrows // 64))))


def even_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """``[0, n)`` cut into at most `parts` non-empty ranges of nearly equal length.

    >>> even_ranges(10, 3)
    [(0, 3), (3, 6), (6, 10)]
    """
    parts = max(1, min(parts, n))
    edges = [n * k // parts for k in range(parts + 1)]
    return [(edges[k], edges[k + 1]) for k in range(parts) if edges[k + 1] > edges[k]]


def trap_map(
    nrows: int, ncols: int, iz: np.ndarray, sens: np.ndarray, raz_offset: int, scale_frac: float
) -> np.ndarray:
    """``populateTrapPixelMap``: float32 ``[nrows, ncols]`` trap density.

    Column ``IZ − raz_offset`` of SCLBYCOL row k gets, at row j, the SENS value interpolated between
    rows 512·io and 512·(io+1) (``ro = min(j/512, 2.999)``, ``io = floor(ro)``) times ``(j+1)/2048``
    times ``scale_frac`` (double, rounded once to float32). Columns no row names stay 0.
    """
    out = np.zeros((nrows, ncols), F32)
    col = np.asarray(iz, np.int64) - int(raz_offset)
    ok = (col >= 0) & (col < ncols)
    if not ok.any():
        return out
    idx = np.nonzero(ok)[0]
    # a column named twice takes the later row (sequential loop)
    last = {}
    for k in idx:
        last[int(col[k])] = int(k)
    cols = np.fromiter(last.keys(), np.int64)
    rows_k = np.fromiter(last.values(), np.int64)
    s = np.asarray(sens, F64)[:, rows_k]  # (4, ncols_used)

    def rows(r0: int, r1: int) -> None:
        j = np.arange(r0, r1, dtype=F64)
        ro = j / 512.0
        ro = np.where(ro > 2.999, 2.999, np.where(ro < 0, 0.0, ro))
        io = np.floor(ro).astype(np.int64)
        cte_j = (j + 1.0) / 2048.0
        s_lo = s[io, :]
        s_hi = s[io + 1, :]
        cte_i = s_lo + (s_hi - s_lo) * (ro - io)[:, None]
        out[r0:r1, cols] = ((cte_i * cte_j[:, None]) * float(scale_frac)).astype(F32)

    _by_rows(rows, nrows)
    return out


# ----------------------------------------------------------------------------- read-noise smoothing


def _clip(x, lim):
    return np.where(x > lim, lim, np.where(x < -lim, -lim, x))


def smooth_adjustment(obs: np.ndarray, rsz: np.ndarray, rn: float) -> np.ndarray:
    """``find_dadjFast`` for every pixel (float32 result): how far each pixel of the current smooth
    model `rsz` may move towards its neighbours and the observed `obs` while staying within the read
    noise `rn`. Edge columns use only their own column (no 3×3 term), as HSTCAL's ``imid`` shift does."""
    nrows, ncols = obs.shape
    o = obs.astype(F64)
    r = rsz.astype(F64)
    dval0 = o - r
    dval0u = np.where(dval0 > 1, 1.0, np.where(dval0 < -1, -1.0, dval0))
    dval9 = np.zeros_like(o)
    if nrows > 2 and ncols > 2:
        acc = np.zeros((nrows - 2, ncols - 2), F64)
        acc = o[:-2, 1:-1] - r[:-2, 1:-1]
        for dc in (0, -1, 1):
            for dr in (-1, 0, 1):
                if dc == 0 and dr == -1:
                    continue
                rs = slice(1 + dr, nrows - 1 + dr)
                cs = slice(1 + dc, ncols - 1 + dc)
                acc = acc + o[rs, cs]
                acc = acc - r[rs, cs]
        dval9[1:-1, 1:-1] = acc / 9.0
    lim = rn * 0.33
    dval9u = _clip(dval9, lim)
    dmod1 = np.zeros_like(o)
    dmod1[1:] = r[:-1] - r[1:]
    dmod2 = np.zeros_like(o)
    dmod2[:-1] = r[1:] - r[:-1]
    dmod1u = _clip(dmod1, lim)
    dmod2u = _clip(dmod2, lim)
    rn2 = rn * rn
    w0 = dval0 * dval0 / (dval0 * dval0 + 4.0 * rn2)
    w9 = dval9 * dval9 / (dval9 * dval9 + 18.0 * rn2)
    w1 = 4.0 * rn2 / (dmod1 * dmod1 + 4.0 * rn2)
    w2 = 4.0 * rn2 / (dmod2 * dmod2 + 4.0 * rn2)
    res = dval0u * w0 * 0.25 + dval9u * w9 * 0.25 + dmod1u * w1 * 0.25 + dmod2u * w2 * 0.25
    return res.astype(F32)


def smooth_readnoise(obs: np.ndarray, rn: float, *, max_iter: int = 100) -> tuple[np.ndarray, int]:
    """``cteSmoothImage``: the smoothest float32 image consistent with `obs` plus read noise `rn`.

    Up to 100 passes of ``rsz += 0.75·adjustment``; stops when the rms of ``obs − rsz`` over pixels
    with ``|obs| > 0.1`` or ``|rsz| > 0.1`` reaches ``rn`` (``rn − rms < 1e-5``). The rms sum is made
    per row (sequential in columns) and then over rows in order (HSTCAL sums in column order; only
    the stopping test uses it). ``rn < 0.1``: no smoothing.
    Returns the image and the number of passes.
    """
    obs = np.asarray(obs, F32)
    rsz = obs.copy()
    if rn < 0.1 or obs.shape[1] < 3:
        return rsz, 0
    for it in range(max_iter):
        adj = smooth_adjustment(obs, rsz, rn)
        rsz = (rsz.astype(F64) + adj.astype(F64) * 0.75).astype(F32)
        resid = (obs - rsz).astype(F64)
        use = (np.abs(obs.astype(F64)) > 0.1) | (np.abs(rsz.astype(F64)) > 0.1)
        sq = np.where(use, resid * resid, 0.0)
        rowsum = np.cumsum(sq, axis=1)[:, -1]
        total = np.cumsum(rowsum)[-1]
        n = float(np.count_nonzero(use))
        with np.errstate(invalid="ignore", divide="ignore"):
            rms = np.sqrt(total / n) if n else np.nan
        if (rn - rms) < 0.00001:
            return rsz, it + 1
    return rsz, max_iter


# ----------------------------------------------------------------------------- readout model


def simulate_readout(model: np.ndarray, traps: np.ndarray, s, n_traps_used: int) -> None:
    """``simulateColumnReadout`` in place on float64 `model` ``[row, col]``: ``n_par`` passes of
    ``simulatePixelReadout_v1_2`` with the traps of set `s` (qlev, dpde, rprof, cprof, cte_len, n_par)
    and float32 `traps` ``[row, col]``. Each pass handles, per column, traps 0..w_max where w_max is the
    highest trap with ``QLEV_Q ≤ max(10, max(column))`` (all used traps if none is)."""
    nrows, ncols = model.shape
    if n_traps_used <= 0 or ncols == 0:
        return
    qlev = s.qlev[:n_traps_used]
    tlen = s.cte_len
    npar = s.n_par
    tr64 = traps.astype(F64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.ones_like(tr64)
        ratio[1:] = tr64[1:] / tr64[:-1]
    shrink = np.zeros(tr64.shape, bool)
    shrink[1:] = tr64[1:] < tr64[:-1]
    for _ in range(npar):
        pmax = np.maximum(10.0, np.max(model, axis=0))
        wmax = np.searchsorted(qlev, pmax, side="right") - 1
        wmax = np.where(wmax < 0, n_traps_used - 1, wmax)
        for w in range(int(wmax.max()), -1, -1):
            active = wmax >= w
            q = qlev[w]
            rp = s.rprof[:tlen, w].astype(F64)
            cp = s.cprof[:tlen, w].astype(F64)
            fill_amount = s.dpde[w] / npar
            nt = np.full(ncols, tlen, np.int64)
            trapped = np.zeros(ncols, F64)
            for i in range(nrows):
                pix = model[i]
                inside = nt < tlen
                if i > 0:
                    trapped = np.where(shrink[i], trapped * ratio[i], trapped)
                fill = pix >= q
                nt_in = np.where(inside, nt + 1, nt)
                k = np.clip(nt_in - 1, 0, tlen - 1)
                add = np.where(inside, rp[k] * trapped, 0.0)
                extra = np.where(fill & inside, cp[k] * trapped, 0.0)
                new_trapped = fill_amount * tr64[i]
                remove = np.where(fill, new_trapped, 0.0)
                trapped = np.where(fill, new_trapped, trapped)
                nt = np.where(fill, 0, nt_in)
                model[i] = np.where(active, pix + ((add + extra) - remove), pix)


def fix_readout_crs(traps: np.ndarray, model: np.ndarray, observed: np.ndarray, thresh: float) -> np.ndarray:
    """``correctCROverSubtraction``: per column, find over-subtracted trails (one pixel below
    `thresh` both in the model and model − observed, two summing below −12, three below −15; rows
    10..nrows−3); scale the traps from the worst pixel of the 10 before (``iMax``) up to the trail by
    0.75 (float32, once per detection, in place). Returns the columns to redo (bool)."""
    nrows, ncols = model.shape
    redo = np.zeros(ncols, bool)
    m, o = model, observed
    d = m - o
    for i in range(10, nrows - 2):
        c1 = (thresh > m[i]) & (thresh > d[i])
        s2 = m[i] + m[i + 1]
        c2 = (s2 < -12.0) & ((s2 - o[i] - o[i + 1]) < -12.0)
        s3 = m[i] + m[i + 1] + m[i + 2]
        c3 = (s3 < -15.0) & ((s3 - o[i] - o[i + 1] - o[i + 2]) < -15.0)
        hit = c1 | c2 | c3
        if not hit.any():
            continue
        cols = np.nonzero(hit)[0]
        redo[cols] = True
        win = d[i - 10 : i + 1, cols]
        first = np.argmax(win, axis=0)
        best = win[first, np.arange(cols.size)]
        imax = np.where(best > d[i, cols], i - 10 + first, i)
        for ii in range(i - 10, i + 1):
            sel = cols[imax <= ii]
            if sel.size:
                traps[ii, sel] = (traps[ii, sel].astype(F64) * 0.75).astype(F32)
    return redo


def inverse_cte_blur(
    observed: np.ndarray, traps: np.ndarray, s, *, rn: float, n_traps_used: int, thresh: float, fix_rocr: int
) -> np.ndarray:
    """``inverseCTEBlur``: the float32 image that, read out through the CTE model, gives `observed`
    (float32, the smoothed image). ``n_forward − 1`` damped iterations (the change scaled by
    ``δ²/(δ² + rn²)``) and one undamped; with FIXROCR, columns with over-subtracted readout CRs are
    redone with reduced traps, up to 5 passes in all. `traps` (float32) is modified in place."""
    obs = np.asarray(observed, F32).astype(F64)
    nrows, ncols = obs.shape
    rn2 = rn * rn
    out = np.empty((nrows, ncols), F32)
    cols = np.arange(ncols)
    passes = 0
    while cols.size:
        o = obs[:, cols]
        tr = np.ascontiguousarray(traps[:, cols])
        model = o.copy()
        for _ in range(1, s.n_forward):
            temp = model.copy()
            simulate_readout(model, tr, s, n_traps_used)
            delta = model - o
            delta2 = delta * delta
            delta = delta * (delta2 / (delta2 + rn2))
            model = temp - delta
        temp = model.copy()
        simulate_readout(model, tr, s, n_traps_used)
        model = temp - (model - o)
        redo = fix_readout_crs(tr, model, o, thresh) if fix_rocr else np.zeros(cols.size, bool)
        traps[:, cols] = tr
        out[:, cols] = model.astype(F32)
        passes += 1
        if passes >= 5:
            break
        cols = cols[redo]
    return out


def correct_amp(
    sci: np.ndarray,
    err: np.ndarray,
    traps: np.ndarray,
    s,
    *,
    rn: float,
    n_traps_used: int,
    thresh: float,
    fix_rocr: int,
    kernels=None,
):
    """One CTE pass on an amp image in readout orientation (``doPCTEGen3`` after the turn).

    `sci`, `err`: float32 ``[row, col]``; `traps`: float32 trap map (modified). Returns new
    ``(sci, err, delta_sum, raw_sum)``: ``sci + (corrected − smoothed)``, ERR with
    ``0.1·|corrected − smoothed|`` added in quadrature, and the two float32 totals for the log line.
    """
    sci = np.ascontiguousarray(sci, F32)
    if kernels is not None:
        smoothed = kernels.smooth(sci, rn)
        corrected = kernels.inverse_blur(
            smoothed, traps, s, rn=rn, n_traps_used=n_traps_used, thresh=thresh, fix_rocr=fix_rocr
        )
    else:
        smoothed, _ = smooth_readnoise(sci, rn)
        corrected = inverse_cte_blur(
            smoothed, traps, s, rn=rn, n_traps_used=n_traps_used, thresh=thresh, fix_rocr=fix_rocr
        )
    err = np.asarray(err, F32)
    delta = np.empty_like(sci)
    new_sci = np.empty_like(sci)
    new_err = np.empty(err.shape, F32)

    def rows(r0: int, r1: int) -> None:
        d = delta[r0:r1]
        np.subtract(corrected[r0:r1], smoothed[r0:r1], out=d)
        np.add(sci[r0:r1], d, out=new_sci[r0:r1])
        e = err[r0:r1]
        err2 = e * e
        t = 0.1 * np.abs(d.astype(F64))
        new_err[r0:r1] = np.sqrt(err2.astype(F64) + t * t).astype(F32)

    _by_rows(rows, sci.shape[0])
    return new_sci, new_err, F32(delta.sum(dtype=F64)), F32(sci.sum(dtype=F64))


# ----------------------------------------------------------------------------- one chip


OVERRIDES = ("PCTENSMD", "PCTETLEN", "PCTERNOI", "PCTENFOR", "PCTENPAR", "FIXROCR")


def set_parameters(s, *, model, overrides: dict, expstart: float) -> dict:
    """The parameters of one pass: the set's values with the raw header's overrides applied as
    ``getCTEParsFromImageHeader`` does (PCTETLEN, PCTENFOR, PCTENPAR only when > 1; FIXROCR 0/1;
    PCTENSMD as is), and ``scale_frac = (EXPSTART − CTEDATE0)/(CTEDATE1 − CTEDATE0)``."""
    p = {
        "cte_len": s.cte_len,
        "n_forward": s.n_forward,
        "n_par": s.n_par,
        "noise_mit": model.noise_mit,
        "fix_rocr": model.fix_rocr,
        "thresh": model.thresh,
    }
    if "PCTENSMD" in overrides:
        p["noise_mit"] = int(overrides["PCTENSMD"])
    for key, name in (("PCTETLEN", "cte_len"), ("PCTENFOR", "n_forward"), ("PCTENPAR", "n_par")):
        if key in overrides and int(overrides[key]) > 1:
            p[name] = int(overrides[key])
    if "FIXROCR" in overrides:
        p["fix_rocr"] = int(overrides["FIXROCR"])
    p["scale_frac"] = (expstart - s.cte_date0) / (s.cte_date1 - s.cte_date0)
    return p


class _SetView:
    """A PCTETAB set with the pass's (possibly overridden) cte_len, n_forward and n_par."""

    __slots__ = ("qlev", "dpde", "rprof", "cprof", "cte_len", "n_forward", "n_par")

    def __init__(self, s, p):
        self.qlev, self.dpde, self.rprof, self.cprof = s.qlev, s.dpde, s.rprof, s.cprof
        self.cte_len, self.n_forward, self.n_par = p["cte_len"], p["n_forward"], p["n_par"]


def correct_pass(
    sci, err, x0: int, x1: int, *, amp: str, serial: bool, s, params: dict, rn: float, raz_offset: int, kernels=None
):
    """One (serial or parallel) pass over columns [x0, x1) of a chip — one amp — in place on float32
    `sci`, `err` ``[row, col]`` (``doPCTEGen3``): turn to readout orientation, smooth, build the trap
    map, invert the readout, add the correction, turn back. Returns the two float32 log totals."""
    a_sci = np.ascontiguousarray(to_readout(sci[:, x0:x1], amp, serial))
    a_err = np.ascontiguousarray(to_readout(err[:, x0:x1], amp, serial))
    nrows, ncols = a_sci.shape
    view = _SetView(s, params)
    traps = trap_map(nrows, ncols, s.iz, s.sens, raz_offset, params["scale_frac"])
    new_sci, new_err, dsum, rsum = correct_amp(
        a_sci,
        a_err,
        traps,
        view,
        rn=rn,
        n_traps_used=s.n_traps_used,
        thresh=params["thresh"],
        fix_rocr=params["fix_rocr"],
        kernels=kernels,
    )
    sci[:, x0:x1] = from_readout(new_sci, amp, serial)
    err[:, x0:x1] = from_readout(new_err, amp, serial)
    return dsum, rsum


def correct_chip(
    sci,
    err,
    *,
    chip: int,
    ccdamp: str,
    ampx: int,
    readnoise: dict,
    model,
    expstart: float,
    overrides: dict,
    kernels=None,
) -> list[dict]:
    """PCTECORR on one trimmed chip (in place on float32 `sci`, `err`), as ``docte.c: DoCTE`` does it
    for one imset: for each of the chip's amps (C, D on chip 2; A, B on chip 1; those named in CCDAMP)
    the serial pass (post-SM4 only: EXPSTART ≥ 54962) and then the parallel pass. `readnoise` maps amp
    → CCDTAB read noise (the smoothing level and damping; PCTERNOI is ignored). Returns one record
    per pass (amp, type, parameters, log totals)."""
    amps = chip_amps(ccdamp, chip)
    nx = sci.shape[1]
    records = []
    for amp in amps:
        x0, x1 = amp_columns(amp, amps, ampx, nx)
        raz = x0 + (RAZ_CHIP_COLUMNS if amp in "AB" else 0)
        passes = (("serial", model.sets[amp]),) if expstart >= SM4MJD else ()
        passes += (("parallel", model.sets["parallel"]),)
        for kind, s in passes:
            params = set_parameters(s, model=model, overrides=overrides, expstart=expstart)
            rn = float(readnoise[amp])
            dsum, rsum = correct_pass(
                sci,
                err,
                x0,
                x1,
                amp=amp,
                serial=kind == "serial",
                s=s,
                params=params,
                rn=rn,
                raz_offset=raz,
                kernels=kernels,
            )
            records.append(
                {"amp": amp, "type": kind, "rn": rn, "columns": (x0, x1), "delta": dsum, "raw": rsum, **params}
            )
    return records


# ----------------------------------------------------------------------------- C fast path


class CKernels:
    """The C fast path (``_cte_kernels``) with the same interface as the NumPy functions used by
    :func:`correct_amp`; the work is split over the engine's thread pool (rows for the smoothing,
    column chunks for the readout inversion)."""

    stop_slack = 1e-12  # extra relative margin of the smoothing's fast stop test (inf: always the reference sum)
    smooth_parts = None  # row ranges of a smoothing round (None: one per thread; tests set others)

    def __init__(self, mod):
        self.mod = mod

    def smooth(self, obs: np.ndarray, rn: float, *, max_iter: int = 100) -> np.ndarray:
        from ..common.threads import parallel_map, thread_count

        obs = np.ascontiguousarray(obs, F32)
        rsz = obs.copy()
        nrows, ncols = obs.shape
        if rn < 0.1 or ncols < 3 or nrows == 0:
            return rsz
        rowsum = np.zeros(nrows, F64)
        rowcnt = np.zeros(nrows, F64)
        chunks = even_ranges(nrows, self.smooth_parts or thread_count())
        # a round updates each row range in one sweep; the old rows just outside a range (which the
        # neighbouring range updates in the same round) are copied before the round
        edges = np.zeros((len(chunks), 2, ncols), F32)
        mod = self.mod
        # The rms sum only decides when to stop: the kernel adds it in a fast order; any two orders of
        # summing N non-negative terms differ by at most 2·N·2⁻⁵³ of the sum, so only when the test is
        # that close is the sum redone in the reference order (per row in column order, then rows).
        rel = 4.0 * nrows * ncols * 2.0**-53 + self.stop_slack
        for _ in range(max_iter):
            for j, (r0, r1) in enumerate(chunks):
                if r0 > 0:
                    edges[j, 0] = rsz[r0 - 1]
                if r1 < nrows:
                    edges[j, 1] = rsz[r1]
            parallel_map(
                lambda j: mod.smooth_round(
                    obs, rsz, edges[j], rowsum, rowcnt, nrows, ncols, chunks[j][0], chunks[j][1], float(rn)
                ),
                range(len(chunks)),
            )
            n = float(np.cumsum(rowcnt)[-1])
            with np.errstate(invalid="ignore", divide="ignore"):
                rms = np.sqrt(rowsum.sum() / n) if n else np.nan
                if not abs((rn - rms) - 0.00001) > rms * rel:
                    mod.smooth_exact(obs, rsz, rowsum, nrows, ncols)
                    rms = np.sqrt(np.cumsum(rowsum)[-1] / n) if n else np.nan
            if (rn - rms) < 0.00001:
                break
        return rsz

    def inverse_blur(self, smoothed, traps, s, *, rn, n_traps_used, thresh, fix_rocr):
        from ..common.threads import parallel_map, thread_count

        smoothed = np.ascontiguousarray(smoothed, F32)
        nrows, ncols = smoothed.shape
        if not (traps.flags.c_contiguous and traps.dtype == F32 and traps.shape == smoothed.shape):
            raise ValueError("traps must be a C-contiguous float32 array of the image's shape")
        out = np.empty_like(smoothed)
        qlev = np.ascontiguousarray(s.qlev, F64)
        dpde = np.ascontiguousarray(s.dpde, F64)
        rprof = np.ascontiguousarray(s.rprof, F32)
        cprof = np.ascontiguousarray(s.cprof, F32)
        if rprof.shape != cprof.shape or rprof.shape[0] < s.cte_len:
            raise ValueError("RPROF/CPROF shapes do not fit PCTETLEN")
        chunks = even_ranges(ncols, 16 * thread_count())
        mod = self.mod
        args = (qlev, dpde, rprof, cprof, rprof.shape[1], int(n_traps_used), int(s.cte_len), int(s.n_par))
        parallel_map(
            lambda c: mod.inverse_blur(
                smoothed,
                traps,
                out,
                nrows,
                ncols,
                c[0],
                c[1],
                *args,
                int(s.n_forward),
                float(rn),
                float(thresh),
                int(fix_rocr),
            ),
            chunks,
        )
        return out

    def forward(self, image, traps, s, *, n_traps_used):
        from ..common.threads import parallel_map, thread_count

        image = np.ascontiguousarray(image, F32)
        traps = np.ascontiguousarray(traps, F32)
        nrows, ncols = image.shape
        out = np.empty_like(image)
        rprof = np.ascontiguousarray(s.rprof, F32)
        cprof = np.ascontiguousarray(s.cprof, F32)
        args = (np.ascontiguousarray(s.qlev, F64), np.ascontiguousarray(s.dpde, F64), rprof, cprof, rprof.shape[1])
        mod = self.mod
        parallel_map(
            lambda c: mod.forward(
                image, traps, out, nrows, ncols, c[0], c[1], *args, int(n_traps_used), int(s.cte_len), int(s.n_par)
            ),
            even_ranges(ncols, 16 * thread_count()),
        )
        return out


def forward_readout(image: np.ndarray, traps: np.ndarray, s, *, n_traps_used: int, kernels=None) -> np.ndarray:
    """``forwardModel`` (HSTCAL's ``acscteforwardmodel.e``): float32 `image` read out through the traps of
    set `s` (``n_par`` transfers per pass; no smoothing, no inversion) — CTE trails added."""
    if kernels is not None:
        return kernels.forward(image, traps, s, n_traps_used=n_traps_used)
    model = np.asarray(image, F32).astype(F64)
    simulate_readout(model, np.asarray(traps, F32), s, n_traps_used)
    return model.astype(F32)


def kernels():
    """The C fast path, or None when ``CALDP_KERNELS=numpy`` or the module is not built."""
    from ..common.kernels import load

    mod = load("caldp.engines.acs._cte_kernels")
    return None if mod is None else CKernels(mod)
