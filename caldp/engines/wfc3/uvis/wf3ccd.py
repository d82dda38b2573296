"""WF3CCD stage driver: raw → ``_blv_tmp`` for UVIS (HSTCAL ``wf3ccd/wf3ccd.c``, ``wf3ccd/doccd.c``; §U).

Per imset, in HSTCAL's order: CCDTAB row → OSCNTAB row → error init → DQICORR → ATODCORR →
BLEVCORR → BIASCORR → full-well map → sink pixels → FLSHCORR → trim. Each step is a pure
function in its own module; this driver reads the switches, opens each reference once, cuts it to
the data, calls the step and does the header bookkeeping. HSTCAL writes the primary header with
imset 1 only; primary keywords computed for later imsets are therefore not kept (except the
BIASLEV* values, which WF3CCD writes at the end for every amp).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ...common.errors import EngineError
from ...common.hstio import Exposure, ImSet
from ...common.keywords import hdr_float
from ...common.refimage import RefFiles, cut_to_science, find_line
from ...common.refs import is_dummy
from ...common.switches import Switch
from ...common.threads import parallel_map
from ..ccdtab import read_ccdtab
from ..oscntab import read_oscntab
from ..reffiles import check_reference, read_table_ext
from . import atodcorr as atod_step
from . import biascorr as bias_step
from . import blevcorr as blev_step
from . import dqicorr as dqi_step
from . import flshcorr as flsh_step
from . import fullwell as fw_step
from . import noise as noise_step
from . import passes
from . import sinkcorr as sink_step
from .context import UvisKeys, read_group, reference
from .geometry import amp_regions

log = logging.getLogger(__name__)

F32 = np.float32
AMPS = "ABCD"


def _slot_values(values, chip: int):
    """(slot0, slot1) of a per-amp A..D array for a chip (``get_nsegn``)."""
    return (values[2], values[3]) if chip == 2 else (values[0], values[1])


class CCDRefs:
    """Reference files WF3CCD needs, checked once per exposure (``GetFlags``)."""

    def __init__(self, primary, keys: UvisKeys, env: Mapping[str, str] | None, refs: RefFiles):
        self.ccdtab = reference(primary, "CCDTAB", env)
        self.oscntab = reference(primary, "OSCNTAB", env, required=False)
        self.bpixtab = self.snkcfile = self.biasfile = self.satufile = self.flshfile = self.atodtab = None
        self.scalar_sat = False
        self.dqicorr, self.atodcorr = keys.perform("DQICORR"), keys.perform("ATODCORR")
        self.blevcorr, self.biascorr = keys.perform("BLEVCORR"), keys.perform("BIASCORR")
        self.flshcorr = keys.perform("FLSHCORR")
        if self.blevcorr and self.oscntab is None:
            raise EngineError("reference file is not given", keyword="OSCNTAB")
        if self.dqicorr:
            self.snkcfile = reference(primary, "SNKCFILE", env)
            self.bpixtab = reference(primary, "BPIXTAB", env, required=False)
            if self.bpixtab is not None:
                h = refs.primary(self.bpixtab, keyword="BPIXTAB")
                if is_dummy(h):
                    self.bpixtab = None
                else:
                    check_reference(
                        h, filetype="BAD PIXELS", detector="UVIS", keyword="BPIXTAB", file=self.bpixtab.name
                    )
        if self.atodcorr:
            self.atodtab = reference(primary, "ATODTAB", env)
        if self.biascorr:
            self.biasfile = reference(primary, "BIASFILE", env)
            h = refs.primary(self.biasfile, keyword="BIASFILE")
            if is_dummy(h):
                log.warning("BIASFILE has PEDIGREE=DUMMY: BIASCORR will not be performed")
                self.biascorr = False
                self.scalar_sat = True
            else:
                check_reference(h, filetype="BIAS", keyword="BIASFILE", file=self.biasfile.name, ccdgain=keys.ccdgain)
                self.satufile = None
                try:
                    self.satufile = reference(primary, "SATUFILE", env, required=False)
                except EngineError:
                    self.satufile = None
                if self.satufile is None:
                    self.scalar_sat = True
                    log.info("A single threshold value will be used for full-well saturation flagging.")
        else:
            self.scalar_sat = True
        if self.flshcorr:
            self.flshfile = reference(primary, "FLSHFILE", env)
            check_reference(
                refs.primary(self.flshfile, keyword="FLSHFILE"),
                filetype="POST FLASH",
                keyword="FLSHFILE",
                file=self.flshfile.name,
            )


def _trim(imset: ImSet, *, trimx, trimy, four_amp: bool, in_place: bool = False) -> ImSet:
    """Remove the overscan (``doccd.c``): drop the 60 middle virtual columns of 4-amp data, then the
    section at (TRIMX1, TRIMY1); LTV/CRPIX shifted; SIZAXIS1/2 set.

    `in_place`: the imset's arrays and headers may be overwritten; with the kernels the trimmed
    arrays are then views of the start of the same buffers.
    """
    ny, nx = imset.sci.shape
    sizex = nx - sum(trimx)
    sizey = ny - trimy[0] - trimy[1]
    # Column pieces [a, b) of the raw row that make up the trimmed row, in order.
    pieces = [(trimx[0], trimx[0] + sizex)]
    if four_amp:
        x1 = nx // 2 + trimx[2]
        dx = trimx[2] + trimx[3]
        split = min(max(x1 - dx, trimx[0]), trimx[0] + sizex)
        pieces = [(trimx[0], split), (split + dx, trimx[0] + sizex + dx)]
    rows = slice(trimy[0], trimy[0] + sizey)
    headers = {}
    for name, hdr in imset.headers.items():
        h = hdr if in_place else hdr.copy()  # in place: the headers are the caller's own copies too
        for key, off in (("LTV1", trimx[0]), ("LTV2", trimy[0]), ("CRPIX1", trimx[0]), ("CRPIX2", trimy[0])):
            if key in h:
                h[key] = h[key] - off
        headers[name] = h
    headers["SCI"]["SIZAXIS1"] = sizex
    headers["SCI"]["SIZAXIS2"] = sizey

    k = passes.kernels() if in_place else None

    def take(a):
        if k is not None and a.flags.c_contiguous and a.flags.writeable and a.dtype.isnative:
            # Compact the rows to the start of the buffer the array already owns (no new allocation).
            k.trim(a, a.itemsize, ny, nx, trimy[0], sizey, np.asarray(pieces, np.int64), len(pieces))
            return a.reshape(-1)[: sizey * sizex].reshape(sizey, sizex)
        out = np.empty((sizey, sizex), a.dtype)
        x = 0
        for lo, hi in pieces:
            out[:, x : x + hi - lo] = a[rows, lo:hi]
            x += hi - lo
        return out

    return ImSet(sci=take(imset.sci), err=take(imset.err), dq=take(imset.dq), headers=headers, extver=imset.extver)


def _read_table(path, keyword):
    """(rows, header) of a table's first extension; read once per file (shared, do not modify)."""
    try:
        _, header, data = read_table_ext(path)
        if header is None or data is None:
            raise IndexError("no table extension")
        return data, header
    except (OSError, IndexError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise EngineError(f"cannot read table ({exc})", file=path.name, keyword=keyword) from exc


def read_bpixtab(path):
    """The BPIXTAB rows; the table header must give SIZAXIS1/2 (``dodqi.c: OpenBpixTab``)."""
    data, hdr = _read_table(path, "BPIXTAB")
    for key in ("SIZAXIS1", "SIZAXIS2"):
        if key not in hdr:
            raise EngineError(f"table header has no {key}", file=path.name, keyword="BPIXTAB")
    return data


@dataclass(slots=True)
class _ImsetResult:
    """What calibrating one imset gives the exposure-level bookkeeping."""

    imset: ImSet | None = None
    ccd: object = None
    levels: dict[int, float] = field(default_factory=dict)  # BIASLEV by amp index
    blev_done: bool = False
    driftcorr: bool = False


def wf3ccd(
    raw: Exposure, *, env: Mapping[str, str] | None = None, refs: RefFiles, keys: UvisKeys, consume: bool = False
) -> Exposure:
    """Run WF3CCD on an in-memory raw exposure; returns the ``_blv_tmp`` exposure (new object).

    With `consume` the raw exposure is used up: its arrays are not copied first and each imset is
    dropped from ``raw.imsets`` (set to None) once calibrated, to save memory. The imsets (chips)
    are calibrated on up to ``CALDP_THREADS`` threads (the kernels release the GIL).
    """
    primary = raw.primary.copy()
    fname = raw.filename
    crefs = CCDRefs(primary, keys, env, refs)
    bpix_table = read_bpixtab(crefs.bpixtab) if crefs.bpixtab is not None else None
    atod_array = None
    if crefs.atodcorr:
        atod_array = _atod_row(crefs.atodtab, primary, keys)

    def calibrate(index: int) -> _ImsetResult:
        imset = raw.imsets[index]
        out = _ImsetResult()
        g = read_group(imset.sci_hdr)
        ny, nx = imset.sci.shape
        if consume:
            raw.imsets[index] = None
            sci, err, dq = imset.sci.astype(F32, copy=False), imset.err.astype(F32, copy=False), imset.dq
        else:
            sci, err, dq = imset.sci.astype(F32, copy=True), imset.err.astype(F32, copy=True), imset.dq.copy()
        headers = {k: h.copy() for k, h in imset.headers.items()}
        ccd = read_ccdtab(
            crefs.ccdtab,
            ccdamp=keys.ccdamp,
            ccdgain=keys.ccdgain,
            ccdchip=g.chip,
            ccdofst=keys.ccdofst,
            binaxis=g.bin,
            dimx=nx,
        )
        if crefs.oscntab is not None:
            osc = read_oscntab(
                crefs.oscntab,
                ccdamp=keys.ccdamp,
                ccdchip=g.chip,
                binaxis=g.bin,
                nx=nx,
                ny=ny,
                subarray=keys.subarray,
                offsetx=g.ltv[0],
            )
            trimx, trimy, overscan = osc.trimx, osc.trimy, osc.has_overscan
        else:
            osc, trimx, trimy, overscan = None, (0, 0, 0, 0), (0, 0), False
        regions = amp_regions(keys.ccdamp, g.chip, ampx=ccd.ampx, ampy=ccd.ampy, trimx=trimx, trimy=trimy, nx=nx, ny=ny)
        gains = _slot_values(ccd.atodgain, g.chip)
        # Error array (on the raw DN) and DQICORR's saturation flags: one pass (passes.ccd_first_pass).
        noise = None
        if not np.any(err):
            if g.ncombine > 1:
                log.warning("NCOMBINE > 1 before the error array was initialized.")
            noise = passes.NoisePars(
                boundary=noise_step.noise_boundary(ccd.ampx, g.ltv[0], trimx, nx),
                gain=gains,
                readnoise=_slot_values(ccd.readnoise, g.chip),
                bias=_slot_values(ccd.ccdbias, g.chip),
            )
        sat = None
        if crefs.dqicorr:
            n0 = np.count_nonzero(dq)
            if crefs.scalar_sat:
                sat = passes.SatPars(saturate=ccd.saturate)
            elif overscan:
                mask = dqi_step.overscan_rows_cols(sci.shape, regions, subarray=keys.subarray, trimx=trimx)
                sat = passes.SatPars(saturate=ccd.saturate, mask=mask)
        err, dq = passes.ccd_first_pass(sci, err, dq, noise=noise, dqicorr=crefs.dqicorr, sat=sat)
        if noise is not None:
            log.info("Uncertainty array initialized for imset %d.", imset.extver)
        if crefs.dqicorr:
            if bpix_table is not None:
                if g.bin != (1, 1):
                    raise EngineError(
                        "binned data are not supported by the builtin DQICORR", file=fname, keyword="BINAXIS1"
                    )
                rows = dqi_step.select_bpix_rows(
                    bpix_table, ccdamp=keys.ccdamp, ccdgain=keys.ccdgain, chip=g.chip, file=crefs.bpixtab.name
                )
                if len(rows["xstart"]) == 0:
                    log.warning("No rows from BPIXTAB applied to DQ array.")
                dq = dqi_step.apply_bpixtab(
                    dq,
                    rows,
                    ltv=g.ltv,
                    ltm=g.ltm,
                    four_amp=keys.ccdamp == "ABCD",
                    ampx=ccd.ampx,
                    virtual_cols=trimx[2] + trimx[3],
                )
            log.info(
                "DQICORR imset %d: BPIXTAB %s, %d pixels flagged",
                imset.extver,
                crefs.bpixtab.name if crefs.bpixtab else "N/A",
                int(np.count_nonzero(dq)) - int(n0),
            )
        # ATODCORR
        if crefs.atodcorr and atod_array is not None:
            sci, dq = atod_step.atodcorr(sci, dq, atod_array)
            log.info("ATODCORR imset %d: ATODTAB %s", imset.extver, crefs.atodtab.name)
        # BLEVCORR (fits here; the subtraction is done with BIASCORR and the full-well test below)
        levels = None
        if crefs.blevcorr:
            biasnum = AMPS.index(keys.ccdamp[0]) + (2 if len(keys.ccdamp) > 1 and g.chip == 2 else 0)
            ccdbias = ccd.ccdbias[biasnum]
            if g.bin[0] not in (1, 2, 3) or g.bin[1] not in (1, 2, 3):
                raise EngineError("bin size must be 1, 2, or 3", file=fname, keyword="BINAXIS1")
            if not overscan:
                log.warning(
                    "Overscan region is too small to do BLEVCORR; bias from CCDTAB of %g will be subtracted.",
                    float(ccdbias),
                )
                sci = blev_step.subtract_default_bias(sci, ccdbias)
                out.levels[biasnum] = float(ccdbias)
                log.info("Default bias level from CCDTAB was subtracted.")
            else:
                amps = []
                for r in regions:
                    k = r.index
                    g_amp = ccd.atodgain[k]
                    rn = F32(ccd.readnoise[k] / g_amp) if g_amp != 0 else F32(ccd.readnoise[k])
                    bs = blev_step.bias_sections(
                        osc.biassecta, osc.biassectb, osc.biassectc, osc.biassectd, xhalf=r.xhalf, numamps=len(regions)
                    )
                    vx = (osc.vx[0], osc.vx[1]) if r.xhalf == 0 else (osc.vx[2], osc.vx[3])
                    vy = (osc.vy[0], osc.vy[1]) if r.xhalf == 0 else (osc.vy[2], osc.vy[3])
                    amps.append(
                        blev_step.AmpBias(region=r, biassect=bs, vx=vx, vy=vy, readnoise=rn, ccdbias=float(ccdbias))
                    )
                dodrift = not (osc.vy[0] <= 0 and osc.vy[1] <= 0)
                levels, res = blev_step.fit_levels(sci, dq, amps, sdqflags=g.sdqflags, dodrift=dodrift, trimy1=trimy[0])
                if res.too_few:
                    log.warning(
                        "(blevcorr) %d image line%s too few usable overscan pixels.",
                        res.too_few,
                        " has" if res.too_few == 1 else "s have",
                    )
                for a, level in res.levels.items():
                    out.levels[AMPS.index(a)] = level
                    log.info("     bias level of %.6g was subtracted for AMP %s.", level, a)
                headers["SCI"]["MEANBLEV"] = (hdr_float(res.meanblev), "mean of bias levels subtracted")
                log.info(
                    "BLEVCORR imset %d: OSCNTAB %s, mean of bias levels subtracted was %.6g",
                    imset.extver,
                    crefs.oscntab.name,
                    float(F32(res.meanblev)),
                )
                out.blev_done = True
                out.driftcorr = res.driftcorr
        # BIASCORR, full-well saturation map
        bias = _bias_arrays(sci, headers["SCI"], g.chip, keys, crefs, refs) if crefs.biascorr else None
        do_fw = crefs.biascorr and crefs.blevcorr and not crefs.scalar_sat
        fw = _fullwell_frame(sci, headers["SCI"], g.chip, ccd, regions, crefs, refs) if do_fw else None
        sci, err, dq, nbias, nsat = passes.ccd_bias_pass(sci, err, dq, levels=levels, bias=bias, fullwell=fw)
        del bias
        if crefs.biascorr:
            log.info("BIASCORR chip %d: BIASFILE %s, %d pixels flagged", g.chip, crefs.biasfile.name, nbias)
        if do_fw:
            if fw is None:  # subarray: the map section under the data
                n0 = int(np.count_nonzero(dq & 256))
                dq = _fullwell(sci, dq, headers["SCI"], g.chip, ccd, regions, crefs, refs, fname)
                nsat = int(np.count_nonzero(dq & 256)) - n0
            log.info(
                "Full-well saturation imset %d: SATUFILE %s, %d pixels flagged",
                imset.extver,
                crefs.satufile.name,
                nsat,
            )
        del fw
        # Sink pixels
        if crefs.dqicorr:
            if g.bin != (1, 1):
                log.info("Binned data not supported for Sink Pixel detection")
            else:
                dq, nsink = _sinks(sci, dq, headers["SCI"], imset.extver, keys, crefs, refs, fname)
                log.info(
                    "Sink pixels imset %d: SNKCFILE %s, %d pixels flagged", imset.extver, crefs.snkcfile.name, nsink
                )
        # FLSHCORR
        if crefs.flshcorr:
            if keys.flashdur <= 0:
                log.warning("Post-flash exposure was 0 seconds. FLSHCORR not performed.")
            else:
                if str(primary.get("FLASHSTA", "")).strip().upper() == "ABORTED":
                    log.warning("Post-flash STATUS was ABORTED. Post-flash may be compromised.")
                sci, err, dq, meanflash = _flash(sci, err, dq, headers["SCI"], g, gains, ccd, keys, crefs, refs)
                log.info("FLSHCORR imset %d: FLSHFILE %s, MEANFLSH = %g", imset.extver, crefs.flshfile.name, meanflash)
                if meanflash > 0:
                    headers["SCI"]["MEANFLSH"] = (hdr_float(meanflash), "mean of post-flash values subtracted")
        new = ImSet(sci=sci, err=err, dq=dq, headers=headers, extver=imset.extver)
        if crefs.blevcorr:
            new = _trim(new, trimx=trimx, trimy=trimy, four_amp=len(keys.ccdamp) == 4, in_place=True)
        out.imset, out.ccd = new, ccd
        return out

    results = parallel_map(calibrate, range(len(raw.imsets)))
    out_imsets = [r.imset for r in results]
    # HSTCAL writes the primary header with imset 1: its CCDTAB values are the ones kept.
    for k, a in enumerate(AMPS):
        primary[f"ATODGN{a}"] = hdr_float(results[0].ccd.atodgain[k])
        primary[f"READNSE{a}"] = hdr_float(results[0].ccd.readnoise[k])
    blev_levels = np.zeros(4)
    for r in results:
        for k, v in r.levels.items():
            blev_levels[k] = v
    blev_done = any(r.blev_done for r in results)
    driftcorr = any(r.driftcorr for r in results)
    _ccd_history(primary, keys, crefs, blev_done, driftcorr)
    if "BIASLEVA" in primary:
        for k, a in enumerate(AMPS):
            if blev_levels[k] != 0:
                primary[f"BIASLEV{a}"] = (hdr_float(blev_levels[k]), f"bias level for amplifier {a}")
    return Exposure(primary=primary, imsets=out_imsets, filename=fname)


def _atod_row(path, primary, keys: UvisKeys):
    data, _ = _read_table(path, "ATODTAB")
    names = {n.upper(): n for n in data.dtype.names}
    best, best_dt = None, None
    for i in range(len(data)):
        amp = str(data[names["CCDAMP"]][i]).strip()
        gain = np.float32(data[names["CCDGAIN"]][i])
        if amp not in ("ANY", keys.ccdamp) or gain not in (np.float32(-1), np.float32(-999), np.float32(keys.ccdgain)):
            continue
        ref_key = str(data[names["REF_KEY"]][i]).strip()
        if ref_key not in primary:
            raise EngineError("keyword named by ATODTAB REF_KEY is missing", keyword=ref_key)
        dt = abs(float(primary[ref_key]) - float(data[names["REF_KEY_VALUE"]][i]))
        if best is None or dt < best_dt:
            best, best_dt = i, dt
    if best is None:
        raise EngineError(f"CCD amp {keys.ccdamp}, gain {keys.ccdgain:g} not found", file=path.name, keyword="ATODTAB")
    n = int(data[names["NELEM"]][best]) if "NELEM" in names else None
    arr = np.asarray(data[names["ATOD"]][best], dtype=np.float32).ravel()
    return arr[:n] if n else arr


def _bias_arrays(sci, sci_hdr, chip, keys, crefs, refs):
    """The BIASFILE section (sci, err, dq) under the raw data (``doBias``)."""
    ref = refs.chip(crefs.biasfile, chip, keyword="BIASFILE", constant_views=True, keep=True)
    p = find_line(sci_hdr, sci.shape[1], ref.sci_hdr, ref.sci.shape[1], file=crefs.biasfile.name, keyword="BIASFILE")
    extra = 0 if p.same_size else bias_step.bias_x_offset(str(ref.primary.get("CCDAMP", "")), keys.ccdamp)
    return cut_to_science(ref, sci_hdr, sci.shape, file=crefs.biasfile.name, keyword="BIASFILE", extra_x=extra)


def _satu_chip(sci, sci_hdr, chip, crefs, refs):
    ref = refs.chip(crefs.satufile, chip, keyword="SATUFILE", arrays=("SCI",), constant_views=True, keep=True)
    check_reference(
        ref.primary, filetype="FULL-WELL SATURATION LEVEL MAP", keyword="SATUFILE", file=crefs.satufile.name
    )
    p = find_line(sci_hdr, sci.shape[1], ref.sci_hdr, ref.sci.shape[1], file=crefs.satufile.name, keyword="SATUFILE")
    if p.rx != 1 or p.ry != 1:
        raise EngineError(
            "saturation image and input are not binned to the same pixel size",
            file=crefs.satufile.name,
            keyword="SATUFILE",
        )
    return ref, p


def _fullwell_frame(sci, sci_hdr, chip, ccd, regions, crefs, refs):
    """Full-frame full-well inputs for :func:`passes.ccd_bias_pass`, or None for a subarray."""
    ref, p = _satu_chip(sci, sci_hdr, chip, crefs, refs)
    if not p.same_size:
        return None
    if ref.sci.shape != sci.shape:
        raise EngineError(
            f"saturation image shape {ref.sci.shape} differs from the data {sci.shape}",
            file=crefs.satufile.name,
            keyword="SATUFILE",
        )
    return passes.FullWellPars(satmap=ref.sci, regions=regions, mean_gain=ccd.mean_gain)


def _fullwell(sci, dq, sci_hdr, chip, ccd, regions, crefs, refs, fname):
    ref, p = _satu_chip(sci, sci_hdr, chip, crefs, refs)
    if p.same_size:
        if ref.sci.shape != sci.shape:
            raise EngineError(
                f"saturation image shape {ref.sci.shape} differs from the data {sci.shape}",
                file=crefs.satufile.name,
                keyword="SATUFILE",
            )
        return fw_step.flag_full_well(sci, dq, ref.sci, mean_gain=ccd.mean_gain, regions=regions)
    try:
        section = fw_step.subarray_map(ref.sci, x0=p.x0, y0=p.y0, shape=sci.shape)
    except IndexError:
        section = None
    if section is None or section.shape != sci.shape or p.x0 < 0 or p.y0 < 0:
        raise EngineError("saturation image does not cover the subarray", file=crefs.satufile.name, keyword="SATUFILE")
    return fw_step.flag_full_well_subarray(sci, dq, section, mean_gain=ccd.mean_gain)


def _flash(sci, err, dq, sci_hdr, g, gains, ccd, keys, crefs, refs):
    """FLSHCORR of one imset: full frame (per-amp gains) or subarray (one amp, 60-column rules)."""
    name = crefs.flshfile.name
    ref = refs.chip(crefs.flshfile, g.chip, keyword="FLSHFILE", constant_views=True)
    p = find_line(sci_hdr, sci.shape[1], ref.sci_hdr, ref.sci.shape[1], file=name, keyword="FLSHFILE")
    if p.rx != 1 or p.ry != 1:
        raise EngineError("FLASH image and input are not binned to the same pixel size", file=name, keyword="FLSHFILE")
    if p.same_size:
        fs, fe, fd = cut_to_science(ref, sci_hdr, sci.shape, file=name, keyword="FLSHFILE")
        return flsh_step.flshcorr(
            sci, err, dq, fs, fe, fd, flashdur=keys.flashdur, gain=gains, ampx=ccd.ampx, sdqflags=g.sdqflags
        )
    ny, nx = sci.shape
    x0, width, skip = flsh_step.subarray_section(p.x0, nx)
    if p.x0 < 0 or p.y0 < 0 or p.y0 + ny > ref.sci.shape[0] or x0 + width > ref.sci.shape[1]:
        raise EngineError("post-flash image does not cover the subarray", file=name, keyword="FLSHFILE")
    if len(keys.ccdamp) != 1:
        raise EngineError(f"subarray read by CCDAMP={keys.ccdamp!r}, expected one amp", keyword="CCDAMP")
    gain = ccd.atodgain[AMPS.index(keys.ccdamp)]
    rows, cols = slice(p.y0, p.y0 + ny), slice(x0, x0 + width)
    return flsh_step.flshcorr_subarray(
        sci,
        err,
        dq,
        ref.sci[rows, cols],
        ref.err[rows, cols],
        ref.dq[rows, cols],
        flashdur=keys.flashdur,
        gain=gain,
        sdqflags=g.sdqflags,
        skip=skip,
    )


def _sinks(sci, dq, sci_hdr, extver, keys, crefs, refs, fname):
    ref = refs.chip(crefs.snkcfile, extver=extver, keyword="SNKCFILE", arrays=("SCI",), keep=True)
    check_reference(ref.primary, filetype="SINK PIXELS", keyword="SNKCFILE", file=crefs.snkcfile.name)
    smap = ref.sci
    if not keys.subarray:
        if smap.shape != sci.shape:
            raise EngineError(
                f"sink-pixel image shape {smap.shape} differs from the data {sci.shape}",
                file=crefs.snkcfile.name,
                keyword="SNKCFILE",
            )
        return sink_step.flag_sinks(sci, dq, smap, expstart=keys.expstart, upstream_is_up=(extver == 1), in_place=True)
    # Subarray: embed in a full chip (LTV1 = 25, LTV2 = 0) as HSTCAL does (no 60-column shift).
    ny, nx = sci.shape
    x0 = int(round(-float(sci_hdr.get("LTV1", 0.0)))) + 25
    y0 = int(round(-float(sci_hdr.get("LTV2", 0.0))))
    fy, fx = smap.shape
    if x0 < 0 or y0 < 0 or x0 + nx > fx or y0 + ny > fy:
        raise EngineError("subarray does not fit in the sink-pixel image", file=crefs.snkcfile.name, keyword="SNKCFILE")
    full_sci = np.zeros(smap.shape, F32)
    full_dq = np.zeros(smap.shape, np.uint16)
    full_sci[y0 : y0 + ny, x0 : x0 + nx] = sci
    full_dq[y0 : y0 + ny, x0 : x0 + nx] = dq
    out, n = sink_step.flag_sinks(full_sci, full_dq, smap, expstart=keys.expstart, upstream_is_up=(extver == 1))
    new = out[y0 : y0 + ny, x0 : x0 + nx].copy()
    return new, int(np.count_nonzero(new & ~dq & 1024))


def _ccd_history(primary, keys: UvisKeys, crefs: CCDRefs, blev_done: bool, driftcorr: bool) -> None:
    """Switches and HISTORY of WF3CCD (``wf3hist.c``; written with imset 1)."""
    primary.add_history("CCD parameters table: ")
    primary.add_history(f"  reference table {crefs.ccdtab.name}")
    if crefs.dqicorr:
        primary["DQICORR"] = str(Switch.COMPLETE)
        primary.add_history("  values checked for saturation")
        if crefs.bpixtab is not None:
            primary.add_history("  DQ array initialized ...")
            primary.add_history(f"  reference table {crefs.bpixtab.name}")
    if crefs.atodcorr:
        primary["ATODCORR"] = str(Switch.COMPLETE)
    if crefs.blevcorr:
        primary["BLEVCORR"] = str(Switch.COMPLETE)
        primary.add_history(
            "BLEVCORR complete; bias level from overscan was subtracted."
            if blev_done
            else "BLEVCORR complete, but default bias level was subtracted."
        )
        primary.add_history(
            "BLEVCORR includes correction for drift along lines."
            if driftcorr
            else "BLEVCORR does not include correction for drift along lines."
        )
    if crefs.biascorr:
        primary["BIASCORR"] = str(Switch.COMPLETE)
        primary.add_history(f"BIASCORR complete using {crefs.biasfile.name}")
    if crefs.flshcorr:
        primary["FLSHCORR"] = str(Switch.COMPLETE if keys.flashdur > 0 else Switch.SKIPPED)
