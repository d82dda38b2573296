"""ACSCCD: raw → ``_blv_tmp`` (HSTCAL ``acsccd/doccd.c``, ``blev_func_main.c``; calib-acs-wfc.md §3).

Thin layer: reads switches and references, cuts references to the science geometry, calls the
pure step functions in order (DQICORR, BIASCORR, → electrons, BLEVCORR, DARKTIME, full-well
flags, ERR, trim) and writes the header bookkeeping.
"""

from __future__ import annotations

import logging

import numpy as np

from ..common.errors import EngineError
from ..common.hstio import Exposure, ImSet, section
from ..common.kernels import c_array, load
from ..common.keywords import hdr_float
from ..common.refimage import bin_and_corner, cut_to_science, find_line
from ..common.switches import Switch
from ..common.threads import parallel_map
from . import biascorr, blevcorr, dqicorr, noise, postsm4, sinkcorr
from .context import CYCLE24, SM4MJD, AcsKeys, reference
from .dq import DQ
from .refs import RefCache, kernel_array
from .tables import NO_OVERSCAN, read_bpixtab, read_ccdtab, read_oscntab

KERNELS = "caldp.engines.acs._kernels"

log = logging.getLogger(__name__)

F32 = np.float32
AMPS = "ABCD"
BIAS_SHIFT_APERTURES = (
    "WFC1A-2K",
    "WFC1B-2K",
    "WFC2C-2K",
    "WFC2D-2K",
    "WFC1-IRAMPQ",
    "WFC1-MRAMPQ",
    "WFC2-MRAMPQ",
    "WFC2-ORAMPQ",
    "WFC1-POL0UV",
    "WFC1-POL0V",
    "WFC2-POL0UV",
    "WFC2-POL0V",
    "WFC1-POL60UV",
    "WFC1-POL60V",
    "WFC2-POL60UV",
    "WFC2-POL60V",
    "WFC1-POL120UV",
    "WFC1-POL120V",
    "WFC2-POL120UV",
    "WFC2-POL120V",
)
DARK_OVERHEAD_APERTURES = (
    "WFC1A-2K",
    "WFC1B-2K",
    "WFC2C-2K",
    "WFC2D-2K",
    "WFC1A-1K",
    "WFC1B-1K",
    "WFC2C-1K",
    "WFC2D-1K",
    "WFC1A-512",
    "WFC1B-512",
    "WFC2C-512",
    "WFC2D-512",
    "WFC1-IRAMPQ",
    "WFC1-MRAMPQ",
    "WFC2-ORAMPQ",
    "WFC1-POL0UV",
    "WFC1-POL0V",
    "WFC1-POL60UV",
    "WFC1-POL60V",
    "WFC1-POL120UV",
    "WFC1-POL120V",
    "WFC1-SMFL",
)


def darktime(keys: AcsKeys, ccd) -> F32:
    """DARKTIME with the CCDTAB overhead (``computeDarktime``): full frame post-SM4, or a supported
    subarray from Cycle 24; the flashed overhead when FLASHDUR > 0 and FLASHSTA = SUCCESSFUL."""
    base = F32(keys.darktime)
    flashed = keys.flashdur > 0 and keys.flashsta == "SUCCESSFUL"
    offset = ccd.overhead_postflashed if flashed else ccd.overhead_unflashed
    if not keys.subarray:
        return F32(base + offset) if keys.expstart >= SM4MJD else base
    if keys.expstart >= CYCLE24 and keys.aperture in DARK_OVERHEAD_APERTURES:
        return F32(base + offset)
    return base


class _Meta:
    """Headers and EXTVER of an imset (its pixels live in :class:`_Chip`)."""

    __slots__ = ("headers", "extver")

    def __init__(self, headers, extver):
        self.headers, self.extver = headers, extver

    @property
    def sci_hdr(self):
        return self.headers["SCI"]


class _Chip:
    """Mutable per-imset working state (arrays and the values the steps need)."""

    __slots__ = ("imset", "sci", "err", "dq", "chip", "ltv", "sdqflags", "ccd", "osc", "layout", "blev", "trimmed")

    def __init__(self, imset: ImSet):
        self.imset = _Meta(imset.headers, imset.extver)
        self.sci = imset.sci.astype(F32, copy=False)
        self.err = imset.err.astype(F32, copy=False)
        self.dq = imset.dq
        h = imset.sci_hdr
        self.chip = int(h.get("CCDCHIP", 1))
        self.ltv = (float(h.get("LTV1", 0.0)), float(h.get("LTV2", 0.0)))
        self.sdqflags = int(h.get("SDQFLAGS", 65535))
        self.blev = [0.0, 0.0, 0.0, 0.0]
        self.trimmed = None  # (y0, x0) once the arrays hold the overscan-trimmed section


