"""WF3REJ: cosmic-ray rejection of CR-SPLIT / repeat exposures (HSTCAL ``wf3rej/*.c``; calib-wfc3.md §R).

Pure functions on one chip of N inputs (float32 SCI in DN, uint16 DQ):

* :func:`~caldp.engines.ccd.crreject.sky_mode` (shared with ACSREJ) — histogram mode of each image (§R4).
* :func:`initial_guess_minimum` / :func:`initial_guess_median` — the first estimate and its
  variance (§R5, including the slot-0/slot-1 asymmetry of the minimum guess).
* :func:`reject` — the iterations (§R6).

HSTCAL works row by row with scrolling buffers; the only order dependence that reaches the
output is: a HIT on row L marks SPILL on rows L+1, L+2 (tested against a threshold plane that
still holds the *data* there — raw DN for rows ≤ width, normalised data above) and on its own
row (tested against the row's spill threshold); a SPILL written before a pixel is visited keeps
it testable even if its input DQ is bad. Spills onto rows already done change nothing. So each
iteration is computed on whole images: candidates and thresholds are pointwise; HITs are all
non-excluded candidates plus the few excluded candidates reached by an earlier spill (resolved
by a fixed-point over that small set, which follows raster order exactly); the final mask of
each pixel then follows from the HIT set.

DQ flags: output ``DQ`` = OR of the inputs' DQ (bit 2 of each input dropped), CRHIT (8192) where
every input was rejected; each input's CR bit recorded for the CRMASK write-back.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np

from ...ccd.crreject import REJ_KERNELS, disk_halfwidths, neighbour_offsets, run_row_strips, sky_mode
from ...common.kernels import c_array, load
from ...common.strips import BLOCK_ROWS, row_blocks
from ...common.threads import parallel_map
from ..dq import DQ

log = logging.getLogger(__name__)

F32 = np.float32
F64 = np.float64
CRFLAG = np.uint16(DQ.CRHIT)
OK, SPILL, EXCLUDE, HIT = 0, 2, 4, 8
MASKDQ = np.uint16(SPILL | EXCLUDE | HIT)


@dataclass(frozen=True, slots=True)
class NoiseModel:
    """Per-slot gain (e⁻/DN) and squared read noise (DN²) of one chip, and the slot boundaries.

    ``gain[q]``/``nse[q]``: slots in HSTCAL's ``get_nsegn`` order for the chip (UVIS chip 2: C, D, C, D;
    chip 1: A, B, A, B); rows ``< ampy`` use slots 2/3, the others 0/1; columns ``< ampx`` the first.
    """

    gain: tuple[float, float, float, float]
    nse: tuple[float, float, float, float]
    ampx: int
    ampy: int = 0

    def maps(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Broadcastable float32 maps of gain and nse."""
        ny, nx = shape
        left = np.arange(nx)[None, :] < self.ampx
        g = [F32(v) for v in self.gain]
        n = [F32(v) for v in self.nse]
        g_lo, n_lo = np.where(left, g[0], g[1]).astype(F32), np.where(left, n[0], n[1]).astype(F32)
        if self.ampy <= 0:
            return g_lo, n_lo
        top = np.arange(ny)[:, None] < self.ampy
        g_hi, n_hi = np.where(left, g[2], g[3]).astype(F32), np.where(left, n[2], n[3]).astype(F32)
        return np.where(top, g_hi, g_lo).astype(F32), np.where(top, n_hi, n_lo).astype(F32)


def uvis_noise_model(chip: int, atodgn, readnse, *, ampx: int, ampy: int = 0) -> NoiseModel:
    """Noise model from the primary-header ATODGN/READNSE A..D values (``rej_check``/``get_nsegn``).

    ``noise = f32(READNSE/ATODGN)`` (0 if the gain is 0); ``nse = f32(noise²)``.

    >>> m = uvis_noise_model(2, (1.5, 1.5, 1.6, 1.7), (3.0, 3.0, 3.2, 3.4), ampx=2048)
    >>> [round(float(v), 4) for v in m.gain], [round(float(v), 4) for v in m.nse]
    ([1.6, 1.7, 1.6, 1.7], [4.0, 4.0, 4.0, 4.0])
    """
    g = [F32(v) for v in atodgn]
    noise = [F32(F32(r) / gg) if gg != 0 else F32(0) for r, gg in zip((F32(v) for v in readnse), g, strict=True)]
    rog2 = [F32(v * v) for v in noise]
    idx = (2, 3, 2, 3) if chip == 2 else (0, 1, 0, 1)
    return NoiseModel(tuple(g[i] for i in idx), tuple(rog2[i] for i in idx), ampx, ampy)


