"""calstis1 for the MAMAs (HSTCAL ``cs1/do2d.c``, ``getgrpinfo1.c``, ``dodqi.c``, ``donoise.c``,
``dolores.c``, ``dononlin.c``, ``dodark.c``, ``doflat.c``, ``history1.c``): one pass over every imset
of a FUV-MAMA or NUV-MAMA exposure in calstis's order — DQICORR, error initialisation, LORSCORR,
GLINCORR/LFLGCORR, DARKCORR, FLATCORR (each reference smeared by DOPPCORR when the data were
Doppler-corrected on board), PHOTCORR, STATFLAG.

The thin layer: references and keywords here; pixel arithmetic in :mod:`.dqicorr`, :mod:`.basic2d`,
:mod:`.binning`, :mod:`.doppcorr`, :mod:`.glincorr`. References and history come from
:mod:`.calstis1` (shared with the CCD).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..common.errors import EngineError
from ..common.hstio import Exposure, ImSet, section
from ..common.keywords import hdr_double, hdr_float
from ..common.refs import column, is_given
from . import basic2d, binning, doppcorr, dqicorr, glincorr, tdccorr
from .calstis1 import (
    Refs,
    _col,
    _history,
    _photcorr,
    _write_stats,
    dqicorr_history,
    flag_bad_imset,
    flatcorr_history,
    imset_times,
    init_error,
    is_wavecal,
    read_bpixtab,
    read_coords,
    subtract_dark,
    write_coords,
)
from .checks import MAMAS

log = logging.getLogger(__name__)

RSIZE = 2  # calstis counts MAMA corners and bins in high-res pixels
TEMPERATURE_KEY = {"FUV-MAMA": "OM1CAT", "NUV-MAMA": "OM2CAT"}
ARCSEC_PER_DEGREE = 3600.0


@dataclass(slots=True)
class MamaSteps:
    """The MAMA switches of one calstis1 pass (PERFORM → True)."""

    dqicorr: bool = False
    lorscorr: bool = False
    glincorr: bool = False
    lflgcorr: bool = False
    darkcorr: bool = False
    flatcorr: bool = False
    photcorr: bool = False
    doppcorr: bool = False
    statflag: bool = False


@dataclass(slots=True)
class LinPars:
    global_limit: float
    local_limit: float
    tau: float
    expand: float


@dataclass(slots=True)
class Doppler:
    zero: float
    mag: float
    orbitper: float


def read_mlintab(refs: Refs, detector: str) -> LinPars:
    """``GetLinTab``: the first row whose DETECTOR is the science data's."""
    data, _, _ = refs.table("MLINTAB")
    f = refs.primary["MLINTAB"]
    dets = np.char.strip(_col(data, "DETECTOR", "MLINTAB", f).astype(str))
    rows = np.flatnonzero(dets == detector)
    if rows.size == 0:
        raise EngineError(f"Detector `{detector}' not found in MLINTAB", file=f, keyword="MLINTAB")
    r = int(rows[0])
    ped = column(data, "PEDIGREE")
    if ped is not None and str(ped[r]).strip().upper().startswith("DUMMY"):
        raise EngineError(
            "dummy MLINTAB rows are not supported by the builtin STIS engine yet", file=f, keyword="MLINTAB"
        )
    return LinPars(
        float(_col(data, "GLOBAL_LIMIT", "MLINTAB", f)[r]),
        float(_col(data, "LOCAL_LIMIT", "MLINTAB", f)[r]),
        float(_col(data, "TAU", "MLINTAB", f)[r]),
        float(np.float32(_col(data, "EXPAND", "MLINTAB", f)[r])),
    )


def _mlintab_history(primary, refs: Refs, detector: str) -> None:
    """``GetLinTab``'s ``RowPedigree`` then ``TabHistory``: the matched row's PEDIGREE (else the
    header's), the header's DESCRIP and the row's DESCRIP, each when not blank."""
    from .calstis4 import tab_history

    data, _, _ = refs.table("MLINTAB")
    dets = np.char.strip(np.asarray(column(data, "DETECTOR")).astype(str))
    tab_history(primary, refs, "MLINTAB", (data, int(np.flatnonzero(dets == detector)[0])))


