"""calstis7 for first-order spectra (HSTCAL ``cs7/calstis7.c``, ``do2dx.c``): the thin I/O layer
around :mod:`.x2d` — the keywords (``getkeyinfo7.c``, ``getgrpinfo7.c``), the reference tables
(``getsdc.c`` SDCTAB, ``getdisp.c`` DISPTAB, ``getinang.c`` INANGTAB, ``gettrace.c`` SPTRCTAB,
``getapdes7.c``/``getapoffset.c`` APDESTAB), HELCORR (``heliofactor.c``), the output headers
(``putgrpinfo7.c``, ``history7.c``) and STATFLAG. cs0.e calls it on the ``_crj`` (→ ``_sx2``),
on the ``_flt`` when there is no CR-SPLIT (→ ``_x2d``) and on a first-order wavecal (→ ``_w2d_tmp``).

Echelle data (one SDCTAB row per order) give one output imset per imset and order on the image
(NEXTEND, set by the writer, then counts them as cs0.e's update does); their FLUXCORR uses each
order's PHOTTAB row with the MSM/blaze shift (``BlazeCorr``) and writes BLZSHIFT.

FLUXCORR divides by TDSTAB's time- and temperature-dependent sensitivity (:mod:`.tds`) when the
table has a row for OPT_ELEM.

Not in: PRISM data, SGEOCORR, imaging GEOCORR, wx2d output — each stops with an EngineError naming the switch or table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..common import fitsfile as ff
from ..common.errors import EngineError
from ..common.hstio import Exposure, ImSet
from ..common.keywords import hdr_double, hdr_float
from ..common.refs import column, is_given
from . import basic2d, radialvel
from . import tds as tdsmod
from . import x2d as X
from .calstis1 import Refs, _write_stats

log = logging.getLogger(__name__)

PSEUDO_APERTURES = ("E1", "E2", "D1")
BUNIT_FLUX = "erg /s /cm**2 /angstrom /arcsec**2"  # GetAbsPhot
TABLES = ("SDCTAB", "APDESTAB", "DISPTAB", "INANGTAB", "SPTRCTAB")  # GetFlags7's order, History7's too


def _switch(value) -> str:
    return str(value if value is not None else "OMIT").strip().upper()


def _str(v) -> str:
    return str(v).strip()


def _same_string(rowvalue, value: str) -> bool:
    r = _str(rowvalue)
    return r == "ANY" or r == value


def _same_int(rowvalue, value: int) -> bool:
    r = int(rowvalue)
    return r == -1 or r == value


class _Table:
    """A reference table read once: rows, PEDIGREE/DESCRIP of the header and of the selected row."""

    def __init__(self, refs: Refs, keyword: str):
        self.keyword = keyword
        self.name = _str(refs.primary[keyword])
        self.data, _, prim = refs.table(keyword)
        self.pedigree = _str(prim.get("PEDIGREE", ""))
        self.descrip = _str(prim.get("DESCRIP", ""))
        self.descrip2 = ""
        self._cols: dict[str, object] = {}

    def col(self, name: str, required: bool = True):
        """A column by case-insensitive name (looked up once per table: a FITS_rec field access
        costs ~0.1 ms, and the readers ask for a column per row they look at)."""
        if name not in self._cols:
            self._cols[name] = column(self.data, name)
        c = self._cols[name]
        if c is None and required:
            raise EngineError(f"column {name} not found", file=self.name, keyword=self.keyword)
        return c

    def nrows(self) -> int:
        return len(self.data)

    def row_pedigree(self, row: int, selection: str) -> None:
        """``RowPedigree``; a DUMMY row stops the step (cs0.e: X2DCORR skipped, nothing written)."""
        ped = self.col("PEDIGREE", required=False)
        if ped is not None:
            self.pedigree = _str(ped[row])
            if self.pedigree.startswith("DUMMY"):
                raise EngineError(
                    f"DUMMY pedigree in row {row + 1} ({selection})", file=self.name, keyword=self.keyword
                )
        desc = self.col("DESCRIP", required=False)
        self.descrip2 = _str(desc[row]) if desc is not None else ""

    def history(self, primary: ff.Header) -> None:
        """``TabHistory``."""
        primary.add_history(f"  reference table {self.name}")
        for text in (self.pedigree, self.descrip, self.descrip2):
            if text:
                primary.add_history(f"    {text}")


def aperture_name(primary) -> str:
    """``GetKeyInfo7``: APERTURE, with PROPAPER's pseudo-aperture suffix (E1, E2, D1) appended
    unless a lamp was on (``pseudoap``)."""
    aperture = _str(primary["APERTURE"])
    if _str(primary.get("SCLAMP", "NONE")) == "NONE":
        propaper = _str(primary.get("PROPAPER", aperture))
        for suf in PSEUDO_APERTURES:
            if propaper.endswith(suf) and not aperture.endswith(suf):
                aperture += suf
                break
    return aperture


def read_sdc(t: _Table, aperture: str, opt_elem: str, cenwave: int) -> list[X.Coord]:
    """``GetSDC``: the rows matching APERTURE (or ANY), OPT_ELEM, CENWAVE, sorted by SPORDER
    (``NewCoord``); the search stops at a first-order row (a CCD pseudo-aperture's row before ANY's).
    Echelle data have one row per order; the orders must be consecutive (``RangeCoord``)."""
    aper = t.col("APERTURE", required=False)
    opt, cen, spo = t.col("OPT_ELEM"), t.col("CENWAVE"), t.col("SPORDER")
    sel = f"APERTURE {aperture}, OPT_ELEM {opt_elem}, CENWAVE {cenwave}"
    coords = []
    for r in range(t.nrows()):
        a = "ANY" if aper is None else aper[r]
        if _same_string(a, aperture) and _same_string(opt[r], opt_elem) and _same_int(cen[r], cenwave):
            t.row_pedigree(r, sel)
            coords.append(
                X.Coord(
                    int(spo[r]),
                    float(t.col("A2CENTER")[r]) - 1.0,
                    (int(t.col("NPIX1")[r]), int(t.col("NPIX2")[r])),
                    (float(t.col("CRPIX1")[r]) - 1.0, float(t.col("CRPIX2")[r]) - 1.0),
                    (float(t.col("CRVAL1")[r]), float(t.col("CRVAL2")[r])),
                    (float(t.col("CDELT1")[r]), float(t.col("CDELT2")[r])),
                )
            )
            if coords[-1].sporder == 1:
                break
    if not coords:
        raise EngineError(f"matching row not found ({sel})", file=t.name, keyword="SDCTAB")
    coords.sort(key=lambda c: c.sporder)
    for a, b in zip(coords, coords[1:], strict=False):
        if b.sporder == a.sporder:
            raise EngineError(f"duplicate order number {b.sporder}", file=t.name, keyword="SDCTAB")
        if b.sporder != a.sporder + 1:
            raise EngineError(f"order numbers jump from {a.sporder} to {b.sporder}", file=t.name, keyword="SDCTAB")
    return coords


def read_moc(t: _Table, opt_elem: str, cenwave: int) -> tuple[int, float, float]:
    """``GetMOC``: MREF, YREF, A4CORR of the last DISPTAB row matching OPT_ELEM and CENWAVE
    (1, 512, 0 when the columns or the row are missing)."""
    mref, yref, a4corr = 1, 512.0, 0.0
    cols = [t.col(k, required=False) for k in ("OPT_ELEM", "CENWAVE", "MREF", "YREF", "A4CORR")]
    if any(c is None for c in cols):
        return mref, yref, a4corr
    opt, cen, mr, yr, a4 = cols
    for r in range(t.nrows()):
        if _same_string(opt[r], opt_elem) and _same_int(cen[r], cenwave):
            mref, yref, a4corr = int(mr[r]), float(yr[r]), float(a4[r])
    return mref, yref, a4corr


def read_disp(t: _Table, opt_elem: str, cenwave: int) -> list[X.DispRow]:
    """``GetDisp``: every row matching OPT_ELEM and CENWAVE, sorted by A2CENTER (zero-indexed)."""
    opt, cen = t.col("OPT_ELEM"), t.col("CENWAVE")
    sel = f"OPT_ELEM {opt_elem}, CENWAVE {cenwave}"
    rows = []
    for r in range(t.nrows()):
        if _same_string(opt[r], opt_elem) and _same_int(cen[r], cenwave):
            t.row_pedigree(r, sel)
            n = int(t.col("NCOEFF")[r])
            if n > X.MAX_DISP_COEFF:
                raise EngineError(f"too many dispersion coefficients {n}", file=t.name, keyword="DISPTAB")
            coeff = np.zeros(X.MAX_DISP_COEFF)
            coeff[:n] = np.asarray(t.col("COEFF")[r], np.float64).ravel()[:n]
            rows.append(X.DispRow(float(t.col("A2CENTER")[r]) - 1.0, n, coeff, _str(t.col("REF_APER")[r])))
    if not rows:
        raise EngineError(f"matching row not found ({sel})", file=t.name, keyword="DISPTAB")
    rows.sort(key=lambda d: d.a2center)
    for a, b in zip(rows, rows[1:], strict=False):
        if a.a2center == b.a2center:
            raise EngineError(f"duplicate values of A2CENTER={b.a2center + 1:.8g}", file=t.name, keyword="DISPTAB")
        if a.ref_aper != b.ref_aper:
            raise EngineError("different REF_APER values in different rows", file=t.name, keyword="DISPTAB")
    return rows


def read_inang(t: _Table, opt_elem: str, cenwave: int, sporder: int, missing_ok: bool = False) -> X.Iac | None:
    """``GetInang``: the (last) row matching OPT_ELEM, CENWAVE, SPORDER (None if there is none and
    `missing_ok`: calstis7 then skips the order)."""
    opt, cen, spo = t.col("OPT_ELEM"), t.col("CENWAVE"), t.col("SPORDER")
    sel = f"OPT_ELEM {opt_elem}, SPORDER {sporder}, CENWAVE {cenwave}"
    iac = None
    for r in range(t.nrows()):
        if _same_string(opt[r], opt_elem) and _same_int(cen[r], cenwave) and _same_int(spo[r], sporder):
            t.row_pedigree(r, sel)
            n1, n2 = int(t.col("NCOEFF1")[r]), int(t.col("NCOEFF2")[r])
            c1 = np.asarray(t.col("COEFF1")[r], np.float64).ravel()[: max(n1, 0)]
            c2 = np.asarray(t.col("COEFF2")[r], np.float64).ravel()[: max(n2, 0)]
            iac = X.Iac(c1, c2)
    if iac is None and missing_ok:
        log.warning("Matching row not found in %s; %s.", t.name, sel)
    elif iac is None:
        raise EngineError(f"matching row not found ({sel})", file=t.name, keyword="INANGTAB")
    return iac


def read_trace(
    t: _Table, opt_elem: str, cenwave: int, sporder: int, expstart: float, missing_ok: bool = False
) -> tuple[list[X.TraceRow], float]:
    """``GetTrace``: every row matching OPT_ELEM, CENWAVE, SPORDER, rotated to EXPSTART (MJD,
    DEGPERYR), sorted by A2CENTER; returns the rows and the last rotation angle (no rows if there
    are none and `missing_ok`: calstis7 then skips the order)."""
    opt, cen, spo = t.col("OPT_ELEM"), t.col("CENWAVE"), t.col("SPORDER")
    mjdc, degc = t.col("MJD", required=False), t.col("DEGPERYR", required=False)
    sel = f"OPT_ELEM {opt_elem}, SPORDER {sporder}, CENWAVE {cenwave}"
    rows, rotation = [], 0.0
    for r in range(t.nrows()):
        if _same_string(opt[r], opt_elem) and _same_int(cen[r], cenwave) and _same_int(spo[r], sporder):
            t.row_pedigree(r, sel)
            n = int(t.col("NELEM")[r])
            a2displ = np.asarray(t.col("A2DISPL")[r], np.float64).ravel()[:n].copy()
            if mjdc is not None:
                a2displ, rotation = X.rotate_trace(a2displ, expstart, float(mjdc[r]), float(degc[r]))
            rows.append(X.TraceRow(float(t.col("A1CENTER")[r]) - 1.0, float(t.col("A2CENTER")[r]) - 1.0, a2displ))
    if not rows and missing_ok:
        log.warning("Matching row not found in SPTRCTAB %s; %s.", t.name, sel)
        return rows, rotation
    if not rows:
        raise EngineError(f"matching row not found ({sel})", file=t.name, keyword="SPTRCTAB")
    rows.sort(key=lambda d: d.a2center)
    for a, b in zip(rows, rows[1:], strict=False):
        if a.a2center == b.a2center:
            raise EngineError(f"duplicate values of A2CENTER={b.a2center + 1:.8g}", file=t.name, keyword="SPTRCTAB")
        if a.a1center != b.a1center:
            raise EngineError("different A1CENTER values in different rows", file=t.name, keyword="SPTRCTAB")
    return rows, rotation


def read_apdes(t: _Table, aperture: str) -> X.Slit:
    """``GetApDes7``: the APDESTAB row of the aperture (ANGLE defaults to REF_ANGLE)."""
    aper = t.col("APERTURE")
    for r in range(t.nrows()):
        if _same_string(aper[r], aperture):
            t.row_pedigree(r, f"APERTURE {aperture}")
            angle = t.col("ANGLE", required=False)
            nbars = int(t.col("NBARS")[r])
            k = min(max(nbars, 0), 3)
            return X.Slit(
                (float(t.col("WIDTH1")[r]), float(t.col("WIDTH2")[r])),
                (float(t.col("OFFSET1")[r]), float(t.col("OFFSET2")[r])),
                X.REF_ANGLE if angle is None else float(angle[r]),
                tuple(float(t.col(f"BAR{i + 1}LOCN")[r]) for i in range(k)),
                tuple(float(t.col(f"BAR{i + 1}WIDTH")[r]) for i in range(k)),
            )
    raise EngineError(f"APERTURE {aperture} not found", file=t.name, keyword="APDESTAB")


def ap_offset_delta(t: _Table, slit: X.Slit, ref_aper: str, dispaxis: int) -> float:
    """``GetApOffset``: offset (arcsec, dispersion direction) of the slit from DISPTAB's REF_APER."""
    aper = t.col("APERTURE")
    ped = t.col("PEDIGREE", required=False)
    for r in range(t.nrows()):
        if _same_string(aper[r], ref_aper):
            if ped is not None and _str(ped[r]).startswith("DUMMY"):
                raise EngineError(
                    f"DUMMY pedigree in row {r + 1} (APERTURE {ref_aper})", file=t.name, keyword="APDESTAB"
                )
            if dispaxis == 1:
                return slit.ap_offset[0] - float(t.col("OFFSET1")[r])
            if dispaxis == 2:
                return slit.ap_offset[1] - float(t.col("OFFSET2")[r])
            return 0.0
    raise EngineError(f"APERTURE {ref_aper} (REF_APER) not found", file=t.name, keyword="APDESTAB")