def acsccd(raw: Exposure, *, keys: AcsKeys, env, refs: RefCache) -> Exposure:
    """Run ACSCCD on a raw exposure held in memory; returns the ``_blv_tmp`` exposure.

    The input is consumed (its pixel arrays are reused and its imsets removed) to keep a full-frame
    WFC run under 1 GB; pass a copy to keep it.
    """
    fname = raw.filename
    primary = raw.primary.copy()
    sw = keys.switches
    ccdtab = reference(primary, "CCDTAB", env, file=fname)
    do_dqi = sw["DQICORR"] is Switch.PERFORM
    do_bias = sw["BIASCORR"] is Switch.PERFORM
    do_blev = sw["BLEVCORR"] is Switch.PERFORM
    bpix = reference(primary, "BPIXTAB", env, file=fname, optional=True) if do_dqi else None
    bias = reference(primary, "BIASFILE", env, file=fname, reader=refs.primary) if do_bias else None
    satu = reference(primary, "SATUFILE", env, file=fname) if do_bias else None
    oscn = reference(primary, "OSCNTAB", env, file=fname) if do_blev else None
    if sw["ATODCORR"] is Switch.PERFORM:
        reference(primary, "ATODTAB", env, file=fname)
        log.info("ATODCORR: the A-to-D correction is never applied by ACSCCD (doatod.c is not called)")
    sink = (
        reference(primary, "SNKCFILE", env, file=fname, reader=refs.primary)
        if sw["SINKCORR"] is Switch.PERFORM
        else None
    )
    chips = [_Chip(im) for im in raw.imsets]
    raw.imsets = []
    for c in chips:
        ny, nx = c.sci.shape
        c.ccd = read_ccdtab(
            ccdtab.path, ccdamp=keys.ccdamp, ccdgain=keys.ccdgain, chip=c.chip, ccdofst=keys.ccdofst, nx=nx
        )
        if oscn is not None:
            c.osc = read_oscntab(oscn.path, ccdamp=keys.ccdamp, chip=c.chip, nx=nx, ny=ny)
            if not c.osc.found:
                log.warning("Could not find appropriate row from OSCNTAB.")
        else:
            c.osc = NO_OVERSCAN
        c.layout = noise.amp_layout(
            keys.detector,
            c.chip,
            c.ccd.atodgain,
            c.ccd.readnoise,
            ampx=c.ccd.ampx,
            ampy=c.ccd.ampy,
            ltv=c.ltv,
            shape=c.sci.shape,
        )
    for k, a in enumerate(AMPS):
        primary[f"ATODGN{a}"] = hdr_float(chips[0].ccd.atodgain[k])
        primary[f"READNSE{a}"] = hdr_float(chips[0].ccd.readnoise[k])
    primary.add_history(f"CCD parameters table: reference table {ccdtab.path.name}")
    # DQICORR (raw DN)
    bpix_rows = {}
    if do_dqi and bpix.path is not None:
        for c in chips:
            bpix_rows[c.chip] = read_bpixtab(bpix.path, ccdamp=keys.ccdamp, ccdgain=keys.ccdgain, chip=c.chip)

    def before_blev(c: _Chip) -> int:
        """DQICORR, BIASCORR (DN) and the gain conversion of one chip (chips run in threads);
        returns the number of pixels DQICORR flagged."""
        kern = load(KERNELS)
        if kern is not None:
            return _before_blev_c(kern, c)
        nflag = 0
        if do_dqi:
            n0 = int(np.count_nonzero(c.dq))
            c.dq = dqicorr.flag_atod_saturation(c.sci, c.dq, c.ccd.atodsat)
            if bpix.path is not None:
                c.dq = dqicorr.apply_bpixtab(c.dq, bpix_rows[c.chip], c.ltv)
            nflag = int(np.count_nonzero(c.dq)) - n0
        if do_bias:
            ref = refs.chip(bias.path, c.chip, keyword="BIASFILE", cache=False)
            bs, be, bd = cut_to_science(ref, c.imset.sci_hdr, c.sci.shape, file=bias.path.name, keyword="BIASFILE")
            c.sci, c.err, c.dq = biascorr.subtract_bias(c.sci, c.err, c.dq, bs, be, bd)
            del ref, bs, be, bd
        if c.layout.check(c.sci.shape):
            c.sci, c.err = noise.to_electrons(c.sci, c.err, c.layout)
        return nflag

    def _before_blev_c(kern, c: _Chip) -> int:
        """The C form of :func:`before_blev`: BPIXTAB rows, then ATODSAT flags, bias subtraction and
        gain conversion fused in one pass over the chip (in place)."""
        _own_arrays(c)
        ny, nx = c.sci.shape
        n0 = int(np.count_nonzero(c.dq)) if do_dqi else 0
        if do_dqi and bpix.path is not None:  # OR commutes: the BPIXTAB rows may go before ATODSAT
            dqicorr.apply_bpixtab(c.dq, bpix_rows[c.chip], c.ltv, out=c.dq)
        bs = be = bd = None
        if do_bias:
            ref = refs.chip(bias.path, c.chip, keyword="BIASFILE", cache=False)
            bs, be, bd = cut_to_science(ref, c.imset.sci_hdr, c.sci.shape, file=bias.path.name, keyword="BIASFILE")
            bs, be, bd = kernel_array(bs, F32), kernel_array(be, F32), kernel_array(bd, np.uint16)
            del ref
        lay = c.layout
        gains = tuple(float(g) for g in lay.gain)
        atod = (do_dqi, int(c.ccd.atodsat))
        n1 = kern.bias_gain(
            c.sci, c.err, c.dq, atod, bs, be, bd, ny, nx, lay.ampx, lay.ampy, lay.check(c.sci.shape), gains
        )
        return n1 - n0 if do_dqi else 0

    nflags = parallel_map(before_blev, chips)
    if do_dqi:
        for c, nflag in zip(chips, nflags, strict=True):
            if bpix.path is not None and len(bpix_rows[c.chip].pix1) == 0:
                log.warning("No rows from BPIXTAB applied to DQ array.")
            bname = bpix.path.name if bpix.path else "N/A"
            log.info("DQICORR chip %d: BPIXTAB %s, %d pixels flagged", c.chip, bname, nflag)
        primary["DQICORR"] = str(Switch.COMPLETE)
        primary.add_history("DQICORR complete ...")
    if do_bias:
        for c in chips:
            log.info("BIASCORR chip %d: BIASFILE %s", c.chip, bias.path.name)
        primary["BIASCORR"] = str(Switch.SKIPPED if bias.dummy else Switch.COMPLETE)
        primary.add_history(f"BIASCORR complete using {bias.path.name}")
    # Gain conversion
    for c in chips:
        if not c.layout.check(c.sci.shape):
            raise EngineError("No valid GAIN value to convert data", file=fname, keyword="CCDTAB")
        c.imset.headers["SCI"]["BUNIT"] = "ELECTRONS"
        c.imset.headers["ERR"]["BUNIT"] = "ELECTRONS"
    # BLEVCORR (electrons)
    trimmed = False
    if do_blev:
        trimmed = _blevcorr(chips, keys, fname)
        primary["BLEVCORR"] = str(Switch.COMPLETE)
        primary.add_history("BLEVCORR complete; bias level from overscan was subtracted.")
        primary.add_history("BLEVCORR does not include correction for drift along lines.")
    # DARKTIME
    primary["DARKTIME"] = hdr_float(darktime(keys, chips[0].ccd))

    # Full-well saturation
    def fullwell_and_noise(c: _Chip) -> int:
        """Full-well saturation and ERR initialisation of one chip (chips run in threads)."""
        kern = load(KERNELS)
        if kern is not None:
            return _fullwell_noise_c(
                kern,
                c,
                satu.path if do_bias and do_blev else None,
                refs,
                keys,
                trim=trimmed and (sink is None or sink.dummy),
            )
        nsat = 0
        if do_bias and do_blev:
            n0 = int(np.count_nonzero(c.dq & DQ.SATPIXEL))
            c.dq = _fullwell(c, satu.path, refs)
            nsat = int(np.count_nonzero(c.dq & DQ.SATPIXEL)) - n0
        c.err = noise.init_error(c.sci, c.err, c.layout, bias_target=keys.targname.startswith("BIAS"))
        return nsat

    nsats = parallel_map(fullwell_and_noise, chips)
    if do_bias and do_blev:
        for c, nsat in zip(chips, nsats, strict=True):
            log.info("Full-well saturation chip %d: SATUFILE %s, %d pixels flagged", c.chip, satu.path.name, nsat)
    primary.add_history("Uncertainty array initialized.")
    # SINKCORR (untrimmed, electrons)
    if sink is not None:
        if not sink.dummy:

            def sinks(c: _Chip) -> int:
                ref = refs.chip(sink.path, c.chip, keyword="SNKCFILE", arrays=("SCI",), cache=False, group_size=1)
                smap, _, _ = cut_to_science(ref, c.imset.sci_hdr, c.sci.shape, file=sink.path.name, keyword="SNKCFILE")
                c.dq, nsink = sinkcorr.flag_sinks(c.sci, c.dq, smap, upward=ref.extver == 1)
                return nsink

            for c, nsink in zip(chips, parallel_map(sinks, chips), strict=True):
                log.info("SINKCORR chip %d: SNKCFILE %s, %d pixels flagged", c.chip, sink.path.name, nsink)
        primary["SINKCORR"] = str(Switch.SKIPPED if sink.dummy else Switch.COMPLETE)
        primary.add_history(f"SINKCORR complete using {sink.path.name}")
    # Output (trimmed when BLEVCORR was done)
    out = []
    for c in chips:
        if c.trimmed is not None:  # cut by the C full-well pass
            y0, x0 = c.trimmed
            headers = _section_headers(c.imset.headers, x0, y0)
            im = ImSet(sci=c.sci, err=c.err, dq=c.dq, headers=headers, extver=c.imset.extver)
            im.sci_hdr["SIZAXIS1"] = im.sci.shape[1]
            im.sci_hdr["SIZAXIS2"] = im.sci.shape[0]
            out.append(im)
            continue
        headers = {k: h.copy() for k, h in c.imset.headers.items()}
        im = ImSet(sci=c.sci, err=c.err, dq=c.dq, headers=headers, extver=c.imset.extver)
        if trimmed:
            ny, nx = c.sci.shape
            tx, ty = c.osc.trimx, c.osc.trimy
            im = section(im, tx[0], ty[0], nx - tx[0] - tx[1], ny - ty[0] - ty[1])
            im.sci_hdr["SIZAXIS1"] = im.sci.shape[1]
            im.sci_hdr["SIZAXIS2"] = im.sci.shape[0]
        out.append(im)
    if "BIASLEVA" in primary:
        levels = [0.0] * 4
        for c in chips:
            for k in range(4):
                if c.blev[k] != 0:
                    levels[k] = c.blev[k]
        for k, a in enumerate(AMPS):
            if levels[k] != 0:
                primary[f"BIASLEV{a}"] = hdr_float(levels[k])
    return Exposure(primary=primary, imsets=out, filename=fname)