def ir_noise_model(atodgn, readnse, *, ampx: int, ampy: int) -> NoiseModel:
    """IR ordering of ``get_nsegn`` (slots A, D, B, C)."""
    g = [F32(v) for v in atodgn]
    noise = [F32(F32(r) / gg) if gg != 0 else F32(0) for r, gg in zip((F32(v) for v in readnse), g, strict=True)]
    rog2 = [F32(v * v) for v in noise]
    idx = (0, 3, 1, 2)
    return NoiseModel(tuple(g[i] for i in idx), tuple(rog2[i] for i in idx), ampx, ampy)


# ------------------------------------------------------------------------------ initial guess
def initial_guess_minimum(images, dqs, *, efac, sky, noise: NoiseModel, scalense: float, badinpdq: int):
    """Minimum initial guess (``rej_init.c``): returns (ave, var) float32.

    Slot 0 (columns < ampx): replace when ``n == 0 or val < ave``, by ``(val, var_n)`` if the
    input is good and ``efac > 0`` else by ``(0, 0)``. Slot 1: replace when ``n == 0 or
    (val < ave and good)`` — image 0 is taken even where its DQ is bad.
    """
    shape = images[0].shape
    nx = shape[1]
    gn, nse = noise.maps(shape)
    scale = F32(float(F32(scalense)) / 100.0)
    bad = np.uint16(badinpdq & 0xFFFF)
    ax = min(max(int(noise.ampx), 0), nx)
    ave = np.zeros(shape, F32)
    var = np.zeros(shape, F32)
    for n, (raw, dq) in enumerate(zip(images, dqs, strict=True)):
        e = F32(efac[n])
        e2 = F32(e * e)
        diff = raw - F32(sky[n])
        val = diff / e if e > 0 else np.zeros(shape, F32)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = scale * np.fmax(diff, F32(0))  # fmax: negative and NaN → 0, as the C conditional
            var_n = ((nse + np.fmax(raw, F32(0)) / gn) + t * t) / e2
        good = (dq & bad) == 0
        for slot, sl in ((0, slice(0, ax)), (1, slice(ax, nx))):
            if sl.start == sl.stop:
                continue
            a, v, vl, vn, gd = ave[:, sl], var[:, sl], val[:, sl], var_n[:, sl], good[:, sl]
            if slot == 0:
                take = True if n == 0 else vl < a
                ok = gd if e > 0 else False
                np.copyto(a, np.where(ok, vl, F32(0)), where=take)
                np.copyto(v, np.where(ok, vn, F32(0)), where=take)
            else:
                take = True if n == 0 else (vl < a) & gd
                np.copyto(a, vl, where=take)
                np.copyto(v, vn if e > 0 else F32(0), where=take)
    return ave, var


