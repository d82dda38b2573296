"""WF32D stage driver: ``_blv_tmp``/``_crj_tmp`` → ``_flt``/``_crj`` for UVIS (HSTCAL ``wf32d/wf32d.c``,
``wf32d/do2d.c``; calib-wfc3.md §D).

Per imset: overscan must be trimmed (BLEVCORR COMPLETE and LTV ≤ 1); CCDTAB row re-read with the
trimmed width; error init if ERR is all zero; DQICORR if asked; DARKCORR; FLATCORR; SHADCORR;
PHOTMODE (always) and PHOTCORR; statistics. After all imsets, FLUXCORR scales chip 2.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from ...common.errors import EngineError
from ...common.hstio import Exposure, ImSet
from ...common.keywords import hdr_double, hdr_float
from ...common.refimage import RefFiles, cut_to_science
from ...common.refs import is_dummy
from ...common.switches import Switch
from ...common.threads import parallel_map
from ..ccdtab import read_ccdtab
from ..reffiles import check_reference
from . import dqicorr as dqi_step
from . import flatcorr as flat_step
from . import fluxcorr as flux_step
from . import noise as noise_step
from . import passes
from . import photcorr as phot_step
from . import shadcorr as shad_step
from .context import UvisKeys, read_group, reference
from .statistics import write_statistics
from .wf3ccd import _slot_values, read_bpixtab

log = logging.getLogger(__name__)

F32 = np.float32
AMPS = "ABCD"


class TwoDRefs:
    """Reference files WF32D needs (``Get2dFlags``)."""

    def __init__(self, primary, keys: UvisKeys, env, refs: RefFiles, *, dqicorr: bool):
        self.ccdtab = reference(primary, "CCDTAB", env)
        self.dqicorr = dqicorr
        self.darkcorr = keys.perform("DARKCORR")
        self.flatcorr = keys.perform("FLATCORR")
        self.shadcorr = keys.perform("SHADCORR")
        self.photcorr = keys.perform("PHOTCORR")
        self.fluxcorr = keys.perform("FLUXCORR")
        self.bpixtab = self.darkfile = self.shadfile = self.imphttab = None
        self.flats: list[tuple[str, object]] = []
        if self.dqicorr:
            self.bpixtab = reference(primary, "BPIXTAB", env, required=False)
            if self.bpixtab is not None and is_dummy(refs.primary(self.bpixtab, keyword="BPIXTAB")):
                self.bpixtab = None
        if self.darkcorr:
            key = "DRKCFILE" if str(primary.get("PCTECORR", "")).strip().upper() == "COMPLETE" else "DARKFILE"
            self.darkfile = reference(primary, key, env)
            self.dark_key = key
            h = refs.primary(self.darkfile, keyword=key)
            if is_dummy(h):
                self.darkcorr = False
            else:
                check_reference(
                    h,
                    filetype="CTEDARK" if key == "DRKCFILE" else "DARK",
                    detector="UVIS",
                    keyword=key,
                    file=self.darkfile.name,
                )
        if self.flatcorr:
            for key, ftype in (
                ("PFLTFILE", "PIXEL-TO-PIXEL FLAT"),
                ("DFLTFILE", "DELTA FLAT"),
                ("LFLTFILE", "LARGE SCALE FLAT"),
            ):
                path = reference(primary, key, env, required=False)
                if path is None:
                    continue
                h = refs.primary(path, keyword=key)
                if is_dummy(h):
                    continue
                check_reference(h, filetype=ftype, detector="UVIS", filter=keys.filter, keyword=key, file=path.name)
                self.flats.append((key, path))
            if not self.flats:
                if all(
                    str(primary.get(k, "N/A")).strip().upper() in ("N/A", "")
                    for k in ("PFLTFILE", "DFLTFILE", "LFLTFILE")
                ):
                    raise EngineError("PFLTFILE, DFLTFILE, LFLTFILE are all blank", keyword="PFLTFILE")
                self.flatcorr = False
        if self.shadcorr:
            self.shadfile = reference(primary, "SHADFILE", env)
            if is_dummy(refs.primary(self.shadfile, keyword="SHADFILE")):
                self.shadcorr = False
        if self.photcorr:
            self.imphttab = reference(primary, "IMPHTTAB", env)
            h = refs.primary(self.imphttab, keyword="IMPHTTAB")
            if is_dummy(h):
                self.photcorr = False
            else:
                check_reference(h, filetype="IMAGE PHOTOMETRY TABLE", keyword="IMPHTTAB", file=self.imphttab.name)


def _writable(*arrays) -> bool:
    return all(a.flags.writeable and a.dtype == d for a, d in zip(arrays, (F32, F32, np.uint16), strict=True))


def wf32d(
    inp: Exposure,
    *,
    env: Mapping[str, str] | None = None,
    refs: RefFiles,
    keys: UvisKeys,
    dqicorr: bool = False,
    consume: bool = False,
) -> Exposure:
    """Run WF32D on an in-memory ``_blv_tmp``/``_crj_tmp`` exposure; returns the calibrated exposure.

    The input is left alone unless `consume` is true: then DARKCORR and FLATCORR write into the
    input's arrays (the driver's choice when it has no further use for them; saves one exposure
    of memory). Either way each step after the first writes into the arrays the first one made.
    """
    primary = inp.primary.copy()
    fname = inp.filename
    t = TwoDRefs(primary, keys, env, refs, dqicorr=dqicorr)
    bpix_table = read_bpixtab(t.bpixtab) if t.bpixtab is not None else None

    def calibrate(idx: int) -> tuple[ImSet, list, object]:
        imset = inp.imsets[idx]
        first = idx == 0
        updates = []  # primary keywords set with the first imset (applied in imset order below)
        chip1_flam = None
        g = read_group(imset.sci_hdr)
        headers = {k: h.copy() for k, h in imset.headers.items()}
        sci, err, dq = imset.sci, imset.err, imset.dq
        owned = consume  # may the arrays in hand be overwritten?
        ny, nx = sci.shape
        if str(primary.get("BLEVCORR", "")).strip().upper() != "COMPLETE" or g.ltv[0] > 1 or g.ltv[1] > 1:
            raise EngineError("Overscan region not trimmed. Please perform BLEVCORR.", file=fname, keyword="BLEVCORR")
        ccd = read_ccdtab(
            t.ccdtab,
            ccdamp=keys.ccdamp,
            ccdgain=keys.ccdgain,
            ccdchip=g.chip,
            ccdofst=keys.ccdofst,
            binaxis=g.bin,
            dimx=nx,
        )
        if first:
            for k, a in enumerate(AMPS):
                updates.append((f"ATODGN{a}", hdr_float(ccd.atodgain[k])))
                updates.append((f"READNSE{a}", hdr_float(ccd.readnoise[k])))
        gains = _slot_values(ccd.atodgain, g.chip)
        if not np.any(err):
            bx = noise_step.noise_boundary(ccd.ampx, g.ltv[0], (0, 0, 0, 0), nx)
            err = noise_step.init_error(
                sci,
                boundary=bx,
                gain=gains,
                readnoise=_slot_values(ccd.readnoise, g.chip),
                bias=_slot_values(ccd.ccdbias, g.chip),
            )
        if t.dqicorr:
            dq = dqi_step.flag_atod_saturation(sci, dq)
            if bpix_table is not None:
                rows = dqi_step.select_bpix_rows(
                    bpix_table, ccdamp=keys.ccdamp, ccdgain=keys.ccdgain, chip=g.chip, file=t.bpixtab.name
                )
                # HSTCAL applies the 4-amp virtual-column shift here too (TRIMX3/4 of the OSCNTAB are not re-read:
                # they are 0 in WF32D's freshly initialised structure).
                dq = dqi_step.apply_bpixtab(
                    dq, rows, ltv=g.ltv, ltm=g.ltm, four_amp=keys.ccdamp == "ABCD", ampx=ccd.ampx, virtual_cols=0
                )
        # DARKCORR and the first flat of FLATCORR in one pass (passes.twod_pass); further flats after.
        dark = first_flat = None
        if t.darkcorr:
            ref = refs.chip(t.darkfile, g.chip, keyword=t.dark_key, constant_views=True, keep=True)
            ds, de, dd = cut_to_science(ref, headers["SCI"], sci.shape, file=t.darkfile.name, keyword=t.dark_key)
            dark = passes.DarkPars(ds, de, dd, k0=keys.exptime, gain=gains, ampx=ccd.ampx, sdqflags=g.sdqflags)
            del ref, ds, de, dd
        if t.flatcorr:
            key, path = t.flats[0]
            ref = refs.chip(path, g.chip, keyword=key, constant_views=True, keep=True)
            fs, fe, fd = cut_to_science(ref, headers["SCI"], sci.shape, file=path.name, keyword=key)
            first_flat = passes.FlatPars(fs, fe, fd, mean_gain=ccd.mean_gain)
            del ref, fs, fe, fd
        if dark is not None or first_flat is not None:
            sci, err, dq, meandark, nbadflat = passes.twod_pass(
                sci,
                err,
                dq,
                dark=dark,
                flat=first_flat,
                out=(sci, err, dq) if owned and _writable(sci, err, dq) else None,
            )
            owned = True
            del dark, first_flat
        if t.darkcorr:
            headers["SCI"]["MEANDARK"] = (hdr_float(meandark), "mean of dark values subtracted")
            log.info(
                "DARKCORR imset %d: %s %s, MEANDARK = %g",
                imset.extver,
                t.dark_key,
                t.darkfile.name,
                float(F32(meandark)),
            )
        if t.flatcorr:
            n0 = int(np.count_nonzero(dq & 512)) if len(t.flats) > 1 else 0
            for key, path in t.flats[1:]:
                ref = refs.chip(path, g.chip, keyword=key, constant_views=True, keep=True)
                fs, fe, fd = cut_to_science(ref, headers["SCI"], sci.shape, file=path.name, keyword=key)
                sci, err, dq = flat_step.divide_flat(
                    sci, err, dq, fs, fe, fd, out=(sci, err, dq) if owned and _writable(sci, err, dq) else None
                )
                del ref, fs, fe, fd
            if len(t.flats) > 1:
                nbadflat += int(np.count_nonzero(dq & 512)) - n0
            for ext in ("SCI", "ERR"):
                headers[ext]["BUNIT"] = "ELECTRONS"
            log.info(
                "FLATCORR imset %d: %s, %d pixels flagged BADFLAT",
                imset.extver,
                ", ".join(p.name for _, p in t.flats),
                nbadflat,
            )
        if t.shadcorr:
            if keys.exptime <= 0:
                log.warning("EXPTIME must be positive if SHADCORR = PERFORM.")
            else:
                ref = refs.chip(t.shadfile, g.chip, keyword="SHADFILE", constant_views=True)
                ss, se, sd = cut_to_science(ref, headers["SCI"], sci.shape, file=t.shadfile.name, keyword="SHADFILE")
                sci, err, dq = shad_step.shadcorr(sci, err, dq, ss, se, sd, exptime=keys.exptime, ncombine=g.ncombine)
        mode = phot_step.photmode(g.chip, keys.filter, keys.expstart)
        headers["SCI"]["PHOTMODE"] = (mode, "list of components")
        if t.photcorr:
            vals = phot_step.phot_values(t.imphttab, mode, g.chip)
            h = headers["SCI"]
            h["PHOTFLAM"] = (hdr_float(vals["PHOTFLAM"]), "Inverse sensitivity, ergs/cm2/A/e-")
            h["PHOTZPT"] = (hdr_float(vals["PHOTZPT"]), "ST magnitude zero point")
            h["PHOTPLAM"] = (hdr_float(vals["PHOTPLAM"]), "pivot wavelength")
            h["PHOTBW"] = (hdr_float(vals["PHOTBW"]), "RMS bandwidth")
            if g.chip == 1:
                h["PHTFLAM1"] = (hdr_float(vals["PHTFLAM1"]), "Ch1 Inv Sens, use PHOTFLAM for UV filters")
                h["PHOTFNU"] = (hdr_float(vals["PHOTFNU"]), "Inverse sensitivity, Jy*sec/e-")
                h["PHTFLAM2"] = (hdr_float(vals["PHTFLAM2"]), "Ch2 Inv Sens, use PHOTFLAM if FLUXCORR=COMPLETE")
                chip1_flam = vals["PHTFLAM1"]
            else:
                h["PHTFLAM2"] = (hdr_float(vals["PHTFLAM2"]), "Ch2 Inv Sens, use PHOTFLAM if FLUXCORR=COMPLETE")
                h["PHOTFNU"] = (hdr_float(vals["PHOTFNU"]), "Inverse sensitivity, Jy*sec/e-")
                chip1_flam = vals["PHTFLAM1"]
                if keys.subarray:
                    h["PHTFLAM1"] = (hdr_float(vals["PHTFLAM1"]), "Ch1 Inv Sens, use PHOTFLAM for UV filters")
            if first:
                updates.append(("PHOTFLAM", (hdr_float(vals["PHOTFLAM"]), "Inverse sensitivity, ergs/cm2/A/e-")))
                updates.append(("PHOTZPT", (hdr_float(vals["PHOTZPT"]), "ST magnitude zero point")))
                updates.append(("PHTFLAM1", (hdr_float(vals["PHTFLAM1"]), "Ch1 Inv Sens, use PHOTFLAM for UV filters")))
                updates.append(
                    ("PHTFLAM2", (hdr_float(vals["PHTFLAM2"]), "Ch2 Inv Sens, use PHOTFLAM if FLUXCORR=COMPLETE"))
                )
            log.info(
                "PHOTCORR imset %d: IMPHTTAB %s, PHOTFLAM = %g",
                imset.extver,
                t.imphttab.name,
                float(F32(vals["PHOTFLAM"])),
            )
        new = ImSet(sci=sci, err=err, dq=dq, headers=headers, extver=imset.extver)
        write_statistics(new, g.sdqflags)
        for ext in ("SCI", "ERR"):
            for k in list(new.headers[ext].keys()):
                if k.startswith(("GOOD", "SNR")):
                    new.headers[ext][k] = hdr_float(new.headers[ext][k])
        return new, updates, chip1_flam, owned

    results = parallel_map(calibrate, range(len(inp.imsets)))
    out_imsets = [r[0] for r in results]
    for key, value in results[0][1]:
        primary[key] = value
    chip1_flam = None
    for r in results:  # as the sequential loop: the last imset that looked it up
        if r[2] is not None:
            chip1_flam = r[2]
    _history_2d(primary, t)
    if keys.perform("EXPSCORR"):
        primary["EXPSCORR"] = str(Switch.COMPLETE)
    if t.fluxcorr:
        _fluxcorr(primary, out_imsets, t, keys, chip1_flam, in_place=results[0][3])
    return Exposure(primary=primary, imsets=out_imsets, filename=fname)


def _fluxcorr(primary, imsets: list[ImSet], t: TwoDRefs, keys: UvisKeys, chip1_flam, in_place=False) -> None:
    if not t.photcorr:
        log.warning("FLUXCORR needs PHOTCORR; skipped")
        return
    chip2 = imsets[0]
    if keys.subarray:
        if int(chip2.sci_hdr.get("CCDCHIP", 1)) != 2:
            log.info("No flux scaling needed for Chip 1")
            return
        phtflam1 = float(chip1_flam)
    else:
        if len(imsets) < 2:
            raise EngineError("FLUXCORR needs both chips", keyword="FLUXCORR")
        phtflam1 = float(imsets[1].sci_hdr.get("PHTFLAM1", 1.0))
    phtflam2 = float(chip2.sci_hdr.get("PHTFLAM2", 1.0))
    ratio = flux_step.flux_ratio(phtflam1, phtflam2)
    chip2.sci, chip2.err = flux_step.fluxcorr(chip2.sci, chip2.err, ratio=ratio, in_place=in_place)
    # HSTCAL recomputes the statistics but then re-reads the SCI header from the file before
    # writing it back, so the products keep the pre-FLUXCORR statistics (verified with calwf3.e).
    primary["PHTRATIO"] = (hdr_double(ratio), "PHTFLAM2/PHTFLAM1 ratio")
    primary["PHTFLAM2"] = (hdr_double(phtflam2), "Chip2 Inv Sens, use when FLUXCORR=OMIT")
    primary["PHTFLAM1"] = (hdr_double(phtflam1), "Chip1 Inv Sens, same as PHOTFLAM")
    chip2.sci_hdr["PHTRATIO"] = (hdr_double(ratio), "PHTFLAM2/PHTFLAM1 ratio")
    chip2.sci_hdr["PHTFLAM1"] = (hdr_double(phtflam1), "Chip1 Inv Sens, same as PHOTFLAM")
    primary["FLUXCORR"] = str(Switch.COMPLETE)
    log.info("FLUXCORR: PHTRATIO = %.8g applied to chip 2", ratio)


def _history_2d(primary, t: TwoDRefs) -> None:
    for flag, name, ref in (
        (t.darkcorr, "DARKCORR", t.darkfile),
        (t.flatcorr, "FLATCORR", None),
        (t.shadcorr, "SHADCORR", t.shadfile),
        (t.photcorr, "PHOTCORR", t.imphttab),
    ):
        if flag:
            primary[name] = str(Switch.COMPLETE)
            primary.add_history(f"{name} complete" + (f" using {ref.name}" if ref is not None else ""))
    if t.dqicorr:
        primary["DQICORR"] = str(Switch.COMPLETE)