def _blevcorr(chips: list[_Chip], keys: AcsKeys, fname: str) -> bool:
    """Choose and run the bias-level algorithm (``performBlevCorr``); True if the output is trimmed."""
    post = keys.expstart >= SM4MJD
    ds_int_gain2 = keys.jwrotype == "DS_INT" and keys.ccdgain == 2
    if keys.detector == "WFC" and post and not keys.subarray:
        if not all(c.osc.found for c in chips) or len(chips) != 2:
            log.info("Overscan missing, no destriping or bias level subtraction possible for full frame data.")
            return False
        kern = load(KERNELS)
        if kern is not None:
            for c in chips:
                _own_arrays(c)
        if ds_int_gain2:
            log.info("Performing bias-shift and cross talk corrections for full frame data.")
            # the four amps are disjoint quarters of the two chips: two at a time in threads
            if kern is not None:
                levels = _bias_shift_pairs_c(kern, chips)
            else:
                levels = parallel_map(
                    lambda amp: _bias_shift_amp(chips[1] if amp in "AB" else chips[0], amp, half=True), AMPS
                )
            for amp, m2 in zip(AMPS, levels, strict=True):
                log.info(SHIFT_MSG, amp, m2)
            cross = postsm4.cross_talk if kern is None else (lambda sci: postsm4.cross_talk_c(kern, sci))
            for c, sci in zip(chips, parallel_map(lambda c: cross(c.sci), chips), strict=True):
                c.sci = sci
        else:
            log.info("WFC readout type/gain not set as needed, no bias shift nor cross talk correction done.")
        log.info("Performing stripe removal and bias level subtraction for full frame data.")
        half = chips[0].sci.shape[1] // 2
        owners = {a: (chips[1] if a in "AB" else chips[0]) for a in AMPS}
        if kern is not None:
            levels, (fixed, skipped) = postsm4.destripe_c(kern, {a: owners[a].sci for a in AMPS}, half)
        else:
            amp64 = parallel_map(lambda a: postsm4.amp_view(owners[a].sci, a)[:, :half].astype(np.float64), AMPS)
            arrays = dict(zip(AMPS, amp64, strict=True))
            del amp64
            levels, (fixed, skipped) = postsm4.destripe(arrays)

            def store(a):
                postsm4.amp_view(owners[a].sci, a)[:, :half] = arrays[a].astype(F32)

            parallel_map(store, AMPS)
            del arrays
        for a in AMPS:
            owners[a].blev[AMPS.index(a)] += levels[a]
            log.info("     bias level of %.6g electrons was subtracted for AMP %s.", levels[a], a)
        chips[1].imset.headers["SCI"]["MEANBLEV"] = hdr_float((levels["A"] + levels["B"]) / 2.0)
        chips[0].imset.headers["SCI"]["MEANBLEV"] = hdr_float((levels["C"] + levels["D"]) / 2.0)
        log.info("DESTRIPE: number of rows fixed per amp: %d, skipped: %d", fixed, skipped)
        return True
    if (
        keys.detector == "WFC"
        and post
        and keys.subarray
        and keys.aperture in BIAS_SHIFT_APERTURES
        and chips[0].osc.virtual
        and ds_int_gain2
    ):
        log.info("Performing bias-shift correction for subarray data.")
        c = chips[0]
        if keys.ccdamp not in AMPS or len(keys.ccdamp) != 1:
            raise EngineError("a bias-shift subarray must be read by one amp", file=fname, keyword="CCDAMP")
        m2 = _bias_shift_amp(c, keys.ccdamp, half=False)
        log.info(SHIFT_MSG, keys.ccdamp, m2)
        c.imset.headers["SCI"]["MEANBLEV"] = hdr_float(m2)
        return True
    for c in chips:
        _do_blev(c, keys, fname)
    return True


