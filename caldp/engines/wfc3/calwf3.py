"""calwf3: the WFC3 stage-1 driver for both detectors (HSTCAL ``calwf3/calwf3.c``, ``procccd.c``, ``procir.c``,
``wf3table.c``; calib-wfc3.md §2).

Input: an ``_asn.fits`` association or a single ``_raw.fits``. UVIS exposures go raw → WF3CCD →
``_blv_tmp``; CR-SPLIT sub-products are combined by WF3REJ into ``<product>_crj_tmp`` and calibrated by
WF32D into ``<product>_crj``; each exposure gets an ``_flt`` from WF32D when EXPSCORR = PERFORM or there is
no CR combination. IR exposures are calibrated by the IR engine (``caldp.engines.wfc3.ir.wf3ir``);
IR repeat-obs (RPTCORR) associations combine the members' ``_flt`` with WF3REJ into ``_crj``.

Products are written atomically; existing products are never overwritten; if anything fails,
the products this call already wrote are removed again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common import fitsfile as ff
from ..common.asnproducts import make_product_spt, mark_products_present, spt_name
from ..common.driver import driver_run, member_raw, read_asn_table, rootname_of
from ..common.errors import EngineError
from ..common.heap import trim_heap
from ..common.hstio import Exposure, expand_raw, read_exposure
from ..common.outputs import Parked, Products, ReadAhead
from ..common.refimage import RefFiles
from ..common.threads import parallel_map, thread_count
from .version import cal_ver

log = logging.getLogger(__name__)

#: Optional per-stage hook (a benchmark sets it): a callable returning a context manager.
STAGE_HOOK = None


@contextlib.contextmanager
def stage(name: str):
    """Mark a stage for :data:`STAGE_HOOK` (a no-op by default); afterwards hand freed heap memory back
    to the system (glibc keeps freed chunks below its mmap threshold, which grows to a whole chip)."""
    with STAGE_HOOK(name) if STAGE_HOOK is not None else contextlib.nullcontext():
        yield
        trim_heap()


#: Bytes of the previous product still to be written when the next WF32D starts (the writer frees
#: each array once written; less: lower peak memory, more: more overlap).
WRITE_BACKLOG = 64 << 20

#: Whole exposures in flight at once (CR-SPLIT members in WF3CCD, products in WF32D): each holds an
#: exposure and its reference chips (~200 MB more for a full-frame pair at two), so they go one at
#: a time and the threads work inside each (chips, strips).
EXPOSURE_THREADS = 1


@dataclass(slots=True)
class SubProduct:
    name: str  # product rootname (lower case), "" when none
    mtype: str
    members: list[str] = field(default_factory=list)  # exposure rootnames, lower case


@dataclass(slots=True)
class Association:
    rootname: str
    detector: str
    crcorr: bool
    rptcorr: bool
    subproducts: list[SubProduct]
    dth_products: list[str] = field(default_factory=list)  # PROD-DTH rows (lower case)


def read_association(path: Path) -> Association:
    """Members and sub-products of an association table (``wf3table.c: GetAsnTable``)."""
    primary, rows = read_asn_table(path)
    inst = str(primary.get("INSTRUME", "")).strip().upper()
    if not inst.startswith("WFC3"):
        raise EngineError(f"INSTRUME = {inst!r} is not WFC3", file=path.name, keyword="INSTRUME")
    detector = str(primary.get("DETECTOR", "")).strip().upper()
    crcorr = any("-cr" in r.mtype for r in rows)
    rptcorr = not crcorr and any("-rp" in r.mtype for r in rows)
    poslen = 2 if (crcorr or rptcorr) else 3
    subs: dict[int, SubProduct] = {}
    defid = 1
    dth_products = []
    for name, mtype, present in rows:
        if "prod-dth" in mtype:
            dth_products.append(name)
            continue
        word = mtype.split("-", 1)[1] if "-" in mtype else ""
        if word in ("crj", "rpt", "crc"):
            posid = 1
        elif present or mtype.startswith("prod"):
            tail = word[poslen : poslen + 1]
            if tail.isalnum():
                digits = "".join(ch for ch in word[poslen:] if ch.isdigit())
                posid = int(digits) if digits else 0
            else:
                posid = defid
                defid += 1
        else:
            continue
        sp = subs.setdefault(posid, SubProduct(name="", mtype=""))
        if mtype.startswith("prod"):
            sp.name, sp.mtype = name, mtype.upper()
        elif mtype.startswith("exp"):
            if not present:
                log.warning('Member "%s" is not present', name)
                continue
            sp.members.append(name)
    subproducts = [subs[k] for k in sorted(subs) if subs[k].members]
    if not subproducts:
        raise EngineError("No data available for given assoc. table", file=path.name)
    if max(len(s.members) for s in subproducts) < 2:
        if crcorr or rptcorr:
            log.warning("No sub-product with more than 1 member; CRCORR/RPTCORR will be skipped")
        crcorr = rptcorr = False
    return Association(
        rootname=rootname_of(path).lower(),
        detector=detector,
        crcorr=crcorr,
        rptcorr=rptcorr,
        subproducts=subproducts,
        dth_products=dth_products,
    )


def _raw_detector(path: Path) -> str:
    try:
        hdr = ff.getheader(path, 0)
    except (OSError, ValueError, TypeError) as exc:
        raise EngineError(f"cannot read FITS file ({exc})", file=path.name) from exc
    inst = str(hdr.get("INSTRUME", "WFC3")).strip().upper()
    if not inst.startswith("WFC3"):
        raise EngineError(f"INSTRUME = {inst!r} is not WFC3", file=path.name, keyword="INSTRUME")
    if "DETECTOR" not in hdr:
        raise EngineError("required keyword is missing", file=path.name, keyword="DETECTOR")
    return str(hdr["DETECTOR"]).strip().upper()


def calwf3(
    input_path,
    *,
    outdir=None,
    env: Mapping[str, str] | None = None,
    keep_intermediates: bool = False,
    verbose: bool = False,
) -> list[Path]:
    """Calibrate a WFC3 association or single raw exposure; returns the product paths written."""
    with driver_run(input_path, outdir=outdir, env=env, cal_ver=(cal_ver(), "CALWF3 code version")) as run:
        input_path, out, env = run.input_path, run.out, run.env
        if input_path.name.lower().endswith("_asn.fits"):
            asn = read_association(input_path)
            srcdir = input_path.parent
        else:
            det = _raw_detector(input_path)
            root = rootname_of(input_path).lower()
            asn = Association(
                rootname=root,
                detector=det,
                crcorr=False,
                rptcorr=False,
                subproducts=[SubProduct(name="", mtype="", members=[root])],
            )
            srcdir = input_path.parent
        if asn.detector == "IR":
            result = _process_ir(asn, srcdir, out, env, keep_intermediates, input_path)
        elif asn.detector == "UVIS":
            result = _process_uvis(asn, srcdir, out, env, keep_intermediates, input_path)
        else:
            raise EngineError(f"DETECTOR = {asn.detector!r} is unknown", file=input_path.name, keyword="DETECTOR")
        out.close()  # every background write has ended (its error raised) before completion
        log.info("CALWF3 completion for %s", input_path.name)
        run.trailer_roots = result.trailer_roots
        if input_path.name.lower().endswith("_asn.fits") and asn.rootname not in run.trailer_roots:
            run.trailer_roots.append(asn.rootname)  # calwf3.e writes the association's trailer too
    return list(out.written)


@dataclass(slots=True)
class _Result:
    trailer_roots: list[str] = field(default_factory=list)


def _raw_path(srcdir: Path, root: str, input_path: Path) -> Path:
    if input_path.name.lower().endswith("_raw.fits") and rootname_of(input_path).lower() == root:
        return input_path
    return member_raw(srcdir, root)


def _check_corr(keys, asn: Association, file: str) -> None:
    from ..common.switches import Switch

    crcorr = keys.switches.get("CRCORR") is Switch.PERFORM
    rptcorr = keys.switches.get("RPTCORR") is Switch.PERFORM
    want_cr = asn.crcorr or asn.rptcorr
    if (crcorr or rptcorr) != want_cr:
        raise EngineError("CRCORR and/or RPTCORR values not consistent with ASN table", file=file, keyword="CRCORR")


def _process_uvis(asn: Association, srcdir: Path, out: Products, env, keep: bool, input_path: Path) -> _Result:
    from ..common.switches import Switch
    from .uvis.context import read_keys
    from .uvis.rejdriver import wf3rej
    from .uvis.wf3ccd import wf3ccd
    from .uvis.wf32d import wf32d

    res = _Result()
    combine = asn.crcorr or asn.rptcorr
    # Refuse before doing any work if a product already exists.
    names = []
    cte_refs = _cte_refs(asn, srcdir, input_path, env)  # PCTECORR=PERFORM: WF3CTE + a second pass
    for br in (_FLT_BRANCH, _FLC_BRANCH) if cte_refs else (_FLT_BRANCH,):
        for sp in asn.subproducts:
            for m in sp.members:
                names.append(f"{m}{br.flt}.fits")
                if keep:
                    names.append(f"{m}{br.blv}.fits")
                    if br.cte:
                        names.append(f"{m}_rac_tmp.fits")
            if combine and len(sp.members) > 1 and sp.name:
                names.append(f"{sp.name}{br.crj}.fits")
                if keep:
                    names.append(f"{sp.name}{br.crj}_tmp.fits")
    out.claim(names)
    first_keys = None
    made: list[str] = []  # products made (CR combinations, dither products)
    with RefFiles() as refs, contextlib.ExitStack() as parks:
        branches = (_FLT_BRANCH, _FLC_BRANCH) if cte_refs else (_FLT_BRANCH,)
        for sp, br in [(sp, br) for br in branches for sp in asn.subproducts]:
            racs = {}
            if br.cte:  # WF3CTE first, each exposure using every thread across its columns
                racs = {m: _wf3cte(_raw_path(srcdir, m, input_path), m, cte_refs, out) for m in sp.members}

            def read_raw(m, racs=racs):
                raw_path = _raw_path(srcdir, m, input_path)
                if m in racs:
                    try:
                        return raw_path, read_exposure(racs[m], ir=False)
                    finally:
                        if keep:
                            out.register(racs[m])
                        else:
                            racs[m].unlink(missing_ok=True)
                return raw_path, read_exposure(raw_path, ir=False, compact=True)  # float32 once taken

            reader = ReadAhead(read_raw, sp.members, background=thread_count() > 1)
            # a CR-SPLIT's members wait on disk (as calwf3.e's _blv_tmp do) from WF3CCD to their WF32D:
            # WF3REJ maps one chip of every member at a time, WF32D one member at a time
            park = len(sp.members) > 1
            last_park: list[Parked] = []

            def ccd_member(m, reader=reader, br=br, park=park, last_park=last_park):
                raw_path, raw = reader.get(m)
                raw = expand_raw(raw, parallel_map)
                keys = read_keys(raw.primary, file=raw_path.name)
                if keys.detector != "UVIS":
                    raise EngineError("DETECTOR differs from the association", file=raw_path.name, keyword="DETECTOR")
                log.info("WF3CCD: %s", raw_path.name)
                _prefetch_phot(raw.primary, keys, env)
                with stage(f"wf3ccd {m}"):  # (and WF3CCD's temporaries handed back)
                    blv = wf3ccd(raw, env=env, refs=refs, keys=keys, consume=True)
                    del raw
                blv.filename = f"{m}{br.blv}.fits"
                if keys.perform("PCTECORR") and not cte_refs:
                    blv.primary["PCTECORR"] = "SKIPPED"
                if park:
                    for p in last_park:  # one member written at a time
                        p.wait()
                    blv = Parked(blv, out.outdir / f".{blv.filename}.caldp-parked", background=thread_count() > 1)
                    parks.callback(blv.close)
                    last_park[:] = [blv]
                return raw_path, blv, keys

            blvs: list = []
            member_keys = []
            try:
                ccd_results = parallel_map(ccd_member, sp.members, max_workers=EXPOSURE_THREADS)
            finally:
                reader.close()
            refs.release()  # WF3CCD's reference chips, kept for the members
            for m, (raw_path, blv, keys) in zip(sp.members, ccd_results, strict=True):
                if first_keys is None:
                    first_keys = keys
                    if input_path.name.lower().endswith("_asn.fits"):
                        _check_corr(keys, asn, raw_path.name)
                    if keys.perform("PCTECORR") and not cte_refs:
                        log.warning(
                            "PCTECORR=PERFORM: pixel-based CTE correction is not implemented; "
                            "PCTECORR recorded SKIPPED, no _flc/_crc products"
                        )
                blvs.append(blv)
                member_keys.append(keys)
                if m not in res.trailer_roots:
                    res.trailer_roots.append(m)
            sw = first_keys.switches
            do_rej = (
                combine
                and len(sp.members) > 1
                and (sw.get("CRCORR") is Switch.PERFORM or sw.get("RPTCORR") is Switch.PERFORM)
            )
            expscorr = member_keys[0].perform("EXPSCORR")
            jobs = []  # (input exposure, keys, DQICORR, product name)
            if do_rej:
                prod = sp.name or asn.rootname
                log.info("WF3REJ: %s -> %s%s_tmp.fits", ", ".join(b.filename for b in blvs), prod, br.crj)
                with stage("wf3rej"):  # (and WF3REJ's work arrays handed back)
                    crj_tmp, blvs = wf3rej(
                        blvs, product=prod, mtype=sp.mtype or "EXP-CRJ", env=env, keys=member_keys[0], consume=True
                    )
                if br.cte:
                    crj_tmp.filename = f"{prod}{br.crj}_tmp.fits"
                if keep:
                    out.write(crj_tmp, f"{prod}{br.crj}_tmp.fits")
                    for b, m in zip(blvs, sp.members, strict=True):
                        out.write(_unparked(b), f"{m}{br.blv}.fits")
                crj_keys = read_keys(crj_tmp.primary, file=crj_tmp.filename)
                jobs.append((crj_tmp, crj_keys, False, f"{prod}{br.crj}.fits"))
                if not br.cte:
                    made.append(prod)
                del crj_tmp
                if prod not in res.trailer_roots:
                    res.trailer_roots.append(prod)
                if expscorr:
                    jobs += [
                        (b, k, False, f"{m}{br.flt}.fits")
                        for b, k, m in zip(blvs, member_keys, sp.members, strict=True)
                    ]
            else:
                for b, m in zip(blvs, sp.members, strict=True):
                    if keep:
                        out.write(_unparked(b), f"{m}{br.blv}.fits")
                jobs += [
                    (b, k, k.perform("DQICORR"), f"{m}{br.flt}.fits")
                    for b, k, m in zip(blvs, member_keys, sp.members, strict=True)
                ]
            del blvs

            def twod(index, jobs=jobs):
                exposure, k, dqi, name = jobs[index]
                jobs[index] = None  # let the input go as soon as its product is made
                log.info("WF32D: %s -> %s", exposure.filename, name)
                out.drain(WRITE_BACKLOG)
                with stage(f"wf32d {name}"):  # (and WF32D's temporaries handed back before the next product's)
                    product = wf32d(_unparked(exposure), env=env, refs=refs, keys=k, dqicorr=dqi, consume=True)
                    del exposure
                out.write_later(product, name)

            try:
                parallel_map(twod, range(len(jobs)), max_workers=EXPOSURE_THREADS)
            finally:
                out.flush()  # every write has ended (and its error is raised) before going on
            refs.release()  # WF32D's reference chips, kept for the products
            del jobs
            if do_rej and not br.cte:  # WF3REJ's product SPT (member type "")
                out.register(make_product_spt([srcdir / spt_name(m) for m in sp.members], made[-1], "", out.outdir))
    if input_path.name.lower().endswith("_asn.fits"):
        _dither_products(asn, srcdir, out, made)
        _update_asn(input_path, out, made)
    return res


def _unparked(exp) -> Exposure:
    """`exp`, or a parked one mapped back (its arrays are the parked pixels: changes stay parked)."""
    return exp.exposure() if isinstance(exp, Parked) else exp


@dataclass(frozen=True, slots=True)
class _Branch:
    """Suffixes of one pass of the UVIS chain: the plain one, or the CTE-corrected one (calwf3 3.7)."""

    cte: bool
    blv: str
    flt: str
    crj: str


_FLT_BRANCH = _Branch(False, "_blv_tmp", "_flt", "_crj")
_FLC_BRANCH = _Branch(True, "_blc_tmp", "_flc", "_crc")


def _cte_refs(asn: Association, srcdir: Path, input_path: Path, env) -> dict | None:
    """PCTETAB/BIACFILE/DRKCFILE paths when the first member's raw header says PCTECORR=PERFORM
    (None otherwise). Like calwf3.e, a missing reference stops the run before any processing."""
    from .uvis.context import reference

    first = asn.subproducts[0].members[0]
    raw_path = _raw_path(srcdir, first, input_path)
    primary = ff.getheader(raw_path, 0)
    if str(primary.get("PCTECORR", "OMIT")).strip().upper() != "PERFORM":
        return None
    if str(primary.get("DETECTOR", "")).strip().upper() != "UVIS":
        return None
    from .uvis import ctesub

    refs = {key: reference(primary, key, env) for key in ("PCTETAB", "BIACFILE", "DRKCFILE")}
    if ctesub.is_subarray(primary):
        # calwf3 corrects subarrays with physical overscan only; refuse the others before any work
        for sp in asn.subproducts:
            for m in sp.members:
                ctesub.check_raw(_raw_path(srcdir, m, input_path))
    return refs | {"PCTETAB_NAME": str(primary["PCTETAB"]).strip()}


def _wf3cte(raw_path: Path, root: str, cte_refs: dict, out: Products) -> Path:
    """WF3CTE (uvis/pctecorr.py): raw → ``<root>_rac_tmp.fits`` in the output directory."""
    from .uvis import ctesub
    from .uvis.pctecorr import run_wf3cte

    rac = out.outdir / f"{root}_rac_tmp.fits"
    log.info("WF3CTE: %s -> %s", raw_path.name, rac.name)
    subarray = ctesub.is_subarray(ff.getheader(raw_path, 0))
    (ctesub.run_wf3cte_subarray if subarray else run_wf3cte)(
        raw_path,
        rac,
        pctetab_path=cte_refs["PCTETAB"],
        biac_path=cte_refs["BIACFILE"],
        pctetab_name=cte_refs["PCTETAB_NAME"],
    )
    return rac


def _prefetch_phot(primary, keys, env) -> None:
    """Start WF32D's IMPHTTAB lookups of this exposure (both chips) in the background: they are
    pure table reading and overlap with WF3CCD/WF3REJ; PHOTCORR then finds them done."""
    from .uvis import photcorr
    from .uvis.context import reference

    if not keys.perform("PHOTCORR"):
        return
    try:
        path = reference(primary, "IMPHTTAB", env)
    except EngineError:
        return  # WF32D reports it
    photcorr.prefetch(path, [photcorr.photmode(chip, keys.filter, keys.expstart) for chip in (1, 2)])


def _dither_products(asn: Association, srcdir: Path, out: Products, made: list[str]) -> None:
    """WF3DTH: the dither product's SPT from its exposures (``BuildDthInput``, ``wf3dth.c``)."""
    for name in asn.dth_products:
        members = []
        for sp in asn.subproducts:
            if (asn.crcorr or asn.rptcorr) and len(sp.members) < 2:
                continue
            members += sp.members
        if members:
            out.register(make_product_spt([srcdir / spt_name(m) for m in members], name, "PROD-DTH", out.outdir))
            made.append(name)


