"""calacs: the ACS CCD stage-1 driver (HSTCAL ``pkg/acs/lib/calacs/calacs.c``, ``acstable.c``;
calib-acs-wfc.md §2).

Input: an ``_asn.fits`` association or a single ``_raw.fits``. Each exposure goes raw → ACSCCD →
``_blv_tmp``; a CR-SPLIT / repeat association is combined by ACSREJ into ``<product>_crj_tmp``
(with CRMASK the members' DQ get the CR flags) and calibrated by ACS2D into ``<product>_crj``;
every exposure gets an ``_flt`` from ACS2D. With PCTECORR = PERFORM the CTE branch
(:mod:`.ctebranch`) also makes ``_blc_tmp`` → ``_flc`` per exposure and ``<product>_crc``.

Products are written atomically; an existing product is never overwritten (EngineError before any
work); if anything fails, the products this call already wrote are removed again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common import driver
from ..common import fitsfile as ff
from ..common.asnproducts import mark_products_present, read_spt_inputs
from ..common.driver import driver_run, member_raw, read_asn_table
from ..common.errors import EngineError
from ..common.heap import trim_heap
from ..common.hstio import Exposure, ImSet, expand_raw, read_exposure, write_atomic
from ..common.keywords import hdr_float
from ..common.outputs import Parked, Products, ReadAhead
from ..common.switches import Switch, read_switch
from ..common.threads import parallel_map, thread_count
from . import acsrej, ctebranch
from .acs2d import acs2d
from .acsccd import acsccd
from .context import AcsKeys, read_keys, reference
from .refs import RefCache
from .tables import read_crrejtab

log = logging.getLogger(__name__)

CALACS_SEMANTICS = "10.5.0"

#: Bytes of the previous product still to be written when the next ACS2D starts (the writer frees
#: each array once written; less: lower peak memory, more: more overlap).
WRITE_BACKLOG = 64 << 20

#: Optional per-stage hook (the benchmark sets it): a callable returning a context manager.
STAGE_HOOK = None


@contextlib.contextmanager
def stage(name: str):
    """Mark a stage for :data:`STAGE_HOOK` (a no-op by default); afterwards hand freed heap memory back to
    the system (glibc keeps freed chunks below its mmap threshold, which grows to 32 MB: a whole chip)."""
    with STAGE_HOOK(name) if STAGE_HOOK is not None else contextlib.nullcontext():
        yield
        trim_heap()


F32 = np.float32


def cal_ver() -> str:
    """CAL_VER written into products."""
    return driver.cal_ver("calacs", CALACS_SEMANTICS)


@dataclass(slots=True)
class Association:
    rootname: str
    product: str  # product rootname (lower case), "" for a single exposure
    members: list[str] = field(default_factory=list)
    crcorr: bool = False
    rptcorr: bool = False


def read_association(path: Path) -> Association:
    """Members and product of an ACS association table (``acstable.c: GetAsnTable``)."""
    primary, rows = read_asn_table(path)
    for key in ("INSTRUME", "DETECTOR"):
        if key not in primary:
            raise EngineError("required keyword is missing", file=path.name, keyword=key)
    if not str(primary["INSTRUME"]).strip().upper().startswith("ACS"):
        raise EngineError(f"INSTRUME = {primary['INSTRUME']!r} is not ACS", file=path.name, keyword="INSTRUME")
    asn = Association(rootname=path.name[: -len("_asn.fits")].lower(), product="")
    asn.crcorr = any("-cr" in r.mtype for r in rows)
    asn.rptcorr = not asn.crcorr and any("-rp" in r.mtype for r in rows)
    for name, mtype, present in rows:
        if mtype.startswith("exp"):
            if present:
                asn.members.append(name)
            else:
                log.warning('Member "%s" is not present', name)
        elif mtype.startswith("prod") and "dth" not in mtype and not asn.product:
            asn.product = name
    if not asn.members:
        raise EngineError("No data available for given assoc. table", file=path.name)
    return asn


def _udl_extensions(hdul: ff.FitsFile, hdus: list) -> None:
    """calacs's layout: the input's NEXTEND UDL extensions, renumbered; a constant one as a null extension."""
    for j in range(1, int(hdul[0].header.get("NEXTEND", 1)) + 1):
        udl = hdul["UDL", j]
        h = udl.header.copy()
        for key in ("XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT"):
            h.remove(key, ignore_missing=True)
        h["EXTVER"] = len(hdus) + 1
        data = None if udl.data is None else np.asarray(udl.data).astype(np.int16)
        if data is None or (data.size and np.all(data == data.ravel()[0])):
            hdu = ff.image_hdu(h)
            value = 0 if data is None else int(data.ravel()[0])
            hdu.header["PIXVALUE"] = (
                udl.header.get("PIXVALUE", value),
                "values of pixels in constant array",
            )
            n1 = udl.header.get("NPIX1", data.shape[-1] if data is not None else 0)
            hdu.header["NPIX1"] = (n1, "length of constant array axis 1")
            if data is not None and data.ndim == 2 and data.shape[0] > 1:
                hdu.header["NPIX2"] = (data.shape[0], "length of constant array axis 2")
        else:
            hdu = ff.image_hdu(h, data)
        hdus.append(hdu)


def make_product_spt(inputs: list[Path], product: str, outdir: Path) -> Path | None:
    """``<product>_spt.fits`` from the members' SPT files, as ACS's ``mkNewSpt`` (``lib/mkspt.c``).

    The first input's primary header with FILENAME, ASN_MTYP = '' (CR-SPLIT sub-product), ROOTNAME
    (upper case, HSTCAL leaves a trailing blank), OBSERVTN = ROOTNAME[6:9] and NEXTEND = number of
    inputs; then every input's UDL extensions (NEXTEND of each), renumbered; a constant UDL is written
    as a null extension (NPIX1, PIXVALUE) as HSTIO does. Nothing is made when the first input SPT is
    missing or the output exists; a missing later input is a warning.
    """
    out = Path(outdir) / f"{product}_spt.fits"
    pieces = read_spt_inputs(inputs, out, _udl_extensions)
    if pieces is None:
        return None
    primary, hdus = pieces
    root = product.upper() + " "
    primary["FILENAME"] = out.name
    primary["ASN_MTYP"] = ("", "Role of the Exposure in the Association")
    primary["ROOTNAME"] = root
    primary["OBSERVTN"] = root[6:9]
    primary["NEXTEND"] = len(inputs)
    write_atomic([ff.primary_hdu(primary)] + hdus, out)
    log.info("Created output SPT file %s", out.name)
    return out


def calacs(
    input_path,
    *,
    outdir=None,
    env: Mapping[str, str] | None = None,
    keep_intermediates: bool = False,
    verbose: bool = False,
) -> list[Path]:
    """Calibrate an ACS CCD association or single raw exposure; returns the paths written."""
    with driver_run(input_path, outdir=outdir, env=env, cal_ver=(cal_ver(), "CALACS code version")) as run:
        input_path, out, env = run.input_path, run.out, run.env
        name = input_path.name.lower()
        if name.endswith("_asn.fits"):
            asn = read_association(input_path)
            raws = [member_raw(input_path.parent, m) for m in asn.members]
        elif name.endswith("_raw.fits"):
            root = input_path.name[: -len("_raw.fits")].lower()
            asn = Association(rootname=root, product="", members=[root])
            raws = [input_path]
        else:
            raise EngineError("input must be an _asn.fits or a _raw.fits file", file=input_path.name)
        try:
            roots = _process(asn, raws, out, env, keep_intermediates, single=not name.endswith("_asn.fits"))
        finally:
            out.close()
        if name.endswith("_asn.fits") and asn.product in roots and input_path.parent.resolve() == run.outdir.resolve():
            mark_products_present(input_path, [asn.product])  # as calacs.e does after ACSREJ
        log.info("CALACS completion for %s", input_path.name)
        run.trailer_roots = roots
    return list(out.written)


def _process(asn: Association, raws: list[Path], out: Products, env, keep: bool, *, single: bool) -> list[str]:
    combine = (asn.crcorr or asn.rptcorr) and len(asn.members) > 1
    prod = asn.product or asn.rootname
    names = [f"{m}_flt.fits" for m in asn.members]
    if keep:
        names += [f"{m}_blv_tmp.fits" for m in asn.members]
    if combine:
        names.append(f"{prod}_crj.fits")
        if keep:
            names.append(f"{prod}_crj_tmp.fits")
    out.claim(names)
    roots = []
    cte = False
    with RefCache() as refs, contextlib.ExitStack() as stack:
        # the members' _blv_tmp wait on disk (as calacs.e's do) from ACSCCD to their ACS2D: ACSREJ maps
        # one chip of every member at a time, ACS2D one member at a time
        blvs: list[Parked] = []
        parked: list[Path] = []  # the _blc_tmp files, on disk until the _flt are done (memory)
        keys_list: list[AcsKeys] = []
        # the next member's raw file is read in the background while this one is in ACSCCD
        # (not with CALDP_THREADS=1: then everything runs in the calling thread)
        reader = stack.enter_context(
            ReadAhead(lambda p: read_exposure(p, ir=False, compact=True), raws, background=thread_count() > 1)
        )
        for m, raw_path in zip(asn.members, raws, strict=True):
            with stage(f"read {raw_path.name}"):  # read ahead as stored (16-bit), float32 from here
                raw = expand_raw(reader.get(raw_path), parallel_map)
            keys = read_keys(raw.primary, file=raw_path.name)
            if not single and not keys_list:
                crsw = keys.switches["CRCORR"] if asn.crcorr else keys.switches["RPTCORR"]
                if (asn.crcorr or asn.rptcorr) and crsw not in (Switch.PERFORM, Switch.COMPLETE):
                    raise EngineError(
                        "CRCORR and/or RPTCORR values not consistent with ASN table",
                        file=raw_path.name,
                        keyword="CRCORR" if asn.crcorr else "RPTCORR",
                    )
            if not keys_list and ctebranch.wanted(keys):
                cte = True
                ctebranch.check_references(raw.primary, env, file=raw_path.name, keys=keys)
                out.claim(ctebranch.product_names(asn.members, prod, combine=combine, keep=keep))
            log.info("ACSCCD: %s -> %s_blv_tmp.fits", raw_path.name, m)
            with stage(f"acsccd {m}"):
                blv = acsccd(raw, keys=keys, env=env, refs=refs)
            del raw
            blv.filename = f"{m}_blv_tmp.fits"
            if cte:
                with stage(f"acscte {m}"):
                    parked.append(ctebranch.park(ctebranch.make_blc(blv, keys, env), out.outdir, stack))
            with stage(f"park {m}"):
                if blvs:
                    blvs[-1].wait()
                blvs.append(_park(blv, out.outdir, stack, background=thread_count() > 1))
            del blv
            keys_list.append(keys)
            roots.append(m)
        for key in ("BIASFILE", "SATUFILE"):  # only ACSCCD uses them
            for b in blvs:
                value = b.primary.get(key)
                if value and "$" in str(value):
                    refs.drop(_resolve_quiet(value, env))
        if combine:
            log.info("ACSREJ: %s -> %s_crj_tmp.fits", ", ".join(b.filename for b in blvs), prod)
            with stage("acsrej"):
                crj_tmp = _acsrej(blvs, prod, env=env, first_keys=keys_list[0])
            if keep:
                with stage("write crj_tmp"):
                    out.write(crj_tmp, f"{prod}_crj_tmp.fits")
            crj_keys = read_keys(crj_tmp.primary, file=crj_tmp.filename)
            log.info("ACS2D: %s_crj_tmp.fits -> %s_crj.fits", prod, prod)
            with stage("acs2d crj"):
                crj = acs2d(crj_tmp, keys=crj_keys, env=env, refs=refs, combined=True)
            del crj_tmp
            with stage("write crj"):  # in the background, during the members' ACS2D
                out.write_later(crj, f"{prod}_crj.fits")
            del crj
            spt = make_product_spt(
                [r.with_name(f"{m}_spt.fits") for m, r in zip(asn.members, raws, strict=True)], prod, out.outdir
            )
            out.register(spt)
            roots.append(prod)
        first_keys = keys_list[0]
        members = list(asn.members)
        while blvs:
            b, k, m = blvs.pop(0).exposure(), keys_list.pop(0), members.pop(0)
            if keep:
                with stage(f"write {m}_blv_tmp"):
                    out.write(b, f"{m}_blv_tmp.fits")
            log.info("ACS2D: %s_blv_tmp.fits -> %s_flt.fits", m, m)
            out.drain(WRITE_BACKLOG)
            with stage(f"acs2d {m}"):
                flt = acs2d(b, keys=k, env=env, refs=refs)
            del b
            with stage(f"write {m}_flt"):  # in the background, during the next member's ACS2D
                out.write_later(flt, f"{m}_flt.fits")
            del flt
        blcs = [ctebranch.unpark(p) for p in parked]
        if blcs and combine:
            log.info("ACSREJ: %s -> %s_crc_tmp.fits", ", ".join(b.filename for b in blcs), prod)
            with stage("acsrej crc"):
                crc_tmp = ctebranch.name_crc(_acsrej(blcs, prod, env=env, first_keys=first_keys), prod)
            if keep:
                with stage("write crc_tmp"):
                    out.write(crc_tmp, f"{prod}_crc_tmp.fits")
            log.info("ACS2D: %s_crc_tmp.fits -> %s_crc.fits", prod, prod)
            with stage("acs2d crc"):
                crc = ctebranch.acs2d_cte(acs2d, crc_tmp, env=env, refs=refs, combined=True)
            del crc_tmp
            with stage("write crc"):
                out.write_later(crc, f"{prod}_crc.fits")
            del crc
        members = list(asn.members)
        while blcs:
            b, m = blcs.pop(0), members.pop(0)
            if keep:
                with stage(f"write {m}_blc_tmp"):
                    out.write(b, f"{m}_blc_tmp.fits")
            log.info("ACS2D: %s_blc_tmp.fits -> %s_flc.fits", m, m)
            with stage(f"acs2d {m} flc"):
                flc = ctebranch.acs2d_cte(acs2d, b, env=env, refs=refs)
            del b
            with stage(f"write {m}_flc"):
                out.write_later(flc, f"{m}_flc.fits")
            del flc
    return roots


def _resolve_quiet(value, env) -> Path | None:
    from ..common.refs import resolve

    try:
        return resolve(value, env)
    except EngineError:
        return None


def _park(blv: Exposure, outdir: Path, stack: contextlib.ExitStack, *, background: bool) -> Parked:
    """A member's ``_blv_tmp`` parked in a private file of `outdir` (removed when `stack` closes)."""
    p = Parked(blv, Path(outdir) / f".{blv.filename}.caldp-parked", background=background)
    stack.callback(p.close)
    return p


