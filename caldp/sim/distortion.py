"""Synthetic distortion references and the distorted star positions that go with them.

What stage 2 reads on archive data (stwcs ``updatewcs`` inside ``runastrodriz``), as CRDS assigns
it per detector (``crds/hst/specs/*_{idctab,npolfile,d2imfile,dgeofile}.spec``):

=========  =======  ========  ========  ========
detector   IDCTAB   NPOLFILE  D2IMFILE  DGEOFILE
=========  =======  ========  ========  ========
ACS/WFC    yes      yes       yes       yes
ACS/HRC    yes      yes       –         yes
WFC3/UVIS  yes      yes       yes       (no type)
WFC3/IR    yes      – (UVIS)  – (UVIS)  (no type)
=========  =======  ========  ========  ========

Formats, as stwcs 1.7 reads them (``distortion/mutil.readIDCtab``, ``updatewcs/npol.py``,
``updatewcs/det2im.py``) and as the certify templates (``crds/hst/tpns``) list them:

- IDCTAB: primary ``NORDER`` (4); one FORWARD row per chip and filter (``DETCHIP``, ``DIRECTION``,
  ``FILTER1``/``FILTER2`` for ACS or ``FILTER`` for WFC3, ``XSIZE``, ``YSIZE``, ``XREF``, ``YREF``,
  ``V2REF``, ``V3REF``, ``SCALE``, ``THETA``, ``CX10`` … ``CY44``) with
  ``X = Σ CXij · x^j · y^(i−j)`` arcsec, x/y relative to (XREF, YREF). ACS/WFC tables carry the
  2015-style time-dependent skew keywords (``TDD_DATE``, ``TDD_CTA1`` …) in the primary header.
- NPOLFILE: ``DX``/``DY`` image extensions per chip (``CCDCHIP``; EXTVER 2·k−1, 2·k) on a
  coarse grid (``CDELTn`` = 64 or 32 pixels, ``CRPIXn`` = ``CRVALn`` = 0), residuals in pixels.
- D2IMFILE: one ``DX`` extension per chip on the same kind of grid (the layout of the real
  WFC3 D2IMARR in astropy's ``ie6d07ujq_wcs.fits``).
- DGEOFILE (ACS): the old full-chip ``DX``/``DY`` images. No current software reads it for ACS
  (stwcs and drizzlepac use NPOLFILE); written as HSTIO constant extensions (0 px) of the chip size.

The distortion is strong enough to matter: the polynomial moves corner pixels by ~10–20 px
(WFC: ~15 px) from the linear WCS, the lookup tables add ±0.15 px and ±0.1 px.

Star positions: :func:`solve_exposure` builds, per exposure, the ``_flt`` headers stage 1 will
write (trimmed size, LTV, CCDCHIP, PA_V3, the references as absolute paths) and runs stwcs's own
``updatewcs`` on them in memory, with PA_V3 chosen so that the reference chip's orientation is
the pointing's. The stars are then placed with that WCS (``all_world2pix``: SIP, NPOL and D2IM);
the raw SCI headers get its linear part as the OPUS WCS (CRPIX = the model's reference pixel
plus LTV), which ``updatewcs`` maps back to the same solution (a fixed point). Stage 2 therefore
puts the stars on the truth only if it finds and applies the whole distortion model.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .fitsutil import F32, null_extension, table

log = logging.getLogger(__name__)

NORDER = 4
#: (ACS FILTER1, FILTER2) or WFC3 FILTER of the simulated exposures (acs.py, wfc3.py, ir.py)
FILTERS = {"WFC": ("F606W", "CLEAR2L"), "HRC": ("F606W", "CLEAR2L"), "UVIS": ("F606W",), "IR": ("F160W",)}
#: CRDS reference types per detector (the table above)
TYPES = {
    "WFC": ("IDCTAB", "NPOLFILE", "D2IMFILE", "DGEOFILE"),
    "HRC": ("IDCTAB", "NPOLFILE", "DGEOFILE"),
    "UVIS": ("IDCTAB", "NPOLFILE", "D2IMFILE"),
    "IR": ("IDCTAB",),
}


@dataclass(frozen=True, slots=True)
class ChipModel:
    """IDCTAB row of one chip (full-chip pixels; V2REF/V3REF arcsec)."""

    ccdchip: int
    xsize: int
    ysize: int
    xref: float
    yref: float
    v2ref: float
    v3ref: float


@dataclass(frozen=True, slots=True)
class DetectorModel:
    instrument: str
    detector: str
    scale: float  # arcsec / pixel (IDCTAB SCALE)
    chips: tuple[ChipModel, ...]
    grid: int  # NPOLFILE / D2IMFILE cell size (pixels)

    def chip(self, ccdchip: int) -> ChipModel:
        return {c.ccdchip: c for c in self.chips}[ccdchip]


# Chip 1 sits above the reference chip 2 in the simulator's focal plane (geometry.py): 2098 px
# (ACS/WFC) and 2086 px (UVIS) between the reference pixels. stwcs's MakeWCS places a chip at
# off·(sin θ, cos θ) reference pixels from the reference chip, θ = atan2(p₁₁·ΔV2, p₂₂·ΔV3)
# with the detector's parity p (WFC p₂₂ = −1, UVIS +1), so ΔV2 = 0 and ΔV3 = ∓ offset·scale.
MODELS = {
    "WFC": DetectorModel(
        "acs",
        "WFC",
        0.05,
        (
            ChipModel(1, 4096, 2048, 2048.0, 1024.0, 256.6, 302.2 - 2098 * 0.05),
            ChipModel(2, 4096, 2048, 2048.0, 1024.0, 256.6, 302.2),
        ),
        64,
    ),
    "HRC": DetectorModel("acs", "HRC", 0.025, (ChipModel(1, 1024, 1024, 512.0, 512.0, 206.0, 471.0),), 32),
    "UVIS": DetectorModel(
        "wfc3",
        "UVIS",
        0.0396,
        (
            ChipModel(1, 4096, 2051, 2048.0, 1026.0, -27.5, -120.0 + 2086 * 0.0396),
            ChipModel(2, 4096, 2051, 2048.0, 1026.0, -27.5, -120.0),
        ),
        64,
    ),
    "IR": DetectorModel("wfc3", "IR", 0.1283, (ChipModel(1, 1014, 1014, 507.0, 507.0, -1.6, -1.2),), 32),
}

#: non-linear polynomial terms: (order i, power of x j) -> displacement in pixels at x = y = R
#: (R = half the chip's larger side); X gets _DX, Y gets _DY; chip 2 mirrors a few signs.
_DX = {(2, 2): 6.0, (2, 1): -3.0, (2, 0): 2.5, (3, 3): 0.8, (3, 1): -0.5, (3, 0): 0.3, (4, 4): 0.2, (4, 2): -0.1}
_DY = {(2, 2): -2.0, (2, 1): 4.0, (2, 0): -5.0, (3, 2): 0.6, (3, 0): -0.7, (3, 3): 0.2, (4, 0): 0.15, (4, 1): 0.1}


def coefficients(model: DetectorModel, chip: ChipModel) -> tuple[np.ndarray, np.ndarray]:
    """(CX, CY) of a chip, ``[i, j]`` = coefficient of x^j y^(i−j) in arcsec (i ≤ NORDER)."""
    s = model.scale
    r = 0.5 * max(chip.xsize, chip.ysize)
    cx = np.zeros((NORDER + 1, NORDER + 1))
    cy = np.zeros((NORDER + 1, NORDER + 1))
    sign = 1.0 if chip.ccdchip == 1 else -1.0
    cx[1, 1] = s * 1.0012  # X ≈ s·x with a small scale difference and skew (non-square pixels)
    cx[1, 0] = s * 0.0021
    cy[1, 0] = s * 0.9991
    cy[1, 1] = s * -0.0014
    for (i, j), d in _DX.items():
        cx[i, j] = s * d * (sign if j % 2 else 1.0) / r**i
    for (i, j), d in _DY.items():
        cy[i, j] = s * d * (sign if (i - j) % 2 else 1.0) / r**i
    return cx, cy


def _filter_columns(model: DetectorModel, n: int) -> dict:
    f = FILTERS[model.detector]
    if model.instrument == "acs":
        return {"FILTER1": ("8A", [f[0]] * n), "FILTER2": ("8A", [f[1]] * n)}
    return {"FILTER": ("8A", [f[0]] * n)}


def _filter_cards(model: DetectorModel) -> dict:
    f = FILTERS[model.detector]
    if model.instrument == "acs":
        return {"FILTER1": f[0], "FILTER2": f[1]}
    return {"FILTER": f[0]}


def idctab_hdus(model: DetectorModel) -> list:
    """The IDCTAB table (FORWARD rows) of `model`; its primary cards come from :func:`idctab_cards`."""
    rows = model.chips
    n = len(rows)
    cols = {
        "DETCHIP": ("J", [c.ccdchip for c in rows]),
        "DIRECTION": ("8A", ["FORWARD"] * n),
        **_filter_columns(model, n),
        "XSIZE": ("J", [c.xsize for c in rows]),
        "YSIZE": ("J", [c.ysize for c in rows]),
        "XREF": ("D", [c.xref for c in rows]),
        "YREF": ("D", [c.yref for c in rows]),
        "V2REF": ("D", [c.v2ref for c in rows]),
        "V3REF": ("D", [c.v3ref for c in rows]),
        "SCALE": ("D", [model.scale] * n),
        "THETA": ("D", [0.0] * n),
    }
    coeffs = [coefficients(model, c) for c in rows]
    for name, k in (("CX", 0), ("CY", 1)):
        for i in range(1, NORDER + 1):
            for j in range(i + 1):
                cols[f"{name}{i}{j}"] = ("D", [float(cc[k][i, j]) for cc in coeffs])
    return [table(cols)]


def idctab_cards(model: DetectorModel) -> dict:
    cards = {"NORDER": NORDER}
    if model.detector == "WFC":  # 2015-calibrated TDD (stwcs mutil.read_tdd_coeffs), small rates
        cards["TDD_DATE"] = 2004.5
        for chip in (1, 2):
            cards.update(
                {
                    f"TDD_CTA{chip}": 0.0,
                    f"TDD_CTB{chip}": 1.5e-7,
                    f"TDD_CYA{chip}": 0.0,
                    f"TDD_CYB{chip}": -1.0e-7,
                    f"TDD_CXA{chip}": 0.0,
                    f"TDD_CXB{chip}": 0.5e-7,
                }
            )
    return cards


def _grid_shape(model: DetectorModel, chip: ChipModel) -> tuple[int, int]:
    return chip.ysize // model.grid + 1, chip.xsize // model.grid + 1


def _grid_cards(model: DetectorModel, chip: ChipModel, extname: str, extver: int) -> dict:
    return {
        "EXTNAME": extname,
        "EXTVER": extver,
        "CCDCHIP": chip.ccdchip,
        "CRPIX1": 0.0,
        "CRPIX2": 0.0,
        "CRVAL1": 0.0,
        "CRVAL2": 0.0,
        "CDELT1": float(model.grid),
        "CDELT2": float(model.grid),
        "ONAXIS1": chip.xsize,
        "ONAXIS2": chip.ysize,
    }


def _image(data: np.ndarray, cards: dict):
    from astropy.io import fits

    hdu = fits.ImageHDU(data=np.ascontiguousarray(data, dtype=F32))
    for k, v in cards.items():
        hdu.header[k] = v
    return hdu


def npolfile_hdus(model: DetectorModel) -> list:
    """DX, DY residual grids (pixels, ±0.15) per chip: smooth, different per chip and axis."""
    hdus = []
    for k, chip in enumerate(model.chips):
        ny, nx = _grid_shape(model, chip)
        v, u = np.mgrid[0:ny, 0:nx] / np.array([ny - 1, nx - 1])[:, None, None]
        phase = 0.7 * chip.ccdchip
        dx = 0.15 * np.sin(2 * np.pi * (1.3 * u + phase)) * np.cos(2 * np.pi * 0.8 * v)
        dy = 0.12 * np.cos(2 * np.pi * (0.9 * u - phase)) * np.sin(2 * np.pi * 1.1 * v + 0.4)
        hdus.append(_image(dx, _grid_cards(model, chip, "DX", 2 * k + 1)))
        hdus.append(_image(dy, _grid_cards(model, chip, "DY", 2 * k + 2)))
    return hdus


def d2imfile_hdus(model: DetectorModel) -> list:
    """DX column corrections (pixels, ±0.1; constant along y) per chip."""
    hdus = []
    for k, chip in enumerate(model.chips):
        ny, nx = _grid_shape(model, chip)
        u = np.arange(nx) / (nx - 1)
        dx = np.broadcast_to(0.1 * np.sin(2 * np.pi * (2.5 * u + 0.3 * chip.ccdchip)), (ny, nx))
        hdus.append(_image(dx, _grid_cards(model, chip, "DX", k + 1)))
    return hdus


def dgeofile_hdus(model: DetectorModel) -> list:
    """Old-style full-chip DX, DY (0 px) per chip as HSTIO constant extensions."""
    hdus = []
    for k, chip in enumerate(model.chips):
        for name, ver in (("DX", 2 * k + 1), ("DY", 2 * k + 2)):
            hdus.append(null_extension(name, ver, (chip.ysize, chip.xsize), 0.0, {"CCDCHIP": chip.ccdchip}))
    return hdus


def write_references(refs_out, detector: str) -> None:
    """Write the detector's distortion references through `refs_out` (a ``builders.RefWriter``);
    their names go into ``refs_out.refkw`` (and so into the raw headers and the CRDS rmaps)."""
    model = MODELS[detector]
    filt = _filter_cards(model)
    optical = {"OBSTYPE": "IMAGING", **filt}
    if "IDCTAB" in TYPES[detector]:
        refs_out.refkw["IDCTAB"] = refs_out.add(
            "idctab", "idc", "DISTORTION COEFFICIENTS", idctab_hdus(model), **idctab_cards(model)
        )
    if "NPOLFILE" in TYPES[detector]:
        refs_out.refkw["NPOLFILE"] = refs_out.add("npolfile", "npl", "DXY GRID", npolfile_hdus(model), filt, **optical)
    if "D2IMFILE" in TYPES[detector]:
        refs_out.refkw["D2IMFILE"] = refs_out.add("d2imfile", "d2i", f"{detector} D2I FILE", d2imfile_hdus(model), None)
    if "DGEOFILE" in TYPES[detector]:
        refs_out.refkw["DGEOFILE"] = refs_out.add(
            "dgeofile", "dxy", "DISTORTION CORRECTION", dgeofile_hdus(model), filt, **optical
        )


# ---------------------------------------------------------------------------- star positions


@dataclass(slots=True)
class ChipSolution:
    wcs: object  # stwcs HSTWCS of the chip's _flt (SIP + NPOL + D2IM)
    cards: dict  # raw SCI-header WCS cards (the linear part: OPUS WCS)

    def star_pixels(self, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """0-based ``_flt`` (trimmed science grid) pixel of every star."""
        x, y = self.wcs.all_world2pix(ra, dec, 0, tolerance=1e-6, maxiter=50, adaptive=True, quiet=True)
        return np.asarray(x), np.asarray(y)


@dataclass(slots=True)
class ExposureSolution:
    pa_v3: float
    chips: list[ChipSolution]


def _flt_ltv(chip) -> tuple[float, float]:
    ltv1, ltv2 = chip.ltv
    return ltv1 - chip.trimx[0], ltv2 - chip.trimy[0]


def _flt_hdulist(model, primary: dict, chips, pointing, origins, pa_v3: float):
    """In-memory ``_flt`` headers (no pixels) as stage 1 writes them, OPUS WCS from `pointing`."""
    from astropy.io import fits

    ph = fits.PrimaryHDU()
    for k, v in {**primary, "PA_V3": pa_v3}.items():
        ph.header[k] = v
    hdus = [ph]
    for chip, origin in zip(chips, origins, strict=True):
        cm = model.chip(chip.ccdchip)
        ltv1, ltv2 = _flt_ltv(chip)
        crpix = (cm.xref + ltv1, cm.yref + ltv2)
        w = pointing.wcs(origin)
        crval = w.wcs_pix2world([crpix], 1)[0]
        cd = pointing.cd()
        sy, sx = chip.sci_shape
        hdu = fits.ImageHDU(data=np.broadcast_to(np.uint8(0), (sy, sx)))
        cards = {
            "EXTNAME": "SCI",
            "EXTVER": chip.extver,
            "CCDCHIP": chip.ccdchip,
            "LTV1": ltv1,
            "LTV2": ltv2,
            "LTM1_1": 1.0,
            "LTM2_2": 1.0,
            "WCSAXES": 2,
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CRPIX1": crpix[0],
            "CRPIX2": crpix[1],
            "CRVAL1": float(crval[0]),
            "CRVAL2": float(crval[1]),
            "CD1_1": float(cd[0, 0]),
            "CD1_2": float(cd[0, 1]),
            "CD2_1": float(cd[1, 0]),
            "CD2_2": float(cd[1, 1]),
            "VAFACTOR": 1.0,
        }
        for k, v in cards.items():
            hdu.header[k] = v
        hdus.append(hdu)
    return fits.HDUList(hdus)


def _ref_index(hdul) -> int:
    """The reference chip's extension, as stwcs's ``getNrefchip`` picks it (CCDCHIP 2 if present)."""
    scis = [i for i in range(1, len(hdul)) if hdul[i].header.get("EXTNAME") == "SCI"]
    for i in scis:
        if hdul[0].header["DETECTOR"] in ("WFC", "UVIS") and hdul[i].header["CCDCHIP"] == 2:
            return i
    return scis[0]


def _update(hdul):
    """stwcs updatewcs on the in-memory headers (its console output discarded); the HSTWCS of each SCI."""
    from stwcs import updatewcs
    from stwcs.wcsutil import HSTWCS

    with contextlib.redirect_stdout(io.StringIO()):
        updatewcs.updatewcs([hdul], checkfiles=False, use_db=False)
    return [(i, HSTWCS(fobj=hdul, ext=i)) for i in range(1, len(hdul)) if hdul[i].header.get("EXTNAME") == "SCI"]


def _orientat(cd) -> float:
    return math.degrees(math.atan2(cd[0, 1], cd[1, 1]))


def solve_exposure(
    detector: str, refdir: Path, refkw: dict, primary: dict, chips, pointing, origins
) -> ExposureSolution:
    """The distorted WCS of every chip of one exposure (see the module docstring).

    `refkw`: the raw-header reference values (``jref$name``); `primary`: INSTRUME, DETECTOR,
    DATE-OBS, TIME-OBS, EXPSTART and the filter keywords; `chips`/`origins`: the simulated chips
    and the focal-plane position of each trimmed origin.
    """
    model = MODELS[detector]
    refs = {k: str(Path(refdir) / refkw[k].split("$", 1)[1]) for k in TYPES[detector]}
    # ASN_MTYP: stwcs records its version after it (its other branch fails on a header without HISTORY)
    head = {**primary, **_filter_cards(model), **refs, "DRIZCORR": "PERFORM", "ASN_MTYP": "N/A", "ROOTNAME": "SIMDIST"}
    for k in ("IDCTAB", "NPOLFILE", "D2IMFILE"):
        head.setdefault(k, "N/A")
    pa_v3 = float(pointing.orient) % 360.0
    for _ in range(3):  # orientation of the reference chip = the pointing's (converges in one step)
        hdul = _flt_hdulist(model, head, chips, pointing, origins, pa_v3)
        solved = dict(_update(hdul))
        ref = solved[_ref_index(hdul)]
        delta = (float(pointing.orient) - _orientat(ref.wcs.cd) + 180.0) % 360.0 - 180.0
        if abs(delta) < 1e-7:
            break
        pa_v3 = (pa_v3 + delta) % 360.0
    out = []
    for i, chip in enumerate(chips, start=1):
        hw = solved[i]
        cd = hw.wcs.cd
        cards = {
            "WCSAXES": 2,
            "CRPIX1": float(hw.wcs.crpix[0] + chip.trimx[0]),
            "CRPIX2": float(hw.wcs.crpix[1] + chip.trimy[0]),
            "CRVAL1": float(hw.wcs.crval[0]),
            "CRVAL2": float(hw.wcs.crval[1]),
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CD1_1": float(cd[0, 0]),
            "CD1_2": float(cd[0, 1]),
            "CD2_1": float(cd[1, 0]),
            "CD2_2": float(cd[1, 1]),
            "ORIENTAT": _orientat(cd),
            "WCSNAME": "OPUS",
            "VAFACTOR": 1.0,
        }
        out.append(ChipSolution(hw, cards))
    log.debug("distortion solution %s: PA_V3 %.6f", detector, pa_v3)
    return ExposureSolution(pa_v3, out)
