"""The time-dependent sensitivity of spectroscopic FLUXCORR (HSTCAL ``lib/gettds.c`` GetTds,
``lib/tdscorrect.c`` TdsCorrection, ``lib/getdettemp.c`` GetDetTemp), as calstis7's ``AbsFlux``
and calstis6's ``AbsFlux6`` use it.

TDSTAB has one row per OPT_ELEM: WAVELENGTH (NWL), TIME (NT, MJD), SLOPE (NT × NWL, percent per
year, wavelength the faster axis: the C steps through the flattened cell by the first TDIM axis),
optional REFTEMP/TEMPSENS, and in the newer ("COS-like") format INTERCEPT with REF_TIME in the table
header. A table without TIME, SLOPE, NWL or NT is refused ("Column not found in TDSTAB", as the
imaging-only TDSTAB of calstis1 is); no row for OPT_ELEM leaves the correction out (a warning);
a DUMMY row pedigree too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..common.errors import EngineError

log = logging.getLogger(__name__)

DAYS_PER_YEAR = 365.25
BEGIN_SIDE2 = 52091.0  # MJD: before it the CCD housing temperature is not used
TEMPERATURE_KEY = {"CCD": "OCCDHTAV", "FUV-MAMA": "OM1CAT", "NUV-MAMA": "OM2CAT"}


@dataclass(slots=True)
class Tds:
    """One TDSTAB row as GetTds keeps it (``TdsInfo``)."""

    wl: np.ndarray  # (nwl,)
    time: np.ndarray  # (nt,)
    slope: np.ndarray  # (nt, nwl)
    intercept: np.ndarray | None  # (nt, nwl) for the COS-like format, else None
    ref_time: float
    ref_temp: float  # -1 when REFTEMP/TEMPSENS are absent
    temp_sens: np.ndarray  # (nwl,), zeros when absent
    row: int  # zero-indexed table row (for its PEDIGREE/DESCRIP)


def _cells(values, row: int, nrows: int, count: int, dim0: int, name: str, table: str) -> np.ndarray:
    """`nrows` runs of `count` doubles from the cell of `row`, each starting `dim0` after the last
    (``c_tbagtd`` with a first element advanced by the first TDIM axis)."""
    flat = np.asarray(values[row], np.float64).ravel()
    out = np.empty((nrows, count))
    for i in range(nrows):
        seg = flat[i * dim0 : i * dim0 + count]
        if seg.size < count:
            raise EngineError(f"Not all values were read from TDSTAB ({name})", file=table, keyword="TDSTAB")
        out[i] = seg
    return out


def read_tds(t, hdr, opt_elem: str) -> Tds | None:
    """``GetTds``: the (last) row whose OPT_ELEM matches, None when there is none or its pedigree is
    DUMMY. `t` is an :class:`.x2d_io._Table` of TDSTAB, `hdr` its table header (REF_TIME)."""
    for col in ("WAVELENGTH", "TIME", "SLOPE", "NWL", "NT"):
        if t.col(col, required=False) is None:
            raise EngineError("Column not found in TDSTAB", file=t.name, keyword="TDSTAB")
    reftemp, tempsens = t.col("REFTEMP", required=False), t.col("TEMPSENS", required=False)
    if reftemp is None or tempsens is None:
        log.warning("Column REFTEMP or TEMPSENS not found in %s;", t.name)
        log.warning("no temperature correction applied to sensitivity")
    intercept = t.col("INTERCEPT", required=False)
    cos_format = intercept is not None and "REF_TIME" in hdr
    opt = t.col("OPT_ELEM")
    found = None
    for r in range(t.nrows()):  # GetTds reads every matching row; the last one stays
        row_opt = str(opt[r]).strip()
        if row_opt == "ANY" or row_opt == opt_elem.strip():  # SameString: case-sensitive, ANY a wildcard
            ped = t.col("PEDIGREE", required=False)
            if ped is not None and str(ped[r]).strip().upper().startswith("DUMMY"):
                return None
            found = r
    if found is None:
        log.warning("Matching row not found in TDSTAB %s", t.name)
        log.warning("OPT_ELEM %s", opt_elem)
        log.warning("Skipping TDS correction.")
        return None
    r = found
    nwl, nt = int(t.col("NWL")[r]), int(t.col("NT")[r])
    wl = _cells(t.col("WAVELENGTH"), r, 1, nwl, nwl, "WAVELENGTH", t.name)[0]
    time = _cells(t.col("TIME"), r, 1, nt, nt, "TIME", t.name)[0]
    slope_cell = np.asarray(t.col("SLOPE")[r])
    dim0 = slope_cell.shape[-1] if slope_cell.ndim >= 1 else 1  # TDIM's first axis (astropy's last)
    slope = _cells(t.col("SLOPE"), r, nt, nwl, dim0, "SLOPE", t.name)
    icpt = _cells(intercept, r, nt, nwl, dim0, "INTERCEPT", t.name) if intercept is not None else None
    if reftemp is None or tempsens is None:
        ref_temp, sens = -1.0, np.zeros(nwl)
    else:
        ref_temp = float(reftemp[r])
        sens = _cells(tempsens, r, 1, nwl, nwl, "TEMPSENS", t.name)[0]
    ref_time = float(hdr["REF_TIME"]) if cos_format else 0.0
    return Tds(wl, time, slope, icpt if cos_format else None, ref_time, ref_temp, sens, r)


def tds_factors(tds: Tds, t: float, temperature: float) -> np.ndarray:
    """``TdsCorrection``: the sensitivity factor at each of the row's wavelengths for an exposure
    starting at MJD `t` with detector temperature `temperature` (°C; ≤ 0: no temperature term).

    Original STIS format: 1 plus each linear segment's slope (percent per year) times the days spent
    in it up to `t` (the last segment open-ended). COS-like format: the interval holding `t` (the last
    one from its start on), ``(t − REF_TIME)/365.25 · slope/100 + intercept``."""
    nt = tds.time.size
    if tds.intercept is not None:
        if nt == 1 or t >= tds.time[nt - 1]:
            j = nt - 1
        else:
            j = next(k for k in range(nt - 1) if t < tds.time[k + 1])
        delta_t = (t - tds.ref_time) / DAYS_PER_YEAR
        factor = delta_t * tds.slope[j] / 100.0 + tds.intercept[j]
    else:
        factor = np.ones(tds.wl.size)
        for j in range(nt):  # each wavelength ends in the segment holding t (the same for all)
            slope_j = tds.slope[j] / DAYS_PER_YEAR / 100.0
            if j == nt - 1 or t <= tds.time[j + 1]:
                factor = factor + (t - tds.time[j]) * slope_j
                break
            factor = factor + (tds.time[j + 1] - tds.time[j]) * slope_j
    if tds.ref_temp > 0.0 and temperature > 0.0:
        factor = factor * (1.0 + tds.temp_sens * (temperature - tds.ref_temp))
    return factor


def detector_temp(sci_hdr, detector: str) -> float:
    """``GetDetTemp``: OM1CAT (FUV-MAMA), OM2CAT (NUV-MAMA) or OCCDHTAV (CCD from side 2 on) of the
    imset's SCI header; −1 when missing (then no temperature term)."""
    detector = str(detector).strip().upper()
    if detector == "CCD" and float(sci_hdr.get("EXPSTART", -1.0)) < BEGIN_SIDE2:
        return -1.0
    key = TEMPERATURE_KEY.get(detector)
    if key is None:
        return -1.0
    if key not in sci_hdr:
        log.warning("keyword %s not found; no temperature correction applied to sensitivity.", key)
        return -1.0
    return float(sci_hdr[key])
