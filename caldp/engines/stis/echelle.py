"""cs0.e for MAMA echelle spectroscopy (HSTCAL ``cs0/calstis0.c``, ``wavflags.c``): calstis1 on the
science exposure (``_flt``), calstis1 on the wavecal with its own switches (``_fwv_tmp``), calstis4's
echelle shift (:mod:`.waveshift_echelle`, on the unrectified wavecal: cs0.e runs no calstis7 on
echelle wavecals), calstis12 into the ``_flt``, then calstis7 (X2DCORR: each order on the image
rectified into its own imset of the ``_x2d``, :mod:`.x2d_io`).

Echelle extraction (X1DCORR, SC2DCORR: ECHSCTAB, EXSTAB, RIPTAB, …), echelle FLUXCORR, first-order
MAMA spectra, RPTCORR of spectra and TIME-TAG data stop with an EngineError naming the switch before
anything is written.
"""

from __future__ import annotations

import logging

from ..common.errors import EngineError
from ..common.hstio import Exposure
from ..common.refs import resolve
from . import checks, wavecal, x2d_io
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
    for key in ("ATODCORR", "BLEVCORR", "BIASCORR", "SHADCORR", "X1DCORR", "SC2DCORR", "SGEOCORR"):
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
    wav = wavecal.prepare(raw, primary, env, wavfile)
    out.claim(
        [f"{root}_flt.fits"]
        + ([f"{root}_fwv_tmp.fits"] if wav is not None and keep else [])
        + ([f"{root}_x2d.fits"] if x2d else [])
    )
    need = checks.needed_references_mama(primary, lambda key: _perform(primary, key))
    if x2d:
        x2d_io.check(primary, env, fname)
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
        shifts = calstis4_echelle(fwv, Refs(env, fwv.primary.copy()))
        log.info("wavecal shifts (SHIFTA1, SHIFTA2) per imset: %s", shifts)
        if keep:
            out.write(fwv, name)
        calstis12(fwv, flt, name)
    out.write(flt, f"{root}_flt.fits")
    if x2d:
        out.write(x2d_io.calstis7(flt, env), f"{root}_x2d.fits")
