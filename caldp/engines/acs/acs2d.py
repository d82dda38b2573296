"""ACS2D: ``_blv_tmp`` → ``_flt`` and ``_crj_tmp`` → ``_crj`` (HSTCAL ``acs2d/do2d.c``; calib-acs-wfc.md §6).

Thin layer: per imset DARKCORR, FLSHCORR, FLATCORR, SHADCORR, PHOTMODE/PHOTCORR, statistics;
switches become COMPLETE (SKIPPED for DUMMY references or FLASHDUR ≤ 0).
"""

from __future__ import annotations

import logging

import numpy as np

from ..common import imphttab
from ..common.errors import EngineError
from ..common.hstio import Exposure, ImSet
from ..common.kernels import c_array, load
from ..common.keywords import hdr_float
from ..common.refimage import cut_to_science
from ..common.switches import Switch
from ..common.threads import parallel_map
from . import darkcorr, flatcorr, flshcorr, noise, photcorr, shadcorr
from .context import AcsKeys, reference
from .refs import RefCache, kernel_array
from .stats import image_statistics
from .tables import read_ccdtab

log = logging.getLogger(__name__)

F32 = np.float32
AMPS = "ABCD"


BLOCK_ROWS = 256


def blockwise(func, *arrays, rows: int = BLOCK_ROWS, **kw):
    """Apply a pointwise step ``func(*arrays, **kw) -> (sci, err, dq)`` in strips of `rows` lines.

    The steps are pixel-by-pixel, so the result is identical; only the temporaries shrink to a strip.
    The strips are spread over :func:`~caldp.engines.common.threads.parallel_map` threads (the first strip
    is done first, to size the outputs).

    >>> a = np.arange(12, dtype=F32).reshape(6, 2)
    >>> s, m = blockwise(lambda x: (x * F32(2), x.sum(keepdims=True)[0]), a, rows=4)
    >>> s[:, 0].tolist(), m.tolist()
    ([0.0, 4.0, 8.0, 12.0, 16.0, 20.0], [28.0, 38.0])
    """
    ny = arrays[0].shape[0]
    starts = list(range(0, ny, rows))
    first = func(*(a[0:rows] for a in arrays), **kw)
    # full-size outputs for image results, one slot per strip for scalars
    outs = [np.empty((ny,) + r.shape[1:], r.dtype) if r.ndim == 2 else np.empty(len(starts), r.dtype) for r in first]

    def store(b, res):
        r0 = starts[b]
        for o, r in zip(outs, res, strict=True):
            if r.ndim == 2:
                o[r0 : r0 + rows] = r
            else:
                o[b] = r[0]

    store(0, first)
    del first

    def one(b):
        r0 = starts[b]
        store(b, func(*(a[r0 : r0 + rows] for a in arrays), **kw))

    parallel_map(one, range(1, len(starts)))
    return tuple(outs)


KERNELS = "caldp.engines.acs._kernels"
STEP_DARK, STEP_FLASH, STEP_FLAT, STEP_SHADE = 0, 1, 2, 3  # the step kinds of the C kernel calib2d
C_STRIPS = 4  # row strips of a C pass: fixed, so partial sums do not depend on the thread count