@dataclass(slots=True)
class Flux:
    """What AbsFlux reads: PHOTTAB's row, APERTAB's throughput, PCTAB's factors on PHOTTAB's grid."""

    phot_wl: np.ndarray
    phot_thru: np.ndarray
    pcorr: np.ndarray
    slit_wl: np.ndarray
    slit_thr: np.ndarray
    tables: list  # (_Table or None, note when left out), History7's order
    pctcorr: bool
    pct: tuple[np.ndarray, np.ndarray] | None = None  # the MAXHGHT row (wavelengths, factors)
    phottab: _Table | None = None
    tds: tdsmod.Tds | None = None  # TDSTAB's row for OPT_ELEM (None: no TDS correction)


def read_phot(t: _Table, opt_elem: str, cenwave: int, sporder: int) -> tuple[np.ndarray, np.ndarray]:
    """``GetAbsPhot`` (spectroscopic): the first row matching CENWAVE, SPORDER and OPT_ELEM."""
    opt, cen, spo = t.col("OPT_ELEM"), t.col("CENWAVE"), t.col("SPORDER")
    sel = f"OPT_ELEM {opt_elem}, CENWAVE {cenwave}, SPORDER {sporder}"
    for r in range(t.nrows()):
        if _same_int(cen[r], cenwave) and _same_int(spo[r], sporder) and _same_string(opt[r], opt_elem):
            t.row_pedigree(r, sel)
            n = int(t.col("NELEM")[r])
            wl = np.asarray(t.col("WAVELENGTH")[r], np.float64).ravel()[:n]
            return wl, np.asarray(t.col("THROUGHPUT")[r], np.float64).ravel()[:n]
    raise EngineError(f"matching row not found ({sel})", file=t.name, keyword="PHOTTAB")