def initial_guess_median(images, dqs, *, efac, sky, noise: NoiseModel, scalense: float, badinpdq: int):
    """Median initial guess (``rej_init.c``, INITGUES=median) **[READ]**: returns (ave, var) float32.

    Per pixel the median of the good normalised inputs (even count: f32 mean of the middle two);
    the variance uses the squared exposure times of the *k-th good* inputs (HSTCAL indexes its
    exposure table by the rank among good inputs) and the median value itself.
    """
    shape = images[0].shape
    gn, nse = noise.maps(shape)
    scale = F32(float(F32(scalense)) / 100.0)
    bad = np.uint16(badinpdq & 0xFFFF)
    nimg = len(images)
    stack = np.full((nimg,) + shape, np.inf, F32)
    exp2 = np.array([F32(F32(e) * F32(e)) for e in efac], F32)
    cnt = np.zeros(shape, np.int64)
    for n, (raw, dq) in enumerate(zip(images, dqs, strict=True)):
        e = F32(efac[n])
        if not e > 0:
            continue
        good = (dq & bad) == 0
        val = (raw - F32(sky[n])) / e
        stack[n] = np.where(good, val, np.inf)
        cnt += good
    order = np.argsort(stack, axis=0, kind="stable")
    srt = np.take_along_axis(stack, order, axis=0)
    # rank among good inputs of each sorted sample (HSTCAL's index array starts at 0..n-1 over good samples)
    good_rank = np.cumsum(np.isfinite(stack), axis=0) - 1
    rank_sorted = np.take_along_axis(good_rank, order, axis=0)
    half = cnt // 2
    lo_i = np.maximum(half - 1, 0)[None]
    hi_i = np.minimum(half, nimg - 1)[None]
    lo = np.take_along_axis(srt, lo_i, 0)[0]
    hi = np.take_along_axis(srt, hi_i, 0)[0]
    even = (cnt % 2) == 0
    with np.errstate(invalid="ignore"):
        med = np.where(even, ((lo.astype(F64) + hi.astype(F64)) / 2.0).astype(F32), hi)
    rlo = np.take_along_axis(rank_sorted, lo_i, 0)[0].clip(0, nimg - 1)
    rhi = np.take_along_axis(rank_sorted, hi_i, 0)[0].clip(0, nimg - 1)
    expn = np.where(even, ((exp2[rlo].astype(F64) + exp2[rhi].astype(F64)) / 2.0).astype(F32), exp2[rhi])
    med = np.where(cnt == 0, F32(0), med).astype(F32)
    expn = np.where(cnt == 0, F32(0), expn)  # HSTCAL keeps the previous pixel's value here (edge case)
    exp2n = np.where(expn > 0, expn, F32(1)).astype(F32)
    t = scale * med
    with np.errstate(divide="ignore", invalid="ignore"):
        var = ((nse + med / gn) + t * t) / exp2n
    return med, var.astype(F32)


# -------------------------------------------------------------------------------- iterations
@dataclass(slots=True)
class RejResult:
    sci: np.ndarray  # float32, counts (ave·texpt + skysum)
    err: np.ndarray
    dq: np.ndarray
    crbits: list[np.ndarray]  # per input: bool, CR-rejected pixels (for CRMASK)
    nrej: int
    skysum: F32


