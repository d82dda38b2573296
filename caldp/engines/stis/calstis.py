"""calstis driver for STIS CCD imaging (HSTCAL ``cs0/calstis0.c``), driven like cs0.e from a
``_raw.fits`` (or the ``_asn.fits`` naming it): calstis1 (DQICORR, BLEVCORR, BIASCORR) on every
imset, calstis2 (OCRREJECT) → ``_crj``, calstis1 (DARKCORR, FLATCORR, PHOTCORR, STATFLAG) on the
combined image and on the CR-flagged imsets → ``_flt``. One imset: calstis1 in one pass → ``_flt``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from ..common import driver
from ..common.driver import driver_run, member_raw, read_asn_table
from ..common.errors import EngineError
from ..common.hstio import Exposure, ImSet, read_exposure, write_atomic
from ..common.keywords import hdr_double, hdr_float
from ..common.refs import resolve
from . import checks
from . import ocrreject as ocr
from .calstis1 import Refs, Steps, calstis1

log = logging.getLogger(__name__)


#: The cs0.e (HSTCAL) version whose behaviour is reproduced.
CALSTIS_SEMANTICS = "3.5.0"


def cal_ver() -> str:
    return driver.cal_ver("calstis", CALSTIS_SEMANTICS)


def _perform(primary, key: str) -> bool:
    return str(primary.get(key, "OMIT")).strip().upper() == "PERFORM"


def calstis(
    input_path,
    *,
    outdir=None,
    env: Mapping[str, str] | None = None,
    keep_intermediates: bool = False,
    verbose: bool = False,
    outroot: str | None = None,
    wavecal: str | None = None,
) -> list[Path]:
    """Calibrate a STIS CCD imaging exposure; returns the paths written. `outroot`: the products'
    root name (cs0.e's outroot argument; default the raw file's). `wavecal`: cs0.e's ``-w``, the
    wavecal to use instead of the WAVECAL keyword (a path as given)."""
    with driver_run(input_path, outdir=outdir, env=env, cal_ver=(cal_ver(), "CALSTIS code version")) as run:
        path = run.input_path
        name = path.name.lower()
        if name.endswith("_asn.fits"):
            _, rows = read_asn_table(path)
            members = [r.name for r in rows if r.mtype.startswith("exp")]
            if len(members) != 1:
                raise EngineError("STIS association must name one raw exposure", file=path.name)
            raw = member_raw(path.parent, members[0])
        elif name.endswith(("_raw.fits", "_wav.fits")):
            raw = path  # a wavecal on its own: calstis1 with its switches → <root>_wav_flt (cs0.e)
        else:
            raise EngineError("input must be an _asn.fits, a _raw.fits or a _wav.fits file", file=path.name)
        suffix = "_raw.fits" if raw.name.lower().endswith("_raw.fits") else ".fits"
        root = outroot or raw.name[: -len(suffix)].lower()
        try:
            _process(raw, root, run.out, dict(run.env), keep=keep_intermediates, wavfile=wavecal)
        finally:
            run.out.close()
        run.trailer_roots = [root]
    return list(run.out.written)


def _process(raw: Path, root: str, out, env, *, keep: bool = False, wavfile: str | None = None) -> None:
    exp = read_exposure(raw)
    primary = exp.primary
    if str(primary.get("INSTRUME", "")).strip() != "STIS":
        raise EngineError("INSTRUME is not STIS", file=raw.name, keyword="INSTRUME")
    obstype = str(primary.get("OBSTYPE", "")).strip()
    if obstype not in ("IMAGING", "SPECTROSCOPIC"):
        raise EngineError(f"OBSTYPE = {obstype} is not supported", file=raw.name, keyword="OBSTYPE")
    # Each mode imports only the modules it runs (a drop-in pays every import on every call).
    # --- MAMA (helper-18m): calstis1 for the MAMAs → _flt, RPTCORR (calstis8) → _sfl ---
    if str(primary.get("DETECTOR", "")).strip() in checks.MAMAS:
        if obstype == "SPECTROSCOPIC":
            from . import echelle

            if echelle.is_echelle(primary):  # helper-18e: E140M/E230M…
                echelle.process(exp, raw, root, out, env, keep=keep, wavfile=wavfile)
                return
        from . import calstis1_mama

        calstis1_mama.process(exp, raw, root, out, env)
        return
    # --- spectroscopy (helper-18s): the wavecal is checked up front, processed after the science ---
    wav = None
    if obstype == "SPECTROSCOPIC":
        from . import wavecal, x1d_io, x2d_io

        wav = wavecal.prepare(raw, primary, env, wavfile)
    unsupported = ["ATODCORR", "SHADCORR", "RPTCORR", "CTECORR"]
    unsupported += ["GEOCORR", "X2DCORR"] if obstype == "IMAGING" else []
    for key in unsupported:
        if _perform(primary, key):
            raise EngineError(
                f"{key}=PERFORM is not supported by the builtin STIS engine yet", file=raw.name, keyword=key
            )
    checks.key_info(primary, raw.name)
    refs = Refs(env, primary.copy())
    crcorr = _perform(primary, "CRCORR") and exp.nimsets > 1
    stat = bool(primary.get("STATFLAG", False))
    full = Steps(
        _perform(primary, "DQICORR"),
        _perform(primary, "BLEVCORR"),
        _perform(primary, "BIASCORR"),
        _perform(primary, "DARKCORR"),
        _perform(primary, "FLATCORR"),
        _perform(primary, "PHOTCORR"),
        stat,
    )
    if crcorr:
        out.claim([f"{root}_crj.fits"] + ([f"{root}_flt.fits"] if _perform(primary, "EXPSCORR") else []))
    else:
        out.claim([f"{root}_flt.fits"])
    if wav is not None and keep:
        tmp = ["fwv", "cwv", "w2d"] if wav.subscicorr else ["fwv", "w2d"]
        out.claim([f"{root}_{t}_tmp.fits" for t in tmp])
    # --- 2-D rectification (helper-19): calstis7 on the _crj (-> _sx2) or else the _flt (-> _x2d) ---
    x2d = obstype == "SPECTROSCOPIC" and _perform(primary, "X2DCORR")
    if x2d:
        out.claim([f"{root}_sx2.fits" if crcorr else f"{root}_x2d.fits"])
        x2d_io.check(primary, env, raw.name)
    # --- 1-D extraction (helper-19): calstis6 on the _crj (-> _sx1) or else the _flt (-> _x1d) ---
    x1d = obstype == "SPECTROSCOPIC" and _perform(primary, "X1DCORR")
    if x1d:
        out.claim([f"{root}_sx1.fits" if crcorr else f"{root}_x1d.fits"])
        x1d_io.check(primary, env, raw.name)
    # as cs0.e: existing products first, then every reference the switches need, before any pixel
    need = checks.needed_references(primary, lambda key: _perform(primary, key), crcorr)
    checks.check_references(primary, need, lambda key: resolve(primary[key], env, keyword=key), raw.name)
    if wav is not None:
        wavecal.check_references(wav, env)
        wavecal.skip_spectral_steps(primary)
    if not crcorr:
        flt = calstis1(exp, full, refs, input_dir=raw.parent)
        if wav is not None:
            wavecal.process(wav, root, out, env, [flt], keep=keep)
        out.write(flt, f"{root}_flt.fits")
        if x2d:
            out.write(x2d_io.calstis7(flt, env), f"{root}_x2d.fits")
        if x1d:
            _write_table(out, x1d_io.calstis6(flt, env), f"{root}_x1d.fits")
        return
    a = Steps(full.dqicorr, full.blevcorr, full.biascorr)
    b = Steps(darkcorr=full.darkcorr, flatcorr=full.flatcorr, photcorr=full.photcorr, statflag=stat)
    blv = calstis1(exp, a, refs, input_dir=raw.parent)
    crj = _combine(blv, refs, raw.name)
    crj = calstis1(crj, b, refs, input_dir=raw.parent)
    flt = calstis1(blv, b, refs, input_dir=raw.parent) if _perform(primary, "EXPSCORR") else None
    if wav is not None:  # cs0.e: wavecal after the science products, its shifts into their headers
        wavecal.process(wav, root, out, env, [crj] + ([flt] if flt is not None else []), keep=keep)
    out.write(crj, f"{root}_crj.fits")
    if flt is not None:
        out.write(flt, f"{root}_flt.fits")
    if x2d:
        out.write(x2d_io.calstis7(crj, env), f"{root}_sx2.fits")
    if x1d:
        _write_table(out, x1d_io.calstis6(crj, env), f"{root}_sx1.fits")


def _write_table(out, hdul, name: str) -> None:
    """A calstis6 table product (FILENAME set, written atomically, registered for rollback)."""
    hdul[0].header["FILENAME"] = name
    out.register(write_atomic(hdul, out.path(name)))


def _combine(blv: Exposure, refs: Refs, fname: str) -> Exposure:
    """calstis2: the ``_crj_tmp`` exposure; the rejections are written back into `blv`'s DQ."""
    p = blv.primary
    good = [im for im in blv.imsets if im.sci_hdr.get("IMSET_OK", True) is not False]
    if len(good) < 2:
        raise EngineError("CRCORR needs at least two good imsets", file=fname, keyword="CRCORR")
    efac, tfac = [], []
    for im in good:
        efac.append(hdr_float(im.sci_hdr["EXPTIME"]))
        tfac.append(float(im.sci_hdr.get("OCCDHTAV", -1.0)))
    import numpy as np

    f32 = np.float32
    exptot = f32(0)
    temptot = f32(0)
    for e, t in zip(efac, tfac, strict=True):
        exptot = f32(exptot + f32(e))
        temptot = f32(temptot + f32(f32(t) * f32(e)))
    data, _, _ = refs.table("CRREJTAB")
    pars = ocr.select_row(
        data,
        nimgs=len(good),
        exptot=float(exptot),
        spectroscopic=str(p.get("OBSTYPE", "")).strip() == "SPECTROSCOPIC",
        file=refs.primary.get("CRREJTAB"),
    )
    ron, gn = f32(p["READNSE"]), f32(p["ATODGAIN"])
    res = ocr.ocrreject(
        [im.sci for im in good],
        [im.dq for im in good],
        efac=efac,
        noise=[f32(ron / gn)] * len(good),
        gain=[gn] * len(good),
        pars=pars,
    )
    log.info("sky levels %s DN", ", ".join(f"{float(s):0.3f}" for s in res.skies))
    for im, d in zip(good, res.out_dqs, strict=True):
        im.dq = d
    first = good[0]
    headers = {k: h.copy() for k, h in first.headers.items()}
    prim = p.copy()
    prim["TEXPTIME"] = hdr_float(res.exptot)
    prim["SKYSUM"] = (hdr_float(res.skysum), "Total sky level (DN)")
    if res.exptot > 0:
        prim["REJ_RATE"] = (hdr_float(f32(res.nrej) / res.exptot), "Cosmic ray impact rate (pixels/sec)")
    starts = [float(im.sci_hdr["EXPSTART"]) for im in good]
    ends = [float(im.sci_hdr["EXPEND"]) for im in good]
    sh = headers["SCI"]
    sh["EXPTIME"] = hdr_float(res.exptot)
    if res.exptot > 0 and temptot > 0:
        sh["OCCDHTAV"] = hdr_float(f32(temptot / res.exptot))
    prim["TEXPSTRT"] = hdr_double(min(starts))
    prim["TEXPEND"] = hdr_double(max(ends))
    sh["EXPSTART"] = hdr_double(min(starts))
    sh["EXPEND"] = hdr_double(max(ends))
    for k, v in (
        ("INITGUES", pars.initgues),
        ("SKYSUB", pars.skysub),
        ("CRSIGMAS", pars.crsigmas),
        ("MEANEXP", hdr_float(pars.meanexp)),
        ("CRRADIUS", hdr_float(pars.crradius)),
        ("CRTHRESH", hdr_float(pars.crthresh)),
        ("SCALENSE", hdr_float(pars.scalense)),
        ("BADINPDQ", pars.badinpdq),
        ("CRMASK", bool(pars.crmask)),
        ("NEXTEND", 3),
        ("CRCORR", "COMPLETE"),
    ):
        prim[k] = v
    sh["NCOMBINE"] = len(good)
    return Exposure(primary=prim, imsets=[ImSet(res.sci, res.err, res.dq, headers, 1)], filename=fname)