def _tdc_factor(refs: Refs, expstart: float, temperature: float, mean_dark: float) -> float:
    """``GetTdcCorr`` for a post-SM4 TDCTAB (columns DATE0, TEMP0, A1, D1, A2, D2, TA, TB, TC)."""
    data, _, _ = refs.table("TDCTAB")
    f = refs.primary["TDCTAB"]
    names = ("DATE0", "TEMP0", "A1", "D1", "A2", "D2", "TA", "TB", "TC")
    if any(column(data, n) is None for n in names):
        raise EngineError(
            "only the post-SM4 TDCTAB format (DATE0, TEMP0, A1, D1, A2, D2, TA, TB, TC) is supported",
            file=f,
            keyword="TDCTAB",
        )
    if len(data) < 1:
        raise EngineError("TDCTAB is empty", file=f, keyword="TDCTAB")
    try:
        row = tdccorr.choose_row(np.asarray(column(data, "DATE0"), np.float64), expstart)
    except ValueError as exc:
        raise EngineError(str(exc), file=f, keyword="TDCTAB") from exc
    if row is None:
        log.warning("No valid row found in TDCTAB %s", f)
        return 1.0
    vals = {n: float(column(data, n)[row]) for n in names}
    return tdccorr.post_sm4_factor(vals, expstart, temperature, mean_dark)


def _lt(hdr) -> tuple[tuple[float, float], tuple[float, float]]:
    ltm = (float(hdr.get("LTM1_1", 1.0)), float(hdr.get("LTM2_2", 1.0)))
    ltv = (float(hdr.get("LTV1", 0.0)), float(hdr.get("LTV2", 0.0)))
    return ltm, ltv


def _scale(sci, err, k: float):
    """``multk2d`` on copies-or-views: SCI and ERR times the float k (unchanged for k == 1)."""
    return basic2d.scale_ref(sci, err, k)


def _doppler(hdr, fname: str, obsmode: str) -> Doppler | None:
    """``GetGrpInfo1``'s Doppler part: None when the data were not Doppler-corrected on board."""
    doppon = bool(hdr.get("DOPPON", False))
    if not doppon and obsmode == "TIME-TAG":
        doppon = float(hdr.get("DOPPMAG", -1.0)) > 0.0
    if not doppon:
        return None
    vals = []
    for key in ("DOPPZERO", "DOPPMAG", "ORBITPER"):
        if key not in hdr:
            raise EngineError("keyword not found (DOPPCORR with DOPPON = T)", file=fname, keyword=key)
        vals.append(float(hdr[key]))
    return Doppler(*vals)


def _find_bin(x: ImSet, ref: ImSet, keyword: str, file) -> binning.Bin:
    try:
        return binning.find_bin(_lt(x.sci_hdr), x.shape, _lt(ref.sci_hdr), ref.shape, rsize=RSIZE, dispaxis=1)
    except EngineError as exc:
        raise EngineError(exc.message, file=file, keyword=keyword) from exc


def _ref_under(x: ImSet, ref: ImSet, keyword: str, file, dopp, border: int, *, avg: bool, whole=None):
    """The reference SCI/ERR/DQ binned to the science pixels (``FindBin`` + ``bin2d``), first smeared
    by DOPPCORR (``MakeDopp`` + ``DoppConv``) when `dopp` is (ds, d0). The cached reference is not
    modified. `whole`, when given, is called with the whole (smeared) reference SCI and DQ before
    binning (the NUV-MAMA dark's mean)."""
    fb = _find_bin(x, ref, keyword, file)
    rs, re_, rd = ref.sci, ref.err, ref.dq
    if dopp is not None:
        if not fb.high_res:
            raise EngineError(
                "Doppler convolution (DOPPCORR) was specified, but the reference is binned to low-res pixels",
                file=file,
                keyword=keyword,
            )
        # DoppConv works along x, row by row: only the rows under the science image are needed
        y0, y1 = (0, ref.shape[0]) if fb.same_size or whole else (fb.y0, min(fb.y0 + x.shape[0] * fb.ry, ref.shape[0]))
        rs, re_, rd = rs[y0:y1].copy(), re_[y0:y1].copy(), rd[y0:y1].copy()
        doppcorr.dopp_conv(rs, re_, rd, dopp[0], dopp[1], border)
        fb = fb._replace(y0=fb.y0 - y0)
    if whole is not None:
        whole(rs, rd)
    if fb.same_size:
        return rs, re_, rd
    try:
        return binning.bin2d(rs, re_, rd, fb.x0, fb.y0, fb.rx, fb.ry, x.shape, avg=avg)
    except EngineError as exc:
        raise EngineError(exc.message, file=file, keyword=keyword) from exc


