"""WF3REJ stage driver: combine ``_blv_tmp`` exposures into ``<product>_crj_tmp`` (HSTCAL ``wf3rej/rej_do.c``,
``rej_check.c``, ``cr_scaling.c``, ``cr_history.c``; calib-wfc3.md §R1–R3, §R7).

Chips are matched by CCDCHIP; gain and noise come from the first input's primary header as written
(ATODGN*/READNSE*, 8 significant digits); ``ampx`` from CCDTAB with the trimmed width. The output
takes its headers from the first input with EXPTIME > 0. With CRMASK = 1 the inputs' DQ arrays are
rewritten (bit 8192, see :func:`caldp.engines.wfc3.uvis.wf3rej.crmask_writeback`). HSTCAL writes the
primary header with imset 1, so SKYSUM and REJ_RATE in the primary are those of imset 1.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from ...common.errors import EngineError
from ...common.hstio import Exposure, ImSet
from ...common.keywords import hdr_float, read_float
from ...common.outputs import Parked
from ...common.threads import parallel_map, thread_count
from ..ccdtab import read_ccdtab
from ..reffiles import read_crrejtab
from . import wf3rej as rej
from .context import UvisKeys, read_group, reference

log = logging.getLogger(__name__)

F32 = np.float32
RATES = ("COUNTS/S", "ELECTRONS/S")
COUNTS = ("COUNTS", "ELECTRONS")


def _headers(inp) -> list[dict]:
    """Headers of each imset of an :class:`Exposure` or a :class:`Parked` one (no pixels read)."""
    if isinstance(inp, Parked):
        return [inp.headers(i) for i in range(inp.nimsets)]
    return [im.headers for im in inp.imsets]


def _shape(inp, i: int) -> tuple:
    if isinstance(inp, Parked):
        return tuple(inp.metas[i][2]["sci"][1])
    return inp.imsets[i].sci.shape


def _bunit_is_rate(inp) -> bool:
    bunit = str(_headers(inp)[0]["SCI"].get("BUNIT", "")).strip().upper()
    if bunit in RATES:
        return True
    if bunit in COUNTS:
        return False
    raise EngineError(f"{bunit} value for BUNIT does not match", file=inp.filename, keyword="BUNIT")


def wf3rej(
    inputs: list,
    *,
    product: str,
    mtype: str,
    env: Mapping[str, str] | None,
    keys: UvisKeys,
    consume: bool = False,
) -> tuple[Exposure, list]:
    """Combine `inputs`; returns (crj_tmp exposure, inputs with CRMASK-updated DQ).

    `consume`: the inputs' DQ arrays may take the CR mask in place (no copy of each; the caller
    uses only the returned inputs afterwards). Inputs may be :class:`Parked`: then the chips are
    combined one after the other (each in row strips on the threads), only that chip of every
    input mapped, and the CR mask goes into the parked DQ (the same inputs are returned)."""
    parked = any(isinstance(i, Parked) for i in inputs)
    if len(inputs) < 2:
        raise EngineError("Needs more than one input image.", keyword="CRCORR")
    if keys.perform("SHADCORR"):
        # rej_loop.c folds the shutter shading into each pixel's exposure time; not implemented here.
        raise EngineError(
            "SHADCORR=PERFORM in a CR-SPLIT/repeat combination is not supported by the builtin engine",
            file=inputs[0].filename,
            keyword="SHADCORR",
        )
    first = inputs[0]
    p0 = first.primary
    efac, bunits = [], []
    expstart, expend = 1e10, 0.0
    expflag = "NORMAL"
    for inp in inputs:
        e = read_float(inp.primary.get("EXPTIME", 0.0))
        if e < 0:
            raise EngineError("exposure time is negative", file=inp.filename, keyword="EXPTIME")
        efac.append(e)
        expend = max(expend, float(inp.primary.get("EXPEND", 0.0)))
        expstart = min(expstart, float(inp.primary.get("EXPSTART", 0.0)))
        bunits.append(_bunit_is_rate(inp))
        if "EXPFLAG" not in inp.primary:
            raise EngineError("required keyword is missing", file=inp.filename, keyword="EXPFLAG")
        if str(inp.primary["EXPFLAG"]).strip() != expflag:
            expflag = "MIXED"
        if str(inp.primary.get("CCDAMP", "")).strip().upper() != str(p0.get("CCDAMP", "")).strip().upper():
            raise EngineError("uses different CCDAMP", file=inp.filename, keyword="CCDAMP")
    exptot = F32(0)
    for e in efac:
        exptot = F32(exptot + e)
    texpt = exptot if exptot != 0 else F32(len(inputs))
    crrejtab = reference(p0, "CRREJTAB", env)
    pars = read_crrejtab(crrejtab, nimages=len(inputs), exptot=exptot)
    ccdtab = reference(p0, "CCDTAB", env)
    atodgn = [read_float(p0.get(f"ATODGN{a}", 0.0)) for a in "ABCD"]
    readnse = [read_float(p0.get(f"READNSE{a}", 0.0)) for a in "ABCD"]
    if not any(g > 0 for g in atodgn):
        raise EngineError("All ATODGN values are 0", file=first.filename, keyword="ATODGNA")
    idx_default = next((k for k, e in enumerate(efac) if e > 0), 0)
    template = inputs[idx_default]
    out_imsets = []
    updated = (
        list(inputs)
        if parked
        else [Exposure(primary=i.primary, imsets=list(i.imsets), filename=i.filename) for i in inputs]
    )
    out_primary = template.primary.copy()
    chips = []
    heads = [_headers(inp) for inp in inputs]
    for n_ext, h0 in enumerate(heads[0]):
        g = read_group(h0["SCI"])
        ny, nx = _shape(first, n_ext)
        positions = [n_ext]
        for inp, hs in zip(inputs[1:], heads[1:], strict=True):
            pos = next((k for k, h in enumerate(hs) if int(h["SCI"].get("CCDCHIP", 1)) == g.chip), None)
            if pos is None:
                raise EngineError(f"no imset for chip {g.chip}", file=inp.filename, keyword="CCDCHIP")
            if _shape(inp, pos) != (ny, nx):
                raise EngineError("does not have the same size as the first image", file=inp.filename)
            positions.append(pos)
        ccd = read_ccdtab(
            ccdtab,
            ccdamp=keys.ccdamp,
            ccdgain=keys.ccdgain,
            ccdchip=g.chip,
            ccdofst=keys.ccdofst,
            binaxis=(int(p0.get("BINAXIS1", 1)), int(p0.get("BINAXIS2", 1))),
            dimx=nx,
        )
        noise = rej.uvis_noise_model(g.chip, atodgn, readnse, ampx=ccd.ampx, ampy=ccd.ampy)
        chips.append((n_ext, h0, g, positions, noise))

    def combine_chip(item):
        positions, noise = item[3], item[4]
        members = [inp.imset(pos) if parked else inp.imsets[pos] for inp, pos in zip(inputs, positions, strict=True)]
        raws = [m.sci for m in members]
        images = [m.sci * efac[k] if bunits[k] else m.sci for k, m in enumerate(members)]
        dqs = [m.dq for m in members]
        res = rej.combine(images, dqs, raws, efac=efac, noise=noise, pars=pars, nstrips=thread_count() if parked else 1)
        if parked and pars.crmask:  # into the parked DQ while this chip is mapped
            for m, crbit in zip(members, res.crbits, strict=True):
                rej.crmask_writeback(m.dq, crbit, in_place=True)
            res.crbits = []
        return res

    if parked:  # one chip of every input in memory at a time
        results = [combine_chip(c) for c in chips]
    else:
        results = parallel_map(combine_chip, chips)  # the chips are independent
    for (n_ext, h0, g, positions, _noise), res in zip(chips, results, strict=True):
        log.info(
            "WF3REJ chip %d: CRREJTAB %s, %d pixels rejected, sky %s",
            g.chip,
            crrejtab.name,
            res.nrej,
            ", ".join(f"{float(s):.3f}" for s in (res.skysum,)),
        )
        tpl_heads = heads[idx_default]
        tpl = tpl_heads[n_ext] if n_ext < len(tpl_heads) else h0
        headers = {k: h.copy() for k, h in tpl.items()}
        headers["SCI"]["NCOMBINE"] = len(inputs)
        extver = first.metas[n_ext][1] if isinstance(first, Parked) else first.imsets[n_ext].extver
        out_imsets.append(ImSet(sci=res.sci, err=res.err, dq=res.dq, headers=headers, extver=extver))
        if n_ext == 0:
            out_primary["TEXPTIME"] = hdr_float(exptot)
            out_primary["SKYSUM"] = (hdr_float(res.skysum), "Total sky level (DN)")
            out_primary["EXPSTART"] = (expstart, "computed exposure start time (MJD)")
            out_primary["EXPEND"] = (expend, "exposure end time (MJD)")
            out_primary["REJ_RATE"] = (hdr_float(F32(F32(res.nrej) / texpt)), "Cosmic ray impact rate (pixels/sec)")
            out_primary["EXPTIME"] = hdr_float(exptot)
            out_primary["EXPFLAG"] = (expflag, "Exposure flag for combined dataset")
        if pars.crmask and not parked:
            for k, (inp, pos) in enumerate(zip(updated, positions, strict=True)):
                im = inp.imsets[pos]
                inp.imsets[pos] = ImSet(
                    sci=im.sci,
                    err=im.err,
                    dq=rej.crmask_writeback(im.dq, res.crbits[k], in_place=consume),
                    headers=im.headers,
                    extver=im.extver,
                )
        res.crbits = []  # one bool image per input, not needed any more
    for key, value in pars.header_keywords().items():  # (Header.update would drop comments)
        out_primary[key] = value
    out_primary["CRCORR"] = "COMPLETE"
    out_primary["ROOTNAME"] = (product.upper(), "Rootname of the observation set")
    # calwf3 passes an empty member type for CR-SPLIT sub-products, so ASN_MTYP is left as it was.
    del mtype
    for im in out_imsets:
        for h in im.headers.values():
            h["EXPNAME"] = (product, "9 character exposure identifier")
    out = Exposure(primary=out_primary, imsets=out_imsets, filename=f"{product}_crj_tmp.fits")
    return out, updated