def read_apthr(t: _Table, aperture: str) -> tuple[np.ndarray, np.ndarray]:
    """``GetApThr``: the APERTAB throughput of the aperture."""
    aper = t.col("APERTURE")
    for r in range(t.nrows()):
        if _same_string(aper[r], aperture):
            t.row_pedigree(r, f"APERTURE {aperture}")
            n = int(t.col("NELEM")[r])
            wl = np.asarray(t.col("WAVELENGTH")[r], np.float64).ravel()[:n]
            return wl, np.asarray(t.col("THROUGHPUT")[r], np.float64).ravel()[:n]
    raise EngineError(f"APERTURE {aperture} not found", file=t.name, keyword="APERTAB")


def pct_rows(t: _Table, aperture: str, cenwave: int) -> dict[int, tuple[int, np.ndarray, np.ndarray]]:
    """PCTAB rows of the aperture and CENWAVE by EXTRHEIGHT: (row, wavelengths, factors)."""
    aper, cen, hgt = t.col("APERTURE"), t.col("CENWAVE"), t.col("EXTRHEIGHT")
    out = {}
    for r in range(t.nrows()):
        if _same_string(aper[r], aperture) and _same_int(cen[r], cenwave):
            n = int(t.col("NELEM")[r])
            wl = np.asarray(t.col("WAVELENGTH")[r], np.float64).ravel()[:n]
            out.setdefault(int(hgt[r]), (r, wl, np.asarray(t.col("THROUGHPUT")[r], np.float64).ravel()[:n]))
    return out


