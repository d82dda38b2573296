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

from ..wfc3.uvis.wf3rej import neighbour_offsets, sky_mode
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
    return sky_mode(list(scis), list(dqs), badinpdq=badinpdq)


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


def reject(scis, errs, dqs, *, efac, pars: RejPars, exptot: F32, texpt: F32) -> RejResult:
    """Combine the inputs of one chip (``acsrej_do.c``/``acsrej_loop.c``).

    Returns the combined ``SCI = f32(f32(ave·texpt) + SKYSUM)``, ``ERR`` (with ``ERR[0, 0] = −1``
    as HSTCAL writes it), DQ, the per-input rejection masks and the number of rejections.
    """
    n = len(scis)
    shape = scis[0].shape
    dqpat = int(pars.badinpdq) & 0xFFFF
    bad = np.uint16(dqpat)
    efac = [F32(e) for e in efac]
    skies = sky_levels(scis, dqs, skysub=pars.skysub, badinpdq=pars.badinpdq)
    skysum = F32(0)
    for s in skies:
        skysum = F32(skysum + s)
    skysum = max(skysum, F32(0))  # forced non-negative (acsrej_do.c)

    def pic(k, out=None):
        # f32(f32(SCI − sky)/efac), recomputed when needed rather than kept (memory)
        e = efac[k] if efac[k] != 0 else F32(1)
        out = np.subtract(scis[k], skies[k], out=out)
        out /= e
        return out

    ave = initial_guess([pic(k) for k in range(n)], dqs, kind=pars.initgues, dqpat=dqpat)
    scale = F32(pars.scalense / F32(100))
    psig2 = F32(pars.crthresh * pars.crthresh) if pars.crthresh > 0 else F32(-1)
    disk = neighbour_offsets(float(pars.crradius))
    causal = [(dy, dx) for dy, dx in disk if dy > 0 or (dy == 0 and dx > 0)]
    spill_src = [(dy, dx) for dy, dx in disk if dy >= 0]
    prior_src = [(dy, dx) for dy, dx in disk if dy > 0]

    def excluded(k):
        return ((dqs[k] & bad) != 0) & (dqs[k] != 2)

    niter = len(pars.sigmas)
    rejected = [np.zeros(shape, bool) for _ in range(n)]
    spillprior = [np.zeros(shape, bool) for _ in range(n)]
    efs = err2 = None
    thresh = np.empty(shape, F32)
    e2 = np.empty(shape, F32)
    d2 = np.empty(shape, F32)
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
            np.multiply(errs[k], errs[k], out=e2)
            np.multiply(ave, e, out=thresh)  # pixsky = max(ave·efac, 0)
            np.maximum(thresh, F32(0), out=thresh)
            thresh *= scale
            np.multiply(thresh, thresh, out=thresh)
            thresh += e2
            thresh *= sig2
            thresh /= ef2  # f32(f32(sig2·(e2 + f32(scale·pixsky)²)) / efac²)
            pic(k, out=d2)
            d2 -= ave
            np.multiply(d2, d2, out=d2)
            cand = d2 > thresh
            np.multiply(e2, sig2, out=thresh)
            thresh /= ef2
            thresh *= psig2
            spillok = d2 > thresh
            excl = excluded(k)
            hit = cand & ~excl
            hit = _promote_excluded(hit, excl & cand & spillok, causal)
            not8 = dqs[k] != HIT
            spill = spillok & not8 & ~hit & _reach(hit, spill_src)
            # used unless HIT, SPILL, excluded, or the input DQ has bit 2, 4 or 8 (mask & 14)
            use = (dqs[k] & np.uint16(SPILL | EXCLUDE | HIT)) == 0
            use &= ~excl
            use &= ~hit
            use &= ~spill
            pic(k, out=d2)
            d2 *= e
            np.add(total, d2, out=total, where=use)
            np.add(efs, e, out=efs, where=use)
            if last:
                np.add(err2, e2, out=err2, where=use)
            if last:
                spillprior[k] = spillok & not8 & _reach(hit, prior_src)
                # an input DQ of exactly 8 or 2 (not excluded) leaves mask == HIT/SPILL: counted as rejected
                rejected[k] = hit | spill | (~excl & ((dqs[k] == HIT) | (dqs[k] == SPILL)))
        have = efs > 0
        if last:
            ave = np.zeros(shape, F32)
        np.divide(total, efs, out=ave, where=have)
        del total
    del thresh, d2, e2
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (exptot / efs).astype(F32)
        errc = np.sqrt(err2, dtype=F64)
        errc *= ratio
        errc = errc.astype(F32)
    errc = np.where(efs > 0, errc, F32(0)).astype(F32)
    dq_out = np.full(shape, CRFLAG, np.uint16)
    dq2 = np.zeros(shape, np.uint16)
    clear = np.uint16(~(int(CRFLAG) | SPILL) & 0xFFFF)
    nrej = 0
    for k in range(n):
        rej = rejected[k]
        buf = (np.where(spillprior[k], np.uint16(SPILL), dqs[k]) | dq2) & clear
        sval = buf | dq_out
        np.bitwise_and(sval, ~CRFLAG, out=sval, where=~rej)
        np.bitwise_or(buf, CRFLAG, out=buf, where=rej)
        nrej += int(np.count_nonzero(rej))
        dq2, dq_out = buf, sval
    sci = (ave * texpt + skysum).astype(F32)
    errc[0, 0] = F32(-1)
    return RejResult(sci, errc, dq_out, rejected, nrej, skysum, skies)


def apply_crmask(dq: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    """CRMASK=yes: an input's DQ gets CRHIT where it was rejected and loses it elsewhere.

    >>> apply_crmask(np.array([[8192, 4]], np.uint16), np.array([[False, True]])).tolist()
    [[0, 8196]]
    """
    return np.where(rejected, dq | CRFLAG, dq & ~CRFLAG).astype(np.uint16)
