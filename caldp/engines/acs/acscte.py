"""ACSCTE: ``_blv_tmp`` → ``_blc_tmp``, the pixel-based CTE correction step of calacs (HSTCAL
``pkg/acs/lib/acscte/acscte.c``, ``docte.c``; cte-notes.md). Thin layer: references, parameters,
header bookkeeping; the pixels are done by :mod:`.pctecorr`.

What calacs.e 10.5.0 writes and this step reproduces: ``PCTECORR = 'COMPLETE'``, the keywords
``CTE_NAME``/``CTE_VER``, HISTORY cards for the CCDTAB, for every parameter used (``CTE_NAME``,
``CTE_VER``, ``CORRTYPE``, ``FIXROCR``, ``PCTETRSH``, ``PCTEFRAC``, ``CTEDATE0/1``, ``PCTETLEN``,
``PCTENFOR``, ``PCTENPAR`` for the parallel model, then ``CORRTYPE``, dates and iteration counts
for each amp's serial model), the four CCDTAB read noises (``PCTERNOI``) and the PCTETAB
provenance. Per-exposure overrides (PCTENSMD, PCTETLEN, PCTERNOI, PCTENFOR, PCTENPAR, FIXROCR in
the raw header) are applied as ``getCTEParsFromImageHeader`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from ..common.errors import EngineError
from ..common.hstio import Exposure, ImSet
from ..common.keywords import hdr_float
from ..common.switches import Switch
from . import pctecorr
from .context import AcsKeys, reference
from .pctetab import GEN3_CTE_NAME, GEN3_CTE_VER, read_pctetab
from .tables import read_ccdtab

log = logging.getLogger(__name__)

F32 = np.float32
AMPS = "ABCD"


def _card(p, key, value, text) -> None:
    """``updateKeyOrAddAsHistKey*``: update the keyword if the header has it, else a HISTORY card."""
    if key in p:
        p[key] = value
    else:
        p.add_history(text)


def _hist_int(p, key, value, comment):
    _card(p, key, int(value), f"{key} {int(value):12d} {comment}")


def _hist_dbl(p, key, value, comment):
    _card(p, key, float(value), f"{key} {float(value):20.12E} {comment}")


def _hist_str(p, key, value, comment):
    _card(p, key, value, f"{key} {value} {comment}")


def _overrides(primary, file: str) -> dict:
    out = {}
    for key in pctecorr.OVERRIDES:
        if key in primary:
            value = primary[key]
            try:
                out[key] = float(value) if key == "PCTERNOI" else int(value)
            except (TypeError, ValueError) as exc:
                raise EngineError(f"{key} = {value!r} is not a number", file=file, keyword=key) from exc
    if "FIXROCR" in out and out["FIXROCR"] not in (0, 1):
        raise EngineError(
            f"FIXROCR keyword from header has invalid value, '{out['FIXROCR']}'. Only 0 or 1 accepted.",
            file=file,
            keyword="FIXROCR",
        )
    return out


def acscte(blv: Exposure, *, keys: AcsKeys, env: Mapping[str, str], threads_ok: bool = True) -> Exposure:
    """The CTE-corrected copy of `blv` (the ``_blc_tmp``); `blv` is not modified."""
    primary = blv.primary
    fname = blv.filename or keys.file
    if str(primary.get("BLEVCORR", "")).strip().upper() != "COMPLETE":
        raise EngineError("Overscan region not trimmed.  Please perform BLEVCORR.", file=fname, keyword="BLEVCORR")
    pcte = reference(primary, "PCTETAB", env, file=fname)
    model = read_pctetab(pcte.path)
    ccdtab = reference(primary, "CCDTAB", env, file=fname)
    overrides = _overrides(primary, fname)
    expstart = float(keys.expstart)
    noise_mit = overrides.get("PCTENSMD", model.noise_mit)
    if noise_mit != 0:
        raise EngineError("Only noise model 0 implemented!", file=pcte.path.name, keyword="PCTENSMD")
    serial = expstart >= pctecorr.SM4MJD
    for name, s in model.sets.items():
        if (name == "parallel" or serial) and expstart < s.cte_date0:
            raise EngineError(
                f"EXPSTART {expstart} is before CTEDATE0 {s.cte_date0} of the {name} CTE model",
                file=pcte.path.name,
                keyword=f"PCTETAB CTEDATE0 ({name})",
            )
    tlen = overrides.get("PCTETLEN", 0)
    if tlen > 1 and any(tlen > s.rprof.shape[0] for s in model.sets.values()):
        raise EngineError(f"PCTETLEN = {tlen} is longer than the RPROF/CPROF trails", file=fname, keyword="PCTETLEN")

    kern = pctecorr.kernels()
    out_imsets = []
    records = []
    ccds = []
    for im in blv.imsets:
        h = im.sci_hdr
        if float(h.get("LTV1", 0.0)) > 0 or float(h.get("LTV2", 0.0)) > 0:
            raise EngineError("Overscan region not trimmed.  Please perform BLEVCORR.", file=fname, keyword="LTV1")
        chip = int(h.get("CCDCHIP", 1))
        sci = np.array(im.sci, dtype=F32, order="C")
        err = np.array(im.err, dtype=F32, order="C")
        ccd = read_ccdtab(
            ccdtab.path, ccdamp=keys.ccdamp, ccdgain=keys.ccdgain, chip=chip, ccdofst=keys.ccdofst, nx=sci.shape[1]
        )
        ccds.append(ccd)
        rec = pctecorr.correct_chip(
            sci,
            err,
            chip=chip,
            ccdamp=keys.ccdamp,
            ampx=ccd.ampx,
            readnoise=dict(zip(AMPS, ccd.readnoise, strict=True)),
            model=model,
            expstart=expstart,
            overrides=overrides,
            kernels=kern,
        )
        for r in rec:
            log.info(
                "PCTECORR chip %d amp %s %s: read noise %.4g, CTE_FRAC %.6f, total count difference %.6g (%.6g%%)",
                chip,
                r["amp"],
                r["type"],
                r["rn"],
                r["scale_frac"],
                float(r["delta"]),
                float(r["delta"]) / float(r["raw"]) * 100 if float(r["raw"]) else 0.0,
            )
        records.extend(rec)
        headers = {k: v.copy() for k, v in im.headers.items()}
        out_imsets.append(ImSet(sci=sci, err=err, dq=im.dq.copy(), headers=headers, extver=im.extver))

    p = primary.copy()
    _history(p, model, pcte, ccdtab, ccds[0], records)
    log.info("PCTECORR complete using %s (%s %s)", pcte.path.name, GEN3_CTE_NAME, GEN3_CTE_VER)
    name = (blv.filename or f"{keys.rootname}_blv_tmp.fits").replace("_blv_tmp", "_blc_tmp")
    return Exposure(primary=p, imsets=out_imsets, filename=name)


def _history(p, model, pcte, ccdtab, ccd, records) -> None:
    """Primary keywords and HISTORY cards in calacs.e's order (CCDHistory, populateImageFileWithCTEKeywordValues
    per pass, pcteHistory, UCteVer)."""
    for k, a in enumerate(AMPS):
        p[f"ATODGN{a}"] = hdr_float(ccd.atodgain[k])
        p[f"READNSE{a}"] = hdr_float(ccd.readnoise[k])
    p.add_history(f"CCD parameters table: reference table {ccdtab.path.name}")
    # calacs.e writes the parallel set's cards first, then each serial pass's cards in amp order
    par = next(r for r in records if r["type"] == "parallel")
    _hist_str(p, "CTE_NAME", model.cte_name, "CTE algorithm name")
    _hist_str(p, "CTE_VER", model.cte_ver, "CTE algorithm version")
    _hist_str(p, "CORRTYPE", "parallel", "CTE correction type")
    _hist_int(p, "FIXROCR", par["fix_rocr"], "fix readout cosmic rays")
    _hist_dbl(p, "PCTETRSH", par["thresh"], "CTE over subtraction threshold")
    _hist_dbl(p, "PCTEFRAC", par["scale_frac"], "CTE scaling factor")
    _common_cards(p, model.sets["parallel"], par)
    for r in records:
        if r["type"] != "serial":
            continue
        _hist_str(p, "CORRTYPE", f"serial - Amp {r['amp']}", "CTE correction type")
        _common_cards(p, model.sets[r["amp"]], r)
    p["PCTECORR"] = str(Switch.COMPLETE)
    p.add_history("PCTECORR complete ...")
    for k, a in enumerate(AMPS):
        rn = float(F32(ccd.readnoise[k]))
        p.add_history(f"PCTERNOI {rn:14.7E} Amp '{a}' read noise clip limit (from CCDTAB).")
    p.add_history("CTE parameters table: ")
    p.add_history(f"  reference table {p['PCTETAB']}")
    if model.pedigree:
        p.add_history(f"    {model.pedigree}")
    if model.descrip:
        p.add_history(f"    {model.descrip}")
    p["CTE_NAME"] = (GEN3_CTE_NAME, "name of CTE algorithm")
    p["CTE_VER"] = (GEN3_CTE_VER, "version of CTE algorithm")


def _common_cards(p, s, r) -> None:
    _hist_dbl(p, "CTEDATE0", s.cte_date0, "Date of instrument installation")
    _hist_dbl(p, "CTEDATE1", s.cte_date1, "Date of CTE model pinning")
    _hist_int(p, "PCTETLEN", r["cte_len"], "max length of CTE trail")
    _hist_int(p, "PCTENFOR", r["n_forward"], "Number of iter in forward model")
    _hist_int(p, "PCTENPAR", r["n_par"], "Number of iter in parallel transfer")
