"""calstis6 for first-order spectra, as cs0.e runs it (HSTCAL ``cs6/calstis6std.c``, ``do1dx.c``):
the thin I/O layer around :mod:`.x1d` — XTRACTAB (``getextract.c``), SPTRCTAB (``gettrace6.c``),
DISPTAB/INANGTAB/APDESTAB for DISPCORR, the keywords (``getkeyinfo6.c``, ``getgrpinfo6.c``), the
output table (``output.c``: CreaTable, InheritHeader, WriteRow) and its primary header
(``history6.c``, NEXTEND, XTRACALG). cs0.e calls it on the ``_crj`` (→ ``_sx1``) or on the
``_flt`` without CR-SPLIT (→ ``_x1d``), with its pipeline options: unweighted extraction, background
smoothing BKS_MEDIAN of order 3, the extraction-location columns.

FLUXCORR: PHOTTAB, APERTAB, PCTAB, GACTAB (grating-aperture correction) and TDSTAB (time- and
temperature-dependent sensitivity, :mod:`.tds`) as AbsFlux6 applies them.

Not in: echelle (:mod:`.x1d_echelle`), PRISM, optimal extraction, CTECORR,
SGEOCORR, the MAMA Lyman-α avoidance and scattered light — each stops with an EngineError.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from ..common import fitsfile as ff
from ..common.errors import EngineError
from ..common.hstio import Exposure
from ..common.refs import is_given
from . import radialvel
from . import tds as tdsmod
from . import x1d as E
from . import x2d as X
from .calstis1 import Refs
from .x2d_io import (
    _lt0,
    _same_int,
    _same_string,
    _str,
    _switch,
    _Table,
    ap_offset_delta,
    aperture_name,
    read_apdes,
    read_disp,
    read_inang,
    read_trace,
)

log = logging.getLogger(__name__)

INVALID = {"BUNIT", "CTYPE1", "CTYPE2", "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CD1_1", "CD1_2", "CD2_1", "CD2_2"}
INVALID |= {"CUNIT1", "CUNIT2"}
STRUCTURAL = {"XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT", "EXTNAME", "EXTVER"}
STRUCTURAL |= {"ORIGIN", "DATE", "IRAF-TLM", "INHERIT", "NPIX1", "NPIX2", "PIXVALUE", "BZERO", "BSCALE", ""}
STRUCTURAL |= {"HISTORY", "COMMENT"}
SWITCHES = ("X1DCORR", "BACKCORR", "DISPCORR", "HELCORR", "FLUXCORR", "SGEOCORR", "CTECORR", "SC2DCORR")


def read_xtract(t: _Table, aperture: str, opt_elem: str, cenwave: int) -> E.Xtract:
    """``GetXtract`` for first-order data: the first row matching APERTURE, OPT_ELEM, CENWAVE."""
    aper, opt, cen = t.col("APERTURE"), t.col("OPT_ELEM"), t.col("CENWAVE")
    sel = f"APERTURE {aperture}, OPT_ELEM {opt_elem}, CENWAVE {cenwave}"
    for r in range(t.nrows()):
        if _same_string(aper[r], aperture) and _same_string(opt[r], opt_elem) and _same_int(cen[r], cenwave):
            t.row_pedigree(r, sel)
            sporder = int(t.col("SPORDER")[r])
            if sporder != 1:
                raise EngineError(
                    "echelle extraction is not supported by the builtin STIS engine yet",
                    file=t.name,
                    keyword="XTRACTAB",
                )
            nbk = int(t.col("NCOEFFBK")[r])
            bkt = tuple(float(v) for v in np.asarray(t.col("BKTCOEFF")[r], np.float64).ravel()[: max(nbk, 0)])
            f32 = lambda name, r=r: float(np.float32(t.col(name)[r]))  # noqa: E731  (c_tbegtr: float)
            return E.Xtract(
                sporder,
                f32("EXTRSIZE"),
                (f32("BK1SIZE"), f32("BK2SIZE")),
                (f32("BK1OFFST"), f32("BK2OFFST")),
                bkt,
                int(t.col("BACKORD")[r]),
                int(t.col("MAXSRCH")[r]),
                _str(t.col("XTRACALG")[r]).upper(),
            )
    raise EngineError(f"matching row not found ({sel})", file=t.name, keyword="XTRACTAB")


def check(primary, env, fname: str = "") -> None:
    """What the builtin calstis6 refuses, before any pixel."""
    for key in ("SGEOCORR", "SC2DCORR", "CTECORR"):
        if _switch(primary.get(key, "PERFORM" if key == "CTECORR" else "OMIT")) == "PERFORM":
            raise EngineError(
                f"{key}=PERFORM with X1DCORR is not supported by the builtin STIS engine yet", file=fname, keyword=key
            )
    opt = str(primary.get("OPT_ELEM", "")).strip().upper()
    if opt == "PRISM" or opt.startswith("E"):
        raise EngineError(
            "echelle and PRISM extraction are not supported by the builtin STIS engine yet",
            file=fname,
            keyword="OPT_ELEM",
        )
    if str(primary.get("DETECTOR", "")).strip() != "CCD":
        raise EngineError(
            "MAMA extraction is not supported by the builtin STIS engine yet", file=fname, keyword="DETECTOR"
        )
    refs = Refs(dict(env), primary)
    if _switch(primary.get("FLUXCORR")) == "PERFORM":
        for key in ("PHOTTAB", "APERTAB"):
            refs.path(key)
    need = ["XTRACTAB", "SPTRCTAB"]
    if _switch(primary.get("DISPCORR")) == "PERFORM":
        need += ["DISPTAB", "INANGTAB", "APDESTAB"]
    for key in need:
        refs.path(key)


def _hval(v):
    """A header value as c_tbhadd/c_tbhadi/c_tbhadt write it (doubles with 15 significant digits)."""
    if isinstance(v, bool) or isinstance(v, (int, np.integer)) or isinstance(v, str):
        return v
    if isinstance(v, (float, np.floating)):
        return float(f"{float(v):.15g}")
    return v


def _columns(n: int, row: dict | list[dict], fluxcorr: bool = False) -> ff.HDU:
    """The output table of one imset (CreaTable, WriteRow): one row per dict of `row` (echelle: one
    per order)."""
    rows = row if isinstance(row, list) else [row]
    i11 = {"disp": "I11", "null": -32767}
    g15 = {"disp": "G15.7"}
    spec = [
        ("SPORDER", "1I", None, i11),
        ("NELEM", "1I", None, i11),
        ("WAVELENGTH", f"{n}D", "Angstroms", {"disp": "G25.16"}),
        ("GROSS", f"{n}E", "Counts/s", g15),
        ("BACKGROUND", f"{n}E", "Counts/s", g15),
        ("NET", f"{n}E", "Counts/s", g15),
        ("FLUX", f"{n}E", "erg/s/cm**2/Angstrom", g15),
        ("ERROR", f"{n}E", "erg/s/cm**2/Angstrom" if fluxcorr else "Counts/s", g15),
        ("NET_ERROR", f"{n}E", "Counts/s", g15),
        ("DQ", f"{n}I", None, i11),
        ("A2CENTER", "1E", "pixel", g15),
        ("EXTRSIZE", "1E", "pixel", g15),
        ("MAXSRCH", "1I", "pixel", i11),
        ("BK1SIZE", "1E", "pixel", g15),
        ("BK2SIZE", "1E", "pixel", g15),
        ("BK1OFFST", "1E", "pixel", g15),
        ("BK2OFFST", "1E", "pixel", g15),
        ("EXTRLOCY", f"{n}E", "pixel", g15),
        ("OFFSET", "1E", "pixel", g15),
    ]
    cols = [
        (name, form, np.stack([np.asarray(r[name]) for r in rows]), unit, extra) for name, form, unit, extra in spec
    ]
    return ff.table_hdu(cols)  # astropy's BinTableHDU.from_columns layout, byte for byte


def calstis6(exp: Exposure, env, *, switches: Mapping | None = None) -> list[ff.HDU]:
    """1-D extraction of every imset of a first-order CCD exposure (``CalStis6`` as cs0.e calls
    it); returns the ``_x1d``/``_sx1`` table file (one row per imset). `exp` is not modified."""
    p = exp.primary
    fname = exp.filename or _str(p.get("FILENAME", ""))
    sw = {k: _switch((switches or p).get(k, "PERFORM" if k == "CTECORR" else "OMIT")) for k in SWITCHES}
    check(_merged(p, sw), env, fname)
    for key in ("ROOTNAME", "DETECTOR", "OBSTYPE", "OBSMODE", "APERTURE", "OPT_ELEM", "CENWAVE", "RA_TARG", "DEC_TARG"):
        if key not in p:
            raise EngineError("required keyword missing", file=fname, keyword=key)
    aperture = aperture_name(p)
    opt_elem = _str(p["OPT_ELEM"])
    cenwave = int(p["CENWAVE"])
    ra, dec = float(p["RA_TARG"]), float(p["DEC_TARG"])
    backcorr = sw["BACKCORR"] == "PERFORM"
    dispcorr = sw["DISPCORR"] == "PERFORM"
    helcorr = sw["HELCORR"] == "PERFORM"
    fluxcorr = sw["FLUXCORR"] == "PERFORM"
    refs = Refs(dict(env), p.copy())
    need = ["SPTRCTAB", "XTRACTAB"] + (["DISPTAB", "INANGTAB", "APDESTAB"] if dispcorr else [])
    if fluxcorr:
        need += ["PHOTTAB", "APERTAB"] + (["PCTAB"] if is_given(p.get("PCTAB")) else []) + optional_flux_tables(refs, p)
    tabs = {k: _Table(refs, k) for k in dict.fromkeys(need + ["APDESTAB"])}
    hist = {k: (tabs[k].pedigree, tabs[k].descrip) for k in tabs}  # History6 runs before any row is read
    slit = read_apdes(tabs["APDESTAB"], aperture)
    xtr = read_xtract(tabs["XTRACTAB"], aperture, opt_elem, cenwave)
    if xtr.xtracalg not in ("UNWEIGHTED", ""):
        raise EngineError(
            f"XTRACALG = {xtr.xtracalg} is not supported by the builtin STIS engine yet",
            file=tabs["XTRACTAB"].name,
            keyword="XTRACTAB",
        )
    disp = read_disp(tabs["DISPTAB"], opt_elem, cenwave) if dispcorr else None
    flux = _read_flux(refs, p, tabs, aperture, opt_elem, cenwave, xtr) if fluxcorr else None
    atodgain = float(p.get("ATODGAIN", 1.0))
    tables, radvel = [], 0.0
    for im in exp.imsets:
        sh = im.sci_hdr
        if sh.get("IMSET_OK", True) is False:
            log.warning("imset %d skipped (IMSET_OK = F)", im.extver)
            continue
        for key in ("EXPTIME", "EXPSTART", "EXPEND", "CD1_1", "CD2_2", "CRPIX1", "CRVAL1", "MEANDARK", "NCOMBINE"):
            if key not in sh:
                raise EngineError("required keyword missing", file=fname, keyword=key)
        wavecal = _str(sh.get("ASN_MTYP", "")) == "WAVECAL"
        exptime, expstart, expend = float(sh["EXPTIME"]), float(sh["EXPSTART"]), float(sh["EXPEND"])
        ltm, ltv = _lt0(sh)
        cd2 = float(sh["CD2_2"])
        msm = (0.0, 0.0) if wavecal else (float(sh.get("SHIFTA1", 0.0)), float(sh.get("SHIFTA2", 0.0)))
        sdq = E.cc_sdqflags(int(sh.get("SDQFLAGS", 0x7F)))
        hfactor = None
        if helcorr:
            radvel = radialvel.radial_velocity(ra, dec, (expstart + expend) / 2.0)
            hfactor = 1.0 - radvel / E.HCFACTOR
        _lya_check(p, slit, sh, im.sci.shape, ltm, fname)
        trace, _rot = read_trace(tabs["SPTRCTAB"], opt_elem, cenwave, 1, expstart)
        ap_offset2 = slit.ap_offset[1] / (cd2 * 3600.0)
        total2 = 0.0 + msm[1] + ap_offset2
        nm = trace[0].a2center + total2
        off = (
            E.cross_corr(im.sci, im.err, im.dq, trace, nm, xtr.maxsearch, ltm, ltv, sdq) if xtr.maxsearch != -1 else 0.0
        )
        if off is None:
            raise EngineError(
                "Cross correlation to locate spectrum failed; cannot extract", file=fname, keyword="XTRACTAB"
            )
        cc = nm + off
        a2displ = X.interp_trace(trace, cc)
        ny, nx = im.sci.shape
        rpix = ((np.arange(nx) - ltv[0]) / ltm[0]).astype(np.int64)
        y_box = cc + E.trace_y_at(a2displ, rpix, strict=False)
        bg = E.calc_back(im.sci, im.err, im.dq, y_box, xtr, ltm, ltv) if backcorr else None
        ex = E.extract(im.sci, im.err, im.dq, y_box, xtr.extrsize, bg, exptime, ltm, ltv, smoothing=True)
        back, net = E.smooth_back(ex.back, ex.gross)
        wave = np.zeros(nx)
        if dispcorr:
            iac = read_inang(tabs["INANGTAB"], opt_elem, cenwave, 1)
            delta = ap_offset_delta(tabs["APDESTAB"], slit, disp[0].ref_aper, int(sh.get("DISPAXIS", 1)))
            d = X.interp_disp(disp, cc)
            d = X.adjust_disp(d, delta, iac, msm[0])
            wave = E.wavelengths(d.coeff, d.ncoeff, 1, cenwave, nx, ltm, ltv, hfactor)
        fl = np.zeros(nx, np.float32)
        error, net_error, odq = ex.error, ex.error, ex.dq
        if flux is not None and dispcorr:
            extr = np.float32(xtr.extrsize * ltm[1])
            qpars = {
                "meandark": float(sh["MEANDARK"]),
                "readnse": float(p.get("READNSE", 0.0)),
                "atodgain": atodgain,
                "ncombine": int(sh["NCOMBINE"]),
                "exptime": exptime,
            }
            fl, error, net_error, odq = E.abs_flux6(
                wave, net, ex.error, ex.error, ex.gross, ex.dq,
                phot_wl=flux["wl"], phot_thru=flux["thru"], pcorr=flux["pcorr"], pcorr_box=flux["pcorr_box"],
                slit_wl=flux["slit_wl"], slit_thr=flux["slit_thr"], hfactor=hfactor if hfactor is not None else 1.0,
                atodgain=atodgain, qpars=qpars, extrsize=extr, gac=flux["gac"],
                tds=tds_at(flux["tds"], sh, _str(p["DETECTOR"]), expstart),
            )  # fmt: skip
        row = table_row(1, nx, wave, ex, back, net, fl, error, net_error, odq, cc, off, xtr, ltm, ltv)
        tables.append(table_hdu(nx, row, fluxcorr, sh, len(tables) + 1, off, v_helio=radvel if helcorr else None))
    if not tables:
        raise EngineError("no rows were written; no table created", file=fname, keyword="X1DCORR")
    return x1d_file(p, sw, tabs, hist, tables, radvel)


def table_row(sporder, nx, wave, ex, back, net, flux, error, net_error, dq, a2c, off, xtr, ltm, ltv) -> dict:
    """One ``_x1d`` row (one spectral order) as calstis6 fills it; sizes and positions in the
    image's own pixels (``ltm``/``ltv``), A2CENTER one-indexed."""
    return {
        "SPORDER": np.int16(sporder),
        "NELEM": np.int16(nx),
        "WAVELENGTH": wave,
        "GROSS": ex.gross,
        "BACKGROUND": back,
        "NET": net,
        "FLUX": flux,
        "ERROR": error,
        "NET_ERROR": net_error,
        "DQ": dq.astype(np.int16),
        "A2CENTER": np.float32(a2c * ltm[1] + ltv[1] + 1.0),
        "EXTRSIZE": np.float32(xtr.extrsize * ltm[1]),
        "MAXSRCH": np.int16(int(xtr.maxsearch * ltm[1])),
        "BK1SIZE": np.float32(xtr.bksize[0] * ltm[1]),
        "BK2SIZE": np.float32(xtr.bksize[1] * ltm[1]),
        "BK1OFFST": np.float32(xtr.bkoffset[0] * ltm[1]),
        "BK2OFFST": np.float32(xtr.bkoffset[1] * ltm[1]),
        "EXTRLOCY": ex.extrlocy,
        "OFFSET": np.float32(off),
    }