def _acsrej(blvs: list, prod: str, *, env, first_keys: AcsKeys) -> Exposure:
    """ACSREJ over the members' ``_blv_tmp`` (:class:`Exposure` in memory or :class:`Parked`, one chip of
    every member mapped at a time); sets the CR mask in their DQ (CRMASK)."""
    primaries = [b.primary for b in blvs]
    fname = blvs[0].filename
    for key in ("NEXTEND", "IMAGETYP"):
        if key not in primaries[0]:
            raise EngineError("required keyword is missing", file=fname, keyword=key)
    efac = [F32(p["EXPTIME"]) for p in primaries]
    if any(e < 0 for e in efac):
        raise EngineError("negative exposure time", file=fname, keyword="EXPTIME")
    allzero = all(e == 0 for e in efac)
    if allzero:
        efac = [F32(1)] * len(efac)
    exptot = F32(0)
    for e in efac:
        exptot = F32(exptot + e)
    texpt = F32(len(efac)) if allzero else exptot
    _check_flash(blvs, efac)
    crtab = reference(primaries[0], "CRREJTAB", env, file=fname)
    pars = read_crrejtab(crtab.path, nimages=len(blvs), exptot=float(exptot))
    badinpdq = pars.badinpdq
    if str(primaries[0]["IMAGETYP"]).strip().upper().startswith(("BIAS", "DARK")):
        badinpdq &= ~4
    rp = acsrej.RejPars(
        sigmas=pars.sigmas,
        scalense=pars.scalense,
        crradius=pars.crradius,
        crthresh=pars.crthresh,
        badinpdq=badinpdq,
        initgues=pars.initgues,
        skysub=pars.skysub,
    )
    first = next(i for i, e in enumerate(efac) if e > 0) if not allzero else 0
    base = blvs[first]
    imsets = []
    skysum0 = rej0 = None

    def one_chip(h: dict):
        chip = int(h["SCI"].get("CCDCHIP", 1))
        group = [_by_chip(b, chip) for b in blvs]
        res = acsrej.reject(
            [g.sci for g in group],
            [g.err for g in group],
            [g.dq for g in group],
            efac=efac,
            pars=rp,
            exptot=exptot,
            texpt=texpt,
        )
        if pars.crmask:
            for g, rej in zip(group, res.rejected, strict=True):
                g.dq = acsrej.apply_crmask(g.dq, rej, in_place=True)  # the members' DQ is the driver's own
        res.rejected = []
        return chip, res

    for extver, h0 in _imset_headers(base):
        chip, res = one_chip(h0)
        rate = F32(res.nrej / float(texpt))
        if skysum0 is None:
            skysum0, rej0 = res.skysum, rate
        log.info(
            "ACSREJ chip %d: sky %s, SKYSUM %.6g, %d rejections",
            chip,
            ", ".join(f"{float(s):.6g}" for s in res.skies),
            float(res.skysum),
            res.nrej,
        )
        h = {k: v.copy() for k, v in h0.items()}
        for v in h.values():
            v["EXPNAME"] = prod.upper()
        h["SCI"]["NCOMBINE"] = len(blvs)
        imsets.append(ImSet(sci=res.sci, err=res.err, dq=res.dq, headers=h, extver=extver))
        del res
    p = base.primary.copy()
    p["EXPTIME"] = hdr_float(exptot)
    p["TEXPTIME"] = hdr_float(exptot)
    p["EXPSTART"] = min(float(q["EXPSTART"]) for q in primaries)
    p["EXPEND"] = max(float(q["EXPEND"]) for q in primaries)
    dsum = F32(0)
    for q in primaries:
        dsum = F32(dsum + F32(q.get("DARKTIME", 0.0)))
    p["DARKTIME"] = hdr_float(dsum)
    fsum = F32(0)
    for q in primaries:  # only exposures still to be flash-corrected count (acsrej_check.c)
        if read_switch(q, "FLSHCORR") is Switch.PERFORM:
            fsum = F32(fsum + F32(q.get("FLASHDUR", 0.0)))
    p["FLASHDUR"] = hdr_float(fsum)
    p["SKYSUM"] = hdr_float(skysum0)
    p["REJ_RATE"] = hdr_float(rej0)
    for key, value in pars.header_keywords().items():  # (Header.update would drop comments)
        p[key] = value
    p["CRCORR"] = str(Switch.COMPLETE)
    p["ROOTNAME"] = prod.upper()
    p.add_history(f"CRREJTAB: {crtab.path.name}")
    return Exposure(primary=p, imsets=imsets, filename=f"{prod}_crj_tmp.fits")