def _flat(refs: Refs, primary, x: ImSet) -> tuple[ImSet, str]:
    """``doFlat``'s product of the pixel, delta and low-order flats (the low-order one expanded by
    ``unbin2d`` to the size of the others), made once per exposure (calstis makes the same one for
    every imset) and only for the reference rows under the science image (every operation up to the
    binning works pixel by pixel or along x): a section with LTV2 shifted, as HSTIO cuts one."""
    have = {k: is_given(primary.get(k)) for k in ("PFLTFILE", "DFLTFILE", "LFLTFILE")}
    if not (have["PFLTFILE"] or have["DFLTFILE"]):
        if have["LFLTFILE"]:
            raise EngineError(
                "a low-order flat without a pixel or delta flat is not supported by the builtin STIS engine yet",
                keyword="LFLTFILE",
            )
        raise EngineError("FLATCORR=PERFORM but PFLTFILE, DFLTFILE and LFLTFILE are all blank", keyword="PFLTFILE")
    first = "PFLTFILE" if have["PFLTFILE"] else "DFLTFILE"
    ref, _ = refs.image(first)
    fb = _find_bin(x, ref, first, refs.primary[first])
    rows = (0, ref.shape[0]) if fb.same_size else (fb.y0, min(fb.y0 + x.shape[0] * fb.ry, ref.shape[0]))
    key = ("mama-flat", rows)
    if key not in refs.cache:
        refs.cache[key] = (_make_flat(refs, primary, have, first, rows), first)
    return refs.cache[key]


def _make_flat(refs: Refs, primary, have: dict, first: str, rows: tuple[int, int]) -> ImSet:
    ref, _ = refs.image(first)
    r0, r1 = rows
    y = section(ref, 0, r0, ref.shape[1], r1 - r0)
    if have["PFLTFILE"] and have["DFLTFILE"]:
        d, _ = refs.image("DFLTFILE")
        if d.shape != ref.shape:
            raise EngineError("Pixel-to-pixel flat and delta flat are not the same size", keyword="DFLTFILE")
        basic2d.multiply(y.sci, y.err, y.dq, d.sci[r0:r1], d.err[r0:r1], d.dq[r0:r1])
    if have["LFLTFILE"]:
        w, _ = refs.image("LFLTFILE")
        try:
            zs, ze, zd = binning.unbin2d(w.sci, w.err, w.dq, ref.shape, rows=rows)
        except EngineError as exc:
            raise EngineError(exc.message, file=primary["LFLTFILE"], keyword="LFLTFILE") from exc
        basic2d.multiply(y.sci, y.err, y.dq, zs, ze, zd)
    return y


def _update_platesc(primary, hdr, opt_elem: str) -> None:
    """``UpdatePlateSc`` after LORSCORR."""
    cd = [float(hdr.get(k, d)) for k, d in (("CD1_1", 1.0), ("CD1_2", 0.0), ("CD2_1", 0.0), ("CD2_2", 1.0))]
    oe = opt_elem.strip()
    if oe[:1] in ("G", "E") or oe == "PRISM":
        scale = abs(cd[3]) * ARCSEC_PER_DEGREE
    elif oe[:1] == "X":
        scale = abs(cd[0]) * ARCSEC_PER_DEGREE
    elif oe.startswith("MIR"):
        sx = math.sqrt(cd[0] ** 2 + cd[2] ** 2) * ARCSEC_PER_DEGREE
        sy = math.sqrt(cd[1] ** 2 + cd[3] ** 2) * ARCSEC_PER_DEGREE
        scale = max(sx, sy)
    else:
        return
    primary["PLATESC"] = (hdr_float(scale), "plate scale (arcsec/pixel)")


