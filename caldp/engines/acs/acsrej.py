"""ACSREJ: cosmic-ray rejection of CR-SPLIT / repeat exposures (HSTCAL ``pkg/acs/lib/acsrej/``;
calib-acs-wfc.md §5). Pure functions on one chip of N inputs (float32 electrons, uint16 DQ).

Unlike calwf3, ACSREJ takes its noise from the inputs' ERR arrays. The sky (histogram mode)
is computed exactly as calwf3's and is shared with it. The C code scrolls line buffers, but
every comparison uses the previous iteration's average, so each iteration is computed on whole
images; the one raster-order effect (a spill from an earlier HIT un-excludes a bad pixel before
it is tested) is resolved by a fixed point over the few pixels concerned.

DQ flags: reads BADINPDQ bits (excluded inputs), input values exactly DATALOST (2) or
DATAMASKED (8) (treated as spill / hit, as HSTCAL does); sets CRHIT (8192).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..ccd.crreject import REJ_KERNELS, disk_halfwidths, neighbour_offsets, run_row_strips, sky_mode
from ..common.kernels import c_array, load
from ..common.threads import parallel_map, thread_count
from .dq import DQ

log = logging.getLogger(__name__)

F32 = np.float32
F64 = np.float64
CRFLAG = np.uint16(DQ.CRHIT)
SPILL, EXCLUDE, HIT = 2, 4, 8

__all__ = ["RejPars", "RejResult", "sky_levels", "initial_guess", "reject"]


@dataclass(frozen=True, slots=True)
class RejPars:
    """CRREJTAB values as ACSREJ uses them (float32 where HSTCAL keeps floats)."""

    sigmas: tuple
    scalense: F32  # percent
    crradius: F32
    crthresh: F32
    badinpdq: int
    initgues: str = "minimum"
    skysub: str = "mode"


@dataclass(slots=True)
class RejResult:
    sci: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    rejected: list[np.ndarray]  # per input: bool mask of CR-rejected pixels (for the CR mask)
    nrej: int
    skysum: F32
    skies: list[F32]


def sky_levels(scis, dqs, *, skysub: str, badinpdq: int) -> list[F32]:
    """Sky of each input (``acsrej_sky.c``): the histogram mode when SKYSUB = mode, else 0."""
    if skysub.strip().lower() != "mode":
        return [F32(0)] * len(scis)
    return sky_mode(list(scis), list(dqs), badinpdq=badinpdq, mapper=parallel_map)


def initial_guess(pics, dqs, *, kind: str, dqpat: int) -> np.ndarray:
    """Initial average (e⁻/s, sky removed; ``acsrej_init.c``).

    ``minimum``: image 0 where good else 0, then for each later input where it is lower: its
    value if good else 0. ``median``: median of the good inputs (even count: f32 mean of the
    middle two), 0 where none.

    >>> p = [np.array([[5., 5.]], F32), np.array([[3., 9.]], F32)]
    >>> d = [np.zeros((1, 2), np.uint16), np.array([[4, 0]], np.uint16)]
    >>> initial_guess(p, d, kind="minimum", dqpat=4).tolist()
    [[0.0, 5.0]]
    >>> initial_guess(p, d, kind="median", dqpat=4).tolist()
    [[5.0, 7.0]]
    """
    bad = np.uint16(dqpat & 0xFFFF)
    if kind.strip().lower() == "median":
        stack = np.stack([np.where((d & bad) == 0, p, np.nan).astype(F32) for p, d in zip(pics, dqs, strict=True)])
        cnt = np.isfinite(stack).sum(axis=0)
        srt = np.sort(stack, axis=0)  # NaN last
        half = cnt // 2
        hi = np.take_along_axis(srt, np.minimum(half, len(pics) - 1)[None], 0)[0]
        lo = np.take_along_axis(srt, np.maximum(half - 1, 0)[None], 0)[0]
        med = np.where(cnt % 2 == 0, (lo + hi) / F32(2), hi)
        return np.where(cnt == 0, F32(0), med).astype(F32)
    ave = np.where((dqs[0] & bad) == 0, pics[0], F32(0)).astype(F32)
    for p, d in zip(pics[1:], dqs[1:], strict=True):
        lower = p < ave
        ave = np.where(lower, np.where((d & bad) == 0, p, F32(0)), ave).astype(F32)
    return ave


def _reach(hit: np.ndarray, offsets) -> np.ndarray:
    """Pixels ``(y, x)`` with a True `hit` at ``(y − dy, x − dx)`` for some offset (OR of shifts)."""
    ny, nx = hit.shape
    out = np.zeros_like(hit)
    for dy, dx in offsets:
        if abs(dy) >= ny or abs(dx) >= nx:
            continue
        dst = out[max(dy, 0) : ny + min(dy, 0), max(dx, 0) : nx + min(dx, 0)]
        dst |= hit[max(-dy, 0) : ny + min(-dy, 0), max(-dx, 0) : nx + min(-dx, 0)]
    return out


def _promote_excluded(hit: np.ndarray, special: np.ndarray, causal) -> np.ndarray:
    """Add the pixels of `special` reached by an earlier (raster-order) HIT; fixed point."""
    if not special.any():
        return hit
    hit = hit.copy()
    ys, xs = np.nonzero(special)
    ny, nx = hit.shape
    while True:
        reached = np.zeros(ys.size, bool)
        for dy, dx in causal:
            y, x = ys - dy, xs - dx
            ok = (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
            reached[ok] |= hit[y[ok], x[ok]]
        new = reached & ~hit[ys, xs]
        if not new.any():
            return hit
        hit[ys[new], xs[new]] = True


STRIP_ROWS = 256


def _strips(ny: int, rows: int = STRIP_ROWS) -> list[slice]:
    return [slice(r, min(r + rows, ny)) for r in range(0, ny, rows)]


def reject(scis, errs, dqs, *, efac, pars: RejPars, exptot: F32, texpt: F32) -> RejResult:
    """Combine the inputs of one chip (``acsrej_do.c``/``acsrej_loop.c``).

    Returns the combined ``SCI = f32(f32(ave·texpt) + SKYSUM)``, ``ERR`` (with ``ERR[0, 0] = −1``
    as HSTCAL writes it), DQ, the per-input rejection masks and the number of rejections.

    The pixel-by-pixel parts run in row strips (strip-sized temporaries) spread over
    :func:`~caldp.engines.common.threads.parallel_map` threads; only the neighbourhood steps (spill
    reach, raster-order promotion) see whole images. Every pixel gets the same float32
    operations in the same order as in one pass, so the result does not depend on the strips.
    """
    n = len(scis)
    shape = scis[0].shape
    strips = _strips(shape[0])
    dqpat = int(pars.badinpdq) & 0xFFFF
    bad = np.uint16(dqpat)
    efac = [F32(e) for e in efac]
    skies = sky_levels(scis, dqs, skysub=pars.skysub, badinpdq=pars.badinpdq)
    skysum = F32(0)
    for s in skies:
        skysum = F32(skysum + s)
    skysum = max(skysum, F32(0))  # forced non-negative (acsrej_do.c)

    mod = load(REJ_KERNELS)
    if mod is not None:
        return _reject_kernel(mod, scis, errs, dqs, efac=efac, pars=pars, skies=skies, exptot=exptot, texpt=texpt)

    def pic(k, sl, out=None):
        # f32(f32(SCI − sky)/efac) of one strip, recomputed when needed rather than kept (memory)
        e = efac[k] if efac[k] != 0 else F32(1)
        out = np.subtract(scis[k][sl], skies[k], out=out)
        out /= e
        return out

    ave = np.empty(shape, F32)

    def guess(sl):
        ave[sl] = initial_guess([pic(k, sl) for k in range(n)], [d[sl] for d in dqs], kind=pars.initgues, dqpat=dqpat)

    parallel_map(guess, strips)
    scale = F32(pars.scalense / F32(100))
    psig2 = F32(pars.crthresh * pars.crthresh) if pars.crthresh > 0 else F32(-1)
    disk = neighbour_offsets(float(pars.crradius))
    causal = [(dy, dx) for dy, dx in disk if dy > 0 or (dy == 0 and dx > 0)]
    spill_src = [(dy, dx) for dy, dx in disk if dy >= 0]
    prior_src = [(dy, dx) for dy, dx in disk if dy > 0]

    niter = len(pars.sigmas)
    rejected = [None] * n
    spillprior = [None] * n
    efs = err2 = None
    spillok = np.empty(shape, bool)
    excl = np.empty(shape, bool)
    hit = np.empty(shape, bool)
    special = np.empty(shape, bool)
    for it, sigma in enumerate(pars.sigmas):
        last = it == niter - 1
        sig2 = F32(F32(sigma) * F32(sigma))
        total = np.zeros(shape, F32)
        efs = np.zeros(shape, F32)
        err2 = np.zeros(shape, F32) if last else None
        for k in range(n):
            e = efac[k]
            if not e > 0:
                continue
            ef2 = F32(e * e)
            dq = dqs[k]

            def compare(sl, k=k, e=e, ef2=ef2, dq=dq, sig2=sig2):
                err = errs[k][sl]
                e2 = np.multiply(err, err)
                thresh = np.multiply(ave[sl], e)  # pixsky = max(ave·efac, 0)
                np.maximum(thresh, F32(0), out=thresh)
                thresh *= scale
                np.multiply(thresh, thresh, out=thresh)
                thresh += e2
                thresh *= sig2
                thresh /= ef2  # f32(f32(sig2·(e2 + f32(scale·pixsky)²)) / efac²)
                d2 = pic(k, sl)
                d2 -= ave[sl]
                np.multiply(d2, d2, out=d2)
                cand = d2 > thresh
                np.multiply(e2, sig2, out=thresh)
                thresh /= ef2
                thresh *= psig2
                np.greater(d2, thresh, out=spillok[sl])
                d = dq[sl]
                x = excl[sl]
                np.not_equal(d & bad, 0, out=x)
                x &= d != 2
                np.greater(cand, x, out=hit[sl])  # cand & ~excl
                np.logical_and(x, cand, out=special[sl])
                special[sl] &= spillok[sl]

            parallel_map(compare, strips)
            hk = _promote_excluded(hit, special, causal)
            reach = _reach(hk, spill_src)
            prior = _reach(hk, prior_src) if last else None
            if last:
                rejected[k] = np.empty(shape, bool)
                spillprior[k] = np.empty(shape, bool)

            def accumulate(
                sl, k=k, e=e, dq=dq, hk=hk, reach=reach, prior=prior, last=last, total=total, efs=efs, err2=err2
            ):
                d = dq[sl]
                not8 = d != HIT
                h = hk[sl]
                spill = spillok[sl] & not8
                spill &= reach[sl]
                spill &= ~h
                # used unless HIT, SPILL, excluded, or the input DQ has bit 2, 4 or 8 (mask & 14)
                use = (d & np.uint16(SPILL | EXCLUDE | HIT)) == 0
                use &= ~excl[sl]
                use &= ~h
                use &= ~spill
                p = pic(k, sl)
                p *= e
                np.add(total[sl], p, out=total[sl], where=use)
                np.add(efs[sl], e, out=efs[sl], where=use)
                if last:
                    err = errs[k][sl]
                    np.multiply(err, err, out=p)
                    np.add(err2[sl], p, out=err2[sl], where=use)
                    np.logical_and(spillok[sl], not8, out=spillprior[k][sl])
                    spillprior[k][sl] &= prior[sl]
                    # an input DQ of exactly 8 or 2 (not excluded) leaves mask == HIT/SPILL: counted as rejected
                    r = rejected[k][sl]
                    np.logical_or(d == HIT, d == SPILL, out=r)
                    r &= ~excl[sl]
                    r |= h
                    r |= spill

            parallel_map(accumulate, strips)
            del hk, reach, prior

        def average(sl, last=last, total=total, efs=efs):
            have = efs[sl] > 0
            if last:
                ave[sl] = 0
            np.divide(total[sl], efs[sl], out=ave[sl], where=have)

        parallel_map(average, strips)
    errc = np.empty(shape, F32)
    sci = np.empty(shape, F32)
    dq_out = np.empty(shape, np.uint16)
    clear = np.uint16(~(int(CRFLAG) | SPILL) & 0xFFFF)
    counts = [[0] * n for _ in strips]

    def finish(b):
        sl = strips[b]
        f = efs[sl]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (exptot / f).astype(F32)
            ec = np.sqrt(err2[sl], dtype=F64)
            ec *= ratio
        errc[sl] = np.where(f > 0, ec.astype(F32), F32(0))
        sci[sl] = (ave[sl] * texpt + skysum).astype(F32)
        out = np.full(f.shape, CRFLAG, np.uint16)
        dq2 = np.zeros(f.shape, np.uint16)
        for k in range(n):
            rej = rejected[k][sl] if rejected[k] is not None else np.zeros(f.shape, bool)
            prior = spillprior[k][sl] if spillprior[k] is not None else np.zeros(f.shape, bool)
            buf = (np.where(prior, np.uint16(SPILL), dqs[k][sl]) | dq2) & clear
            sval = buf | out
            np.bitwise_and(sval, ~CRFLAG, out=sval, where=~rej)
            np.bitwise_or(buf, CRFLAG, out=buf, where=rej)
            counts[b][k] = int(np.count_nonzero(rej))
            dq2, out = buf, sval
        dq_out[sl] = out

    parallel_map(finish, range(len(strips)))
    nrej = sum(sum(c) for c in counts)
    rejected = [r if r is not None else np.zeros(shape, bool) for r in rejected]
    errc[0, 0] = F32(-1)
    return RejResult(sci, errc, dq_out, rejected, nrej, skysum, skies)


def _reject_kernel(
    mod, scis, errs, dqs, *, efac, pars: RejPars, skies, exptot, texpt, nstrips=None, halo=None
) -> RejResult:
    """:func:`reject` by the C kernel ``acs_reject``: every iteration of a row before the next row,
    the chip split into one row strip per thread (:func:`~caldp.engines.ccd.crreject.run_row_strips`)."""
    n = len(scis)
    shape = scis[0].shape
    ny, nx = shape
    scis = [c_array(a, F32) for a in scis]
    errs = [c_array(a, F32) for a in errs]
    dqs = [c_array(d, np.uint16) for d in dqs]
    dqpat = int(pars.badinpdq) & 0xFFFF
    skysum = F32(0)
    for s in skies:
        skysum = F32(skysum + s)
    skysum = max(skysum, F32(0))
    guess = None  # minimum: computed by the kernel, row by row
    if pars.initgues.strip().lower() == "median":
        guess = np.empty(shape, F32)

        def median(sl):
            pics = [(scis[k][sl] - skies[k]) / (efac[k] if efac[k] != 0 else F32(1)) for k in range(n)]
            guess[sl] = initial_guess(pics, [d[sl] for d in dqs], kind="median", dqpat=dqpat)

        parallel_map(median, _strips(ny))
    width, wdy = disk_halfwidths(float(pars.crradius))
    niter = len(pars.sigmas)
    sig2 = np.array([F32(F32(s) * F32(s)) for s in pars.sigmas], F32)
    scale = F32(pars.scalense / F32(100))
    psig2 = F32(pars.crthresh * pars.crthresh) if pars.crthresh > 0 else F32(-1)
    fpar = np.array([scale, psig2, exptot, texpt, skysum], F32)
    efac_a, sky_a = np.array(efac, F32), np.array(skies, F32)
    sci = np.empty(shape, F32)
    errc = np.empty(shape, F32)
    dq_out = np.empty(shape, np.uint16)
    rejected = np.empty((n, ny, nx), bool)
    rej_list = list(rejected)

    def run(r_start, r_out, r_end, state):
        return mod.acs_reject(
            scis, errs, dqs, guess, sci, errc, dq_out, rej_list, state, fpar, efac_a, sky_a, sig2, wdy,
            ny, nx, n, niter, width, dqpat, r_start, r_out, r_end,
        )  # fmt: skip

    if nstrips is None:
        nstrips = max(1, min(thread_count(), ny // 64))
    if halo is None:
        halo = max(32, 4 * width * niter)  # an iteration's HITs reach `width` rows further
    nrej = run_row_strips(run, ny, (niter, n, width, nx), nstrips, parallel_map, halo=halo)
    errc[0, 0] = F32(-1)
    return RejResult(sci, errc, dq_out, rej_list, nrej, skysum, skies)


def apply_crmask(dq: np.ndarray, rejected: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """CRMASK=yes: an input's DQ gets CRHIT where it was rejected and loses it elsewhere.
    `in_place`: written over `dq` (when it is a writable native uint16 C array) instead of a copy.

    >>> apply_crmask(np.array([[8192, 4]], np.uint16), np.array([[False, True]])).tolist()
    [[0, 8196]]
    """
    own = in_place and dq.dtype == np.uint16 and dq.dtype.isnative and dq.flags.c_contiguous and dq.flags.writeable
    mod = load(REJ_KERNELS)
    if mod is not None and dq.ndim == 2 and dq.shape == rejected.shape:
        out = dq if own else np.empty(dq.shape, np.uint16)
        dq, rejected = c_array(dq, np.uint16), c_array(rejected, bool)
        mod.crmask(dq, rejected, out, dq.shape[0], dq.shape[1], dq.shape[1])  # element by element: out may be dq
        return out
    if own and dq.shape == rejected.shape:
        dq[...] = np.where(rejected, dq | CRFLAG, dq & ~CRFLAG)
        return dq
    return np.where(rejected, dq | CRFLAG, dq & ~CRFLAG).astype(np.uint16)
