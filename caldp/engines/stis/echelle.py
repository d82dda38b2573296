"""cs0.e for MAMA echelle spectroscopy (HSTCAL ``cs0/calstis0.c``, ``wavflags.c``): calstis1 on the
science exposure (``_flt``), calstis1 on the wavecal with its own switches (``_fwv_tmp``), calstis4's
echelle shift (:mod:`.waveshift_echelle`, on the unrectified wavecal: cs0.e runs no calstis7 on
echelle wavecals), calstis12 into the ``_flt``, then calstis7 (X2DCORR: each order on the image
rectified into its own imset of the ``_x2d``, :mod:`.x2d_io`) and calstis6 (X1DCORR: one ``_x1d``
row per order, :mod:`.x1d_echelle`).

FLUXCORR (with the echelle blaze shift) is done by both, the scattered-light correction (SC2DCORR)
by calstis6 (:mod:`.scatter`, full-frame data). First-order MAMA spectra, RPTCORR of spectra and
TIME-TAG data stop with an EngineError naming the switch before anything is written.
"""

from __future__ import annotations

import logging

from ..common.errors import EngineError
from ..common.hstio import Exposure, write_atomic
from ..common.refs import resolve
from . import checks, wavecal, x1d_echelle, x2d_io
from .calstis1 import Refs
from .calstis1_mama import MamaSteps, calstis1_mama
from .calstis12 import calstis12
from .waveshift_echelle import calstis4_echelle

log = logging.getLogger(__name__)

SWITCH_KEYS = ("DQICORR", "LORSCORR", "GLINCORR", "LFLGCORR", "DARKCORR", "FLATCORR", "PHOTCORR", "DOPPCORR")


def _perform(primary, key: str) -> bool:
    return str(primary.get(key, "OMIT")).strip().upper() == "PERFORM"


def is_echelle(primary) -> bool:
    return str(primary.get("OPT_ELEM", "")).strip().upper().startswith("E")


def _steps(primary) -> MamaSteps:
    return MamaSteps(*(_perform(primary, k) for k in SWITCH_KEYS), statflag=bool(primary.get("STATFLAG", False)))


def needed_references(primary) -> list[tuple[str, bool]]:
    """The wavecal's references (``WavFlags`` for a MAMA echelle wavecal: no SDCTAB)."""
    need = checks.needed_references_mama(primary, lambda key: _perform(primary, key))
    return need + [(k, True) for k in wavecal.WAVECAL_TABLES]


def science_tables(primary) -> tuple[str, ...]:
    """The table keywords cs0.e's ``SciFlags`` puts in the science reference list (``sciref``) of a
    MAMA spectroscopic exposure; calstis4 gets that list, and ``GetRefName`` takes a name from it
    before the wavecal's own header."""
    keys = ["WCPTAB", "LAMPTAB", "APDESTAB"] if _perform(primary, "WAVECORR") else []
    x2d, x1d = _perform(primary, "X2DCORR"), _perform(primary, "X1DCORR")
    if x2d:
        keys += ["SDCTAB"] + (["PCTAB"] if _perform(primary, "FLUXCORR") else [])
    if x1d:
        keys += ["XTRACTAB", "SDCTAB"]
    if x2d or x1d:
        keys += ["SPTRCTAB"]
        if _perform(primary, "DISPCORR") or x2d:
            keys += ["APDESTAB", "DISPTAB", "INANGTAB"]
        if _perform(primary, "FLUXCORR"):
            keys += ["PHOTTAB", "APERTAB"]
    return tuple(dict.fromkeys(k for k in keys if k in primary))


def calstis4_refs(fwv: Exposure, science_primary, env) -> Refs:
    """calstis4's references: the science's names for the keywords in its list, the wavecal's header
    for the rest (a copy: the ``_fwv_tmp`` keeps its own keywords)."""
    h = fwv.primary.copy()
    for key in science_tables(science_primary):
        h[key] = science_primary[key]
    return Refs(env, h)