def _lores(imset: ImSet, bin_: tuple[int, int]) -> ImSet:
    """``doLoRes``: high-res axes summed to low-res (``bin2d``, avg = 0) with the coordinate keywords
    updated (``BinCoords``)."""
    mx, my = (2 if bin_[0] == 1 else 1), (2 if bin_[1] == 1 else 1)
    ny, nx = imset.shape
    s, e, d = binning.bin2d(imset.sci, imset.err, imset.dq, 0, 0, mx, my, (ny // my, nx // mx), avg=False)
    ltm, ltv, cd, crpix = binning.bin_update((float(mx), float(my)), (0.0, 0.0), *read_coords(imset.sci_hdr))
    headers = {k: v.copy() for k, v in imset.headers.items()}
    write_coords(headers.values(), ltm, ltv, cd, crpix)
    return ImSet(s, e, d, headers, imset.extver)


def calstis1_mama(exp: Exposure, steps: MamaSteps, refs: Refs) -> Exposure:
    """One calstis1 pass over every imset of a MAMA exposure `exp`; returns the calibrated exposure
    (`exp`'s arrays are reused)."""
    primary = exp.primary
    detector = str(primary.get("DETECTOR", "")).strip()
    if detector not in MAMAS:
        raise EngineError(f"DETECTOR = {detector} is not a MAMA", file=exp.filename, keyword="DETECTOR")
    obsmode = str(primary.get("OBSMODE", "")).strip()
    opt_elem = str(primary.get("OPT_ELEM", "")).strip()
    targname = str(primary.get("TARGNAME", "")).strip()
    doppcorr_on = steps.doppcorr
    spectroscopic = str(primary.get("OBSTYPE", "")).strip() == "SPECTROSCOPIC"
    wavecal = is_wavecal(primary)
    out = Exposure(primary=primary, filename=exp.filename)
    ngood = 0
    for imset in exp.imsets:
        hdr = imset.sci_hdr
        helio = spectroscopic and not wavecal  # echelle science
        exptime, expstart, sdqflags = imset_times(imset, primary, exp.filename, keys=("GLOBRATE",), helio=helio)
        ltm, ltv = _lt(hdr)
        bin_, _ = binning.corner(ltm, ltv, RSIZE)
        globrate = float(hdr["GLOBRATE"])
        dopp = None
        if doppcorr_on:
            dopp = _doppler(hdr, exp.filename, obsmode)
            doppcorr_on = dopp is not None  # calstis resets the switch silently for this and later imsets
        tkey = TEMPERATURE_KEY[detector]
        temperature = float(hdr.get(tkey, -1.0))
        if tkey not in hdr:
            log.warning("keyword %s not found; no temperature correction applied to sensitivity.", tkey)
        if targname != "BIAS" and flag_bad_imset(imset, exptime):
            out.imsets.append(imset)
            continue
        ngood += 1
        first = ngood == 1
        ds = None
        if dopp is not None:
            ds = doppcorr.make_dopp(dopp.zero, dopp.mag, dopp.orbitper, expstart, exptime, 1)
        applied = []
        sci, err, dq = imset.sci, imset.err, imset.dq
        if steps.dqicorr:
            rows, size = read_bpixtab(refs, opt_elem)
            dmin, dmax = doppcorr.dopp_range(*ds) if ds is not None else (0, 0)
            ltv0 = (ltv[0] + ltm[0] - 1.0, ltv[1] + ltm[1] - 1.0)
            dqicorr.apply_bpixtab_mama(
                dq, rows, ltm, ltv0, bin_, size, doppcorr=ds is not None, doppmin=dmin, doppmax=dmax
            )
            if first:
                dqicorr_history(primary, refs, bpixtab=True)
            if ds is not None:
                applied.append("DQICORR")
        if init_error(imset, primary, int(hdr.get("NCOMBINE", 1)), basic2d.init_error_mama, first=first):
            err = imset.err
        if steps.lorscorr:
            done = bin_ != (2, 2)
            if done:
                imset = _lores(imset, bin_)
                sci, err, dq, hdr = imset.sci, imset.err, imset.dq, imset.sci_hdr
                bin_ = (2, 2)
                if first:
                    _update_platesc(primary, hdr, opt_elem)
            if first:
                primary["LORSCORR"] = "COMPLETE" if done else "SKIPPED"
                _history(
                    primary,
                    "LORSCORR complete; image converted from high-res to low-res."
                    if done
                    else "LORSCORR skipped; image is already low-res.",
                )
        if steps.glincorr or steps.lflgcorr:
            lin = read_mlintab(refs, detector)
            hdr["GLOBLIM"] = ("NOT-EXCEEDED", "global count rate exceeded?")
            if exptime > 0:
                globrate = glincorr.glob_rate(sci, exptime)
                hdr["GLOBRATE"] = (hdr_double(globrate), "global count rate")
            if globrate > lin.global_limit:
                hdr["GLOBLIM"] = ("EXCEEDED", "global count rate exceeded")
                log.warning("global count rate %.6g exceeds the MLINTAB limit; no correction.", globrate)
            elif steps.glincorr:
                sci, err = _scale(sci, err, glincorr.find_rate(globrate, lin.tau))
                imset.sci, imset.err = sci, err
            if steps.lflgcorr:
                limit = glincorr.local_limit(lin.local_limit, exptime, bin_)
                glincorr.flag_local(sci, dq, limit, lin.expand, bin_)
            if first:
                for key, on in (("GLINCORR", steps.glincorr), ("LFLGCORR", steps.lflgcorr)):
                    if on:
                        primary[key] = "COMPLETE"
                        _history(primary, f"{key} complete ...")
                _mlintab_history(primary, refs, detector)
        if steps.darkcorr:
            ref, _ = refs.image("DARKFILE")
            means = []
            nuv = detector == "NUV-MAMA"
            under = _ref_under(
                imset,
                ref,
                "DARKFILE",
                refs.primary["DARKFILE"],
                ds,
                0,
                avg=False,
                whole=(lambda a, d, m=means: m.append(tdccorr.mean_nuv_dark(a, d))) if nuv else None,
            )
            factor = _tdc_factor(refs, expstart, temperature, means[0]) if nuv else 1.0
            scale = factor * exptime / 1.0  # factor · EXPTIME / ATODGAIN (1 for the MAMAs)
            subtract_dark(imset, (sci, err, dq), under, scale, factor, primary, refs, first=first)
            if ds is not None:
                applied.append("DARKCORR")
        if steps.flatcorr:
            flat, key = _flat(refs, primary, imset)
            border = 0 if obsmode == "TIME-TAG" or dopp is None else int(dopp.mag + 0.5)
            fs, fe, fd = _ref_under(imset, flat, key, refs.primary[key], ds, border, avg=True)
            basic2d.divide(sci, err, dq, fs, fe, fd)
            if first:
                flatcorr_history(primary, refs)
            if ds is not None:
                applied.append("FLATCORR")
        if first:
            _photcorr(imset, primary, refs, None, steps.photcorr, temperature, detector=detector)
            if applied:
                _history(primary, "DOPPCORR applied to " + ", ".join(applied))
        if steps.statflag:
            _write_stats(imset, basic2d.good_stats(imset.sci, imset.err, imset.dq, sdqflags))
        out.imsets.append(imset)
    return out


def _perform(primary, key: str) -> bool:
    return str(primary.get(key, "OMIT")).strip().upper() == "PERFORM"


def process(exp: Exposure, raw, root: str, out, env) -> None:
    """cs0.e for a MAMA imaging exposure: calstis1 → ``_flt``; with RPTCORR and more than one imset,
    calstis8 sums the ``_flt`` imsets → ``_sfl``. The products are claimed and every reference the
    switches need is checked before any pixel."""
    from ..common.refs import resolve
    from . import checks, rptcorr

    primary = exp.primary
    fname = raw.name
    if str(primary.get("OBSTYPE", "")).strip() != "IMAGING":
        raise EngineError(
            "MAMA spectroscopy is not supported by the builtin STIS engine yet", file=fname, keyword="OBSTYPE"
        )
    for key in ("ATODCORR", "BLEVCORR", "BIASCORR", "SHADCORR", "GEOCORR", "X2DCORR"):
        if _perform(primary, key):
            raise EngineError(
                f"{key}=PERFORM is not supported for MAMA data by the builtin STIS engine", file=fname, keyword=key
            )
    rpt = _perform(primary, "RPTCORR") and exp.nimsets > 1
    if _perform(primary, "RPTCORR") and not rpt:
        log.warning("RPTCORR will be omitted because there's only one imset.")
    out.claim([f"{root}_flt.fits"] + ([f"{root}_sfl.fits"] if rpt else []))
    need = checks.needed_references_mama(primary, lambda key: _perform(primary, key))
    checks.check_references(primary, need, lambda key: resolve(primary[key], env, keyword=key), fname)
    steps = MamaSteps(
        *(
            _perform(primary, k)
            for k in ("DQICORR", "LORSCORR", "GLINCORR", "LFLGCORR", "DARKCORR", "FLATCORR", "PHOTCORR", "DOPPCORR")
        ),
        statflag=bool(primary.get("STATFLAG", False)),
    )
    refs = Refs(env, primary.copy())
    flt = calstis1_mama(exp, steps, refs)
    out.write(flt, f"{root}_flt.fits")
    if rpt:
        sfl = rptcorr.calstis8(flt, fname)
        if sfl is None:
            log.warning("Output file %s_sfl.fits was not written.", root)
        else:
            out.write(sfl, f"{root}_sfl.fits")