def _update_asn(asn_path: Path, out: Products, made: list[str]) -> None:
    """MEMPRSNT/ASN_PROD of the products made — in place, as calwf3.e does in its working directory.

    Only when the association lies in the output directory: an input elsewhere is left untouched.
    """
    if asn_path.resolve().parent != out.outdir.resolve():
        log.info("%s is not in the output directory; MEMPRSNT of the products not updated", asn_path.name)
        return
    mark_products_present(asn_path, made)


def _process_ir(asn: Association, srcdir: Path, out: Products, env, keep: bool, input_path: Path) -> _Result:
    try:
        from .ir.wf3ir import wf3ir
    except ImportError as exc:
        raise EngineError("WFC3/IR engine not available") from exc
    res = _Result()
    made: list[str] = []  # products made (repeat combinations, dither products)
    names = []
    for sp in asn.subproducts:
        for m in sp.members:
            names += [f"{m}_ima.fits", f"{m}_flt.fits"]
        if asn.rptcorr and len(sp.members) > 1 and sp.name:
            names.append(f"{sp.name}_crj.fits")
    out.claim(names)
    for sp in asn.subproducts:
        flts = []
        for m in sp.members:
            raw_path = _raw_path(srcdir, m, input_path)
            log.info("WF3IR: %s", raw_path.name)
            paths = wf3ir(raw_path, outdir=out.outdir, env=env, keep_intermediates=keep)
            for p in paths:
                p = Path(p)
                if p not in out.written:
                    out.register(p)
                if p.name.endswith("_flt.fits"):
                    flts.append(p)
        if asn.rptcorr and len(flts) > 1:
            prod = sp.name or asn.rootname
            _ir_rptcorr(flts, prod, sp.mtype or "EXP-RPT", out, env)
            res.trailer_roots.append(prod)
            made.append(prod)
            out.register(make_product_spt([srcdir / spt_name(m) for m in sp.members], prod, "", out.outdir))
    if input_path.name.lower().endswith("_asn.fits"):
        _dither_products(asn, srcdir, out, made)
        _update_asn(input_path, out, made)
    return res