def read_flux(refs: Refs, primary, aperture: str, opt_elem: str, cenwave: int, sporder: int) -> Flux:
    """GetApThr, GetAbsPhot, GetPCT (the MAXHGHT row splined onto PHOTTAB's wavelengths, or ones),
    GetTds (TDSTAB's row for OPT_ELEM; none: no TDS correction)."""
    apt = _Table(refs, "APERTAB")
    slit_wl, slit_thr = read_apthr(apt, aperture)
    pht = _Table(refs, "PHOTTAB")
    phot_wl, phot_thru = read_phot(pht, opt_elem, cenwave, sporder)
    pcorr, pct, pctcorr, pct_row = np.ones(phot_wl.size), None, False, None
    if is_given(primary.get("PCTAB")):
        pct = _Table(refs, "PCTAB")
        _, hdr, _ = refs.table("PCTAB")
        if "MAXHGHT" not in hdr:
            raise EngineError("MAXHGHT missing from the table header", file=pct.name, keyword="PCTAB")
        rows = pct_rows(pct, aperture, cenwave)
        maxh = int(hdr["MAXHGHT"])
        if maxh in rows:
            r, wl, pc = rows[maxh]
            pct.row_pedigree(r, f"APERTURE {aperture}, CENWAVE {cenwave}, EXTRHEIGHT {maxh}")
            pcorr = X.splint_nr(wl, pc, phot_wl)
            pctcorr = True
            pct_row = (wl, pc)
        else:
            log.warning(
                "Matching row not found in PCTAB %s; APERTURE %s, CENWAVE %d, EXTRHEIGHT %d.",
                pct.name,
                aperture,
                cenwave,
                maxh,
            )
    tds_row, tdt = None, None
    if is_given(primary.get("TDSTAB")):  # GetTds; no row (or a DUMMY one): tdscorr OMIT
        tdt = _Table(refs, "TDSTAB")
        tds_row = tdsmod.read_tds(tdt, refs.table("TDSTAB")[1], opt_elem)
    tables = [(pht, ""), (apt, "")]
    tables.append((pct, "") if pctcorr else (None, "  Note:  PCTAB correction was not included in DIFF2PT"))
    if tds_row is not None:  # TabHistory with the header's PEDIGREE/DESCRIP (GetTds keeps the row's apart)
        tables.append((tdt, ""))
    else:
        tables.append((None, "  Note:  TDSTAB correction was not included in fluxcorr"))
    return Flux(phot_wl, phot_thru, pcorr, slit_wl, slit_thr, tables, pctcorr, pct_row, pht, tds_row)