SHIFT_MSG = "Bias shift correcting for bias level in Amp %s of %.4f electrons (after correction)."


def _bias_shift_pairs_c(kern, chips: list[_Chip]) -> list[float]:
    """Full-frame bias shift with the C kernel: A+B (chip 1) and C+D (chip 2) as two pairs, one pair
    per thread, the two recursions of a pair interleaved on one core. Returns the levels A..D."""
    ncols = chips[0].sci.shape[1] // 2
    for c in chips:
        if c.sci.shape[0] < 2067 or ncols < 23:
            raise EngineError("image too small for the bias-shift correction", keyword="APERTURE")

    def pair(amps: str):
        c = chips[1] if amps == "AB" else chips[0]
        return postsm4.bias_shift_pair_c(kern, c.sci, amps[0], c.sci, amps[1], ncols)

    levels = [m for pair_levels in parallel_map(pair, ("AB", "CD")) for m in pair_levels]
    for k, (c, m2) in enumerate(zip((chips[1], chips[1], chips[0], chips[0]), levels, strict=True)):
        c.blev[k] += m2
    return levels


def _bias_shift_amp(c: _Chip, amp: str, *, half: bool) -> float:
    ncols = c.sci.shape[1] // 2 if half else c.sci.shape[1]
    view = postsm4.amp_view(c.sci, amp)[:, :ncols]
    if view.shape[0] < 2067 or view.shape[1] < 23:
        raise EngineError("image too small for the bias-shift correction", keyword="APERTURE")
    kern = load(KERNELS)
    if kern is not None:
        _own_arrays(c)
        m2 = postsm4.bias_shift_c(kern, c.sci, amp, ncols)
    else:
        arr, m2 = postsm4.bias_shift(view.astype(np.float64), amp)
        view[...] = arr.astype(F32)
    c.blev[AMPS.index(amp)] += m2
    return m2