def _check_flash(blvs: list[Exposure], efac) -> None:
    """ACSREJ refuses inputs that differ in FLSHCORR, FLASHCUR or flash level FLASHDUR/EXPTIME
    (``acsrej_check.c``); FLASHCUR is required when FLSHCORR = PERFORM."""
    first = None
    for b, e in zip(blvs, efac, strict=True):
        p = b.primary
        perform = read_switch(p, "FLSHCORR") is Switch.PERFORM
        cur = level = None
        if perform:
            if "FLASHCUR" not in p:
                raise EngineError("required keyword is missing", file=b.filename, keyword="FLASHCUR")
            cur = str(p["FLASHCUR"]).strip().upper()
            with np.errstate(divide="ignore", invalid="ignore"):
                level = F32(F32(p.get("FLASHDUR", 0.0)) / F32(e))
        if first is None:
            first = (perform, cur, level)
            continue
        if perform != first[0]:
            raise EngineError("inputs use different FLSHCORR", file=b.filename, keyword="FLSHCORR")
        if perform and cur != first[1]:
            raise EngineError("inputs use different FLASHCUR", file=b.filename, keyword="FLASHCUR")
        if perform and level != first[2]:
            raise EngineError(
                "inputs use different flash levels (FLASHDUR/EXPTIME)", file=b.filename, keyword="FLASHDUR"
            )


def _imset_headers(exp) -> list[tuple[int, dict]]:
    """(EXTVER, headers) of each imset of an :class:`Exposure` or a :class:`Parked` one."""
    if isinstance(exp, Parked):
        return [(extver, headers) for headers, extver, _ in exp.metas]
    return [(im.extver, im.headers) for im in exp.imsets]


def _by_chip(exp, chip: int) -> ImSet:
    """The imset of CCDCHIP `chip` (of a :class:`Parked` exposure: mapped from its file)."""
    for i, (_, headers) in enumerate(_imset_headers(exp)):
        if int(headers["SCI"].get("CCDCHIP", 1)) == chip:
            return exp.imset(i) if isinstance(exp, Parked) else exp.imsets[i]
    raise EngineError(f"no imset for CCDCHIP {chip}", file=exp.filename, keyword="CCDCHIP")