def _ir_rptcorr(flts: list[Path], prod: str, mtype: str, out: Products, env) -> None:
    """Combine IR ``_flt`` files with WF3REJ into ``<prod>_crj.fits`` (calib-wfc3.md §2.4) **[READ]**."""
    from ..common.hstio import ImSet
    from ..common.keywords import hdr_float, read_float
    from .ccdtab import read_ccdtab
    from .reffiles import read_crrejtab
    from .uvis import wf3rej as rej
    from .uvis.context import reference

    exps = [read_exposure(p, ir=True) for p in flts]
    p0 = exps[0].primary
    efac = [read_float(e.primary.get("EXPTIME", 0.0)) for e in exps]
    exptot = np.float32(0)
    for e in efac:
        exptot = np.float32(exptot + e)
    pars = read_crrejtab(reference(p0, "CRREJTAB", env), nimages=len(exps), exptot=exptot)
    im0 = exps[0].imsets[0]
    ny, nx = im0.sci.shape
    ccd = read_ccdtab(
        reference(p0, "CCDTAB", env),
        ccdamp="ABCD",
        ccdgain=float(p0.get("CCDGAIN", 0)),
        ccdchip=int(im0.sci_hdr.get("CCDCHIP", 1)),
        ccdofst=(0, 0, 0, 0),
        detector="IR",
    )
    del ccd
    noise = rej.ir_noise_model(
        [read_float(p0.get(f"ATODGN{a}", 0.0)) for a in "ABCD"],
        [read_float(p0.get(f"READNSE{a}", 0.0)) for a in "ABCD"],
        ampx=nx // 2,
        ampy=ny // 2,
    )
    rates = [str(e.imsets[0].sci_hdr.get("BUNIT", "")).strip().upper().endswith("/S") for e in exps]
    raws = [e.imsets[0].sci for e in exps]
    images = [r * efac[k] if rates[k] else r for k, r in enumerate(raws)]
    result = rej.combine(images, [e.imsets[0].dq for e in exps], raws, efac=efac, noise=noise, pars=pars)
    primary = p0.copy()
    primary["TEXPTIME"] = hdr_float(exptot)
    primary["EXPTIME"] = hdr_float(exptot)
    primary["SKYSUM"] = hdr_float(result.skysum)
    texpt = exptot if exptot != 0 else np.float32(len(exps))
    primary["REJ_RATE"] = hdr_float(np.float32(np.float32(result.nrej) / texpt))
    for key, value in pars.header_keywords().items():  # (Header.update would drop comments)
        primary[key] = value
    primary["RPTCORR"] = "COMPLETE"
    primary["ROOTNAME"] = prod.upper()
    del mtype  # calwf3.e leaves ASN_MTYP as the first member had it
    headers = {k: h.copy() for k, h in im0.headers.items() if k in ("SCI", "ERR", "DQ")}
    for h in headers.values():
        h["EXPNAME"] = (prod, "9 character exposure identifier")
    headers["SCI"]["NCOMBINE"] = len(exps)
    if rates[0]:
        for k in ("SCI", "ERR"):
            headers[k]["BUNIT"] = str(headers[k].get("BUNIT", ""))[:-2]
    crj = Exposure(
        primary=primary, imsets=[ImSet(sci=result.sci, err=result.err, dq=result.dq, headers=headers, extver=1)]
    )
    out.write(crj, f"{prod}_crj.fits")