def _do_blev(c: _Chip, keys: AcsKeys, fname: str) -> None:
    amps = keys.ccdamp
    biasnum = AMPS.index(amps[0]) + (2 if len(amps) > 1 and keys.detector == "WFC" and c.chip == 2 else 0)
    default = float(F32(c.ccd.ccdbias[biasnum] * c.ccd.atodgain[biasnum]))
    if not c.osc.found:
        log.warning("Overscan region is too small to do BLEVCORR; bias from CCDTAB of %g will be subtracted.", default)
        c.sci = blevcorr.subtract_default(c.sci, default)
        c.blev[biasnum] = default
        return
    if c.osc.vy[0] > 0 or c.osc.vy[1] > 0:
        raise EngineError(
            "OSCNTAB asks for the virtual-overscan drift correction, which the builtin engine does not implement",
            file=fname,
            keyword="OSCNTAB",
        )
    sections = blevcorr.amp_sections(
        keys.detector, keys.ccdamp, c.chip, ampx=c.ccd.ampx, ampy=c.ccd.ampy, osc=c.osc, shape=c.sci.shape
    )
    c.sci, fits_, meanblev = blevcorr.do_blev(
        c.sci,
        c.dq,
        sections,
        trimy1=c.osc.trimy[0],
        sdqflags=c.sdqflags,
        readnoise=c.ccd.readnoise,
        default_bias=default,
    )
    for f in fits_:
        c.blev[AMPS.index(f.amp)] = f.level
        if f.too_few:
            log.warning("(blevcorr) %d image lines have too few usable overscan pixels.", f.too_few)
    c.imset.headers["SCI"]["MEANBLEV"] = hdr_float(meanblev)
    log.info(
        "Bias level from overscan has been subtracted; mean of bias levels subtracted was %.6g electrons.",
        float(meanblev),
    )


