"""OCRREJECT (calstis2; HSTCAL ``cs2/crrej_do.c``, ``crrej_sky.c``, ``cr_mode.c``, ``crrej_init.c``,
``crrej_loop.c``, ``o_cal2_in.c``): combine the CR-split imsets of a CCD exposure, rejecting
cosmic rays, and write the rejections back into the inputs' DQ.

Differs from ACSREJ/WF3REJ in its arithmetic, so only the neighbourhood disk is shared
(:func:`caldp.engines.ccd.crreject.neighbour_offsets`):

* sky: each image's own histogram (DQ == 0 pixels) from ``int(min(0, min)) − 1`` (floor −1000) to
  ``2·int(mean + 1)``, one-DN bins, no padding; the parabolic peak ``bpeak + 1 + …`` then ``− 0.5``.
* the mask is built in raster order: a HIT spills onto its disk (unless the pixel stays below
  CRTHRESH·σ without SCALENSE) and a spilled pixel that BADINPDQ had excluded can itself become a
  HIT later in the scan — reproduced here by iterating the raster-order rule to its fixed point.
* CRREJTAB row: CRSPLIT = min(n, largest CRSPLIT), the smallest MEANEXP ≥ exposure/n (float64).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from ..ccd.crreject import neighbour_offsets
from ..common.crrejtab import MAX_ITER, parse_sigmas
from ..common.errors import EngineError
from ..common.kernels import c_array, load
from ..common.refs import column
from .dq import DQ

log = logging.getLogger(__name__)

F32, F64 = np.float32, np.float64
MINVAL = -1000
EPSILON = 1.0e-20
CRFLAG = int(DQ.DATAREJECT)
OK, HIT, SPILL, EXCLUDE = 0, 8, 2, 4
KERNELS = "caldp.engines.stis._kernels"


class Pars(NamedTuple):
    """CRREJTAB parameters (one row) and the derived mean exposure."""

    initgues: str
    skysub: str
    crsigmas: str
    sigmas: tuple
    meanexp: float
    crradius: F32
    crthresh: F32
    scalense: F32
    badinpdq: int
    crmask: int


def select_row(data, *, nimgs: int, exptot: float, spectroscopic: bool, file=None) -> Pars:
    """``o_cal2_in``: the CRREJTAB row for `nimgs` imsets of total exposure `exptot` (float32).

    >>> t = np.rec.fromarrays([[2, 2, 4], [200.0, 1000.0, 300.0], ["minimum"] * 3, ["mode"] * 3,
    ...     ["6.5,5.5,4.5"] * 3, [2.1] * 3, [0.6] * 3, [30.0] * 3, [39] * 3, [1] * 3],
    ...     names="CRSPLIT MEANEXP INITGUES SKYSUB CRSIGMAS CRRADIUS CRTHRESH SCALENSE BADINPDQ CRMASK".split())
    >>> p = select_row(t, nimgs=2, exptot=600.0, spectroscopic=False)
    >>> p.meanexp, p.sigmas[-1], p.skysub
    (300.0, np.float32(4.5), 'mode')
    """
    exp_in = float(F32(exptot)) / float(nimgs)

    def col(name):
        c = column(data, name)
        if c is None:
            raise EngineError(f"column {name} does not exist in CRREJTAB", file=file, keyword="CRREJTAB")
        return np.asarray(c)

    crsplit = col("CRSPLIT").astype(int)
    meanexp = col("MEANEXP").astype(F64)
    n = min(nimgs, int(crsplit.max()))
    best, mindiff = None, None
    for i in range(len(crsplit)):
        diff = float(meanexp[i]) - exp_in
        if crsplit[i] == n and diff >= 0.0 and (best is None or diff <= mindiff):
            best, mindiff = i, diff
    if best is None:
        raise EngineError("No matching CRSPLIT and MEANEXP in CRREJTAB", file=file, keyword="CRREJTAB")
    text = str(col("CRSIGMAS")[best]).strip()
    sigmas = parse_sigmas(text, file=file)
    if len(sigmas) > MAX_ITER:
        raise EngineError("max number of iterations is exceeded", file=file, keyword="CRREJTAB")
    if not sigmas:
        raise EngineError("number of iterations is zero", file=file, keyword="CRREJTAB")
    sky = "none" if spectroscopic else str(col("SKYSUB")[best]).strip()
    return Pars(
        str(col("INITGUES")[best]).strip(),
        sky,
        text,
        sigmas,
        exp_in,
        F32(col("CRRADIUS")[best]),
        F32(col("CRTHRESH")[best]),
        F32(col("SCALENSE")[best]),
        int(np.int16(col("BADINPDQ")[best])),
        int(col("CRMASK")[best]),
    )


def cr_mode(hist: np.ndarray, hmin: float, hwidth: float = 1.0) -> F32:
    """``cr_mode`` (STIS): histogram mode, parabolic about the peak bin.

    Peak in bin 1: ``mode = 1 + 1 + 0.5·(4 − 2)/6``, then ``−2 + (mode − 0.5)``.

    >>> round(float(cr_mode(np.array([1, 5, 3, 0]), -2.0)), 6)
    -0.333333
    """
    nbins = hist.size
    hmin32, hw = F32(hmin), F32(hwidth)
    if nbins == 1:
        return F32(float(hmin32) + 0.5 * float(hw))
    if nbins == 2:
        if hist[0] > hist[1]:
            return F32(float(hmin32) + 0.5 * float(hw))
        if hist[1] > hist[0]:
            return F32(float(hmin32) + 1.5 * float(hw))
        return F32(hmin32 + hw)
    p = int(np.argmax(hist))
    if p == 0:
        return F32(float(hmin32) + 0.5 * float(hw))
    if p == nbins - 1:
        return F32(float(hmin32) + (nbins - 0.5) * float(hw))
    dh1 = F32(int(hist[p]) - int(hist[p - 1]))
    dh2 = F32(int(hist[p]) - int(hist[p + 1]))
    denom = F32(dh1 + dh2)
    if abs(float(denom)) < EPSILON:
        return F32(float(hmin32) + (p + 0.5) * float(hw))
    mode = F32(p + 1 + 0.5 * float(F32(dh1 - dh2)) / float(denom))
    return F32(float(hmin32) + (float(mode) - 0.5) * float(hw))


def sky_level(sci: np.ndarray, dq: np.ndarray) -> F32:
    """``crrej_sky`` with SKYSUB=mode for one image (pixels with DQ == 0). The C kernels
    (``_kernels.sky_stats``, ``sky_hist``: two passes, no copies) when built, else
    :func:`sky_level_numpy` (the reference)."""
    k = load(KERNELS)
    if k is None or not (sci.dtype == F32 and dq.dtype == np.uint16 and sci.shape == dq.shape):
        return sky_level_numpy(sci, dq)
    s, d = c_array(sci, F32), c_array(dq, np.uint16)
    npt, any_nan, vmin, total = k.sky_stats(s, d)
    if npt == 0:
        raise EngineError("no good pixel for the sky level")
    amin = F32(0.0) if any_nan else min(F32(0.0), F32(vmin))  # NumPy's min is NaN: min(0, NaN) keeps 0
    lo = MINVAL if amin < MINVAL else int(amin) - 1
    amax = F32(F32(total) / F32(npt))
    hi = 1 if amax <= 0 else int(float(amax) + 1.0) * 2
    hist = np.zeros(hi - lo + 1, np.int64)
    k.sky_hist(s, d, lo, hist)
    return cr_mode(hist, float(lo))


def sky_level_numpy(sci: np.ndarray, dq: np.ndarray) -> F32:
    """:func:`sky_level` in NumPy (the C kernels' reference)."""
    vals = sci[dq == 0]
    npt = vals.size
    if npt == 0:
        raise EngineError("no good pixel for the sky level")
    amin = min(F32(0.0), F32(vals.min()))
    lo = MINVAL if amin < MINVAL else int(amin) - 1
    acc = vals.astype(F32)
    total = np.add.accumulate(acc)[-1]  # float32, one at a time as the C loop
    amax = F32(total / F32(npt))
    hi = 1 if amax <= 0 else int(float(amax) + 1.0) * 2
    nbins = hi - lo + 1
    h = np.trunc(vals).astype(np.int64) - lo
    h = h[(h >= 0) & (h < nbins)]
    hist = np.bincount(h, minlength=nbins)[:nbins]
    return cr_mode(hist, float(lo))


class Result(NamedTuple):
    sci: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    out_dqs: list  # DQ of each input with the rejections written back (CRMASK)
    nrej: int
    skies: list
    exptot: F32
    skysum: F32


def _shift_or(mask: np.ndarray, offsets) -> np.ndarray:
    """Pixels with a `mask` pixel at one of the `offsets` (dy, dx) from them."""
    ny, nx = mask.shape
    out = np.zeros_like(mask)
    for dy, dx in offsets:
        # out[y, x] |= mask[y + dy, x + dx]
        ys, yd = (slice(dy, ny), slice(0, ny - dy)) if dy >= 0 else (slice(0, ny + dy), slice(-dy, ny))
        xs, xd = (slice(dx, nx), slice(0, nx - dx)) if dx >= 0 else (slice(0, nx + dx), slice(-dx, nx))
        out[yd, xd] |= mask[ys, xs]
    return out


def _masks(d2, thresh, spthresh, psig2, excluded, offsets, earlier) -> tuple[np.ndarray, np.ndarray]:
    """(HIT, SPILL) of one image as ``crrej_loop`` leaves them after its raster scan."""
    return _masks_from(d2 > thresh, ~(d2 <= psig2 * spthresh), excluded, offsets, earlier)


def _masks_from(hitc, spill_ok, excluded, offsets, earlier) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_masks` from the per-pixel tests: `hitc` (d² > threshold) and `spill_ok` (not
    d² ≤ CRTHRESH²·spill threshold)."""
    hit = hitc & ~excluded
    cand = hitc & excluded & spill_ok
    while cand.any():
        enabled = cand & _shift_or(hit, earlier)
        new = enabled & ~hit
        if not new.any():
            break
        hit |= new
        cand &= ~new
    spill = _shift_or(hit, offsets) & spill_ok & ~hit
    return hit, spill


class _Consts(NamedTuple):
    """Float32 scalars of one image in one iteration of ``crrej_loop``."""

    sig2: F32  # sigma²
    rog2: F32  # read noise² (DN²)
    exp2: F32  # exposure²
    efac: F32
    sky: F32
    gain: F32
    scale: F32  # SCALENSE / 100
    psig2: F32  # CRTHRESH² (−1 when CRTHRESH ≤ 0)


def _tests(sci, ave, avevar, c: _Consts):
    """(pic, hitc, spill_ok) of one image: its sky-subtracted rate ``(SCI − sky) / exposure``, whether
    (pic − ave)² exceeds the rejection threshold, and whether it is not at or below CRTHRESH² times the
    spill threshold. `avevar` (the minimum guess's variance) on the first iteration of INITGUES=minimum,
    else None. The C kernel (``_kernels.ocr_tests``) when built, else :func:`tests_numpy`."""
    k = load(KERNELS)
    arrays = (sci, ave) if avevar is None else (sci, ave, avevar)
    if k is None or not all(a.dtype == F32 and a.shape == sci.shape for a in arrays):
        return tests_numpy(sci, ave, avevar, c)
    pic = np.empty(sci.shape, F32)
    hitc = np.empty(sci.shape, np.bool_)
    spill_ok = np.empty(sci.shape, np.bool_)
    var = c_array(avevar, F32) if avevar is not None else None
    k.ocr_tests(c_array(sci, F32), c_array(ave, F32), var, pic, hitc, spill_ok, *(float(v) for v in c))
    return pic, hitc, spill_ok


def tests_numpy(sci, ave, avevar, c: _Consts):
    """:func:`_tests` in NumPy (the C kernel's reference)."""
    if avevar is not None:
        thresh = c.sig2 * avevar
        spthresh = thresh
    else:
        dum = ave * c.efac + c.sky
        val = np.where(dum > 0, dum, F32(0))
        pixsky = dum - c.sky
        pixsky = np.where(pixsky > 0, pixsky, F32(0))
        sp = c.scale * pixsky
        thresh = c.sig2 * (c.rog2 + val / c.gain + sp * sp) / c.exp2
        spthresh = c.sig2 * (c.rog2 + val / c.gain) / c.exp2
    pic = (sci - c.sky) / c.efac
    diff = pic - ave
    d2 = diff * diff
    return pic, d2 > thresh, ~(d2 <= c.psig2 * spthresh)


def _accumulate(pic, good, total, efacsum, sumvar, c: _Consts) -> None:
    """Where `good`: ``total += pic·exposure``, ``efacsum += exposure`` and, when `sumvar` is given (the
    last iteration), ``sumvar += rog2 + v/gain + (scale·v)²`` with v = max(pic·exposure + sky, 0);
    in place. The C kernel (``_kernels.ocr_accumulate``) when built, else :func:`accumulate_numpy`."""
    k = load(KERNELS)
    arrays = (pic, total, efacsum) + (() if sumvar is None else (sumvar,))
    usable = all(a.dtype == F32 and a.flags.c_contiguous and a.shape == pic.shape for a in arrays)
    if k is None or not (usable and good.dtype == np.bool_ and good.shape == pic.shape):
        accumulate_numpy(pic, good, total, efacsum, sumvar, c)
        return
    k.ocr_accumulate(pic, c_array(good, np.bool_), total, efacsum, sumvar, *(float(v) for v in c))


def accumulate_numpy(pic, good, total, efacsum, sumvar, c: _Consts) -> None:
    """:func:`_accumulate` in NumPy (the C kernel's reference)."""
    total[good] += pic[good] * c.efac
    efacsum[good] += c.efac
    if sumvar is not None:
        dum = pic[good] * c.efac + c.sky
        v = np.where(dum > 0, dum, F32(0))
        sv = c.scale * v
        sumvar[good] += c.rog2 + v / c.gain + sv * sv


def ocrreject(scis, dqs, *, efac, noise, gain, pars: Pars) -> Result:
    """Combine images `scis` (float32 DN, bias-subtracted) with DQ `dqs`; `efac` exposure times,
    `noise` read noise in DN (READNSE/ATODGAIN) and `gain` ATODGAIN per image (float32)."""
    nimgs = len(scis)
    ny, nx = scis[0].shape
    efac = [F32(e) for e in efac]
    exptot = F32(0.0)
    for e in efac:
        exptot = F32(exptot + e)
    if exptot == 0:
        efac = [F32(1.0)] * nimgs
        texpt = F32(nimgs)
    else:
        texpt = exptot
    if pars.skysub == "none":
        skies = [F32(0.0)] * nimgs
    elif pars.skysub == "mode":
        skies = [sky_level(s, d) for s, d in zip(scis, dqs, strict=True)]
    else:
        raise EngineError(f"illegal sky value {pars.skysub!r}", keyword="CRREJTAB")
    scale = F32(float(pars.scalense) / 100.0)
    noise = [F32(v) for v in noise]
    gain = [F32(v) for v in gain]
    # initial guess
    if pars.initgues.lower().startswith("med"):
        stack = np.stack([(s - k) / e for s, k, e in zip(scis, skies, efac, strict=True)])
        stack.sort(axis=0)
        if nimgs % 2:
            ave = stack[nimgs // 2].copy()
        else:
            ave = ((stack[nimgs // 2 - 1] + stack[nimgs // 2]).astype(F64) / 2.0).astype(F32)
        avevar = np.zeros_like(ave)
        minimum = False
    else:
        minimum = True
        ave = avevar = None
        for n in range(nimgs):
            raw = scis[n]
            raw0 = np.where(raw > 0, raw, F32(0))
            sig0 = raw - skies[n]
            sig0 = np.where(sig0 > 0, sig0, F32(0))
            val = (raw - skies[n]) / efac[n]
            var = (noise[n] * noise[n] + raw0 / gain[n] + (scale * sig0) * (scale * sig0)) / (efac[n] * efac[n])
            if n == 0:
                ave, avevar = val, var
            else:
                better = val < ave
                ave = np.where(better, val, ave)
                avevar = np.where(better, var, avevar)
    rej2_offsets = neighbour_offsets(float(pars.crradius))
    earlier = [(dy, dx) for dy, dx in rej2_offsets if dy < 0 or (dy == 0 and dx < 0)]
    psig2 = F32(pars.crthresh * pars.crthresh) if pars.crthresh > 0 else F32(-1.0)
    badbits = np.uint16(pars.badinpdq & 0xFFFF)
    nocr = np.uint16(~CRFLAG & 0xFFFF)
    out_dq = np.full((ny, nx), CRFLAG, np.uint16)
    out_dqs = [d.copy() for d in dqs]
    niter = len(pars.sigmas)
    nrej = 0
    sumvar = np.zeros((ny, nx), F32)
    efacsum = np.zeros((ny, nx), F32)
    for it, sigma in enumerate(pars.sigmas):
        last = it == niter - 1
        sig2 = F32(sigma * sigma)
        total = np.zeros((ny, nx), F32)
        efacsum = np.zeros((ny, nx), F32)
        nrej = 0
        for n in range(nimgs):
            rog2 = F32(noise[n] * noise[n])
            c = _Consts(sig2, rog2, F32(efac[n] * efac[n]), efac[n], skies[n], gain[n], scale, psig2)
            excluded = (dqs[n] & badbits) != 0
            first_min = avevar if minimum and it == 0 else None
            pic, hitc, spill_ok = _tests(scis[n], ave, first_min, c)
            hit, spill = _masks_from(hitc, spill_ok, excluded, rej2_offsets, earlier)
            good = ~excluded & ~hit & ~spill
            _accumulate(pic, good, total, efacsum, sumvar if last else None, c)
            if last:
                rej = hit | spill
                bufdq = dqs[n] & nocr
                sval = out_dq | bufdq
                nrej += int(rej.sum())
                out_dq = np.where(rej, sval, sval & nocr)
                if pars.crmask:
                    out_dqs[n] = np.where(rej, bufdq | np.uint16(CRFLAG), bufdq)
        pos = efacsum > 0
        ave = ave.copy()
        ave[pos] = total[pos] / efacsum[pos]
        if last:
            ave[~pos] = F32(0.0)
    err = np.zeros((ny, nx), F32)
    pos = efacsum > 0
    err[pos] = (np.sqrt(sumvar[pos].astype(F64)) / efacsum[pos].astype(F64)).astype(F32)
    skysum = F32(0.0)
    for s in skies:
        skysum = F32(skysum + s)
    sci = ave * texpt + skysum
    err *= texpt
    return Result(sci.astype(F32), err, out_dq, out_dqs, nrej, skies, exptot, skysum)
