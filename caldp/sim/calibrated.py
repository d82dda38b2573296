"""Calibrated ACS/WFC exposures written directly: stage 2's inputs without running stage 1.

:func:`make_flt_association` writes a tiny dithered association as calacs would leave it: per
exposure a ``_raw`` (primary header only, carrying DRIZCORR and MDRIZTAB), an ``_flt`` (and with
`flc` its CTE-corrected twin, here the same pixels) with two chips (``SCI,1`` = WFC2 below
``SCI,2`` = WFC1), a tangent-plane WCS per chip (no distortion: IDCTAB N/A), Gaussian stars at
known RA/Dec, one cosmic ray and a bad row per chip; the ``_asn`` table and the MDRIZTAB in
``workdir/ref`` (``jref``). The chips are `nx` × `ny` pixels: drizzle tests stay fast.

>>> x, y = separated_positions(np.random.default_rng(1), 4, 64, 48)
>>> bool(np.hypot(x[2] - x[0], y[2] - y[0]) >= 10.0), bool((x >= 12).all() and (y <= 36).all())
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .fitsutil import image_extension, primary, write
from .products import write_asn
from .reftables import mdriztab_hdu
from .scene import Pointing, render_points

SCALE = 0.05  # arcsec / pixel
RA0, DEC0 = 150.1, 2.2
ASN_ID = "jsyn01010"
MDRIZTAB = "synth_mdz.fits"


@dataclass(frozen=True, slots=True)
class FltAssociation:
    workdir: Path
    asn: str  # association file name
    product: str  # product rootname (lower case)
    members: tuple[str, ...]  # member rootnames
    stars: np.ndarray  # (n, 2) RA, Dec in degrees
    env: dict[str, str]


def _origins(ny: int) -> dict[int, tuple[float, float]]:
    """Focal-plane origin of each chip (CCDCHIP → (x, y)): WFC1 directly above WFC2."""
    return {2: (0.0, 0.0), 1: (0.0, float(ny))}


def separated_positions(
    rng: np.random.Generator, n: int, nx: int, ny: int, margin: float = 12.0, min_sep: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """`n` positions inside the margins, pairs on the same chip (same index parity) >= `min_sep` apart."""
    cand = rng.uniform([margin, margin], [nx - margin, ny - margin], (50 * n, 2))
    chosen: list[np.ndarray] = []
    for c in cand:
        same_chip = chosen[len(chosen) % 2 :: 2]
        if all(np.hypot(*(c - o)) >= min_sep for o in same_chip):
            chosen.append(c)
        if len(chosen) == n:
            break
    pos = np.array(chosen)
    return pos[:, 0], pos[:, 1]


def primary_cards(root: str, drizcorr: str) -> dict:
    """Primary header of a calibrated exposure (what runastrodriz and stage 2 read)."""
    return {
        "TELESCOP": "HST",
        "INSTRUME": "ACS",
        "DETECTOR": "WFC",
        "ROOTNAME": root,
        "ASN_ID": ASN_ID.upper(),
        "ASN_TAB": f"{ASN_ID}_asn.fits",
        "ASN_MTYP": "EXP-DTH",  # also where stwcs's updatewcs puts UPWCSVER (else after the last string card)
        "FILTER1": "F606W",
        "FILTER2": "CLEAR2L",
        "OBSTYPE": "IMAGING",
        "OBSMODE": "ACCUM",
        "EXPTIME": 100.0,
        "EXPSTART": 60000.1,
        "EXPEND": 60000.1012,
        "DATE-OBS": "2023-02-25",
        "TIME-OBS": "02:24:00",
        "RA_TARG": RA0,
        "DEC_TARG": DEC0,
        "PA_V3": 0.0,
        "CCDGAIN": 2.0,
        "CCDAMP": "ABCD",
        **{f"ATODGN{a}": 2.0 for a in "ABCD"},
        **{f"READNSE{a}": 4.0 for a in "ABCD"},
        "MEANDARK": 0.0,
        "SUBARRAY": False,
        "DRIZCORR": drizcorr,
        "MDRIZTAB": f"jref${MDRIZTAB}",
        "IDCTAB": "N/A",
        "NPOLFILE": "N/A",
        "D2IMFILE": "N/A",
        "DGEOFILE": "N/A",
        "FLASHDUR": 0.0,
        "SHUTRPOS": "A",
        "PHOTMODE": "ACS WFC1 F606W",
    }


def make_flt_association(
    workdir: Path,
    *,
    nx: int = 128,
    ny: int = 64,
    nstars: int = 12,
    seed: int = 1,
    drizcorr: str = "PERFORM",
    dithers: tuple[tuple[float, float], ...] = ((0.0, 0.0), (2.5, 1.5)),
    flc: bool = False,
) -> FltAssociation:
    """Write the association into `workdir` (and ``workdir/ref/`` for jref) and return its description.

    `dithers`: per exposure, the sky's shift in pixels; stars alternate between the chips of the
    undithered pointing, away from the edges and from each other."""
    rng = np.random.default_rng(seed)
    workdir = Path(workdir)
    refdir = workdir / "ref"
    write([primary({}), mdriztab_hdu()], refdir / MDRIZTAB)
    members = tuple(f"jsyn01{c}q" for c in ("abc", "abd")[: len(dithers)])
    base = Pointing((RA0, DEC0), (nx / 2.0 + 0.5, ny + 0.5), SCALE, 0.0)
    origins = _origins(ny)
    xs, ys = separated_positions(rng, nstars, nx, ny)
    onchip1 = np.arange(nstars) % 2 == 0
    ra, dec = base.wcs((0.0, 0.0)).all_pix2world(xs, np.where(onchip1, ys + ny, ys), 0)
    stars = np.column_stack([ra, dec])
    flux = rng.uniform(3e3, 3e4, nstars)
    for root, (dx, dy) in zip(members, dithers, strict=True):
        pointing = base.shifted(-dx, -dy)
        cards = primary_cards(root, drizcorr)
        write([primary(cards)], workdir / f"{root}_raw.fits")
        hdus = [primary({**cards, "FILENAME": f"{root}_flt.fits"})]
        for extver, chip in ((1, 2), (2, 1)):
            sci = np.full((ny, nx), 20.0, np.float32) + rng.normal(0, 3, (ny, nx)).astype(np.float32)
            px, py = pointing.wcs(origins[chip]).all_world2pix(stars[:, 0], stars[:, 1], 0)
            sci += render_points((ny, nx), px, py, flux, sigma=1.3, radius=7).astype(np.float32)
            sci[rng.integers(5, ny - 5), 2:5] += 5000.0  # a cosmic ray, away from the stars (x >= 12)
            dq = np.zeros((ny, nx), np.int16)
            dq[3, :] = 4  # a bad row (DQ 4: bad pixel in the reference)
            err = np.sqrt(np.abs(sci) + 16).astype(np.float32)
            sci_cards = {
                **pointing.header_cards(origins[chip], (0.0, 0.0)),
                "CCDCHIP": chip,
                "BUNIT": "ELECTRONS",
                "LTV1": 0.0,
                "LTV2": 0.0,
                "LTM1_1": 1.0,
                "LTM2_2": 1.0,
                "PHOTFLAM": 1.5e-19,
                "PHOTPLAM": 5900.0,
                "PHOTZPT": -21.1,
                "MEANDARK": 0.0,
                "NGOODPIX": nx * ny,
                "GOODMEAN": 20.0,
                "EXPNAME": root,
            }
            hdus += [
                image_extension("SCI", extver, sci, sci_cards),
                image_extension("ERR", extver, err, {"CCDCHIP": chip}),
                image_extension("DQ", extver, dq, {"CCDCHIP": chip}),
            ]
        write(hdus, workdir / f"{root}_flt.fits")
        if flc:
            hdus[0].header["FILENAME"] = f"{root}_flc.fits"
            write(hdus, workdir / f"{root}_flc.fits")
    write_asn(
        workdir / f"{ASN_ID}_asn.fits",
        ASN_ID,
        "ACS",
        "WFC",
        list(members),
        memtype="EXP-DTH",
        product_type="PROD-DTH",
        product_present=True,
    )
    return FltAssociation(workdir, f"{ASN_ID}_asn.fits", ASN_ID, members, stars, {"jref": f"{refdir}/"})