def basic2d_wavecal(wav: wavecal.Wavecal, env) -> Exposure:
    """calstis1 on the MAMA wavecal with its own switches (cs0.e's ``cs1_wav_sw``)."""
    wp = wav.exp.primary
    steps = _steps(wp)
    if not any(getattr(steps, k.lower()) for k in SWITCH_KEYS):
        return wav.exp
    return calstis1_mama(wav.exp, steps, Refs(env, wp.copy()))


def process(exp: Exposure, raw, root: str, out, env, *, keep: bool = False, wavfile: str | None = None) -> None:
    """cs0.e on a MAMA echelle exposure: ``_flt`` with the wavecal's SHIFTA1/SHIFTA2 (``_fwv_tmp``
    kept with `keep`, cs0.e's ``-s``)."""
    primary = exp.primary
    fname = raw.name
    if not is_echelle(primary) or str(primary.get("OPT_ELEM", "")).strip().upper() == "PRISM":
        raise EngineError(
            "first-order MAMA spectroscopy is not supported by the builtin STIS engine yet",
            file=fname,
            keyword="OPT_ELEM",
        )
    if str(primary.get("OBSMODE", "")).strip() == "TIME-TAG":
        raise EngineError("TIME-TAG data are not supported by the builtin STIS engine", file=fname, keyword="OBSMODE")
    for key in ("ATODCORR", "BLEVCORR", "BIASCORR", "SHADCORR", "SGEOCORR"):
        if _perform(primary, key):
            raise EngineError(
                f"{key}=PERFORM is not supported for echelle data by the builtin STIS engine yet",
                file=fname,
                keyword=key,
            )
    if _perform(primary, "RPTCORR") and exp.nimsets > 1:
        raise EngineError(
            "RPTCORR of echelle repeats is not supported by the builtin STIS engine yet", file=fname, keyword="RPTCORR"
        )
    if _perform(primary, "RPTCORR"):
        log.warning("RPTCORR will be omitted because there's only one imset.")
    x2d = _perform(primary, "X2DCORR")
    x1d = _perform(primary, "X1DCORR")
    wav = wavecal.prepare(raw, primary, env, wavfile)
    out.claim(
        [f"{root}_flt.fits"]
        + ([f"{root}_fwv_tmp.fits"] if wav is not None and keep else [])
        + ([f"{root}_x2d.fits"] if x2d else [])
        + ([f"{root}_x1d.fits"] if x1d else [])
    )
    need = checks.needed_references_mama(primary, lambda key: _perform(primary, key))
    if x2d:
        x2d_io.check(primary, env, fname)
    if x1d:
        x1d_echelle.check(primary, env, fname)
    elif _perform(primary, "SC2DCORR"):  # read by calstis6 only: cs0.e ignores it without X1DCORR
        log.info("SC2DCORR=PERFORM without X1DCORR: nothing to do")
    checks.check_references(primary, need, lambda key: resolve(primary[key], env, keyword=key), fname)
    if wav is not None:
        wp = wav.exp.primary
        checks.check_references(
            wp, needed_references(wp), lambda key: resolve(wp[key], env, keyword=key), wav.path.name
        )
    flt = calstis1_mama(exp, _steps(primary), Refs(env, primary.copy()))
    if wav is not None:
        fwv = basic2d_wavecal(wav, env)
        name = f"{root}_fwv_tmp.fits"
        shifts = calstis4_echelle(fwv, calstis4_refs(fwv, primary, env))
        log.info("wavecal shifts (SHIFTA1, SHIFTA2) per imset: %s", shifts)
        if keep:
            out.write(fwv, name)
        calstis12(fwv, flt, name)
    out.write(flt, f"{root}_flt.fits")
    if x2d:
        out.write(x2d_io.calstis7(flt, env), f"{root}_x2d.fits")
    if x1d:
        hdul = x1d_echelle.calstis6_echelle(flt, env)
        hdul[0].header["FILENAME"] = f"{root}_x1d.fits"
        out.register(write_atomic(hdul, out.path(f"{root}_x1d.fits")))