def table_hdu(nx, rows, fluxcorr, sh, extver, crscroff, *, blzshift=None, v_helio=None) -> ff.HDU:
    """The ``_x1d`` table of one imset: its rows, and the science header's cards copied as
    calstis6 copies them, then CRSCROFF, BLZSHIFT (echelle FLUXCORR) and V_HELIO (HELCORR)."""
    hdu = _columns(nx, rows, fluxcorr)
    h = hdu.header
    h["EXTNAME"] = "SCI"
    h["EXTVER"] = extver
    for card in sh.cards:
        if card.keyword in STRUCTURAL or card.keyword in INVALID or card.keyword in h:
            continue
        h[card.keyword] = (_hval(card.value), card.comment)
    h["CRSCROFF"] = (_hval(crscroff), "offset from 1-D extraction cross-corr.")
    if blzshift is not None:
        h["BLZSHIFT"] = (_hval(blzshift), "average blaze shift (pixels)")
    if v_helio is not None:
        h["V_HELIO"] = (_hval(v_helio), "heliocentric radial velocity (km/s)")
    return hdu


def x1d_file(p, sw, tabs, hist, tables, radvel: float) -> ff.FitsFile:
    """The ``_x1d`` file: the input's primary header with calstis6's history and switches, then
    the tables."""
    prim = p.copy()
    _history(prim, sw, tabs, hist)
    prim["X1DCORR"] = "COMPLETE"
    if sw["BACKCORR"] == "PERFORM":
        prim["BACKCORR"] = "COMPLETE"
    dispcorr, helcorr = sw["DISPCORR"] == "PERFORM", sw["HELCORR"] == "PERFORM"
    if dispcorr:
        prim["DISPCORR"] = "COMPLETE"
        if helcorr:
            prim["HELCORR"] = "COMPLETE"
        if sw["FLUXCORR"] == "PERFORM":
            prim["FLUXCORR"] = "COMPLETE"
    prim["NEXTEND"] = (len(tables), "number of extensions")
    prim["XTRACALG"] = ("UNWEIGHTED", "extraction algorithm")
    if dispcorr and helcorr:
        prim.add_history(f"Heliocentric correction = {radvel:g} km/s")
    return ff.FitsFile([ff.primary_hdu(prim), *tables])