def _calib2d_c(kern, sci, err, dq, step, sdqflags: int, rows=None) -> tuple[float, int]:
    """One reference step ``(kind, scale, S, E, D)`` applied in place by the C kernel, in row strips
    spread over the chip threads. Returns the float64 sum and number of the good scaled dark pixels
    (dark step; summed strip after strip); `rows` = (float64 sums, int64 counts) per line receives
    the good scaled flash pixels (flash step)."""
    kind, scale, s, e, d = step
    ny, nx = sci.shape
    arrays = (kernel_array(s, F32), kernel_array(e, F32), kernel_array(d, np.uint16))
    steps = ((kind, scale, *arrays),)
    bounds = [ny * b // C_STRIPS for b in range(C_STRIPS + 1)]
    rsum, rn = rows if rows is not None else (None, None)

    def strip(b):
        return kern.calib2d(sci, err, dq, ny, nx, bounds[b], bounds[b + 1], steps, sdqflags, rsum, rn)

    parts = parallel_map(strip, range(C_STRIPS))
    total, count = 0.0, 0
    for psum, pn in parts:
        total += psum
        count += pn
    return total, count


def acs2d(exp: Exposure, *, keys: AcsKeys, env, refs: RefCache, combined: bool = False) -> Exposure:
    """Run ACS2D on an exposure in memory (``_blv_tmp`` or ``_crj_tmp``); returns the product.

    The input is consumed: with the C kernels its arrays are calibrated in place (the chips side by
    side in threads), with the NumPy steps its imsets are released one by one as they are
    calibrated (this keeps a full-frame WFC run under 1 GB); pass a copy to keep them.
    """
    fname = exp.filename
    primary = exp.primary.copy()
    sw = keys.switches
    if str(primary.get("BLEVCORR", "")).strip().upper() != "COMPLETE":
        raise EngineError(
            "BLEVCORR has not been done; ACS2D needs overscan-trimmed data", file=fname, keyword="BLEVCORR"
        )
    ccdtab = reference(primary, "CCDTAB", env, file=fname)
    do = {s: sw[s] is Switch.PERFORM for s in ("DARKCORR", "FLSHCORR", "FLATCORR", "SHADCORR", "PHOTCORR")}
    dark = reference(primary, "DARKFILE", env, file=fname, reader=refs.primary) if do["DARKCORR"] else None
    flsh = reference(primary, "FLSHFILE", env, file=fname, reader=refs.primary) if do["FLSHCORR"] else None
    flats = []
    if do["FLATCORR"]:
        for key in ("PFLTFILE", "DFLTFILE", "LFLTFILE"):
            r = reference(primary, key, env, file=fname, optional=True, reader=refs.primary)
            if r.path is not None:
                flats.append(r)
        if not flats:
            raise EngineError(
                "FLATCORR needs at least one of PFLTFILE, DFLTFILE, LFLTFILE", file=fname, keyword="PFLTFILE"
            )
        if any(f.keyword == "LFLTFILE" for f in flats):
            raise EngineError("LFLTFILE (binned low-order flat) is not implemented", file=fname, keyword="LFLTFILE")
        if str(primary.get("CFLTFILE", "N/A")).strip().upper() not in ("", "N/A"):
            raise EngineError("CFLTFILE (coronagraphic spot flat) is not implemented", file=fname, keyword="CFLTFILE")
    shad = reference(primary, "SHADFILE", env, file=fname, reader=refs.primary) if do["SHADCORR"] else None
    if shad is not None and combined:
        raise EngineError("SHADCORR of a CR-combined product is not implemented", file=fname, keyword="SHADCORR")
    phot = reference(primary, "IMPHTTAB", env, file=fname) if do["PHOTCORR"] else None
    t_dark = F32(primary.get("DARKTIME", 0.0))
    flashdur = float(primary.get("FLASHDUR", 0.0))
    mode = photcorr.photmode(
        keys.detector,
        obstype=keys.obstype,
        filter1=keys.filter1,
        filter2=keys.filter2,
        expstart=float(primary["EXPSTART"]),
        lrfwave=keys.lrfwave,
    )
    photvals = imphttab.lookup(phot.path, mode) if phot is not None else None
    phot_skipped = photvals is not None and any(
        photvals[k] == imphttab.OUT_OF_RANGE for k in ("PHOTFLAM", "PHOTPLAM", "PHOTBW")
    )

    def calibrate(im: ImSet, kern, notes: list):
        """One imset; log lines go to `notes` (emitted in imset order by the caller)."""
        h = {k: v.copy() for k, v in im.headers.items()}
        sci, err, dq, extver = im.sci, im.err, im.dq, im.extver
        chip = int(h["SCI"].get("CCDCHIP", 1))
        sdq = int(h["SCI"].get("SDQFLAGS", 65535))
        ccd = read_ccdtab(
            ccdtab.path, ccdamp=keys.ccdamp, ccdgain=keys.ccdgain, chip=chip, ccdofst=keys.ccdofst, nx=sci.shape[1]
        )
        ltv = (float(h["SCI"].get("LTV1", 0.0)), float(h["SCI"].get("LTV2", 0.0)))
        if ltv[0] > 0 or ltv[1] > 0:
            raise EngineError("overscan has not been trimmed (LTV > 0)", file=fname, keyword="LTV1")
        layout = noise.amp_layout(
            keys.detector, chip, ccd.atodgain, ccd.readnoise, ampx=ccd.ampx, ampy=ccd.ampy, ltv=ltv, shape=sci.shape
        )
        if not str(h["SCI"].get("BUNIT", "")).strip().upper().startswith("ELECTR"):
            sci, err = noise.to_electrons(sci, err, layout)
            h["SCI"]["BUNIT"] = h["ERR"]["BUNIT"] = "ELECTRONS"
        if not np.any(err):
            err = noise.init_error(sci, err, layout, bias_target=keys.targname.startswith("BIAS"))
        if kern is not None:
            sci, err, dq = (c_array(a, t) for a, t in ((sci, F32), (err, F32), (dq, np.uint16)))
            sci, err, dq = (a if a.flags.writeable else a.copy() for a in (sci, err, dq))
        if dark is not None and not dark.dummy:
            ref = refs.chip(dark.path, chip, keyword="DARKFILE", cache=False)
            ds, de, dd = cut_to_science(ref, h["SCI"], sci.shape, file=dark.path.name, keyword="DARKFILE")
            del ref
            if kern is not None:
                zsum, zn = _calib2d_c(kern, sci, err, dq, (STEP_DARK, float(t_dark), ds, de, dd), sdq)
            else:
                sci, err, dq, zsums, zns = blockwise(
                    darkcorr.darkcorr, sci, err, dq, ds, de, dd, darktime=t_dark, sdqflags=sdq
                )
                zsum, zn = zsums.sum(), zns.sum()
            del ds, de, dd
            meandark = F32(zsum / zn) if zn else F32(0)
            h["SCI"]["MEANDARK"] = hdr_float(meandark)
            notes.append(
                (
                    "DARKCORR chip %d: DARKFILE %s, DARKTIME %g, MEANDARK %.6g",
                    chip,
                    dark.path.name,
                    float(t_dark),
                    float(meandark),
                )
            )
        if flsh is not None and not flsh.dummy and flashdur > 0:
            ref = refs.chip(flsh.path, chip, keyword="FLSHFILE", cache=False)
            fs, fe, fd = cut_to_science(ref, h["SCI"], sci.shape, file=flsh.path.name, keyword="FLSHFILE")
            if kern is not None:
                rows = (np.zeros(sci.shape[0]), np.zeros(sci.shape[0], np.int64))
                _calib2d_c(kern, sci, err, dq, (STEP_FLASH, float(F32(flashdur)), fs, fe, fd), sdq, rows)
                meanflsh = flshcorr.mean_flash_lines(rows[0], rows[1], sci.shape[1])
                h["SCI"]["MEANFLSH"] = hdr_float(meanflsh)
            else:
                z, ze = flshcorr.scale_flash(fs, fe, flashdur)
                h["SCI"]["MEANFLSH"] = hdr_float(flshcorr.mean_flash(z, fd, sdq))
                sci, err, dq = blockwise(darkcorr.subtract, sci, err, dq, z, ze, fd)
        for f in flats:
            if f.dummy:
                continue
            ref = refs.chip(f.path, chip, keyword=f.keyword, cache=False)
            fs, fe, fd = cut_to_science(ref, h["SCI"], sci.shape, file=f.path.name, keyword=f.keyword)
            if kern is not None:
                _calib2d_c(kern, sci, err, dq, (STEP_FLAT, 1.0, fs, fe, fd), sdq)
            else:
                sci, err, dq = blockwise(flatcorr.divide_flat, sci, err, dq, fs, fe, fd)
            notes.append(("FLATCORR chip %d: %s %s", chip, f.keyword, f.path.name))
        if shad is not None and not shad.dummy and keys.exptime > 0:
            ref = refs.chip(shad.path, chip, keyword="SHADFILE", cache=False)
            ss, se, sd = cut_to_science(ref, h["SCI"], sci.shape, file=shad.path.name, keyword="SHADFILE")
            ncomb = int(h["SCI"].get("NCOMBINE", 1)) or 1
            if kern is not None:
                k = float(shadcorr.shading_scale(keys.exptime, ncomb))
                _calib2d_c(kern, sci, err, dq, (STEP_SHADE, k, ss, se, sd), sdq)
            else:
                sci, err, dq = shadcorr.shadcorr(sci, err, dq, ss, se, sd, exptime=keys.exptime, ncombine=ncomb)
        h["SCI"]["PHOTMODE"] = mode
        if photvals is not None:
            for k in ("PHOTFLAM", "PHOTPLAM", "PHOTBW", "PHOTZPT"):
                h["SCI"][k] = hdr_float(photvals[k])
        new = ImSet(sci=np.asarray(sci, F32), err=np.asarray(err, F32), dq=dq, headers=h, extver=extver)
        stats = image_statistics(new.sci, new.err, new.dq, sdq)
        for ext, values in stats.items():  # float keywords as HSTIO writes them (8 significant digits)
            for key, value in values.items():
                new.headers[ext][key] = value if key == "NGOODPIX" else hdr_float(value)
        return new, ccd

    pending, exp.imsets = exp.imsets, []
    kern = load(KERNELS)
    done = []
    if kern is not None and len(pending) > 1:
        # C kernels work in place: the chips run side by side (each reads its own references)
        notes = [[] for _ in pending]
        done = parallel_map(lambda k: calibrate(pending[k], kern, notes[k]), range(len(pending)))
        pending.clear()
    else:  # one imset at a time, each released once calibrated (the NumPy steps make new arrays)
        notes = []
        while pending:
            notes.append([])
            done.append(calibrate(pending.pop(0), kern, notes[-1]))
    out = []
    for (new, ccd), lines in zip(done, notes, strict=True):
        for k, a in enumerate(AMPS):  # the last imset's values, as HSTCAL leaves them
            primary[f"ATODGN{a}"] = hdr_float(ccd.atodgain[k])
            primary[f"READNSE{a}"] = hdr_float(ccd.readnoise[k])
        for line in lines:
            log.info(*line)
        out.append(new)
    if dark is not None:
        primary["DARKCORR"] = str(Switch.SKIPPED if dark.dummy else Switch.COMPLETE)
    if flsh is not None:
        primary["FLSHCORR"] = str(Switch.SKIPPED if (flsh.dummy or flashdur <= 0) else Switch.COMPLETE)
    if flats:
        primary["FLATCORR"] = str(Switch.SKIPPED if all(f.dummy for f in flats) else Switch.COMPLETE)
    if shad is not None:
        primary["SHADCORR"] = str(Switch.SKIPPED if (shad.dummy or keys.exptime <= 0) else Switch.COMPLETE)
    if phot is not None:
        primary["PHOTCORR"] = str(Switch.SKIPPED if phot_skipped else Switch.COMPLETE)
    primary["EXPSCORR"] = str(Switch.COMPLETE)
    return Exposure(primary=primary, imsets=out, filename=fname)