def _own_arrays(c: _Chip) -> None:
    """Make the chip's arrays contiguous, native and writable, as the in-place C kernels need."""
    for name, dtype in (("sci", F32), ("err", F32), ("dq", np.uint16)):
        a = c_array(getattr(c, name), dtype)
        if not a.flags.writeable:
            a = a.copy()
        setattr(c, name, a)


def _fullwell_noise_c(kern, c: _Chip, path, refs: RefCache, keys: AcsKeys, *, trim: bool = False) -> int:
    """The C form of full-well saturation (when `path` is given) and ERR initialisation, one pass.

    With `trim` (BLEVCORR done, no later step on the untrimmed chip) the pass also cuts the overscan:
    the chip's arrays become the trimmed science section (``c.trimmed``), no separate copy needed.
    Falls back to in place when the SATUFILE region reaches outside the section (its flag count
    would then include pixels the trim drops)."""
    _own_arrays(c)
    ny, nx = c.sci.shape
    sat, geometry = None, ((0, 0), (0, 0), (0, 0), (0, 0))
    (ty0, ty1), (tx0, tx1) = c.osc.trimy, c.osc.trimx
    section = (ty0, tx0), (ny - ty0 - ty1, nx - tx0 - tx1)
    if path is not None:
        ref = refs.chip(path, c.chip, keyword="SATUFILE", arrays=("SCI",), cache=False)
        (iy0, ix0), (sy0, sx0), (ydim, xdim) = _fullwell_region(c, path, ref)
        sat = kernel_array(ref.sci, F32)
        geometry = (ref.sci.shape, (iy0, ix0), (sy0, sx0), (ydim, xdim))
        inside = iy0 >= ty0 and ix0 >= tx0 and iy0 + ydim <= ny - ty1 and ix0 + xdim <= nx - tx1
        trim = trim and inside
    lay = c.layout
    rn = tuple(float(r) for r in lay.readnoise)
    bias_target = keys.targname.startswith("BIAS")
    nsat = kern.fullwell_noise(c.sci, c.err, c.dq, sat, ny, nx, lay.ampx, lay.ampy, rn, bias_target, *geometry, None)
    if trim and min(section[1]) > 0:  # the science section moved to the front of the chip's own buffers
        c.sci, c.err, c.dq = (cut_in_place(a, *section) for a in (c.sci, c.err, c.dq))
        c.trimmed = section[0]
    return nsat


