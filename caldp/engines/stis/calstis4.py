"""calstis4 (HSTCAL ``cs4/calstis4.c``, ``wavecal.c``, ``getwcp.c``, ``getlamp.c``, ``getapdes4.c``,
``getgrpinfo4.c``, ``scaleref.c``, ``updateshift.c``, ``history4.c``): the wavecal's shifts for
first-order data, from its 2-D rectified image (cs0.e's ``_w2d_tmp``).

The thin layer: WCPTAB, LAMPTAB and APDESTAB rows, the imset's coordinates and sections, FLAGCR on
a copy of the DQ (calstis4 never writes it back), then :mod:`.waveshift` and :mod:`.spatialshift`;
SHIFTA1/SHIFTA2 (image pixels scaled to reference pixels, -9999 when undefined) go into each SCI
header as calstis4 writes them, WAVECORR=COMPLETE and the history into the primary header.
Echelle and prism wavecals (``EchShift``, prism collapse) are not here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..common.errors import EngineError
from ..common.hstio import Exposure
from ..common.keywords import hdr_double
from ..common.refs import column, is_given
from . import flagcr, spatialshift, waveshift
from .calstis1 import Refs
from .dq import DQ

log = logging.getLogger(__name__)

UNDEFINED_SHIFT = -9999.0
WILDCARD = "ANY"


@dataclass(frozen=True, slots=True)
class WCP:
    """Wavecal parameters (WCPTAB row, or calstis4's defaults without a table)."""

    wl_trim1: int = 0
    wl_trim2: int = 300
    sp_trim1: int = 200
    sp_trim2: int = 0
    wl_range: int = 63
    sp_range: int = 61
    nsigma_cr: float = 3.0
    nsigma_illum: float = 2.0
    mad_reject: float = 3.0
    min_mad: float = 1.0


def _same(rowvalue, value: str) -> bool:
    """``SameString``: equal, or the row says ANY."""
    r = str(rowvalue).strip()
    return r == WILDCARD or r == value


def _row(refs: Refs, keyword: str, match: dict[str, str], seen: dict | None = None):
    """The first row matching `match` (ANY matches anything); `seen` records (table, index) for the history."""
    data, _, _ = refs.table(keyword)
    for i in range(len(data)):
        if all(_same(column(data, k)[i], v) for k, v in match.items() if column(data, k) is not None):
            if seen is not None:
                seen[keyword] = (data, i)
            return data[i]
    raise EngineError(
        "matching row not found (" + ", ".join(f"{k} {v}" for k, v in match.items()) + ")",
        file=refs.primary.get(keyword),
        keyword=keyword,
    )


def read_wcp(refs: Refs, detector: str, opt_elem: str, seen: dict | None = None) -> WCP:
    if not is_given(refs.primary.get("WCPTAB")):
        return WCP()
    r = _row(refs, "WCPTAB", {"DETECTOR": detector, "OPT_ELEM": opt_elem}, seen)
    return WCP(
        int(r["WL_TRIM1"]),
        int(r["WL_TRIM2"]),
        int(r["SP_TRIM1"]),
        int(r["SP_TRIM2"]),
        int(r["WL_RANGE"]),
        int(r["SP_RANGE"]),
        float(r["NSIG_CR"]),
        float(r["NSIG_ILL"]),
        float(r["MAD_REJ"]),
        float(r["MIN_MAD"]),
    )


def read_lamp(refs: Refs, lampset: str, sclamp: str, opt_elem: str, seen: dict | None = None):
    """LAMPTAB: the template as pixel edges (nelem + 1) and fluxes."""
    r = _row(refs, "LAMPTAB", {"LAMPSET": lampset, "SCLAMP": sclamp, "OPT_ELEM": opt_elem}, seen)
    n = int(r["NELEM"])
    wl = np.asarray(r["WAVELENGTH"], np.float64).ravel()
    flux = np.asarray(r["FLUX"], np.float64).ravel()
    if wl.size < n or flux.size < n:
        raise EngineError("Not all elements were read from LAMPTAB.", file=refs.primary["LAMPTAB"], keyword="LAMPTAB")
    return waveshift.lamp_edges(wl[:n], flux[:n])


def read_slit(refs: Refs, aperture: str, seen: dict | None = None):
    """APDESTAB: (WIDTH1, WIDTH2, [(BARkLOCN, BARkWIDTH)…]) of the aperture."""
    r = _row(refs, "APDESTAB", {"APERTURE": aperture}, seen)
    names = r.array.names if hasattr(r, "array") else r.dtype.names
    nbars = int(r["NBARS"]) if "NBARS" in names else 0
    bars = [(float(r[f"BAR{k}LOCN"]), float(r[f"BAR{k}WIDTH"])) for k in range(1, min(nbars, 3) + 1)]
    return float(r["WIDTH1"]), float(r["WIDTH2"]), bars


#: image rows (zero-indexed, inclusive) WaveShift uses for an E1/E2 aperture (``use_e_aperture``)
E_APERTURE_ROWS = (970, 1010)


def calstis4(w2d: Exposure, refs: Refs, *, use_e_aperture: bool = False) -> list[tuple[float, float]]:
    """calstis4 on a rectified first-order wavecal, headers updated in place; returns each imset's
    (SHIFTA1, SHIFTA2) as written (reference pixels, -9999 undefined). `use_e_aperture`: the
    science PROPAPER ends in E1/E2, the dispersion shift comes from rows 971–1011 (one-indexed)."""
    p = w2d.primary
    fname = w2d.filename
    opt_elem = str(p.get("OPT_ELEM", "")).strip()
    if opt_elem == "PRISM" or opt_elem.upper().startswith("E"):
        raise EngineError(
            "echelle and prism wavecals are not supported by the builtin STIS engine yet",
            file=fname,
            keyword="OPT_ELEM",
        )
    detector = str(p.get("DETECTOR", "")).strip()
    aperture = str(p.get("APERTURE", "")).strip()
    for key in ("LAMPSET", "CENWAVE"):
        if key not in p:
            raise EngineError("required keyword missing", file=fname, keyword=key)
    seen: dict = {}
    wcp = read_wcp(refs, detector, opt_elem, seen)
    edges, flux = read_lamp(refs, str(p["LAMPSET"]).strip(), str(p.get("SCLAMP", "")).strip(), opt_elem, seen)
    width1, width2, bars = read_slit(refs, aperture, seen)
    out = []
    for im in w2d.imsets:
        h = im.sci_hdr
        dispaxis = int(h.get("DISPAXIS", 1))
        if dispaxis != 1:
            raise EngineError(f"DISPAXIS = {dispaxis} is not supported", file=fname, keyword="DISPAXIS")
        w_shift = s_shift = None
        if h.get("IMSET_OK", True) is not False:
            sdq = int(h.get("SDQFLAGS", 32767)) & ~(int(DQ.DATAMASKED) | int(DQ.HOTPIX) | int(DQ.SMALLBLEM))
            sdq = int(np.int16(np.uint16(sdq & 0xFFFF)))
            ltm = (float(h.get("LTM1_1", 1.0)), float(h.get("LTM2_2", 1.0)))
            scale = (1.0 / ltm[0], 1.0 / ltm[1])
            crpix = (float(h.get("CRPIX1", 0.0)) - 1.0, float(h.get("CRPIX2", 0.0)) - 1.0)
            crval1 = float(h.get("CRVAL1", 0.0))
            cdelt = (float(h.get("CD1_1", 1.0)), float(h.get("CD2_2", 1.0)))
            ny, nx = im.shape
            wl_cols = waveshift.scale_one(wcp.wl_trim1, scale[0], nx)
            wl_rows = waveshift.scale_one(wcp.wl_trim2, scale[1], ny)
            sp_cols = waveshift.scale_one(wcp.sp_trim1, scale[0], nx)
            sp_rows = waveshift.scale_one(wcp.sp_trim2, scale[1], ny)
            dq = im.dq.copy()
            if detector == "CCD" and sdq & int(DQ.DATAREJECT):
                n = flagcr.flag_cr(
                    im.sci,
                    dq,
                    sdqflags=sdq,
                    nsigma_cr=wcp.nsigma_cr,
                    nsigma_illum=wcp.nsigma_illum,
                    mad_reject=wcp.mad_reject,
                    min_mad=wcp.min_mad,
                )
                log.info("FLAGCR: %d pixels flagged in wavecal imset %d", n, im.extver)
            slitwidth = width1 / (cdelt[1] * (scale[0] / scale[1]) * waveshift.ARCSEC_PER_DEGREE)
            rows_ws = wl_rows
            if use_e_aperture:
                if ny <= E_APERTURE_ROWS[1]:
                    msg = f"E-aperture rows 971-1011 are outside the {ny}-row wavecal"
                    raise EngineError(msg, file=fname, keyword="PROPAPER")
                log.info("Using E aperture location for waveshift determination: rows 970 to 1010")
                rows_ws = E_APERTURE_ROWS
            w_shift = waveshift.wave_shift(
                im.sci,
                dq,
                sdqflags=sdq,
                cols=wl_cols,
                rows=rows_ws,
                crpix=crpix[0],
                crval=crval1,
                cdelt=cdelt[0],
                slitwidth=slitwidth,
                edges=edges,
                flux=flux,
                wl_range=wcp.wl_range,
            )
            kind = spatialshift.which_slit(aperture, dispaxis)
            v, qv = spatialshift.slit_profile(im.sci, dq, sdq, sp_cols, sp_rows, wl_rows)
            if kind == spatialshift.SHORT_ECHELLE_SLIT:
                s_shift = spatialshift.xc_echelle(v, qv, width2, crpix[1], cdelt[1], wcp.sp_range, sdq)
            elif kind == spatialshift.MEDIUM_ECHELLE_SLIT:
                s_shift = spatialshift.find_ends(v, qv, width2, crpix[1], cdelt[1], wcp.sp_range)
            elif kind != spatialshift.LONG_SLIT:
                log.warning("Aperture `%s' is not supported for a wavecal.", aperture)
            elif bars:
                s_shift, _ = spatialshift.find_bars(v, qv, bars, crpix[1], cdelt[1], wcp.sp_range)
            else:
                log.warning(
                    "Aperture `%s' has no occulting bars, and without them we can't find the shift in the "
                    "spatial direction.",
                    aperture,
                )
        else:
            log.warning("wavecal imset %d skipped (IMSET_OK = F)", im.extver)
            scale = (1.0, 1.0)
        if w_shift is None:
            log.warning("Shift in dispersion direction could not be determined.")
        else:
            log.info("Shift in dispersion direction is %.3f pixels.", w_shift)
        if s_shift is None:
            log.warning("Shift in spatial direction could not be determined.")
        else:
            log.info("Shift in spatial direction is %.3f pixels.", s_shift)
        a1 = UNDEFINED_SHIFT if w_shift is None else w_shift * scale[0]
        a2 = UNDEFINED_SHIFT if s_shift is None else s_shift * scale[1]
        h["SHIFTA1"] = (hdr_double(a1), "MSM shift in dispersion direction")
        h["SHIFTA2"] = (hdr_double(a2), "MSM shift in spatial direction")
        out.append((hdr_double(a1), hdr_double(a2)))
    p["WAVECORR"] = "COMPLETE"
    p.add_history("WAVECORR complete ...")
    for key in ("WCPTAB", "LAMPTAB", "APDESTAB"):
        if key == "WCPTAB" and not is_given(p.get(key)):
            continue
        tab_history(p, refs, key, seen.get(key))
    return out


def tab_history(primary, refs: Refs, keyword: str, row=None) -> None:
    """``TabHistory`` after ``RowPedigree``: the table's name, the matched row's PEDIGREE (else the
    header's), the header's DESCRIP and the row's DESCRIP, each when not blank."""
    rprim = refs.primary_header(keyword)
    pedigree = str(rprim.get("PEDIGREE", "")).strip()
    descrip2 = ""
    data, i = row if row is not None else (None, None)
    if data is not None:
        ped, desc = column(data, "PEDIGREE"), column(data, "DESCRIP")
        if ped is not None:
            pedigree = str(ped[i]).strip()
        if desc is not None:
            descrip2 = str(desc[i]).strip()
    primary.add_history(f"  reference table {refs.primary[keyword]}")
    for text in (pedigree, str(rprim.get("DESCRIP", "")).strip(), descrip2):
        if text:
            primary.add_history(f"    {text}")