def _gather(mask: np.ndarray, ys: np.ndarray, xs: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """mask[ys - dy, xs - dx] with False outside the image."""
    ny, nx = mask.shape
    y, x = ys - dy, xs - dx
    ok = (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
    out = np.zeros(ys.shape, bool)
    out[ok] = mask[y[ok], x[ok]]
    return out


def reject(
    images,
    dqs,
    raws,
    *,
    ave,
    var,
    efac,
    sky,
    noise: NoiseModel,
    sigmas,
    radius: float,
    thresh: float,
    scalense: float,
    badinpdq: int,
    initgues: str = "minimum",
    block_rows: int = BLOCK_ROWS,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray], int]:
    """The rejection iterations (``rej_loop.c``); returns (ave, err, dq, crbits, nrej) — normalised units.

    `images`: inputs in counts; `raws`: the data exactly as stored in the files (the spill
    threshold plane holds those for rows ≤ width); `ave`, `var`: initial guess.

    Every quantity is pointwise except the HIT → SPILL propagation, which only reaches later
    pixels in raster order (rows below, or the same row). The image is therefore processed in
    strips of `block_rows` rows, all iterations per strip, each strip seeing the final HITs of
    the previous strip's last `width` rows (per iteration and image) — identical to the
    whole-image computation, with small temporaries.

    `out`: optional float32 (ave, err) arrays for the results; they may be `ave` and `var`
    themselves (a strip's halo rows, already written, only feed results that are discarded).
    """
    mod = load(REJ_KERNELS)
    if mod is not None:
        return _reject_kernel(
            mod,
            images,
            dqs,
            raws,
            guess=(ave, var),
            efac=efac,
            sky=sky,
            noise=noise,
            sigmas=sigmas,
            radius=radius,
            thresh=thresh,
            scalense=scalense,
            badinpdq=badinpdq,
            minimum=initgues[:3] == "min",
            out=out,
        )
    nimg = len(images)
    ny, nx = images[0].shape
    width = int(math.ceil(float(F32(radius))))
    ctx = _RejContext(noise, (ny, nx), efac, sky, sigmas, radius, thresh, scalense, badinpdq, initgues)
    if out is None:
        ave_out, err_out = np.empty((ny, nx), F32), np.empty((ny, nx), F32)
    else:
        ave_out, err_out = out
        if ave_out.shape != (ny, nx) or err_out.shape != (ny, nx):
            raise ValueError("out arrays must have the image shape")
    dq_out = np.empty((ny, nx), np.uint16)
    crbits = [np.zeros((ny, nx), bool) for _ in range(nimg)]
    nrej = 0
    carry = [[None] * nimg for _ in sigmas]
    for r0, r1 in row_blocks(ny, block_rows):
        h0 = max(0, r0 - width)
        a, e, d, cr, nr, carry = _reject_strip(ctx, images, dqs, raws, ave, var, h0, r0, r1, carry)
        ave_out[r0:r1], err_out[r0:r1], dq_out[r0:r1] = a, e, d
        for n in range(nimg):
            crbits[n][r0:r1] = cr[n]
        nrej += nr
    return ave_out, err_out, dq_out, crbits, nrej


def _reject_kernel(
    mod,
    images,
    dqs,
    raws,
    *,
    guess,
    efac,
    sky,
    noise: NoiseModel,
    sigmas,
    radius,
    thresh,
    scalense,
    badinpdq,
    minimum: bool,
    out=None,
    scale_out: tuple | None = None,
    nstrips: int = 1,
    halo: int | None = None,
):
    """:func:`reject` by the C kernel (``wf3_reject``), whole chip in one call, or with `nstrips` > 1
    in row strips on the :func:`~caldp.engines.common.threads.parallel_map` threads
    (:func:`~caldp.engines.ccd.crreject.run_row_strips`: each strip starts a halo of rows early and is
    recomputed if the HIT ring it starts from differs from the one above it ends with; same result).

    `guess`: (ave, var) arrays, or None for the minimum guess computed in the kernel.
    `scale_out`: (texpt, skysum) to write ``SCI = f32(ave·texpt) + skysum`` and ``ERR·texpt``
    (:func:`combine`) instead of the normalised values. `out` may alias the guess arrays: the
    kernel reads a row of the guess before it writes that row.
    """
    nimg = len(images)
    ny, nx = images[0].shape
    images = [c_array(a, F32) for a in images]
    raws = [c_array(a, F32) for a in raws]
    dqs = [c_array(d, np.uint16) for d in dqs]
    gave = gvar = None
    if guess is not None:
        gave, gvar = (c_array(a, F32) for a in guess)
    if out is None:
        ave_out, err_out = np.empty((ny, nx), F32), np.empty((ny, nx), F32)
    else:
        ave_out, err_out = out
        if ave_out.shape != (ny, nx) or err_out.shape != (ny, nx):
            raise ValueError("out arrays must have the image shape")
    dq_out = np.empty((ny, nx), np.uint16)
    crbits = np.zeros((nimg, ny, nx), bool)
    width, wdy = disk_halfwidths(radius)
    niter = len(sigmas)
    sig2 = np.array([F32(F32(s) * F32(s)) for s in sigmas], F32)
    scale = F32(float(F32(scalense)) / 100.0)
    psig2 = F32(F32(thresh) * F32(thresh)) if thresh > 0 else F32(-1.0)
    texpt, skysum = scale_out if scale_out is not None else (F32(1), F32(0))
    fpar = np.array([scale, psig2, texpt, skysum], F32)
    if nstrips > 1 and guess is not None and out is not None:
        raise ValueError("strips read the guess rows above them: out must not alias the guess")

    def run(r_start, r_out, r_end, state):
        return mod.wf3_reject(
            images, raws, dqs, gave, gvar, ave_out, err_out, dq_out, list(crbits), state, fpar,
            np.array(efac, F32), np.array(sky, F32), sig2, wdy, np.array(noise.gain, F32),
            np.array(noise.nse, F32), ny, nx, nimg, niter, width, int(noise.ampx), int(noise.ampy),
            int(badinpdq), bool(minimum), scale_out is not None, r_start, r_out, r_end,
        )  # fmt: skip

    if nstrips > 1:
        if halo is None:
            halo = max(32, 4 * width * niter)  # an iteration's HITs reach `width` rows further
        nrej = run_row_strips(run, ny, (niter, nimg, width, nx), min(nstrips, ny), parallel_map, halo=halo)
        return ave_out, err_out, dq_out, list(crbits), nrej
    state = np.zeros((niter, nimg, width, nx), np.uint8)
    nrej = mod.wf3_reject(
        images,
        raws,
        dqs,
        gave,
        gvar,
        ave_out,
        err_out,
        dq_out,
        list(crbits),
        state,
        fpar,
        np.array(efac, F32),
        np.array(sky, F32),
        sig2,
        wdy,
        np.array(noise.gain, F32),
        np.array(noise.nse, F32),
        ny,
        nx,
        nimg,
        niter,
        width,
        int(noise.ampx),
        int(noise.ampy),
        int(badinpdq),
        bool(minimum),
        scale_out is not None,
        0,
        0,
        ny,
    )
    return ave_out, err_out, dq_out, list(crbits), nrej


@dataclass(slots=True)
class _RejContext:
    """Scalars and broadcastable maps shared by the strips of one chip."""

    gn: np.ndarray
    nse: np.ndarray
    efac: list
    sky: list
    sig2: list
    scale: F32
    psig2: F32
    width: int
    up_offsets: list
    side_offsets: list
    left_offsets: list
    bad: np.uint16
    minimum: bool

    def __init__(self, noise, shape, efac, sky, sigmas, radius, thresh, scalense, badinpdq, initgues):
        self.gn, self.nse = noise.maps(shape)
        self.efac = [F32(e) for e in efac]
        self.sky = [F32(s) for s in sky]
        self.sig2 = [F32(F32(s) * F32(s)) for s in sigmas]
        self.scale = F32(float(F32(scalense)) / 100.0)
        self.psig2 = F32(F32(thresh) * F32(thresh)) if thresh > 0 else F32(-1.0)
        offsets = neighbour_offsets(radius)
        self.width = int(math.ceil(float(F32(radius))))
        self.up_offsets = [(dy, dx) for dy, dx in offsets if dy > 0]  # HIT at (r-dy, x-dx) spills onto (r, x)
        self.left_offsets = [(dy, dx) for dy, dx in offsets if dy == 0 and dx > 0]
        self.side_offsets = [(dy, dx) for dy, dx in offsets if dy == 0 and dx != 0]
        self.bad = np.uint16(badinpdq & 0xFFFF)
        self.minimum = initgues[:3] == "min"

    def rows(self, m: np.ndarray, sl: slice) -> np.ndarray:
        return m[sl] if m.ndim == 2 and m.shape[0] > 1 else m


def _reject_strip(ctx: _RejContext, images, dqs, raws, ave_in, var_in, h0: int, r0: int, r1: int, carry):
    """All iterations on rows ``h0..r1`` (rows ``h0..r0`` are the halo whose HITs come from `carry`)."""
    nimg = len(images)
    sl = slice(h0, r1)
    halo = r0 - h0
    gn, nse = ctx.rows(ctx.gn, sl), ctx.rows(ctx.nse, sl)
    shape = (r1 - h0, images[0].shape[1])
    low = max(0, min(ctx.width + 1, r1) - h0)  # rows of the strip that lie in global rows <= width
    pics = []
    for n in range(nimg):
        e = ctx.efac[n]
        pics.append((images[n][sl] - ctx.sky[n]) / e if e > 0 else None)
    dq_in = [d[sl] for d in dqs]
    ave = ave_in[sl].astype(F32, copy=True)
    var = var_in[sl]
    err = np.zeros(shape, F32)
    dqout = np.full(shape, CRFLAG, np.uint16)
    dq2 = np.zeros(shape, np.uint16)
    crbits = [np.zeros(shape, bool) for _ in range(nimg)]
    nrej = 0
    niter = len(ctx.sig2)
    new_carry = [[None] * nimg for _ in range(niter)]
    # Per input, what does not change between iterations: the masks from its DQ, the spill plane
    # of the rows below (data values), and its un-normalised contribution.
    fixed = []
    for n in range(nimg):
        if pics[n] is None:
            fixed.append(None)
            continue
        dq = dq_in[n]
        e0_mark = ((dq & ctx.bad) != 0) & (dq != SPILL)
        spth = pics[n]
        if low > 0:
            spth = spth.copy()
            spth[:low] = raws[n][h0 : h0 + low]
        fixed.append((e0_mark, e0_mark | (dq == EXCLUDE), dq != HIT, ctx.psig2 * spth, pics[n] * ctx.efac[n]))
    for it in range(niter):
        last = it == niter - 1
        sig2 = ctx.sig2[it]
        total = np.zeros(shape, F32)
        efs = np.zeros(shape, F32)
        sumvar = np.zeros(shape, F32) if last else None
        minimum_first = ctx.minimum and it == 0
        for n in range(nimg):
            e = ctx.efac[n]
            if not e > 0:
                continue
            pic, dq, skyn = pics[n], dq_in[n], ctx.sky[n]
            e2 = F32(e * e)
            with np.errstate(divide="ignore", invalid="ignore"):
                if minimum_first:
                    th = sig2 * var
                    sth = th
                else:
                    dum = ave * e + skyn
                    base = nse + _clip0(dum) / gn
                    t = ctx.scale * _clip0(dum - skyn)
                    th = (sig2 * (base + t * t)) / e2
                    sth = (sig2 * base) / e2
            d = pic - ave
            sq = d * d
            cand = sq > th
            # Mask values: input DQ, EXCLUDE (4) where the input is bad (and not exactly 2), SPILL (2),
            # HIT (8). An input DQ of exactly 8 already reads as a HIT and is never turned into SPILL.
            e0_mark, excl, not_hit, spill_plane, contrib = fixed[n]
            hits = cand & ~excl
            # Spill tests: same row against the row's spill threshold; rows below against the data plane.
            s0 = sq > ctx.psig2 * sth
            sup = (sq > spill_plane) & not_hit
            if halo:
                hits[:halo] = carry[it][n]
            if ctx.width > 0:
                # Excluded candidates become testable when a spill reaches them before they are visited:
                # from a HIT on the rows above (already processed) or to their left on the same row.
                cmask = cand & excl
                cmask[:halo] = False
                cy, cx = np.nonzero(cmask) if cmask.any() else (np.zeros(0, np.intp), np.zeros(0, np.intp))
                if cy.size:
                    c_sup, c_s0 = sup[cy, cx], s0[cy, cx]
                    state = np.zeros(cy.size, bool)
                    while True:
                        reach = np.zeros(cy.size, bool)
                        for dy, dx in ctx.up_offsets:
                            reach |= c_sup & _gather(hits, cy, cx, dy, dx)
                        for dy, dx in ctx.left_offsets:
                            reach |= c_s0 & _gather(hits, cy, cx, dy, dx)
                        new = reach & ~state
                        if not new.any():
                            break
                        state |= reach
                        hits[cy[new], cx[new]] = True
                above = _dilate(hits, ctx.up_offsets)
                same = _dilate(hits, ctx.side_offsets)
                spill_before = above & sup
            else:
                spill_before = np.zeros(shape, bool)
                same = spill_before
            start = np.where(spill_before, np.uint16(SPILL), np.where(e0_mark, np.uint16(EXCLUDE), dq))
            spilled = same & s0 & (start != HIT)
            mask = np.where(spilled, np.uint16(SPILL), start)
            mask[hits] = HIT
            okpix = (mask & MASKDQ) == 0
            np.add(total, contrib, out=total, where=okpix)
            np.add(efs, e, out=efs, where=okpix)
            if last:
                with np.errstate(divide="ignore", invalid="ignore"):
                    np.add(sumvar, nse + _clip0(contrib + skyn) / gn, out=sumvar, where=okpix)
                snap = np.where(spill_before, np.uint16(SPILL), dq)
                b = (snap | dq2) & ~CRFLAG & np.uint16(~np.uint16(SPILL))
                s = b | dqout
                cr = (mask == HIT) | (mask == SPILL)
                cr[:halo] = False
                nrej += int(np.count_nonzero(cr))
                b[cr] |= CRFLAG
                s[~cr] &= ~CRFLAG
                dq2, dqout = b, s
                crbits[n] = cr
            new_carry[it][n] = hits[-ctx.width :] if ctx.width > 0 else None
        with np.errstate(divide="ignore", invalid="ignore"):
            pos = efs > 0
            newave = total / efs
            ave = np.where(pos, newave, ave if not last else F32(0)).astype(F32, copy=False)
            if last:
                err = np.where(pos, (np.sqrt(sumvar.astype(F64)) / efs.astype(F64)), 0.0).astype(F32)
    return ave[halo:], err[halo:], dqout[halo:], [c[halo:] for c in crbits], nrej, new_carry


def _clip0(x: np.ndarray) -> np.ndarray:
    """``x > 0 ? x : 0`` (NaN → 0, as the C conditional; ``fmax`` ignores the NaN).

    >>> _clip0(np.array([-1.0, np.nan, 2.0], F32)).tolist()
    [0.0, 0.0, 2.0]
    """
    return np.fmax(x, F32(0))


def _dilate(mask: np.ndarray, offsets) -> np.ndarray:
    """out[y, x] = OR over offsets of mask[y − dy, x − dx] (False outside)."""
    out = np.zeros_like(mask)
    ny, nx = mask.shape
    for dy, dx in offsets:
        if abs(dy) >= ny or abs(dx) >= nx:
            continue
        dst = out[max(dy, 0) : ny + min(dy, 0), max(dx, 0) : nx + min(dx, 0)]
        dst |= mask[max(-dy, 0) : ny + min(-dy, 0), max(-dx, 0) : nx + min(-dx, 0)]
    return out


def _guess_in_strips(guess, images, dqs, *, efac, sky, noise: NoiseModel, pars) -> tuple[np.ndarray, np.ndarray]:
    """The initial guess (average, variance) of whole chips computed in row strips: the guess is
    per pixel, so strips only save memory and time (each strip's noise model is shifted to it)."""
    shape = images[0].shape
    ave, var = np.empty(shape, F32), np.empty(shape, F32)
    for r0, r1 in row_blocks(shape[0], 4 * BLOCK_ROWS):
        ave[r0:r1], var[r0:r1] = guess(
            [im[r0:r1] for im in images],
            [d[r0:r1] for d in dqs],
            efac=efac,
            sky=sky,
            noise=replace(noise, ampy=max(noise.ampy - r0, 0)),
            scalense=pars.scalense,
            badinpdq=pars.badinpdq,
        )
    return ave, var


def combine(
    images, dqs, raws, *, efac, noise: NoiseModel, pars, sky: list[F32] | None = None, nstrips: int = 1
) -> RejResult:
    """Everything WF3REJ does to one chip (sky, initial guess, iterations, output scaling).

    `images`: inputs in counts (float32); `raws`: the stored data (differs for rate units);
    `pars`: a :class:`caldp.engines.common.crrejtab.CRRejPars`. `nstrips` > 1: the C rejection runs in
    that many row strips and the sky histograms side by side on the threads (for one chip at a time;
    same result).
    """
    efac = [F32(e) for e in efac]
    exptot = F32(0)
    for e in efac:
        exptot = F32(exptot + e)
    nonzero = sum(1 for e in efac if e > 0)
    if exptot == 0:
        efac = [F32(1.0)] * len(efac)
        texpt = F32(len(efac))
        nonzero = len(efac)
    else:
        texpt = exptot
    skysub = pars.skysub.strip().lower()
    if sky is None:
        if skysub == "none":
            sky = [F32(0)] * len(images)
        elif skysub == "mode":
            sky = sky_mode(images, dqs, badinpdq=pars.badinpdq, mapper=parallel_map if nstrips > 1 else None)
        else:
            from ...common.errors import EngineError

            raise EngineError(f"SKYSUB={pars.skysub!r} is not supported (none, mode)", keyword="CRREJTAB")
    for n, s in enumerate(sky):
        log.debug("sky of input %d is %0.3f DN", n, float(s))
    skysum = F32(0)  # float32, input order, clipped at 0 (the output's sky level and SKYSUM)
    for s in sky:
        skysum = F32(skysum + s)
    if skysum < 0:
        skysum = F32(0)
    shape = images[0].shape
    nstrips = max(1, min(nstrips, shape[0] // 64))
    mod = load(REJ_KERNELS)
    if nonzero > 1 and mod is not None:
        guess = None  # the minimum guess is computed by the kernel, row by row
        if pars.initgues.strip().lower()[:3] == "med":
            guess = _guess_in_strips(initial_guess_median, images, dqs, efac=efac, sky=sky, noise=noise, pars=pars)
        sci, err, dq, crbits, nrej = _reject_kernel(
            mod,
            images,
            dqs,
            raws,
            guess=guess,
            efac=efac,
            sky=sky,
            noise=noise,
            sigmas=pars.sigmas,
            radius=pars.crradius,
            thresh=pars.crthresh,
            scalense=pars.scalense,
            badinpdq=pars.badinpdq,
            minimum=pars.initgues.strip().lower()[:3] == "min",
            out=guess if nstrips <= 1 else None,
            scale_out=(texpt, skysum),
            nstrips=nstrips,
        )
        return RejResult(sci, err, dq, crbits, nrej, skysum)
    if nonzero > 1:
        guess = initial_guess_median if pars.initgues.strip().lower()[:3] == "med" else initial_guess_minimum
        ave, var = _guess_in_strips(guess, images, dqs, efac=efac, sky=sky, noise=noise, pars=pars)
        ave, err, dq, crbits, nrej = reject(
            images,
            dqs,
            raws,
            ave=ave,
            var=var,
            efac=efac,
            sky=sky,
            noise=noise,
            sigmas=pars.sigmas,
            radius=pars.crradius,
            thresh=pars.crthresh,
            scalense=pars.scalense,
            badinpdq=pars.badinpdq,
            initgues=pars.initgues.strip().lower(),
            out=(ave, var),  # the guess is not needed once the strips are done
        )
    else:
        log.warning("Cosmic-ray rejection NOT performed!")
        ave, err = np.zeros(shape, F32), np.zeros(shape, F32)
        dq = np.zeros(shape, np.uint16)
        crbits, nrej = [np.zeros(shape, bool) for _ in images], 0
    if nonzero > 0:
        sci = np.multiply(ave, texpt, out=ave)  # ave and err are ours: scale in place
        sci += skysum
        err = np.multiply(err, texpt, out=err)
    else:
        sci = np.zeros(shape, F32)
        err = np.zeros(shape, F32)
        dq = np.ones(shape, np.uint16)
        err[0, 0] = -1
        dq[0, 0] = 8
    return RejResult(sci.astype(F32, copy=False), err.astype(F32, copy=False), dq, crbits, nrej, skysum)


def crmask_writeback(dq: np.ndarray, crbit: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """Input DQ after WF3REJ with CRMASK=1: bit 8192 set where rejected, cleared elsewhere, for
    columns ``x < 8·⌊NX/8⌋`` only (HSTCAL packs the mask into bytes and drops the remainder).
    `in_place`: written over `dq` (when it is a writable native uint16 C array) instead of a copy.

    ``readBitLine`` in ``rej_loop.c`` unpacks ``NX // 8`` bytes per row, so with NX = 9 column 8
    keeps its input value whatever the mask says:

    >>> crmask_writeback(np.array([[8192, 8192, 0] * 3], np.uint16), np.array([[1, 0, 1] * 3], bool)).tolist()
    [[8192, 0, 8192, 8192, 0, 8192, 8192, 0, 0]]
    """
    nx = dq.shape[1]
    lim = 8 * (nx // 8)
    own = in_place and dq.dtype == np.uint16 and dq.dtype.isnative and dq.flags.c_contiguous and dq.flags.writeable
    mod = load(REJ_KERNELS)
    if mod is not None and dq.shape == crbit.shape:
        out = dq if own else np.empty(dq.shape, np.uint16)
        dq, crbit = c_array(dq, np.uint16), c_array(crbit, bool)
        mod.crmask(dq, crbit, out, dq.shape[0], nx, lim)  # element by element: out may be dq
        return out
    out = dq if own else dq.copy()
    part = out[:, :lim]
    out[:, :lim] = np.where(crbit[:, :lim], part | CRFLAG, part & ~CRFLAG)
    return out