BLAZE_COLUMNS = ("REFORD", "REFWAV", "REFY", "REFMJD", "BSHIFT_VS_X", "BSHIFT_VS_Y", "BSHIFT_VS_T")


def read_phot_echelle(t: _Table, opt_elem: str, cenwave: int, sporder: int) -> dict | None:
    """``GetAbsPhot`` for an echelle order: the row's wavelengths and throughput and, when PHOTTAB has
    the blaze-shift columns, REFORD … BSHIFT_VS_T (REFY made zero-indexed) and the optional
    BSHIFT_OFFSET (None: no row)."""
    opt, cen, spo = t.col("OPT_ELEM"), t.col("CENWAVE"), t.col("SPORDER")
    for r in range(t.nrows()):
        if _same_int(cen[r], cenwave) and _same_int(spo[r], sporder) and _same_string(opt[r], opt_elem):
            t.row_pedigree(r, f"OPT_ELEM {opt_elem}, CENWAVE {cenwave}, SPORDER {sporder}")
            n = int(t.col("NELEM")[r])
            row = {
                "wl": np.asarray(t.col("WAVELENGTH")[r], np.float64).ravel()[:n].copy(),
                "thru": np.asarray(t.col("THROUGHPUT")[r], np.float64).ravel()[:n],
                "blaze": None,
            }
            cols = [t.col(k, required=False) for k in BLAZE_COLUMNS]
            if all(c is not None for c in cols):
                m0 = t.col("BSHIFT_OFFSET", required=False)
                row["blaze"] = {
                    "mref": int(cols[0][r]),
                    "wref": float(cols[1][r]),
                    "yref": float(cols[2][r]) - 1.0,  # "Reference data is 1-indexed !"
                    "mjd": float(cols[3][r]),
                    "mx": float(cols[4][r]),
                    "my": float(cols[5][r]),
                    "mt": float(cols[6][r]),
                    "m0": float(m0[r]) if m0 is not None else 0.0,
                }
            return row
    return None


def get_wavelength(d: X.DispRow, sporder: int, ix: float, low: float, high: float) -> float:
    """calstis7's ``GetWavelength`` (grating): bisection of evalDisp for pixel `ix` in [low, high]
    down to 1e-5 Å."""
    m = float(sporder)
    while high - low > 1.0e-5:
        test = (low + high) / 2.0
        if ix < float(X.eval_disp(d.coeff, d.ncoeff, m, np.array([test]))[0]):
            high = test
        else:
            low = test
    return (low + high) / 2.0


def blaze_shift(b: dict, wpos: float, ypos: float, ddisp: float, expstart: float, expend: float) -> float:
    """``BlazeCorr``'s shift (pixels) from the PHOTTAB reference values."""
    date = (expend - expstart) / 2.0 + expstart
    dx = (b["wref"] - wpos) / ddisp
    dy = ypos - b["yref"]
    dt = date - b["mjd"]
    return dx * b["mx"] + dy * b["my"] + dt * b["mt"] + b["m0"]


def _lt0(hdr) -> tuple[tuple[float, float], tuple[float, float]]:
    """``GetLT0``: LTM diagonal and the zero-indexed LTV."""
    ltm = (float(hdr.get("LTM1_1", 1.0)), float(hdr.get("LTM2_2", 1.0)))
    ltv = (float(hdr.get("LTV1", 0.0)), float(hdr.get("LTV2", 0.0)))
    return ltm, (ltv[0] + (ltm[0] - 1.0), ltv[1] + (ltm[1] - 1.0))


