"""CRCORR: up-the-ramp fit with CR and spike rejection (HSTCAL ``wf3ir/cridcalc.c``; calib-wfc3.md §I11).

Every science pixel is fitted at once, vectorised over pixels; the loops run over samples,
intervals and rejection iterations only. Per pixel, as ``fitsamps`` does:

1. *Intervals*: samples 1…N−1 (time order, sample 0 = zeroth read) with DQ == 0 are collected;
   a sample whose DQ is exactly CRHIT starts a new interval; a trailing interval holding only
   that CR sample is dropped. No sample at all → the lenient pass (DQ without BADINPDQ bits,
   any CRHIT bit starts an interval).
2. *Detection* (repeated until nothing new): each interval with ≥ 2 samples is fitted with equal
   weights and its normalised residuals searched for a spike (SPIKE, 6σ), else the largest jump
   above CRSIGMAS (CRHIT; the 4th one turns into HIGH_CURVATURE and stops), else a first-read
   spike. The first interval producing a rejection ends the iteration.
3. *Final fit*: each interval fitted with SNR-dependent optimum weights (Fixsen power law) and
   the slopes combined by inverse variance; SAMP and TIME count the samples and time used.

HSTCAL reads one sample past an interval's end in its spike test; that slot holds whatever an
earlier, longer interval left in the work buffer, which is reproduced with a persistent buffer.
DQ flags read: BADINPDQ bits, CRHIT (8192), SPIKE (1024), HIGH_CURVATURE (16384), SATPIXEL (256),
ZEROSIG (2048, ignored). Set in the reads: CRHIT, DETECTORPROB (4, for spikes), UNSTABLE (32).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...common.kernels import c_array, load
from ..dq import DQ
from .common import F32, F64, Area

MAX_CRS = 4
SPIKE_THRESH = F32(6.0)
CR = np.uint16(DQ.CRHIT)
SPIKE = np.uint16(DQ.SPIKE)
HICURV = np.uint16(DQ.HIGH_CURVATURE)
CHUNK = 1 << 16
_POWERS = (F32(10.0), F32(6.0), F32(3.0), F32(1.0), F32(0.4), F32(0.0))


@dataclass(frozen=True, slots=True)
class RampPars:
    thresh: np.float32  # CRSIGMAS[0]
    dqignore: int  # BADINPDQ
    gain: np.float32  # mean gain
    rate_units: bool  # data in count rates (UNITCORR done): multiply by TIME first
    counts_out: bool  # BUNIT is COUNTS: output rate × TIME


@dataclass(slots=True)
class RampResult:
    sci: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    samp: np.ndarray
    time: np.ndarray
    qflags: np.ndarray  # (P, N) final sample DQ in time order (CR/spike/curvature flags)
    nunstable: int


def weight_table(n: int) -> np.ndarray:
    """``W[p, m, j]``: HSTCAL's optimum weight of sample j in an m-sample interval for power index p.

    ``w = f32(|pow(|j − h|/h, power)|)`` with ``h = (m − 1)/2`` in double (``math.pow`` is C's pow).

    >>> w = weight_table(4)
    >>> [float(x) for x in w[3, 3, :3]]  # power 1, three samples: |j-1|/1
    [1.0, 0.0, 1.0]
    """
    w = np.zeros((len(_POWERS), n + 1, n), F32)
    for p, power in enumerate(_POWERS):
        for m in range(2, n + 1):
            h = (m - 1) / 2.0
            for j in range(m):
                w[p, m, j] = F32(math.fabs(math.pow(math.fabs(j - h) / h, float(power))))
    return w


def _power_index(snr: np.ndarray) -> np.ndarray:
    return np.select([snr > 100, snr > 50, snr > 20, snr > 10, snr > 5], [0, 1, 2, 3, 4], 5)


def _gather(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a[idx[p], p]`` for a sample-major ``(L, P)`` array."""
    return a[idx, np.arange(a.shape[1])]


def _sums_full(x, y, pidx, n: int, invr2, wtab):
    """Sequential float32 weighted sums when every row uses all ``n`` samples.

    Sums that do not depend on the pixel (equal weights, sample times shared by all rows) are
    accumulated once as scalars; the arithmetic per term is the same as element-wise.
    """
    shared_x = bool((x == x[:, :1]).all())
    S = Sx = Sy = Sxx = Sxy = F32(0)
    for j in range(n):
        wt = wtab[:, n, j][pidx] * invr2 if pidx is not None else F32(F32(1.0) * invr2)
        xj = x[j, 0] if shared_x else x[j]
        yj = y[j]
        S = S + wt
        Sy = Sy + yj * wt
        Sx = Sx + xj * wt
        Sxx = Sxx + (xj * xj) * wt
        Sxy = Sxy + (xj * yj) * wt
    return S, Sx, Sy, Sxx, Sxy


def _sums_masked(x, y, sig, n, n_const, pidx, invr2, wtab):
    """Sequential float32 weighted sums over each row's first ``n`` samples with σ ≠ 0."""
    L, P = x.shape
    S = np.zeros(P, F32)
    Sx = np.zeros(P, F32)
    Sy = np.zeros(P, F32)
    Sxx = np.zeros(P, F32)
    Sxy = np.zeros(P, F32)
    for j in range(L):
        ok = (j < n) & (sig[j] != 0)
        if not ok.any():
            continue
        if pidx is not None:
            wt = (wtab[:, n_const, j][pidx] if n_const is not None else wtab[pidx, n, j]) * invr2
        else:
            wt = F32(F32(1.0) * invr2)
        xj, yj = x[j], y[j]
        S = np.where(ok, S + wt, S)
        Sy = np.where(ok, Sy + yj * wt, Sy)
        Sx = np.where(ok, Sx + xj * wt, Sx)
        Sxx = np.where(ok, Sxx + (xj * xj) * wt, Sxx)
        Sxy = np.where(ok, Sxy + (xj * yj) * wt, Sxy)
    return S, Sx, Sy, Sxx, Sxy


def linfit(x, y, sig, dk, n, *, optimum: bool, gain, invr2, wtab):
    """``linfit`` for sample-major interval arrays ``(L, P)``: pixel p has ``n[p]`` (≥ 2) samples.

    Returns float32 ``(a, b, sigb)``.
    """
    L, P = x.shape
    last = (n - 1).astype(np.intp)
    if optimum:
        s_last = _gather(sig, last)
        dyl = (_gather(y, last) - y[0]).astype(F32)
        pos = s_last > 0
        snr = np.where(pos, (dyl / np.where(pos, s_last, F32(1))).astype(F32), F32(0))
        pidx = _power_index(snr)
    n_const = int(n[0]) if P and (n == n[0]).all() else None
    if n_const is not None and bool((sig[:n_const] != 0).all()):
        S, Sx, Sy, Sxx, Sxy = _sums_full(x[:n_const], y[:n_const], pidx if optimum else None, n_const, invr2, wtab)
    else:
        S, Sx, Sy, Sxx, Sxy = _sums_masked(x, y, sig, n, n_const, pidx if optimum else None, invr2, wtab)
    S, Sx, Sy, Sxx, Sxy = (np.asarray(v, F32) for v in (S, Sx, Sy, Sxx, Sxy))
    x0, y0 = x[0], y[0]
    dx = (_gather(x, last) - x0).astype(F32)
    dy = (_gather(y, last) - y0).astype(F32)
    ddg = (_gather(dk, last) - dk[0]).astype(F32)
    den = ((S * Sxx).astype(F32) - (Sx * Sx).astype(F32)).astype(F32)
    den = np.where(den < 1e-6, F32(1e-6), den).astype(F32)
    two = n == 2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        b2 = (dy / dx).astype(F32)
        a2 = (y0 - (b2 * x0).astype(F32)).astype(F32)
        x1 = x[1]
        s0 = (sig[0] / x0).astype(F32)
        s1 = (sig[1] / x1).astype(F32)
        sb2 = np.sqrt(((s0 * s0).astype(F32) + (s1 * s1).astype(F32)).astype(F32).astype(F64)).astype(F32)
        bn = (((S * Sxy).astype(F32) - (Sx * Sy).astype(F32)).astype(F32) / den).astype(F32)
        an = (((Sxx * Sy).astype(F32) - (Sx * Sxy).astype(F32)).astype(F32) / den).astype(F32)
        fun = np.sqrt((S / den).astype(F32).astype(F64)).astype(F32)
        b = np.where(two, b2, bn)
        a = np.where(two, a2, an)
        fu = np.where(two, F32(0), fun)
        sigb = np.where(two, sb2, fun)
        g = F32(gain)
        ta = (((g * fu).astype(F32) * dx).astype(F32)) ** 2
        ta = ta.astype(F32)
        e = ((ta + (g * ddg).astype(F32)).astype(F32) + (g * dy).astype(F32)).astype(F32)
        pos = e > 0
        sb_e = ((np.sqrt(e.astype(F64)) / dx.astype(F64)) / F64(g)).astype(F32)
        sigb = np.where(pos, sb_e, sigb)
    good = S > 0
    a = np.where(good, a, F32(0)).astype(F32)
    b = np.where(good, b, F32(0)).astype(F32)
    sigb = np.where(good, sigb, F32(1e9)).astype(F32)
    return a, b, sigb


@dataclass(slots=True)
class _Intervals:
    nint: np.ndarray  # (P,) number of intervals kept (interval + 1)
    tcount: np.ndarray  # (P, M)
    look: np.ndarray  # (P, M, N) sample index of each interval position
    nosamp: np.ndarray  # (P,) bool


def _intervals(q: np.ndarray, lenient: np.ndarray, dqignore: int, buf: np.ndarray | None) -> _Intervals:
    """Split samples 1…N−1 into intervals (the start of ``fitsamps``' iteration)."""
    P, N = q.shape
    ign = np.uint16((dqignore | int(CR)) & 0xFFFF)
    inc_all = np.where(lenient[:, None], (q & ign) == 0, q == 0)
    cr_all = np.where(lenient[:, None], (q & CR) != 0, q == CR) & ~inc_all
    inc_all[:, 0] = False
    cr_all[:, 0] = False
    M = int(cr_all.sum(axis=1).max()) + 1 if P else 1
    tcount = np.zeros((P, M), np.int32)
    look = np.zeros((P, M, N), np.intp)
    cur = np.zeros(P, np.intp)
    sample = np.zeros(P, np.intp)
    rows = np.arange(P)
    for k in range(1, N):
        cr = cr_all[:, k]
        if cr.any():
            tcount[rows[cr], cur[cr]] = sample[cr]
            cur[cr] += 1
            sample[cr] = 0
        app = cr | inc_all[:, k]
        if app.any():
            r, c, s = rows[app], cur[app], sample[app]
            look[r, c, s] = k
            if buf is not None:
                buf[r, c, s] = q[app, k]
            sample[app] += 1
    nosamp = sample == 0
    has = ~nosamp
    lastk = look[rows, cur, np.maximum(sample - 1, 0)]
    last_is_cr = has & (q[rows, lastk] == CR)
    close = has & ~last_is_cr
    tcount[rows[close], cur[close]] = sample[close]
    nint = np.where(last_is_cr, cur, cur + 1)
    nint = np.where(nosamp, 0, nint)
    return _Intervals(nint, tcount, look, nosamp)


def _compact(a: np.ndarray, look: np.ndarray, idx: int) -> np.ndarray:
    return np.take_along_axis(a, look[:, idx, :], axis=1)


def _residuals(xs, ys, ss, a, b, use):
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        fit = (a[None, :] + (b[None, :] * xs).astype(F32)).astype(F32)
        d = np.where(use, ((ys - fit).astype(F32) / np.where(use, ss, F32(1))).astype(F32), F32(0))
    return d.astype(F32)


def _reject(d, n, tdq, pars: RampPars):
    """``RejSpikes`` → ``RejCRs`` → ``RejFirstRead`` on the residuals ``d`` of one interval per row.

    `tdq` is the interval DQ work buffer (length ≥ n + 1: the spike test reads one past the end).
    Returns ``(kind, pos)``: kind 0 none, 1 spike at pos, 2 CR at pos, 3 first-read spike.
    """
    L, P = d.shape
    m_cr = np.uint16((pars.dqignore | int(CR)) & 0xFFFF)
    m_sp = np.uint16((pars.dqignore | int(CR) | int(SPIKE)) & 0xFFFF)
    okq = (tdq & m_sp) == 0
    okc = (tdq & m_cr) == 0
    nmax = int(n.max()) if P else 0
    n_const = P and (n == nmax).all()
    maxd = np.zeros(P, F32)
    spk = np.full(P, -1, np.intp)
    for k in range(2, nmax):
        valid = okq[k - 1] & okq[k] & okq[k + 1]
        if not n_const:
            valid &= k < n
        dm = d[k - 1]
        c = valid & ((dm - d[k - 2]) > SPIKE_THRESH) & ((dm - d[k]) > SPIKE_THRESH) & (d[k - 2] < 0) & (d[k] < 0)
        if c.any():
            c &= np.abs(dm) > maxd
            maxd = np.where(c, dm, maxd)
            spk = np.where(c, k - 1, spk)
    kind = np.where(spk >= 0, 1, 0)
    pos = np.maximum(spk, 0)
    prev = np.zeros(P, F32)
    maxc = np.zeros(P, F32)
    crk = np.zeros(P, np.intp)
    for k in range(1, nmax):
        if n_const:
            prev = np.where(okc[k - 1], d[k - 1], prev)
            ok = okc[k]
        else:
            inn = k < n
            prev = np.where(inn & okc[k - 1], d[k - 1], prev)
            ok = inn & okc[k]
        c = np.abs(d[k] - prev)
        big = ok & (c > pars.thresh)
        if big.any():
            upd = big & (c > maxc)
            maxc = np.where(upd, c, maxc)
            crk = np.where(upd, k, crk)
            prev = np.where(big, d[k], prev)
    is_cr = (kind == 0) & (maxc != 0)
    kind = np.where(is_cr, 2, kind)
    pos = np.where(is_cr, crk, pos)
    fr = (kind == 0) & okq[0] & okq[1] & (np.abs(d[0] - d[1]) > pars.thresh)
    kind = np.where(fr, 3, kind)
    pos = np.where(fr, 0, pos)
    return kind, pos


def _flag(q, rows, ks, kind, ncr, nrej, ferr):
    """Apply the rejections found in one interval (``fitsamps``' bookkeeping)."""
    sp = (kind == 1) | (kind == 3)
    if sp.any():
        q[rows[sp], ks[sp]] |= SPIKE
        nrej[rows[sp]] = True
    crm = kind == 2
    if crm.any():
        rr, kk = rows[crm], ks[crm]
        q[rr, kk] |= CR
        ncr[rr] += 1
        over = ncr[rr] >= MAX_CRS
        if over.any():
            ro, ko = rr[over], kk[over]
            q[ro, ko] = (q[ro, ko] - CR) | HICURV
            ferr[ro] = True
        nrej[rr[~over]] = True


def _detect(q, y, sig, t, dk, lenient, ncr, pars: RampPars, invr2, wtab, buf):
    """One rejection iteration for the rows given; updates q/ncr in place.

    Returns ``(nrej, found_error, nosamp)`` per row.
    """
    P, N = q.shape
    iv = _intervals(q, lenient, pars.dqignore, buf)
    nrej = np.zeros(P, bool)
    ferr = np.zeros(P, bool)
    ign = np.uint16(pars.dqignore & 0xFFFF)
    rows_all = np.arange(P)
    for idx in range(iv.tcount.shape[1]):
        n_all = iv.tcount[:, idx]
        act = ~iv.nosamp & (idx < iv.nint) & ~nrej & ~ferr & (n_all > 1)
        if not act.any():
            continue
        r = rows_all[act]
        n = n_all[act]
        look = iv.look[r]
        xs, ys, ss, ds = (np.ascontiguousarray(_compact(v[r], look, idx).T) for v in (t, y, sig, dk))
        tdq = np.ascontiguousarray(buf[r, idx, :].T)
        a, b, _ = linfit(xs, ys, ss, ds, n, optimum=False, gain=pars.gain, invr2=invr2, wtab=wtab)
        L = xs.shape[0]
        pos = np.arange(L)[:, None] < n[None, :]
        qok = np.where(lenient[r][None, :], (tdq[:L] & ign) == 0, tdq[:L] == 0)
        d = _residuals(xs, ys, ss, a, b, pos & (ss != 0) & qok)
        kind, at = _reject(d, n, tdq, pars)
        ks = look[np.arange(len(r)), idx, np.where(kind == 3, 0, at)]
        _flag(q, r, ks, kind, ncr, nrej, ferr)
    return nrej, ferr, iv.nosamp


def _clean_first(q, y, sig, t, dk, ncr, pars: RampPars, invr2, wtab):
    """First iteration for rows whose samples 1…N−1 all have DQ 0 (one interval, no gathers).

    `q` is ``(P, N)``; `y`, `sig`, `t`, `dk` are sample-major ``(N, P)``.
    """
    P, N = q.shape
    n = np.full(P, N - 1, np.int32)
    xs, ys, ss, ds = t[1:], y[1:], sig[1:], dk[1:]
    a, b, _ = linfit(xs, ys, ss, ds, n, optimum=False, gain=pars.gain, invr2=invr2, wtab=wtab)
    d = _residuals(xs, ys, ss, a, b, ss != 0)
    kind, at = _reject(d, n, np.zeros((N, P), np.uint16), pars)
    nrej = np.zeros(P, bool)
    ferr = np.zeros(P, bool)
    ks = np.where(kind == 3, 0, at) + 1
    _flag(q, np.arange(P), ks, kind, ncr, nrej, ferr)
    return nrej


def _clean_final(y, sig, t, dk, pars: RampPars, invr2, wtab):
    """Final fit of rows that kept one interval of all N−1 samples (sample-major inputs)."""
    N, P = y.shape
    n = np.full(P, N - 1, np.int32)
    _, b, sigb = linfit(t[1:], y[1:], sig[1:], dk[1:], n, optimum=True, gain=pars.gain, invr2=invr2, wtab=wtab)
    itime = ((t[1] - t[0]).astype(F32) + (t[N - 1] - t[1]).astype(F32)).astype(F32)
    s2 = (sigb * sigb).astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        nz = s2 != 0
        sumw = np.where(nz, (1.0 / s2.astype(F64)).astype(F32), F32(0))
        tot = np.where(nz, (b / s2).astype(F32), F32(0))
        ok = sumw > 0
        sci = np.where(ok, (tot / sumw).astype(F32), F32(0))
        err = np.where(ok, np.sqrt((F32(1) / sumw).astype(F32).astype(F64)).astype(F32), F32(0))
    return sci.astype(F32), err.astype(F32), np.full(P, N, np.int32), itime, ok


def _final(q, y, sig, t, dk, lenient, pars: RampPars, invr2, wtab):
    """Final optimum-weight fit of converged rows; returns ``(sci, err, samp, time, usable)``."""
    P, N = q.shape
    iv = _intervals(q, lenient, pars.dqignore, None)
    rows = np.arange(P)
    itime = np.zeros(P, F32)
    sumw = np.zeros(P, F32)
    tot = np.zeros(P, F32)
    samp = np.zeros(P, np.int32)
    for idx in range(iv.tcount.shape[1]):
        inside = idx < iv.nint
        n_all = iv.tcount[:, idx]
        samp = np.where(inside, samp + (n_all + 1 if idx == 0 else n_all - 1), samp)
        k0 = iv.look[:, idx, 0]
        t_k0 = t[rows, k0]
        t_km1 = t[rows, np.maximum(k0 - 1, 0)]
        dt0 = (t_k0 - t_km1).astype(F32)
        multi = inside & (n_all > 1)
        if multi.any():
            r = rows[multi]
            n = n_all[multi]
            look = iv.look[r]
            xs, ys, ss, ds = (np.ascontiguousarray(_compact(v[r], look, idx).T) for v in (t, y, sig, dk))
            if idx == 0:
                itime[r] = (itime[r] + dt0[r]).astype(F32)
            _, b, sigb = linfit(xs, ys, ss, ds, n, optimum=True, gain=pars.gain, invr2=invr2, wtab=wtab)
            span = (_gather(xs, (n - 1).astype(np.intp)) - xs[0]).astype(F32)
            itime[r] = (itime[r] + span).astype(F32)
            s2 = (sigb * sigb).astype(F32)
            nz = s2 != 0
            with np.errstate(divide="ignore", invalid="ignore"):
                sumw[r] = np.where(nz, (sumw[r].astype(F64) + 1.0 / s2.astype(F64)).astype(F32), sumw[r])
                tot[r] = np.where(nz, (tot[r] + (b / s2).astype(F32)).astype(F32), tot[r])
        single = inside & (n_all == 1) & ((q[rows, k0] & CR) == 0)
        if single.any():
            r = rows[single]
            tk, yk, sk = t[r, k0[r]], y[r, k0[r]], sig[r, k0[r]]
            with np.errstate(divide="ignore", invalid="ignore"):
                b = np.where(tk != 0, (yk / tk).astype(F32), F32(0))
                sigb = np.where(tk != 0, (sk / tk).astype(F32), F32(0))
                itime[r] = (itime[r] + dt0[r]).astype(F32)
                s2 = (sigb * sigb).astype(F32)
                nz = s2 != 0
                sumw[r] = np.where(nz, (sumw[r] + (F32(1) / s2).astype(F32)).astype(F32), sumw[r])
                tot[r] = np.where(nz, (tot[r] + (b / s2).astype(F32)).astype(F32), tot[r])
    ok = sumw > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        sci = np.where(ok, (tot / sumw).astype(F32), F32(0))
        err = np.where(ok, np.sqrt((F32(1) / sumw).astype(F32).astype(F64)).astype(F32), F32(0))
    return sci.astype(F32), err.astype(F32), samp, itime, ok


def _fallback(q, y, sig, t, dqignore: int):
    """Output of ``fitsamps`` when the fit failed (too many CRs or no weight): first/last good reads."""
    P, N = q.shape
    rows = np.arange(P)
    ign = np.uint16(dqignore & 0xFFFF)
    okf = (q[:, 1:] & ign) == 0
    anyf = okf.any(axis=1)
    first = np.where(anyf, np.argmax(okf, axis=1) + 1, 0)
    ngood = anyf.astype(np.int32)
    kk = np.arange(N)[None, :]
    zero = (q == 0) & (kk >= first[:, None])
    ngood += zero.sum(axis=1).astype(np.int32)
    lastz = np.where(zero.any(axis=1), N - 1 - np.argmax(zero[:, ::-1], axis=1), first)
    last = np.where(zero.any(axis=1), lastz, first)
    diff = last != first
    dt = (t[rows, last] - t[rows, first]).astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        sci = np.where(diff, ((y[rows, last] - y[rows, first]).astype(F32) / dt).astype(F32), F32(0))
        err = np.where(diff, ((sig[rows, last] - sig[rows, first]).astype(F32) / dt).astype(F32), F32(0))
    return sci, err, np.where(diff, ngood, 0), np.where(diff, dt, F32(0))


def _noise_consts(gain) -> tuple[np.float32, np.float32]:
    """``(1/RN², dark rate)`` of the slope errors: RN = 21 e⁻ and 0.036 e⁻/s in DN (float32)."""
    rdns = F32(21.0 / F64(gain))
    return F32(1.0 / F64(F32(rdns * rdns))), F32(0.036 / F64(gain))


def fit_pixels(y, sig, t, q, pars: RampPars, wtab=None):
    """Fit ramps given sample-major ``(N, P)``: counts, σ, TIME and DQ (without ZEROSIG), time order.

    Returns ``(sci, err, samp, time, q_final)``: per-pixel rates as HSTCAL's fitsamps, and the
    final sample DQ ``(P, N)`` with the CRHIT/SPIKE/HIGH_CURVATURE flags found.
    """
    N, P = q.shape
    wtab = weight_table(N) if wtab is None else wtab
    invr2, lineardark = _noise_consts(pars.gain)
    dk = (t * lineardark).astype(F32)
    # the fast path needs an interval of ≥ 2 samples (NSAMP ≥ 3)
    clean = (q[1:] == 0).all(axis=0) & (N >= 3)
    q = np.ascontiguousarray(q.T, dtype=np.uint16)  # (P, N) for the per-pixel bookkeeping
    ncr = np.zeros(P, np.int32)
    settled = np.zeros(P, bool)  # clean rows that converged after one iteration
    if clean.all():
        nrej = _clean_first(q, y, sig, t, dk, ncr, pars, invr2, wtab)
        settled[~nrej] = True
    elif clean.any():
        r = np.flatnonzero(clean)
        qc, nc = q[r], ncr[r]
        nrej = _clean_first(qc, y[:, r], sig[:, r], t[:, r], dk[:, r], nc, pars, invr2, wtab)
        q[r], ncr[r] = qc, nc
        settled[r[~nrej]] = True
    sci = np.zeros(P, F32)
    err = np.zeros(P, F32)
    samp = np.zeros(P, np.int32)
    tim = np.zeros(P, F32)
    ok = np.zeros(P, bool)
    if settled.all():
        sci, err, samp, tim, ok = _clean_final(y, sig, t, dk, pars, invr2, wtab)
    elif settled.any():
        r = np.flatnonzero(settled)
        sci[r], err[r], samp[r], tim[r], ok[r] = _clean_final(y[:, r], sig[:, r], t[:, r], dk[:, r], pars, invr2, wtab)
    bad = settled & ~ok  # no fit weight: first/last good reads
    if bad.any():
        r = np.flatnonzero(bad)
        sci[r], err[r], samp[r], tim[r] = _fallback(
            q[r], *(np.ascontiguousarray(v[:, r].T) for v in (y, sig, t)), pars.dqignore
        )
    rest = np.flatnonzero(~settled)
    if rest.size:
        # everything else: the general iteration on pixel-major copies (a clean row's work buffer
        # after its first iteration holds only zeros)
        yr, sr, tr, dr = (np.ascontiguousarray(v[:, rest].T) for v in (y, sig, t, dk))
        qr = q[rest]
        s_, e_, n_, t_, ok_, qr = _general(qr, yr, sr, tr, dr, ncr[rest], pars, invr2, wtab)
        sci[rest], err[rest], samp[rest], tim[rest], ok[rest] = s_, e_, n_, t_, ok_
        q[rest] = qr
    return sci, err, samp, tim, q


def _general(q, y, sig, t, dk, ncr, pars: RampPars, invr2, wtab):
    """Rejection iterations and fits of pixel-major ``(P, N)`` rows (any DQ, any interval layout)."""
    P, N = q.shape
    lenient = np.zeros(P, bool)
    ferr = np.zeros(P, bool)
    nosamp = np.zeros(P, bool)
    active = np.arange(P)
    buf = np.zeros((P, N, N), np.uint16)
    while active.size:
        qa = q[active]
        nca = ncr[active]
        sub_buf = buf[active]
        nrej, fe, ns = _detect(
            qa, y[active], sig[active], t[active], dk[active], lenient[active], nca, pars, invr2, wtab, sub_buf
        )
        q[active] = qa
        ncr[active] = nca
        buf[active] = sub_buf
        ferr[active] |= fe
        # no samples: strict → lenient (restart the count), lenient → give up
        to_len = ns & ~lenient[active]
        gave_up = ns & lenient[active]
        nosamp[active[gave_up]] = True
        lenient[active[to_len]] = True
        ncr[active[to_len]] = 0
        active = active[(nrej & ~fe) | to_len]
    sci = np.zeros(P, F32)
    err = np.zeros(P, F32)
    samp = np.zeros(P, np.int32)
    tim = np.zeros(P, F32)
    ok = np.zeros(P, bool)
    fit = ~ferr & ~nosamp
    if fit.any():
        r = np.flatnonzero(fit)
        s_, e_, sp, tt, good = _final(q[r], y[r], sig[r], t[r], dk[r], lenient[r], pars, invr2, wtab)
        sci[r], err[r], samp[r], tim[r] = s_, e_, sp, tt
        ok[r] = good
    fb = ~nosamp & ~ok
    if fb.any():
        r = np.flatnonzero(fb)
        s_, e_, sp, tt = _fallback(q[r], y[r], sig[r], t[r], pars.dqignore)
        sci[r], err[r], samp[r], tim[r] = s_, e_, sp, tt
    if nosamp.any():
        sci[nosamp], err[nosamp], samp[nosamp], tim[nosamp] = F32(0), F32(1e5), 0, F32(0)
    return sci, err, samp, tim, ok | fb | nosamp, q


def finish_flags(q: np.ndarray, out_dq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Post-fit DQ bookkeeping of ``crrej``: CRHIT carried to later samples, HIGH_CURVATURE spread.

    Returns ``(q, out_dq, unstable)``.

    >>> q = np.array([[0, 0, 8192, 0]], np.uint16)
    >>> finish_flags(q, np.array([256], np.uint16))[0].tolist(), finish_flags(q, np.array([256], np.uint16))[1].tolist()
    ([[0, 0, 8192, 8192]], [0])
    """
    q = q.copy()
    N = q.shape[1]
    out_dq = (out_dq & ~np.uint16(DQ.SATPIXEL)).astype(np.uint16)
    for k in range(N - 1):
        q[:, k + 1] |= q[:, k] & CR
    hc = ((q[:, : N - 1] & HICURV) != 0).any(axis=1)
    if hc.any():
        q[hc] = (q[hc] | HICURV) & ~CR
    unstable = (q[:, N - 1] & HICURV) != 0
    out_dq = np.where(unstable, (out_dq | np.uint16(DQ.UNSTABLE)) & ~CR, out_dq).astype(np.uint16)
    return q, out_dq, unstable


MAX_KERNEL_NSAMP = 64  # the C kernel's per-pixel work space


def fit_rows(stack, out, area: Area, r0: int, r1: int, pars: RampPars, wtab, *, zsig_done: bool, sampzero) -> int:
    """CRCORR of the science-area rows ``r0:r1`` (relative to `area`) of an IR stack.

    `stack` = ``(sci, err, time, dq)``, ``(N, ny, nx)`` in file order (index N−1 = zeroth read);
    the reads' DQ gets CRHIT / DETECTORPROB (spikes) / UNSTABLE. `out` = ``(sci, err, dq, samp,
    time)`` ``(ny, nx)`` images, written over those rows of the science area. Pixels saturated in
    the first read after ZSIGCORR keep the zeroth read (SAMP 1, TIME `sampzero`). Returns the
    number of UNSTABLE pixels. Runs the C kernel when built, else the NumPy implementation.
    """
    sci, err, tim, dq = stack
    N = sci.shape[0]
    kern = load("caldp.engines.wfc3.ir._kernels")
    arrays = (*stack, *out)
    if kern is not None and N <= MAX_KERNEL_NSAMP and all(a.flags.c_contiguous for a in arrays):
        invr2, lineardark = _noise_consts(pars.gain)
        ny, nx = sci.shape[1:]
        o_sci, o_err, o_dq, o_samp, o_time = out
        return kern.ramp_fit(
            c_array(sci, F32), c_array(err, F32), c_array(tim, F32), dq, o_sci, o_err, o_dq, o_samp, o_time,
            c_array(wtab, F32), N, ny, nx, area.x0, area.x1, area.y0 + r0, area.y0 + r1,
            float(pars.thresh), int(pars.dqignore) & 0xFFFF, float(pars.gain), float(invr2), float(lineardark),
            bool(pars.rate_units), bool(pars.counts_out), bool(zsig_done), float(F32(sampzero)),
        )  # fmt: skip
    return _fit_rows_numpy(stack, out, area, r0, r1, pars, wtab, zsig_done=zsig_done, sampzero=sampzero)


def _fit_rows_numpy(stack, out, area: Area, r0, r1, pars: RampPars, wtab, *, zsig_done, sampzero) -> int:
    sci_st, err_st, tim_st, dq_st = stack
    N = sci_st.shape[0]
    zs_mask = np.uint16(~DQ.ZEROSIG & 0xFFFF)
    rs = slice(area.y0 + r0, area.y0 + r1)
    cs = slice(area.x0, area.x1)
    # sample-major (N, P) arrays in time order: sample k = group N-1-k
    sci = sci_st[::-1, rs, cs].reshape(N, -1)
    err = err_st[::-1, rs, cs].reshape(N, -1)
    tim = tim_st[::-1, rs, cs].reshape(N, -1)
    q = dq_st[::-1, rs, cs].reshape(N, -1) & zs_mask
    if pars.rate_units:
        y = (sci * tim).astype(F32)
        sg = (err * tim).astype(F32)
    else:
        y, sg = sci, err
    first_sat = (dq_st[N - 2, rs, cs].reshape(-1) & np.uint16(DQ.SATPIXEL)) != 0
    special = first_sat if zsig_done else np.zeros_like(first_sat)
    fitp = ~special
    out_dq = np.bitwise_or.reduce(q, axis=0)
    P = q.shape[1]
    res_sci = np.zeros(P, F32)
    res_err = np.zeros(P, F32)
    res_samp = np.zeros(P, np.int32)
    res_time = np.zeros(P, F32)
    qf = np.ascontiguousarray(q.T)
    nunst = 0
    if fitp.any():
        if fitp.all():
            s, e, n_s, t_o, q_fit = fit_pixels(y, sg, tim, q, pars, wtab)
        else:
            s, e, n_s, t_o, q_fit = fit_pixels(y[:, fitp], sg[:, fitp], tim[:, fitp], q[:, fitp], pars, wtab)
        if pars.counts_out:
            with np.errstate(invalid="ignore", over="ignore"):
                s, e = (s * t_o).astype(F32), (e * t_o).astype(F32)
        q_fit, odq, unstable = finish_flags(q_fit, out_dq[fitp])
        nunst = int(np.count_nonzero(unstable))
        res_sci[fitp], res_err[fitp], res_samp[fitp], res_time[fitp] = s, e, n_s, t_o
        out_dq[fitp] = odq
        qf[fitp] = q_fit
    if special.any():
        res_sci[special] = sci_st[N - 1, rs, cs].reshape(-1)[special]
        res_err[special] = err_st[N - 1, rs, cs].reshape(-1)[special]
        out_dq[special] = (dq_st[N - 1, rs, cs].reshape(-1) & zs_mask)[special]
        res_samp[special] = 1
        res_time[special] = F32(sampzero)
    shp = (r1 - r0, area.x1 - area.x0)
    o_sci, o_err, o_dq, o_samp, o_time = out
    o_sci[rs, cs] = res_sci.reshape(shp)
    o_err[rs, cs] = res_err.reshape(shp)
    o_dq[rs, cs] = out_dq.reshape(shp)
    o_samp[rs, cs] = res_samp.reshape(shp).astype(np.int16)
    o_time[rs, cs] = res_time.reshape(shp)
    # flags back into the reads (only fitted pixels carry new bits)
    for k in range(N):
        g = N - 1 - k
        qk = qf[:, k]
        add = np.where((qk & CR) != 0, np.uint16(DQ.CRHIT), np.uint16(0))
        add |= np.where((qk & SPIKE) != 0, np.uint16(DQ.DETECTORPROB), np.uint16(0))
        add |= np.where((qk & HICURV) != 0, np.uint16(DQ.UNSTABLE), np.uint16(0))
        add[special] = 0
        dq_st[g, rs, cs] |= add.reshape(shp)
    return nunst
