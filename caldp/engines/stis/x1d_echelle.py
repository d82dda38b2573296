"""calstis6 for echelle spectra, as cs0.e runs it on a MAMA echelle ``_flt`` (→ ``_x1d``; HSTCAL
``cs6/do1dx.c``, ``gcrosscor.c``, ``background.c`` SmoothBack, ``wave.c``): the order loop around
the first-order pieces of :mod:`.x1d` and :mod:`.x1d_io`.

Per imset: the dispersion relation (A4CORR-corrected, ``MOCAdjustDisp``), the global cross
correlation over every order on the image (``GCrossCorr``: each order's CrossCorr offset, a 2σ-clipped
mean taken twice), then for each XTRACTAB order from the lowest: its trace (none: skipped), the
nominal line A2CENTER + SHIFTA2 + aperture offset (off the image: skipped, and after an extracted
order the loop ends), its own CrossCorr offset (failed or rejected by the global analysis: the global
offset), CalcBack, X1DSpec, the MAMA echelle background smoothing (two 31-column running means),
the wavelengths (``evalInvDisp`` with the echelle search) — one table row per order; CRSCROFF is the
mean offset of the rows. FLUXCORR: each order's PHOTTAB row shifted by the MSM/blaze shift
(``BlazeCorr``, the reference order's wavelength at the middle column plus the orbital Doppler
shift), AbsFlux6 without the CCD Q factor, with PCTAB (the aperture's and CENWAVE's rows, the same
for every order), GACTAB and TDSTAB (:mod:`.tds`) when given; BLZSHIFT the mean shift.

SC2DCORR (the scattered-light correction, :func:`calstis6_idt` over :mod:`.scatter`): full-frame
low-res data, as cs0.e runs it.

Not in: SGEOCORR, optimal extraction, SC2DCORR of subarrays or high-res data — each stops with an
EngineError naming the switch or table.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping

import numpy as np

from ..common import fitsfile as ff
from ..common.errors import EngineError
from ..common.hstio import Exposure
from ..common.kernels import load
from ..common.refs import is_given
from . import radialvel
from . import waveshift_echelle as WE
from . import x1d as E
from . import x2d as X
from .calstis1 import Refs
from .x1d_io import (
    SWITCHES,
    _merged,
    optional_flux_tables,
    pct_factors,
    read_gac_tds,
    table_hdu,
    table_row,
    tds_at,
    x1d_file,
)
from .x2d_io import (
    _lt0,
    _moc_adjust_disp,
    _same_int,
    _same_string,
    _str,
    _switch,
    _Table,
    ap_offset_delta,
    aperture_name,
    blaze_shift,
    read_apdes,
    read_apthr,
    read_disp,
    read_inang,
    read_phot_echelle,
    read_trace,
)

log = logging.getLogger(__name__)

NO_RANGE = -1
CC_REJECT = 2.0  # GCrossCorr's σ factor


def read_xtract_orders(t: _Table, aperture: str, opt_elem: str, cenwave: int) -> list[E.Xtract]:
    """``GetXtract``: every row matching APERTURE, OPT_ELEM, CENWAVE, sorted by SPORDER (consecutive,
    no duplicates: ``RangeXtract``)."""
    aper, opt, cen = t.col("APERTURE"), t.col("OPT_ELEM"), t.col("CENWAVE")
    sel = f"APERTURE {aperture}, OPT_ELEM {opt_elem}, CENWAVE {cenwave}"
    out = []
    for r in range(t.nrows()):
        if _same_string(aper[r], aperture) and _same_string(opt[r], opt_elem) and _same_int(cen[r], cenwave):
            t.row_pedigree(r, sel)
            nbk = int(t.col("NCOEFFBK")[r])
            bkt = tuple(float(v) for v in np.asarray(t.col("BKTCOEFF")[r], np.float64).ravel()[: max(nbk, 0)])
            f32 = lambda name, r=r: float(np.float32(t.col(name)[r]))  # noqa: E731  (c_tbegtr: float)
            out.append(
                E.Xtract(
                    int(t.col("SPORDER")[r]),
                    f32("EXTRSIZE"),
                    (f32("BK1SIZE"), f32("BK2SIZE")),
                    (f32("BK1OFFST"), f32("BK2OFFST")),
                    bkt,
                    int(t.col("BACKORD")[r]),
                    int(t.col("MAXSRCH")[r]),
                    _str(t.col("XTRACALG")[r]).upper(),
                )
            )
            if out[0].sporder == 1:
                break
    if not out:
        raise EngineError(f"matching row not found ({sel})", file=t.name, keyword="XTRACTAB")
    out.sort(key=lambda x: x.sporder)
    for a, b in zip(out, out[1:], strict=False):
        if b.sporder != a.sporder + 1:
            raise EngineError(f"order numbers {a.sporder}, {b.sporder} in XTRACTAB", file=t.name, keyword="XTRACTAB")
    return out


def check(primary, env, fname: str = "", switches: Mapping | None = None) -> None:
    """What the builtin echelle calstis6 refuses, before any pixel."""
    sw = switches or primary
    for key in ("SGEOCORR",):
        if _switch(sw.get(key)) == "PERFORM":
            raise EngineError(
                f"{key}=PERFORM with echelle X1DCORR is not supported by the builtin STIS engine yet",
                file=fname,
                keyword=key,
            )
    refs = Refs(dict(env), primary)
    if _switch(sw.get("SC2DCORR")) == "PERFORM":
        for key in SC2D_TABLES:
            refs.path(key)
    if _switch(sw.get("FLUXCORR")) == "PERFORM":
        if _switch(sw.get("DISPCORR")) != "PERFORM":
            raise EngineError("FLUXCORR without DISPCORR is not supported", file=fname, keyword="FLUXCORR")
        for key in ("PHOTTAB", "APERTAB"):
            refs.path(key)
    need = ["XTRACTAB", "SPTRCTAB", "SDCTAB", "APDESTAB"]
    if _switch(sw.get("DISPCORR")) == "PERFORM":
        need += ["DISPTAB", "INANGTAB"]
    for key in need:
        refs.path(key)


def wavelengths(coeff, ncoeff: int, sporder: int, cenwave: int, nx: int, ltm, ltv, hfactor: float | None) -> np.ndarray:
    """``Wave`` for an echelle order: ``evalInvDisp`` (with its search over 1123–3170 Å when the
    estimate is far off) from CENWAVE for the first column, from the previous column's wavelength
    after; times the heliocentric factor when given. The C kernel (``_kernels.wave_row``: the columns'
    loop around the same evalInvDisp) when built, else :func:`wavelengths_py` (the reference)."""
    c = [float(v) for v in coeff]
    k = load(WE.KERNELS)
    if k is None or len(c) < 9:  # evalDisp's terms read nine coefficients
        return wavelengths_py(c, ncoeff, sporder, cenwave, nx, ltm, ltv, hfactor)
    wave = np.empty(nx)
    status = np.empty(nx, np.int32)
    warn = np.empty(nx, np.int32)
    k.wave_row(
        np.array(c[:9], np.float64),
        ncoeff,
        float(sporder),
        nx,
        float(ltv[0]),
        float(ltm[0]),
        float(cenwave),
        0.001,
        WE.TOO_FAR,
        WE.WL_STEP,
        WE.MAX_ITER,
        float(hfactor) if hfactor is not None else 1.0,
        hfactor is not None,
        wave,
        status,
        warn,
    )
    for i in np.flatnonzero((status != 0) | (warn != 0)).tolist():  # the reference's messages, in order
        if warn[i]:
            log.warning("(evalInvDisp) slope of dispersion relation is negative")
        if status[i] != 0:
            log.warning("error code %d from evalInvDisp", int(status[i]))
    return wave


def wavelengths_py(
    coeff, ncoeff: int, sporder: int, cenwave: int, nx: int, ltm, ltv, hfactor: float | None
) -> np.ndarray:
    """:func:`wavelengths` one column at a time through :func:`.waveshift_echelle.eval_inv_disp`."""
    c = [float(v) for v in coeff]
    wave = np.empty(nx)
    est = float(cenwave)
    for i in range(nx):  # sequential: each start value is the previous column's wavelength
        rpix = (i - ltv[0]) / ltm[0]
        wl, status = WE.eval_inv_disp(c, ncoeff, float(sporder), rpix, est, 0.001)
        wave[i] = wl
        if status == 0:
            est = wl
        else:
            log.warning("error code %d from evalInvDisp", status)
        if hfactor is not None:
            wave[i] *= hfactor
    return wave


def orbital_dopp(t1: float, t2: float, doppzero: float, orbitper: float, doppmag: float) -> float:
    """``orbitalDopp``: the mean orbital Doppler shift (low-res pixels) over [t1, t2] (MJD)."""
    if doppmag <= 0.0:
        return 0.0
    orbitper /= 86400.0
    if abs(t2 - t1) < 1.0e-4:
        t = (t1 + t2) / 2.0
        shift = doppmag * math.sin((t - doppzero) * 2 * E.PI / orbitper)
    else:
        c1 = math.cos((t1 - doppzero) * 2.0 * E.PI / orbitper)
        c2 = math.cos((t2 - doppzero) * 2.0 * E.PI / orbitper)
        shift = doppmag * orbitper / (2.0 * E.PI) * (c1 - c2) / (t2 - t1)
    return shift / 2.0


def _nominal(trace_rows, total2: float) -> float:
    """The order's nominal line: its (first) trace row's A2CENTER plus the offsets (InterpTrace6 keeps it)."""
    return trace_rows[0].a2center + total2


def _on_image(nm: float, ltm, ltv, ny: int) -> bool:
    a2phys = int(nm * ltm[1] + ltv[1])  # C's (int): truncation toward zero
    return 0 <= a2phys < ny


def global_cross_corr(im, xtracts, tabs, opt_elem, cenwave, expstart, total2, ltm, ltv, sdq, mref: int = 0):
    """``GCrossCorr``: CrossCorr of every order with a trace whose nominal line is on the image;
    returns (global offset, {sporder: (CrossCorr's offset or None when it failed, rejected)}, the
    offset of order `mref` — 0 unless its CrossCorr succeeded)."""
    ny = im.sci.shape[0]
    spord, off, rej, raw = [], [], [], []
    for xtr in xtracts:
        trace, _ = read_trace(tabs["SPTRCTAB"], opt_elem, cenwave, xtr.sporder, expstart, missing_ok=True)
        if not trace:
            continue
        nm = _nominal(trace, total2)
        if not _on_image(nm, ltm, ltv, ny):
            continue
        o = 0.0
        failed = 0
        r = 0.0
        if xtr.maxsearch != NO_RANGE:
            r = E.cross_corr(im.sci, im.err, im.dq, trace, nm, xtr.maxsearch, ltm, ltv, sdq)
            o, failed = (0.0, 1) if r is None else (r, 0)
        raw.append(r)
        spord.append(xtr.sporder)
        off.append(o)
        rej.append(failed)
    yoff = next((o for m, o, j in zip(spord, off, rej, strict=True) if m == mref and j == 0), 0.0)
    gcc, _ = E.cc_average(off, rej, CC_REJECT)
    gcc, _ = E.cc_average(off, rej, CC_REJECT)
    return gcc, {m: (r, j) for m, r, j in zip(spord, raw, rej, strict=True)}, yoff


def _blaze_ok(row: dict) -> dict | None:
    """GetAbsPhot6's blaze-shift parameters of a PHOTTAB row, None when absent or dummy (REFORD,
    REFWAV, REFY or REFMJD zero)."""
    b = row["blaze"]
    if b is None or b["mref"] == 0 or b["wref"] == 0.0 or b["yref"] == -1.0 or b["mjd"] == 0.0:
        return None
    return b


def _doppler(sh) -> tuple[float, float, float]:
    """GetGrpInfo6's DOPPZERO, ORBITPER, DOPPMAG (DOPPMAG 0 when DOPPON is false, outside TIME-TAG)."""
    doppmag = float(sh.get("DOPPMAG", 0.0))
    if doppmag > 0.0 and not bool(sh.get("DOPPON", False)):
        doppmag = 0.0
    return float(sh.get("DOPPZERO", 0.0)), float(sh.get("ORBITPER", 1.0)), doppmag


def calstis6_echelle(exp: Exposure, env, *, switches: Mapping | None = None, smoothing: bool = True) -> list:
    """1-D extraction of every order of every imset of an echelle exposure (``CalStis6`` as cs0.e
    calls it); returns the ``_x1d`` table file (one table per imset, one row per order).
    `smoothing` False: no background smoothing (BKS_OFF, as the scattered-light algorithm runs it).
    SC2DCORR = PERFORM goes to :func:`calstis6_idt` (the scattered-light correction)."""
    p = exp.primary
    fname = exp.filename or _str(p.get("FILENAME", ""))
    sw = {k: _switch((switches or p).get(k, "OMIT")) for k in SWITCHES}
    sw["CTECORR"] = "OMIT"  # cs0's SciFlags: CTECORR only for the CCD
    check(_merged(p, sw), env, fname, sw)
    if sw["SC2DCORR"] == "PERFORM":
        return calstis6_idt(exp, env, sw)
    for key in ("ROOTNAME", "DETECTOR", "OBSTYPE", "OBSMODE", "APERTURE", "OPT_ELEM", "CENWAVE", "RA_TARG", "DEC_TARG"):
        if key not in p:
            raise EngineError("required keyword missing", file=fname, keyword=key)
    aperture = aperture_name(p)
    opt_elem = _str(p["OPT_ELEM"])
    cenwave = int(p["CENWAVE"])
    ra, dec = float(p["RA_TARG"]), float(p["DEC_TARG"])
    backcorr = sw["BACKCORR"] == "PERFORM"
    fluxcorr = sw["FLUXCORR"] == "PERFORM"
    dispcorr = sw["DISPCORR"] == "PERFORM"
    helcorr = sw["HELCORR"] == "PERFORM"
    refs = Refs(dict(env), p.copy())
    need = ["SPTRCTAB", "XTRACTAB"] + (["DISPTAB", "INANGTAB", "APDESTAB"] if dispcorr else [])
    if fluxcorr:
        need += ["PHOTTAB", "APERTAB"] + (["PCTAB"] if is_given(p.get("PCTAB")) else []) + optional_flux_tables(refs, p)
    tabs = {k: _Table(refs, k) for k in dict.fromkeys(need + ["APDESTAB"])}
    hist = {k: (tabs[k].pedigree, tabs[k].descrip) for k in tabs}  # History6 runs before any row is read
    slit = read_apdes(tabs["APDESTAB"], aperture)
    xtracts = read_xtract_orders(tabs["XTRACTAB"], aperture, opt_elem, cenwave)
    if xtracts[0].xtracalg not in ("UNWEIGHTED", ""):
        raise EngineError(
            f"XTRACALG = {xtracts[0].xtracalg} is not supported by the builtin STIS engine yet",
            file=tabs["XTRACTAB"].name,
            keyword="XTRACTAB",
        )
    disp0 = read_disp(tabs["DISPTAB"], opt_elem, cenwave) if dispcorr else None
    atodgain = float(p.get("ATODGAIN", 1.0))
    slit_wl = slit_thr = gac = tds = None
    if fluxcorr:
        slit_wl, slit_thr = read_apthr(tabs["APERTAB"], aperture)
        gac, tds = read_gac_tds(refs, tabs, opt_elem, cenwave, aperture)
    tables, radvel = [], 0.0
    for im in exp.imsets:
        sh = im.sci_hdr
        if sh.get("IMSET_OK", True) is False:
            log.warning("imset %d skipped (IMSET_OK = F)", im.extver)
            continue
        for key in ("EXPTIME", "EXPSTART", "EXPEND", "CD2_2"):
            if key not in sh:
                raise EngineError("required keyword missing", file=fname, keyword=key)
        wavecal = _str(sh.get("ASN_MTYP", "")) == "WAVECAL"
        exptime, expstart, expend = float(sh["EXPTIME"]), float(sh["EXPSTART"]), float(sh["EXPEND"])
        ltm, ltv = _lt0(sh)
        msm = (0.0, 0.0) if wavecal else (float(sh.get("SHIFTA1", 0.0)), float(sh.get("SHIFTA2", 0.0)))
        sdq = E.cc_sdqflags(int(sh.get("SDQFLAGS", 0x7F)))
        hfactor = None
        if helcorr:
            radvel = radialvel.radial_velocity(ra, dec, (expstart + expend) / 2.0)
            hfactor = 1.0 - radvel / E.HCFACTOR
        disp = None
        if dispcorr:  # GetDisp6 and MOCAdjustDisp for each imset
            disp = copy.deepcopy(disp0)
            _moc_adjust_disp(tabs, disp, opt_elem, cenwave, expstart, msm[1], ltm[1])
        ap_offset2 = slit.ap_offset[1] / (float(sh["CD2_2"]) * 3600.0)
        total2 = msm[1] + ap_offset2
        ny, nx = im.sci.shape
        mref, bcorr_l = 0, False
        if fluxcorr:  # the reference order for the blaze shift: the first order with a PHOTTAB row
            for xtr in xtracts:
                row = read_phot_echelle(tabs["PHOTTAB"], opt_elem, cenwave, xtr.sporder)
                if row is not None:
                    b = _blaze_ok(row)
                    mref, bcorr_l = (b["mref"], True) if b is not None else (0, False)
                    break
        gcc, cc, ypos = 0.0, {}, 0.0
        if len(xtracts) > 1:
            gcc, cc, ypos = global_cross_corr(
                im, xtracts, tabs, opt_elem, cenwave, expstart, total2, ltm, ltv, sdq, mref
            )
        wpos = ddisp = 0.0
        if fluxcorr and mref > 0:
            trace, _ = read_trace(tabs["SPTRCTAB"], opt_elem, cenwave, mref, expstart)
            ypos += trace[0].a2center + total2
            iac = read_inang(tabs["INANGTAB"], opt_elem, cenwave, mref)
            delta = ap_offset_delta(tabs["APDESTAB"], slit, disp[0].ref_aper, int(sh.get("DISPAXIS", 1)))
            d = X.adjust_disp(X.interp_disp(disp, ypos), delta, iac, msm[0])
            w = wavelengths(d.coeff, d.ncoeff, mref, cenwave, nx, ltm, ltv, hfactor)
            dshift = orbital_dopp(expstart, expend, *_doppler(sh))
            i = nx // 2
            ix = float(np.float32(i)) + dshift if nx <= 1024 else float(np.float32(i)) + 0.5 + 2.0 * dshift
            i = int(ix)
            q = ix - float(np.float32(i))
            wpos = (1.0 - q) * w[i] + q * w[i + 1]
            ddisp = w[i] - w[i - 1]
            if nx > 1024:
                ddisp *= 2.0
            if hfactor is not None:
                wpos /= hfactor
                ddisp /= hfactor
        bshift_sum, bshift_n = 0.0, 0
        rows, offsets = [], 0.0
        success = skipping = False
        rpix = ((np.arange(nx) - ltv[0]) / ltm[0]).astype(np.int64)
        for xtr in xtracts:
            if success and skipping:
                break  # the orders are falling off the detector
            trace, _rot = read_trace(tabs["SPTRCTAB"], opt_elem, cenwave, xtr.sporder, expstart, missing_ok=True)
            if not trace:
                continue
            nm = _nominal(trace, total2)
            a2displ = X.interp_trace(trace, nm)
            if not _on_image(nm, ltm, ltv, ny):
                log.warning("Extraction position outside data array. Skipping order %d.", xtr.sporder)
                skipping = True
                continue
            skipping = False
            off = 0.0
            if xtr.maxsearch != NO_RANGE:
                if xtr.sporder in cc:  # the same CrossCorr as in GCrossCorr (same trace, line, data)
                    r, rejected = cc[xtr.sporder]
                else:  # (the C then reads the first order's rejection flag)
                    r = E.cross_corr(im.sci, im.err, im.dq, trace, nm, xtr.maxsearch, ltm, ltv, sdq)
                    rejected = next(iter(cc.values()))[1] if cc else 0
                off = gcc if (r is None or rejected) else r
            offsets += off
            a2c = nm + off
            y_box = a2c + E.trace_y_at(a2displ, rpix, strict=False)
            bg = E.calc_back(im.sci, im.err, im.dq, y_box, xtr, ltm, ltv) if backcorr else None
            ex = E.extract(im.sci, im.err, im.dq, y_box, xtr.extrsize, bg, exptime, ltm, ltv, smoothing=smoothing)
            back, net = E.smooth_back_echelle(ex.back, ex.gross) if smoothing else (ex.back, ex.net)
            wave = np.zeros(nx)
            if dispcorr:
                iac = read_inang(tabs["INANGTAB"], opt_elem, cenwave, xtr.sporder, missing_ok=True)
                if iac is None:
                    continue
                delta = ap_offset_delta(tabs["APDESTAB"], slit, disp[0].ref_aper, int(sh.get("DISPAXIS", 1)))
                d = X.adjust_disp(X.interp_disp(disp, a2c), delta, iac, msm[0])
                wave = wavelengths(d.coeff, d.ncoeff, xtr.sporder, cenwave, nx, ltm, ltv, hfactor)
            fl, error, net_error, odq = np.zeros(nx, np.float32), ex.error, ex.error, ex.dq
            if fluxcorr:
                row = read_phot_echelle(tabs["PHOTTAB"], opt_elem, cenwave, xtr.sporder)
                if row is None:
                    raise EngineError(
                        f"matching row not found (OPT_ELEM {opt_elem}, CENWAVE {cenwave}, SPORDER {xtr.sporder})",
                        file=tabs["PHOTTAB"].name,
                        keyword="PHOTTAB",
                    )
                b = _blaze_ok(row)
                resp_wl = None
                if wpos != 0.0 and b is not None:
                    bshift = blaze_shift(b, wpos, ypos, ddisp, expstart, expend)
                    resp_wl = row["wl"] + bshift * (ddisp * b["mref"]) / xtr.sporder
                    bshift_sum += bshift
                    bshift_n += 1
                pc_max, pc_box = pct_factors(refs, tabs, aperture, cenwave, xtr.extrsize, row["wl"])
                fl, error, net_error, odq = E.abs_flux6(
                    wave, net, ex.error, ex.error, ex.gross, ex.dq,
                    phot_wl=row["wl"], phot_thru=row["thru"], pcorr=pc_max, pcorr_box=pc_box,
                    slit_wl=slit_wl, slit_thr=slit_thr, hfactor=hfactor if hfactor is not None else 1.0,
                    atodgain=atodgain, qpars=None, extrsize=np.float32(xtr.extrsize * ltm[1]), resp_wl=resp_wl,
                    gac=gac, tds=tds_at(tds, sh, _str(p["DETECTOR"]), expstart),
                )  # fmt: skip
            rows.append(
                table_row(xtr.sporder, nx, wave, ex, back, net, fl, error, net_error, odq, a2c, off, xtr, ltm, ltv)
            )
            success = True
        if not rows:
            log.warning("No rows were written; no table created.")
            continue
        blzshift = bshift_sum / bshift_n if bcorr_l and bshift_n > 0 else None
        v_helio = radvel if helcorr else None
        tables.append(
            table_hdu(nx, rows, fluxcorr, sh, len(tables) + 1, offsets / len(rows), blzshift=blzshift, v_helio=v_helio)
        )
    if not tables:
        raise EngineError("no rows were written; no table created", file=fname, keyword="X1DCORR")
    return x1d_file(p, sw, tabs, hist, tables, radvel)


SC2D_TABLES = ("ECHSCTAB", "EXSTAB", "CDSTAB", "RIPTAB", "SRWTAB", "HALOTAB", "TELTAB")


def _rows(hdul: list, k: int = 1):
    """``GetX1DTable``: the columns of table `k` the algorithm reads, EXTRLOCY made zero-indexed."""
    from .scatter import Rows

    t = hdul[k].data
    return Rows(
        [int(v) for v in t["SPORDER"]],
        [np.asarray(v, np.float64) for v in t["WAVELENGTH"]],
        [np.asarray(v, np.float32) for v in t["GROSS"]],
        [np.asarray(v, np.float32) for v in t["NET"]],
        [(np.asarray(v, np.float32) - np.float32(1.0)).astype(np.float32) for v in t["EXTRLOCY"]],  # GetX1DTable
    )


def calstis6_idt(exp: Exposure, env, sw: dict) -> list:
    """``CalStis6IDT`` (SC2DCORR): per imset a first extraction (no FLUXCORR/HELCORR, no background
    smoothing), the iterated scattered-light model (:func:`.scatter.scattered_light`, each model
    re-extracted the same way), the model subtracted; then the extraction of the corrected imsets
    with the real switches, GROSS put back from the first extraction (BACKGROUND = GROSS − NET), and
    SC2DCORR COMPLETE with the seven tables in the history. Full-frame low-res data only: cs0.e
    aborts on a subarray (the kernels' grid is the detector's), high-res data would need RebinData."""
    from ..common.hstio import ImSet
    from . import scatter

    p = exp.primary
    refs = Refs(dict(env), p.copy())
    opt_elem, cenwave = _str(p["OPT_ELEM"]), int(p["CENWAVE"])
    if _str(p.get("SCLAMP", "NONE")).upper() != "NONE":
        raise EngineError("SC2DCORR with a lamp (uniform PSF) is not ported", keyword="SC2DCORR")
    tabs = {k: _Table(refs, k) for k in SC2D_TABLES}
    slit = read_apdes(_Table(refs, "APDESTAB"), aperture_name(p))
    sc = scatter.read_scatter({k: refs.table(k)[0] for k in SC2D_TABLES}, opt_elem, cenwave, slit.width)
    plain = {**sw, "SC2DCORR": "OMIT"}
    first_sw = {**plain, "FLUXCORR": "OMIT", "HELCORR": "OMIT"}
    corrected, firsts = [], []
    for im in exp.imsets:
        sh = im.sci_hdr
        if float(sh.get("LTM1_1", 1.0)) > 1.0:
            raise EngineError("SC2DCORR of high-res data (RebinData) is not ported", keyword="SC2DCORR")
        grid = sc.ft[0][0].shape
        if (2 * im.sci.shape[0], 2 * im.sci.shape[1]) != grid:
            raise EngineError(
                f"SC2DCORR of a {im.sci.shape[1]}x{im.sci.shape[0]} image: the HALOTAB kernels are "
                f"{grid[1] // 2}x{grid[0] // 2} (cs0.e aborts on such data)",
                file=exp.filename or "",
                keyword="SC2DCORR",
            )
        one = Exposure(primary=p, imsets=[im], filename=exp.filename)
        first = _rows(calstis6_echelle(one, env, switches=first_sw, smoothing=False))
        firsts.append(first)

        def extract(model, sh=sh):
            z = np.zeros(model.shape, np.float32)
            mim = ImSet(
                model,
                z,
                np.zeros(model.shape, np.uint16),
                {"SCI": sh.copy(), "ERR": ff.Header(), "DQ": ff.Header()},
            )
            return _rows(calstis6_echelle(Exposure(primary=p, imsets=[mim]), env, switches=first_sw, smoothing=False))

        scat = scatter.scattered_light(im.sci.shape, first, sc, opt_elem, float(sh["EXPTIME"]), extract)
        corrected.append(ImSet((im.sci - scat).astype(np.float32), im.err, im.dq, im.headers, im.extver))
    out = calstis6_echelle(
        Exposure(primary=p, imsets=corrected, filename=exp.filename), env, switches=plain, smoothing=False
    )
    for k, first in enumerate(firsts, start=1):
        t = out[k].data
        for r in range(len(t)):
            j = first.sporder.index(int(t["SPORDER"][r]))
            t["GROSS"][r] = first.gross[j]
            t["BACKGROUND"][r] = (first.gross[j] - np.asarray(t["NET"][r], np.float32)).astype(np.float32)
    prim = out[0].header
    prim["SC2DCORR"] = "COMPLETE"
    prim.add_history("SC2DCORR performed ...")
    h = ff.Header()
    for k in SC2D_TABLES:
        tabs[k].history(h)
    for line in h.get("HISTORY", []):
        prim.add_history(str(line))
    return out
