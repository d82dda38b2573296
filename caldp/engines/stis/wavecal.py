"""Wavecal processing of cs0.e for first-order CCD spectroscopy (HSTCAL ``cs0/getwavinfo.c``,
``cs0/wavflags.c``, ``cs0/calstis0.c``): the thin layer around calstis1 on the wavecal
(``_fwv_tmp``), calstis11, calstis7 on the wavecal (``_w2d_tmp``), calstis4 and calstis12.

The wavecal is found (WAVECAL, beside the raw file), checked against the science data (DETECTOR
must match, OBSTYPE mismatch a warning, as ``GetWavInfo``), every reference ``WavFlags`` asks for
must exist before any pixel, and calstis1 calibrates it with its own switches (kept as
``<root>_fwv_tmp.fits`` with ``keep_intermediates``, cs0.e's ``-s``). calstis11
(:mod:`.calstis11`) subtracts the science data from a HITM wavecal taken before 1998 Nov 9
(``_cwv_tmp``). calstis7 (:mod:`.x2d_io`, which cs0.e applies to every first-order wavecal)
rectifies it (``_w2d_tmp``), calstis4 (:mod:`.calstis4`) measures SHIFTA1/SHIFTA2 on that and
calstis12 (:mod:`.calstis12`) writes them into the science products (docs/notes/stis.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..common.errors import EngineError
from ..common.hstio import Exposure, read_exposure
from ..common.refs import resolve
from . import calstis11, checks
from .calstis1 import Refs, Steps, calstis1
from .calstis4 import calstis4
from .calstis12 import calstis12

log = logging.getLogger(__name__)

#: Tables ``WavFlags`` always asks for (first order also SDCTAB, for calstis7 on the wavecal).
WAVECAL_TABLES = ("WCPTAB", "LAMPTAB", "APDESTAB", "DISPTAB", "INANGTAB", "SPTRCTAB")


@dataclass(slots=True)
class Wavecal:
    """The science exposure's wavecal, read and checked (``GetWavInfo``)."""

    path: Path
    exp: Exposure
    echelle: bool
    subscicorr: bool
    use_e_aperture: bool = False  # PROPAPER …E1/…E2: the shift from the E-aperture rows


def _perform(primary, key: str) -> bool:
    return str(primary.get(key, "OMIT")).strip().upper() == "PERFORM"


def prepare(raw: Path, primary, env, wavfile: str | None = None) -> Wavecal | None:
    """The wavecal of a spectroscopic science exposure when WAVECORR=PERFORM, else None.
    WAVECAL = N/A: a warning and WAVECORR SKIPPED (cs0.e's ``GetSciInfo``)."""
    if not _perform(primary, "WAVECORR"):
        return None
    name = wavfile or str(primary.get("WAVECAL", "")).strip()
    if "WAVECAL" not in primary and not wavfile:
        raise EngineError("WAVECORR=PERFORM needs the wavecal's name", file=raw.name, keyword="WAVECAL")
    if "PROPAPER" not in primary:
        raise EngineError("required keyword missing", file=raw.name, keyword="PROPAPER")
    if name in ("", "N/A"):
        log.warning("WAVECORR will be skipped because WAVECAL is N/A.")
        primary["WAVECORR"] = "SKIPPED"
        return None
    # the keyword's name is beside the raw file; -w's is a path as given (cs0.e opens it from its cwd)
    path = Path(name) if wavfile or Path(name).is_absolute() else raw.parent / name
    if not path.is_file():
        raise EngineError(f"wavecal not found ({path})", file=name, keyword="WAVECAL")
    exp = read_exposure(path)
    wp = exp.primary
    det = str(wp.get("DETECTOR", "")).strip()
    if det not in ("CCD", "NUV-MAMA", "FUV-MAMA"):
        raise EngineError(f"(in wavecal) DETECTOR = {det} is invalid", file=path.name, keyword="DETECTOR")
    if det != str(primary.get("DETECTOR", "")).strip():
        raise EngineError("DETECTOR mismatch between science and wavecal", file=path.name, keyword="DETECTOR")
    if str(wp.get("OBSTYPE", "")).strip() != str(primary.get("OBSTYPE", "")).strip():
        log.warning("OBSTYPE mismatch between science and wavecal.")
    for key in ("SCLAMP", "LAMPSET"):
        if key not in wp:
            raise EngineError("required keyword missing", file=path.name, keyword=key)
    subsci = calstis11.applies(wp)
    checks.key_info(wp, path.name)
    echelle = str(wp.get("OPT_ELEM", "")).strip().upper().startswith("E")
    if det != "CCD" and not echelle:  # MAMA echelle wavecals: caldp.engines.stis.echelle
        raise EngineError("first-order MAMA wavecals are not supported by the builtin STIS engine yet", file=path.name)
    propaper = str(primary["PROPAPER"]).strip()
    use_e = propaper.endswith("E1") or propaper.endswith("E2")  # GetSciInfo's strcmptail
    if use_e:
        log.info("PROPAPER = %s: using E aperture location in wavecal", propaper)
    return Wavecal(path, exp, echelle, subsci, use_e)