def cut_in_place(a: np.ndarray, corner: tuple[int, int], shape: tuple[int, int], rows: int = 64) -> np.ndarray:
    """The section of C-contiguous `a` at `corner` (y0, x0) of `shape`, moved to the front of `a`'s own
    buffer and returned as a C-contiguous view of it (no second chip-sized array; `a` is overwritten).

    Rows go in blocks in increasing order: a block's destination ends before any later block's source
    (the section's rows are no longer than `a`'s), and NumPy copies a block whose source it overlaps.

    >>> a = np.arange(20).reshape(4, 5)
    >>> cut_in_place(a, (1, 1), (2, 3), rows=1).tolist()
    [[6, 7, 8], [11, 12, 13]]
    """
    (y0, x0), (ny, nx) = corner, shape
    out = a.reshape(-1)[: ny * nx].reshape(ny, nx)
    for r0 in range(0, ny, rows):
        r1 = min(r0 + rows, ny)
        out[r0:r1] = a[y0 + r0 : y0 + r1, x0 : x0 + nx]
    return out


def _section_headers(headers: dict, x0: int, y0: int) -> dict:
    """Copies of an imset's headers for its section starting at (x0, y0): LTV1/2 and CRPIX1/2 shifted
    as :func:`caldp.engines.common.hstio.section` does (HSTIO ``updateWCS``), for arrays already cut."""
    out = {}
    for name, hdr in headers.items():
        h = hdr.copy()
        for key, off in (("LTV1", x0), ("LTV2", y0), ("CRPIX1", x0), ("CRPIX2", y0)):
            if key in h:
                h[key] = h[key] - off
        out[name] = h
    return out


def _fullwell_region(c: _Chip, path, ref):
    """Image start, SATUFILE start and size of the full-well comparison (``doFullWellSat``)."""
    ny, nx = c.sci.shape
    xdim = nx - (c.osc.trimx[0] + c.osc.trimx[1])
    ydim = ny - (c.osc.trimy[0] + c.osc.trimy[1])
    p = find_line(c.imset.sci_hdr, nx, ref.sci_hdr, ref.sci.shape[1], file=path.name, keyword="SATUFILE")
    if p.same_size:
        _, corner = bin_and_corner(c.imset.sci_hdr)
        xb, yb = abs(corner[0]), abs(corner[1])
        img0, sat0 = (yb, xb), (yb, xb)
    else:
        img0, sat0 = (0, 0), (p.y0, p.x0)
    sy, sx = ref.sci.shape
    if (
        p.x0 < 0
        or p.y0 < 0
        or sat0[0] + ydim > sy
        or sat0[1] + xdim > sx
        or img0[0] + ydim > ny
        or img0[1] + xdim > nx
        or min(ydim, xdim) < 0
    ):
        raise EngineError(
            f"saturation image {ref.sci.shape[::-1]} does not cover the science array",
            file=path.name,
            keyword="SATUFILE",
        )
    return img0, sat0, (ydim, xdim)


def _fullwell(c: _Chip, path, refs: RefCache) -> np.ndarray:
    """``doFullWellSat``: DQ | SATPIXEL where SCI > SATUFILE over the science area."""
    ref = refs.chip(path, c.chip, keyword="SATUFILE", arrays=("SCI",), cache=False)
    ny, nx = c.sci.shape
    xdim = nx - (c.osc.trimx[0] + c.osc.trimx[1])
    ydim = ny - (c.osc.trimy[0] + c.osc.trimy[1])
    p = find_line(c.imset.sci_hdr, nx, ref.sci_hdr, ref.sci.shape[1], file=path.name, keyword="SATUFILE")
    dq = c.dq.copy()
    if p.same_size:
        _, corner = bin_and_corner(c.imset.sci_hdr)
        xb, yb = abs(corner[0]), abs(corner[1])
        sat = ref.sci[yb : yb + ydim, xb : xb + xdim]
        region = (slice(yb, yb + ydim), slice(xb, xb + xdim))
    else:
        sat = ref.sci[p.y0 : p.y0 + ydim, p.x0 : p.x0 + xdim]
        region = (slice(0, ydim), slice(0, xdim))
    if sat.shape != (ydim, xdim) or p.x0 < 0 or p.y0 < 0:
        raise EngineError(
            f"saturation image {ref.sci.shape[::-1]} does not cover the science array",
            file=path.name,
            keyword="SATUFILE",
        )
    dq[region] |= np.where(c.sci[region] > sat, np.uint16(DQ.SATPIXEL), np.uint16(0))
    return dq