def check(primary, env, fname: str = "", switches: Mapping | None = None) -> None:
    """What cs7 would refuse, before any pixel: the tables exist, the switches are supported."""
    sw = {k: _switch((switches or primary).get(k)) for k in ("FLUXCORR", "SGEOCORR")}
    if str(primary.get("OBSTYPE", "")).strip() != "SPECTROSCOPIC":
        raise EngineError(
            "GEOCORR (imaging) is not supported by the builtin STIS engine yet", file=fname, keyword="GEOCORR"
        )
    for key in ("SGEOCORR",):
        if sw[key] == "PERFORM":
            raise EngineError(
                f"{key}=PERFORM with X2DCORR is not supported by the builtin STIS engine yet", file=fname, keyword=key
            )
    opt_elem = str(primary.get("OPT_ELEM", "")).strip().upper()
    if opt_elem == "PRISM":
        raise EngineError(
            "PRISM rectification is not supported by the builtin STIS engine yet", file=fname, keyword="OPT_ELEM"
        )
    if _switch(primary.get("WX2DCORR")) == "COMPLETE":
        raise EngineError(
            "input already traced by wx2d (WX2DCORR=COMPLETE) is not supported", file=fname, keyword="WX2DCORR"
        )
    refs = Refs(dict(env), primary)
    for key in TABLES:
        refs.path(key)
    if sw["FLUXCORR"] == "PERFORM":
        for key in ("PHOTTAB", "APERTAB"):
            refs.path(key)
        for key in ("PCTAB", "TDSTAB"):  # optional: blank or N/A leaves the correction out
            if is_given(primary.get(key)):
                refs.path(key)


def _moc_adjust_disp(tabs: dict, disp: list[X.DispRow], opt_elem: str, cenwave: int, expstart, msm2, ltm2) -> None:
    """``MOCAdjustDisp`` (echelle, once, from the first imset): coefficients 0 and 4 of the first
    dispersion row corrected by A4CORR for the offset of order MREF from YREF. In place."""
    mref, yref, a4corr = read_moc(tabs["DISPTAB"], opt_elem, cenwave)
    if a4corr == 0.0:
        return
    trace, _ = read_trace(tabs["SPTRCTAB"], opt_elem, cenwave, mref, expstart)
    ydiff = msm2 / ltm2 + trace[0].a2center - yref
    disp[0].coeff[0] -= ydiff * cenwave * a4corr
    disp[0].coeff[4] += ydiff * a4corr


def _blaze_reference(tabs, flux, coords, disp, slit, opt_elem, cenwave, expstart, msm, ap_offset_y):
    """Do2Dx's MSM/blaze reference for echelle FLUXCORR: the first order with a PHOTTAB row names the
    reference order REFORD; its trace line (A2CENTER + SHIFTA2 + the aperture offset AddOffsets last
    left, 0 before the first order) gives the dispersion relation, whose wavelength at pixel 512 and
    the step from 511 are (wpos, ypos, ddisp). None: no FLUXCORR, first order, or no blaze columns."""
    if flux is None or coords[-1].sporder <= 1:
        return None
    mref = 0
    for c in coords:
        row = read_phot_echelle(flux.phottab, opt_elem, cenwave, c.sporder)
        if row is not None:
            mref = row["blaze"]["mref"] if row["blaze"] is not None else 0
            break
    if mref <= 0:
        return None
    trace, _ = read_trace(tabs["SPTRCTAB"], opt_elem, cenwave, mref, expstart)
    ypos = trace[0].a2center + msm[1] + ap_offset_y
    delta = ap_offset_delta(tabs["APDESTAB"], slit, disp[0].ref_aper, 1)
    iac = read_inang(tabs["INANGTAB"], opt_elem, cenwave, mref)
    d = X.adjust_disp(X.interp_disp(disp, ypos), delta, iac, msm[0])
    wpos = get_wavelength(d, mref, 512.0, cenwave - 100.0, cenwave + 100.0)
    ddisp = wpos - get_wavelength(d, mref, 511.0, cenwave - 100.0, cenwave + 100.0)
    return wpos, ypos, ddisp