def _merged(p, sw):
    h = p.copy()
    for k, v in sw.items():
        h[k] = v
    return h


def _lya_check(p, slit, sh, shape, ltm, fname) -> None:
    """``FindLya`` returns at once unless Lyman α (1216–1300 Å) falls on the image; beyond that
    (the MAMA G140L/G140M case) the builtin engine does not go."""
    crval, cd1, crpix = float(sh["CRVAL1"]), float(sh["CD1_1"]), float(sh["CRPIX1"])
    centera = int((1216.0 - crval) / cd1 + crpix)
    centerb = int((1300.0 - crval) / cd1 + crpix)
    width = int(slit.width[0] / float(sh["CD2_2"]) / 3600.0 / ltm[1] * ltm[0])
    if (centerb + width // 2) < 0 or (centera - width // 2) > shape[1]:
        return
    raise EngineError(
        "Lyman-alpha avoidance (FindLya) is not supported by the builtin STIS engine yet",
        file=fname,
        keyword="OPT_ELEM",
    )


def _history(prim, sw, tabs, hist) -> None:
    """``History6`` (written before the extraction, with the tables' header PEDIGREE/DESCRIP)."""

    def tab(key):
        prim.add_history(f"  reference table {tabs[key].name}")
        for text in hist[key]:
            if text:
                prim.add_history(f"    {text}")

    if sw["X1DCORR"] == "PERFORM":
        prim.add_history("X1DCORR performed ...")
        tab("SPTRCTAB")
        tab("XTRACTAB")
    if sw["BACKCORR"] == "PERFORM":
        prim.add_history("BACKCORR performed ...")
        tab("XTRACTAB")
    if sw["DISPCORR"] == "PERFORM":
        prim.add_history("DISPCORR performed ...")
        tab("DISPTAB")
        tab("INANGTAB")
        tab("APDESTAB")
    if sw["HELCORR"] == "PERFORM":
        prim.add_history("HELCORR performed (no reference file needed)")
    if sw["FLUXCORR"] == "PERFORM":
        prim.add_history("FLUXCORR performed ...")
        for key in ("PHOTTAB", "PCTAB", "APERTAB"):
            if key in tabs:
                tab(key)
            else:  # TabHistory is unconditional: a blank or N/A PCTAB is named as given
                prim.add_history(f"  reference table {str(prim.get(key, '')).strip()}")
        for key in ("GACTAB", "TDSTAB"):  # gaccorr, tdscorr: PERFORM when the table exists (GetCheckRef)
            if key in tabs:
                tab(key)


def _pct(t: _Table, aperture: str, cenwave: int, mheight: int):
    """``GetPCT6``'s row: EXTRHEIGHT = `mheight`, else the first of the nearest heights (None: none)."""
    aper, cen, hgt = t.col("APERTURE"), t.col("CENWAVE"), t.col("EXTRHEIGHT")
    best, mindist = None, 2000
    for r in range(t.nrows()):
        if _same_string(aper[r], aperture) and _same_int(cen[r], cenwave):
            dist = abs(int(hgt[r]) - mheight)
            if dist == 0 or int(hgt[r]) == -1:
                return r
            if mindist > dist:
                mindist, best = dist, r
    if best is not None:
        log.warning("No exact extraction box height match in PCTAB; using entry for height %d", int(hgt[best]))
    return best


def pct_factors(refs, tabs, aperture: str, cenwave: int, extrsize: float, wl: np.ndarray) -> tuple:
    """``GetPCT6`` twice: PCTAB's MAXHGHT row and the row of the box height `extrsize` (exact, else
    the first of the nearest), each splined onto the PHOTTAB wavelengths `wl` (ones without PCTAB
    or without a row for the aperture and CENWAVE)."""
    ones = np.ones(wl.size)
    if "PCTAB" not in tabs:
        return ones, ones
    t = tabs["PCTAB"]
    _, hdr, _ = refs.table("PCTAB")
    if "MAXHGHT" not in hdr:
        raise EngineError("MAXHGHT missing from the table header", file=t.name, keyword="PCTAB")
    r_max = _pct(t, aperture, cenwave, int(hdr["MAXHGHT"]))
    if r_max is None:
        return ones, ones
    h = int(extrsize)
    r_box = _pct(t, aperture, cenwave, h if h > 0 else int(hdr["MAXHGHT"]))

    def spl(r):
        n = int(t.col("NELEM")[r])
        pw = np.asarray(t.col("WAVELENGTH")[r], np.float64).ravel()[:n]
        return X.splint_nr(pw, np.asarray(t.col("THROUGHPUT")[r], np.float64).ravel()[:n], wl)

    return spl(r_max), spl(r_box)


def optional_flux_tables(refs, p) -> list[str]:
    """``CheckFlux``'s optional tables that are there: GACTAB (gaccorr) and TDSTAB (tdscorr) when the
    keyword names an existing file (blank, N/A or a missing file: that correction is left out)."""
    return [k for k in ("GACTAB", "TDSTAB") if is_given(p.get(k)) and refs.path(k).is_file()]


def read_gac(t: _Table, opt_elem: str, cenwave: int, aperture: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``GetGAC6``: the first GACTAB row matching OPT_ELEM, CENWAVE and APERTURE — (wavelengths,
    factors) — or None (no row, or a DUMMY one: no grating-aperture correction, silently)."""
    opt, cen, aper = t.col("OPT_ELEM"), t.col("CENWAVE"), t.col("APERTURE")
    for c in ("NELEM", "WAVELENGTH", "THROUGHPUT"):
        if t.col(c, required=False) is None:
            raise EngineError("Column not found in GACTAB", file=t.name, keyword="GACTAB")
    for r in range(t.nrows()):
        if _same_string(opt[r], opt_elem) and _same_int(cen[r], cenwave) and _same_string(aper[r], aperture):
            ped = t.col("PEDIGREE", required=False)
            if ped is not None and _str(ped[r]).startswith("DUMMY"):
                return None
            n = int(t.col("NELEM")[r])
            wl = np.asarray(t.col("WAVELENGTH")[r], np.float64).ravel()
            thr = np.asarray(t.col("THROUGHPUT")[r], np.float64).ravel()
            if wl.size < n or thr.size < n:
                raise EngineError("Not all coefficients were read from GACTAB", file=t.name, keyword="GACTAB")
            return wl[:n], thr[:n]
    return None


def read_gac_tds(refs, tabs, opt_elem: str, cenwave: int, aperture: str) -> tuple:
    """GetGAC6 and GetTds for AbsFlux6: (GACTAB row or None, TDSTAB row or None)."""
    gac = read_gac(tabs["GACTAB"], opt_elem, cenwave, aperture) if "GACTAB" in tabs else None
    tds = tdsmod.read_tds(tabs["TDSTAB"], refs.table("TDSTAB")[1], opt_elem) if "TDSTAB" in tabs else None
    return gac, tds


def tds_at(tds, sh, detector: str, expstart: float) -> tuple[np.ndarray, np.ndarray] | None:
    """``TdsCorrection`` for an imset (its EXPSTART and detector temperature): (wavelengths, factors)."""
    if tds is None:
        return None
    return tds.wl, tdsmod.tds_factors(tds, expstart, tdsmod.detector_temp(sh, detector))


def _read_flux(refs, p, tabs, aperture, opt_elem, cenwave, xtr) -> dict:
    """GetApThr6, GetAbsPhot6, GetPCT6 at MAXHGHT and at the box height (splined onto PHOTTAB's
    wavelengths; ones without PCTAB), GetGAC6, GetTds."""
    from .x2d_io import read_apthr, read_phot

    slit_wl, slit_thr = read_apthr(tabs["APERTAB"], aperture)
    wl, thru = read_phot(tabs["PHOTTAB"], opt_elem, cenwave, 1)
    pc_max, pc_box = pct_factors(refs, tabs, aperture, cenwave, xtr.extrsize, wl)
    gac, tds = read_gac_tds(refs, tabs, opt_elem, cenwave, aperture)
    return {
        "wl": wl,
        "thru": thru,
        "pcorr": pc_max,
        "pcorr_box": pc_box,
        "slit_wl": slit_wl,
        "slit_thr": slit_thr,
        "gac": gac,
        "tds": tds,
    }