def needed_references(wp, echelle: bool) -> list[tuple[str, bool]]:
    """``WavFlags``: the wavecal's references (keyword, required), in its order."""
    need = checks.needed_references(wp, lambda key: _perform(wp, key), False)
    need += [(k, True) for k in WAVECAL_TABLES]
    if not echelle:
        need.append(("SDCTAB", True))
    return need


def check_references(wav: Wavecal, env) -> None:
    wp = wav.exp.primary
    need = needed_references(wp, wav.echelle)
    checks.check_references(wp, need, lambda key: resolve(wp[key], env, keyword=key), wav.path.name)


def skip_spectral_steps(primary) -> None:
    """2-D rectification and 1-D extraction of the science data are part 2 (issue 19): said once."""
    todo = [k for k in ("X2DCORR", "X1DCORR") if _perform(primary, k)]
    if todo:
        log.warning(
            "%s: 2-D rectification and 1-D extraction are not in the builtin STIS engine yet; skipped "
            "(no _x2d/_sx2/_x1d/_sx1 products).",
            ", ".join(todo),
        )


def basic2d(wav: Wavecal, env) -> Exposure:
    """calstis1 on the wavecal with its own switches (cs0.e's ``cs1_wav_sw``)."""
    wp = wav.exp.primary
    steps = Steps(
        _perform(wp, "DQICORR"),
        _perform(wp, "BLEVCORR"),
        _perform(wp, "BIASCORR"),
        _perform(wp, "DARKCORR"),
        _perform(wp, "FLATCORR"),
        _perform(wp, "PHOTCORR"),
        bool(wp.get("STATFLAG", False)),
    )
    if not any((steps.dqicorr, steps.blevcorr, steps.biascorr, steps.darkcorr, steps.flatcorr, steps.photcorr)):
        return wav.exp
    refs = Refs(env, wp.copy())
    return calstis1(wav.exp, steps, refs, input_dir=wav.path.parent)


def rectify_first_order(fwv: Exposure, env) -> Exposure:
    """calstis7 on a first-order wavecal (cs0.e's ``_w2d_tmp``), which calstis4 reads
    (:func:`.x2d_io.calstis7` with the wavecal's own switches)."""
    from .x2d_io import calstis7

    return calstis7(fwv, env)


def process(wav: Wavecal, root: str, out, env, science: list[Exposure], *, keep: bool) -> None:
    """cs0.e's wavecal chain for one science exposure: calstis1 on the wavecal, calstis7 on it
    (:func:`rectify_first_order`), calstis4, then calstis12 into `science` (the ``_crj`` and
    ``_flt`` exposures, before they are written)."""
    fwv = basic2d(wav, env)
    if keep:
        out.write(fwv, f"{root}_fwv_tmp.fits")
    if wav.subscicorr:  # cs0.e: calstis11 with the _crj (CR-split) or the _flt
        sci = science[0]
        crj = str(sci.primary.get("CRCORR", "")).strip() == "COMPLETE"
        cwv = calstis11.calstis11(fwv, sci, f"{root}_crj.fits" if crj else f"{root}_flt.fits")
        if cwv is not None:
            if keep:
                out.write(cwv, f"{root}_cwv_tmp.fits")
            fwv = cwv
    w2d = rectify_first_order(fwv, env)
    name = f"{root}_w2d_tmp.fits"
    shifts = calstis4(w2d, Refs(env, w2d.primary.copy()), use_e_aperture=wav.use_e_aperture)
    log.info("wavecal shifts (SHIFTA1, SHIFTA2) per imset: %s", shifts)
    if keep:
        out.write(w2d, name)
    for exp in science:
        calstis12(w2d, exp, name)