def calstis7(exp: Exposure, env, *, switches: Mapping | None = None) -> Exposure:
    """2-D rectification of every imset of a spectroscopic exposure (``CalStis7``, ``Do2Dx``): one
    output imset per imset for first-order data, one per imset and spectral order on the image for
    echelle data (orders whose trace misses the image, or without SPTRCTAB/INANGTAB rows, skipped).
    `switches`: HELCORR, FLUXCORR, SGEOCORR, STATFLAG as cs0.e passes them (default: the input's
    primary header). `exp` is not modified."""
    p = exp.primary
    fname = exp.filename or _str(p.get("FILENAME", ""))
    sw = switches or p
    helcorr = _switch(sw.get("HELCORR")) == "PERFORM"
    fluxcorr = _switch(sw.get("FLUXCORR")) == "PERFORM"
    statflag = bool(sw.get("STATFLAG", True))
    check(p, env, fname, sw)
    for key in ("ROOTNAME", "OBSMODE", "DETECTOR", "APERTURE", "OPT_ELEM", "CENWAVE", "RA_TARG", "DEC_TARG"):
        if key not in p:
            raise EngineError("required keyword missing", file=fname, keyword=key)
    detector = _str(p["DETECTOR"])
    aperture = aperture_name(p)
    opt_elem = _str(p["OPT_ELEM"])
    cenwave = int(p["CENWAVE"])
    ra, dec = float(p["RA_TARG"]), float(p["DEC_TARG"])
    refs = Refs(dict(env), p.copy())
    tabs = {k: _Table(refs, k) for k in TABLES}
    slit = read_apdes(tabs["APDESTAB"], aperture)
    coords = read_sdc(tabs["SDCTAB"], aperture, opt_elem, cenwave)
    first_order = coords[-1].sporder <= 1
    disp = read_disp(tabs["DISPTAB"], opt_elem, cenwave)
    atodgain = float(p.get("ATODGAIN", -1.0))
    if atodgain < 0.0:
        atodgain = float(p.get("CCDGAIN", 1))
    flux = read_flux(refs, p, aperture, opt_elem, cenwave, coords[0].sporder) if fluxcorr else None
    imsets = []
    history = None
    ap_offset_y = 0.0  # sts->ap_offset[1] before the first AddOffsets
    for im in exp.imsets:
        sh = im.sci_hdr
        wavecal = "WAVECAL" in str(sh.get("ASN_MTYP", "unknown"))
        for key in ("EXPTIME", "EXPSTART", "EXPEND"):
            if key not in sh:
                raise EngineError("required keyword missing", file=fname, keyword=key)
        expstart, expend = float(sh["EXPSTART"]), float(sh["EXPEND"])
        sdqflags = int(sh.get("SDQFLAGS", 32767))
        ltm, ltv = _lt0(sh)
        msm = (0.0, 0.0) if wavecal else (float(sh.get("SHIFTA1", 0.0)), float(sh.get("SHIFTA2", 0.0)))
        dispaxis = int(sh.get("DISPAXIS", 1))
        if dispaxis != 1:
            raise EngineError(f"DISPAXIS = {dispaxis} is not supported", file=fname, keyword="DISPAXIS")
        if im is exp.imsets[0] and not first_order:
            _moc_adjust_disp(tabs, disp, opt_elem, cenwave, expstart, msm[1], ltm[1])
        in_headers = {k: h.copy() for k, h in im.headers.items()}
        hfactor = 1.0
        if not wavecal and _switch(p.get("WAVECORR")) != "COMPLETE" and im is exp.imsets[0]:
            log.warning("Wavecal processing has not been performed.")
        if helcorr and not wavecal:
            v = radialvel.radial_velocity(ra, dec, (expstart + expend) / 2.0)
            hfactor = X.helio_factor(v)
            in_headers["SCI"]["V_HELIO"] = (hdr_double(v), "heliocentric radial velocity (km/s)")
        ny, nx = im.sci.shape
        exptime = float(sh["EXPTIME"])
        blz = _blaze_reference(tabs, flux, coords, disp, slit, opt_elem, cenwave, expstart, msm, ap_offset_y)
        for coord0 in coords:
            coord, plate_scale = X.scale_wcs(coord0, ltm, ltv, nx, ny, first_order=first_order, ccd=detector == "CCD")
            ap_offset2 = slit.ap_offset[1] / plate_scale[1]
            ap_offset_y = ap_offset2  # AddOffsets: kept in sts for the next imset's blaze reference
            delta = ap_offset_delta(tabs["APDESTAB"], slit, disp[0].ref_aper, dispaxis)
            trace, rotation = read_trace(
                tabs["SPTRCTAB"], opt_elem, cenwave, coord.sporder, expstart, missing_ok=not first_order
            )
            iac = read_inang(tabs["INANGTAB"], opt_elem, cenwave, coord.sporder, missing_ok=not first_order)
            geo = X.Geometry(coord, disp, trace, iac, slit, delta, ltm, ltv, msm, msm[1] + ap_offset2, hfactor)
            if not trace or iac is None:
                log.warning("Skipping spectral order %d.", coord.sporder)
                continue
            if not first_order and not X.order_on_image(geo, nx, ny):
                log.info("Spectral order %d is outside the image.", coord.sporder)
                continue
            sci, err, dq = X.x2dcorr(im.sci, im.err, im.dq, geo)
            headers = {k: h.copy() for k, h in in_headers.items()}
            headers["SCI"]["SPORDER"] = (coord.sporder, "spectral order number")
            for h in headers.values():
                _put_wcs(h, coord)
            resp_wl = None
            if flux is not None and exptime <= 0.0:
                log.warning("FLUXCORR skipped for imset %d because exptime = %.6g", im.extver, exptime)
            elif flux is not None:
                phot_wl, phot_thru, pcorr, resp_wl = flux.phot_wl, flux.phot_thru, flux.pcorr, None
                if not first_order:
                    row = read_phot_echelle(flux.phottab, opt_elem, cenwave, coord.sporder)
                    if row is None:
                        log.warning("Skipping spectral order %d due to missing row in PHOTTAB.", coord.sporder)
                        continue
                    phot_wl, phot_thru = row["wl"], row["thru"]
                    pcorr = X.splint_nr(*flux.pct, phot_wl) if flux.pct is not None else np.ones(phot_wl.size)
                    if blz is not None and row["blaze"] is not None:
                        wpos, ypos, ddisp = blz
                        b = row["blaze"]
                        bshift = blaze_shift(b, wpos, ypos, ddisp, expstart, expend)
                        resp_wl = phot_wl + bshift * (ddisp * b["mref"]) / coord.sporder
                        log.info("Blaze shift of %g pixels applied to sensitivity curve.", bshift)
                tds = None
                if flux.tds is not None:  # TdsCorrection at the imset's EXPSTART and detector temperature
                    temp = tdsmod.detector_temp(sh, detector)
                    tds = (flux.tds.wl, tdsmod.tds_factors(flux.tds, expstart, temp))
                fr = X.abs_flux(
                    sci,
                    err,
                    dq,
                    coord,
                    phot_wl=phot_wl,
                    phot_thru=phot_thru,
                    resp_wl=resp_wl,
                    pcorr=pcorr,
                    slit_wl=flux.slit_wl,
                    slit_thr=flux.slit_thr,
                    slit_width1=slit.width[0],
                    plate_scale=plate_scale,
                    atodgain=atodgain,
                    exptime=exptime,
                    hfactor=hfactor,
                    tds=tds,
                )
                for ext in ("SCI", "ERR"):
                    headers[ext]["BUNIT"] = (BUNIT_FLUX, "units for flux-calibrated data")
                sh_out = headers["SCI"]
                sh_out["DIFF2PT"] = (hdr_float(fr.diff2pt), "diffuse to point source conversion factor")
                sh_out["CONT2EML"] = (hdr_float(fr.cont2eml), "continuum to emission line conversion factor")
                sh_out["SCALE_A1"] = (hdr_float(fr.scale_a1), "arcsec / pixel in dispersion direction")
                sh_out["OMEGAPIX"] = (hdr_double(fr.omegapix), "pixel area, arcsec^2")
            out = ImSet(sci, err, dq, headers, len(imsets) + 1)
            if statflag:
                _write_stats(out, basic2d.good_stats(sci, err, dq, sdqflags))
            if resp_wl is not None:
                headers["SCI"]["BLZSHIFT"] = (hdr_float(np.float32(bshift)), "Blaze shift (in pixels)")
            imsets.append(out)
            if history is None:  # History7 runs when the first imset is written
                history = _history7(tabs, helcorr, flux, statflag)
            if rotation:
                log.info("trace was rotated by = %.6g degree.", rotation)
        if not imsets:
            raise EngineError("no output written for any order", file=fname, keyword="X2DCORR")
    prim = p.copy()
    prim["X2DCORR"] = "COMPLETE"
    prim["DISPCORR"] = "COMPLETE"
    if helcorr:
        prim["HELCORR"] = "COMPLETE"
    if flux is not None:
        prim["FLUXCORR"] = "COMPLETE"
    for line in history:
        prim.add_history(line)
    return Exposure(primary=prim, imsets=imsets, filename=fname)


def _history7(tabs: dict, helcorr: bool, flux, statflag: bool) -> list[str]:
    """``History7``'s lines (the tables' PEDIGREE/DESCRIP as last read)."""
    h = ff.Header()
    h.add_history("X2DCORR complete ...")
    for key in TABLES:
        tabs[key].history(h)
    if helcorr:
        h.add_history("HELCORR complete")
    if flux is not None:
        h.add_history("FLUXCORR complete ...")
        for tab, note in flux.tables:
            if tab is not None:
                tab.history(h)
            else:
                h.add_history(note)
    if statflag:
        h.add_history("Statistics computed")
    return [str(v) for v in h["HISTORY"]]


def _put_wcs(h: ff.Header, c: X.Coord) -> None:
    """``PutGrpHdr7``: LTV reset, the rectified spectrum's WCS (one-indexed CRPIX)."""
    h["LTV1"] = 0.0
    h["LTV2"] = 0.0
    h["CRPIX1"] = hdr_double(c.crpix[0] + 1.0)
    h["CRPIX2"] = hdr_double(c.crpix[1] + 1.0)
    h["CRVAL1"] = hdr_double(c.crval[0])
    h["CRVAL2"] = hdr_double(c.crval[1])
    h["CD1_1"] = hdr_double(c.cdelt[0])
    h["CD1_2"] = 0.0
    h["CD2_1"] = 0.0
    h["CD2_2"] = hdr_double(c.cdelt[1] * X.ARCSEC_TO_DEGREES)
    h["CUNIT1"] = ("angstrom", "units for first axis coordinates")
