"""STIS FUV-MAMA ACCUM imaging with a repeat (``stis-mama-image``): references, CRDS entries and raw
exposures as cs0.e reads them.

Formats follow the STIS data handbook and what calstis (HSTCAL ``pkg/stis``) reads:

- One ``<asn>_raw.fits`` holds the NRPTEXP repeat imsets (SCI/ERR/DQ each) of F25SRF2 / MIRROR
  images in low-res (1024-pixel) MAMA pixels, LTM = 1; ``<asn>_asn.fits`` lists it (EXP-RPT) and
  the product (PROD-RPT), so cs0.e's RPTCORR sums the ``_flt`` imsets into ``_sfl`` (calstis8).
- Full: 1024 × 1024 (LTV = 0). Small: a 1024 × 128 subarray (LTV2 = −448).
- The SCI headers carry what calstis1 reads for a MAMA: GLOBRATE, the on-board Doppler correction
  (DOPPON = T, DOPPZERO, DOPPMAG in high-res pixels, ORBITPER) that DOPPCORR convolves the dark and
  the flat with, OM1CAT (FUV-MAMA temperature for the TDSTAB factor).
- DARKFILE and PFLTFILE are high-res images (2048 × 2048, LTM = 2, LTV = −0.5: calstis's
  ``GetCorner`` with reference pixel size 2 sees bin 1), binned by calstis to the science pixels
  (the dark summed, the flat averaged); LFLTFILE is a 128 × 128 low-order flat expanded by linear
  interpolation (``unbin2d``); BPIXTAB rows are in low-res pixels (SIZAXIS1/2 = 1024); MLINTAB has
  one row per MAMA (GLOBAL_LIMIT, LOCAL_LIMIT, TAU, EXPAND); IMPHTTAB obsmodes
  ``stis,f25srf2,mirror,fuvmama,mjd#`` (the CCD imaging obsmode too: IMPHTTAB has no match keys, so
  this table, with a later USEAFTER, serves both modes); TDSTAB has the FUV-MAMA temperature row.

>>> dataset_names(0), geometry("small"), geometry("full")
('ocsa01010', ((128, 1024), -448.0), ((1024, 1024), 0.0))
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from . import stis as ccdsim
from .ccd import flat_structure, poisson_counts
from .crdscache import RefEntry
from .fitsutil import F32, image_extension, imset, primary, table, write
from .products import write_asn, write_spt
from .reftables import imphttab_hdus
from .scene import Pointing, make_starfield, render_points, star_pixels

#: mode → (detector, NRPTEXP, MJD of the first exposure)
MODES = {"stis-mama-image": ("FUV-MAMA", 2, 60500.3)}
DETECTOR = "FUV-MAMA"
PEDIGREE = "INFLIGHT 01/01/2002 01/01/2026"
USEAFTER = "2002-01-01 00:00:00"
USEAFTER_IMPHTTAB = "2024-06-01 00:00:00"  # after the CCD imaging dates (IMPHTTAB has no match keys)
OPT_ELEM, APERTURE, FILTER = "MIRROR", "F25SRF2", "SrF2"
PLATESC = 0.0246  # arcsec per low-res pixel
EXPTIME = 600.0
DARK_RATE = 2.0e-5  # counts/s per high-res pixel
OM1CAT = 29.5  # FUV-MAMA temperature (C)
TDS_REFTEMP = 27.0
DOPPMAG, ORBITPER = 6.4, 5760.0  # high-res pixels, seconds
MLIN = {"FUV-MAMA": (1.5e6, 60.0, 3.1e-7, 2.5), "NUV-MAMA": (1.5e6, 60.0, 2.9e-7, 2.5)}  # local: bright stars flagged
PHOT = {
    "stis,f25srf2,mirror,fuvmama,mjd#": (4.3e-17, 1540.0, 165.0),
    "stis,f25srf2,mirror,nuvmama,mjd#": (3.9e-17, 1600.0, 180.0),  # for NUV-MAMA copies of the data
    **ccdsim.PHOT,
}
SWITCHES = {
    **ccdsim.SWITCHES,
    "BLEVCORR": "OMIT",
    "BIASCORR": "OMIT",
    "CRCORR": "OMIT",
    "RPTCORR": "PERFORM",
    "EXPSCORR": "OMIT",
    "GLINCORR": "PERFORM",
    "LFLGCORR": "PERFORM",
    "LORSCORR": "PERFORM",
    "DOPPCORR": "PERFORM",
}
UNUSED_REFS = tuple(k for k in ccdsim.UNUSED_REFS if k not in ("LFLTFILE", "MLINTAB")) + (
    "BIASFILE",
    "CCDTAB",
    "CRREJTAB",
)


def geometry(size: str) -> tuple[tuple[int, int], float]:
    """(shape (ny, nx) in low-res pixels, LTV2) of one size."""
    if size == "full":
        return (1024, 1024), 0.0
    if size == "small":
        return (128, 1024), -448.0
    raise ValueError(f"size must be small or full, not {size!r}")


def dataset_names(index: int) -> str:
    """``ocsa<vv>010`` (one raw file with every repeat imset; stis-ccd-spec is ocs8…)."""
    return "ocsa" + ccdsim.dataset_names(index)[4:]


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), 7100, *keys])


# ----------------------------------------------------------------------------- references


#: LFLTFILE has no rmap entry: CRDS evaluates the lfltfile rmap for every STIS exposure, and the CCD
#: modes would need an entry mapping DETECTOR = CCD to 'N/A', which the simulated cache (one manifest
#: entry per reference file) cannot hold; the raw header names the low-order flat directly.
NO_RMAP = ("LFLTFILE",)


def _hires_cards() -> dict:
    return {"LTV1": -0.5, "LTV2": -0.5, "LTM1_1": 2.0, "LTM2_2": 2.0}


def _bad_rows() -> list:
    return [  # (PIX1, PIX2, LENGTH, AXIS, VALUE) in low-res pixels
        (1, 1, 1024, 1, 4),  # bottom and top rows: detector edge
        (1, 1024, 1024, 1, 4),
        (300, 1, 1024, 2, 16),  # a hot column
        (700, 470, 30, 1, 1024),  # a blemish segment inside the small subarray
        (512, 500, 3, 2, 32),
        (40, 800, 5, 1, 16),
    ]


def _mlintab() -> list:
    dets = list(MLIN)
    cols = {
        "DETECTOR": ("12A", dets),
        "GLOBAL_LIMIT": ("D", [MLIN[d][0] for d in dets]),
        "LOCAL_LIMIT": ("D", [MLIN[d][1] for d in dets]),
        "TAU": ("D", [MLIN[d][2] for d in dets]),
        "EXPAND": ("E", [MLIN[d][3] for d in dets]),
        "PEDIGREE": ("24A", ["INFLIGHT"] * len(dets)),
        "DESCRIP": ("40A", ["caldp.sim MAMA linearity"] * len(dets)),
    }
    return [table(cols)]


def _tdstab() -> list:
    wl = np.array([1150.0, 1400.0, 1700.0, 2000.0])
    sens = np.array([-0.0025, -0.0020, -0.0016, -0.0012])
    return ccdsim.tdstab_hdus(OPT_ELEM, wl, sens, TDS_REFTEMP, "caldp.sim FUV-MAMA temperature sensitivity")


def _tdctab() -> list:
    """Post-SM4 NUV-MAMA dark model (count rate per low-res pixel): two decaying terms and a quadratic
    in OM2CAT − TEMP0; calstis scales the dark by it over the dark's own mean."""
    cols = {
        "DATE0": ("D", [54000.0, 58000.0]),
        "TEMP0": ("D", [30.0, 30.0]),
        "A1": ("D", [2.0e-4, 1.5e-4]),
        "D1": ("D", [900.0, 1200.0]),
        "A2": ("D", [1.0e-4, 0.8e-4]),
        "D2": ("D", [4000.0, 5000.0]),
        "TA": ("D", [6.0e-5, 7.0e-5]),
        "TB": ("D", [1.2e-5, 1.1e-5]),
        "TC": ("D", [2.0e-6, 2.1e-6]),
        "PEDIGREE": ("24A", ["INFLIGHT"] * 2),
        "DESCRIP": ("40A", ["caldp.sim NUV-MAMA dark model"] * 2),
    }
    return [table(cols)]


def _ref(refdir: Path, name: str, filetype: str, hdus, descrip: str, **cards) -> Path:
    head = primary(
        {
            "TELESCOP": "HST",
            "INSTRUME": "STIS",
            "DETECTOR": DETECTOR,
            "FILETYPE": filetype,
            "USEAFTER": cards.pop("USEAFTER", USEAFTER),
            "PEDIGREE": PEDIGREE,
            "DESCRIP": descrip[:67],
            "COMMENT": "Simulated by caldp.sim",
            **cards,
        }
    )
    return write([head, *hdus], refdir / name)


def write_references(refdir: Path, seed: int) -> tuple[list[RefEntry], dict[str, str], np.ndarray]:
    """Every reference calstis reads for FUV-MAMA imaging; returns the rmap entries, the raw-header
    values and the high-res flat (the scene is multiplied by it)."""
    refdir = Path(refdir)
    rng = _rng(seed, 1)
    hi = (2048, 2048)
    yy, xx = np.mgrid[0:2048, 0:2048].astype(np.float32) / np.float32(2048.0)
    glow = np.float32(DARK_RATE) * (1.0 + 3.0 * np.exp(-((xx - 0.6) ** 2 + (yy - 0.45) ** 2) / 0.05))
    dark = (glow * rng.gamma(20.0, 1 / 20.0, hi)).astype(F32)
    ddq = np.zeros(hi, np.int16)
    hot = rng.random(hi) < 2e-4
    dark[hot] += np.float32(0.01)
    ddq[hot] = 16
    pflat = flat_structure(rng, hi, p2p=0.02, large=0.0).astype(F32)
    pflat[1000:1002, 1000:1002] = 0.0  # a dead low-res pixel (DOPPCORR smears it along x)
    pdq = np.zeros(hi, np.int16)
    pdq[::301, 7] = 512
    ly, lx = np.mgrid[0:128, 0:128].astype(np.float64) / 128.0
    lflat = (1.0 + 0.03 * np.sin(2.5 * lx + 0.7) * np.cos(1.9 * ly)).astype(F32)
    hires = _hires_cards()
    tables = {
        "bpixtab": (
            "BPIXTAB",
            "s8a0001o_bpx.fits",
            "BAD PIXELS",
            ccdsim.bpixtab_hdus(_bad_rows(), "ANY"),
            {"DETECTOR": DETECTOR},
            {},
        ),
        "mlintab": ("MLINTAB", "s8a0002o_lin.fits", "MAMA LINEARITY", _mlintab(), {}, {}),
        "imphttab": (
            "IMPHTTAB",
            "s8a0003o_imp.fits",
            "IMAGE PHOTOMETRY TABLE",
            imphttab_hdus(PHOT, ("PHOTFLAM", "PHOTPLAM", "PHOTBW")),
            {},
            {"PARNUM": 1, "PHOTZPT": -21.1, "USEAFTER": USEAFTER_IMPHTTAB},
        ),
        "tdctab": ("TDCTAB", "s8a0008o_tdc.fits", "TDC TABLE", _tdctab(), {"DETECTOR": "NUV-MAMA"}, {}),
        "tdstab": ("TDSTAB", "s8a0004o_tds.fits", "TIME DEPENDENT SENSITIVITY", _tdstab(), {"DETECTOR": DETECTOR}, {}),
        "darkfile": (
            "DARKFILE",
            "s8a0005o_drk.fits",
            "DARK",
            imset(1, dark, None, ddq, cards=hires, err_value=2.0e-6),
            {"DETECTOR": DETECTOR},
            {},
        ),
        "pfltfile": (
            "PFLTFILE",
            "s8a0006o_pfl.fits",
            "PIXEL-TO-PIXEL FLAT",
            imset(1, pflat, None, pdq, cards=hires, err_value=0.004),
            {"DETECTOR": DETECTOR, "OPT_ELEM": OPT_ELEM, "OBSTYPE": "IMAGING", "APERTURE": APERTURE},
            {"OPT_ELEM": OPT_ELEM, "APERTURE": APERTURE},
        ),
        "lfltfile": (
            "LFLTFILE",
            "s8a0007o_lfl.fits",
            "LOW-ORDER FLAT",
            imset(1, lflat, None, None, cards={"LTV1": -7.5, "LTV2": -7.5, "LTM1_1": 0.125, "LTM2_2": 0.125}),
            {"DETECTOR": DETECTOR, "OPT_ELEM": OPT_ELEM, "OBSTYPE": "IMAGING", "APERTURE": APERTURE},
            {"OPT_ELEM": OPT_ELEM, "APERTURE": APERTURE},
        ),
    }
    entries: list[RefEntry] = []
    refkw: dict[str, str] = {}
    for kind, (kw, name, ftype, hdus, match, extra) in tables.items():
        useafter = extra.get("USEAFTER", USEAFTER)
        _ref(refdir, name, ftype, hdus, f"caldp.sim STIS {DETECTOR} {kind}", **extra)
        if kind != "lfltfile":  # see NO_RMAP
            entries.append(RefEntry("stis", kind, name, match, useafter))
        refkw[kw] = f"oref${name}"
    return entries, refkw, pflat


# ----------------------------------------------------------------------------- raw exposures


def primary_cards(name: str, *, nimsets: int, mjd: float, targ, refkw: dict, subarray: bool) -> dict:
    cards = ccdsim.primary_cards(name, nimsets=nimsets, mjd=mjd, exptime=EXPTIME, targ=targ, refkw={})
    for k in ("CCDAMP", "CCDGAIN", "CCDOFFST", "ATODGAIN", "READNSE"):
        del cards[k]
    cards.update(
        {
            "DETECTOR": DETECTOR,
            "APERTURE": APERTURE,
            "PROPAPER": APERTURE,
            "FILTER": FILTER,
            "APER_FOV": "25x25",
            "OPT_ELEM": OPT_ELEM,
            "CRSPLIT": 1,
            "NRPTEXP": nimsets,
            "SUBARRAY": subarray,
            "BINAXIS1": 1,
            "BINAXIS2": 1,
            "ASN_MTYP": "EXP-RPT",
            **SWITCHES,
            **refkw,
        }
    )
    for k in UNUSED_REFS:
        cards[k] = "N/A"
    return cards


def sci_cards(name: str, shape, ltv2: float, pointing: Pointing, *, expstart: float, globrate: float) -> dict:
    wcs = pointing.header_cards((0.0, -ltv2), (0.0, ltv2))
    return {
        **ccdsim.raw_sci_cards(name, (0.0, ltv2), shape, expstart=expstart, exptime=EXPTIME),
        "GLOBRATE": globrate,
        "DOPPON": True,
        "DOPPZERO": expstart + 200.0 / 86400.0,  # the exposure spans a zero crossing: a smear, not a shift
        "DOPPMAG": DOPPMAG,
        "ORBITPER": ORBITPER,
        "OM1CAT": OM1CAT,
        "PLATESC": PLATESC,
        **wcs,
    }


def mama_references(store, detector: str):
    """The MAMA references' header cards and high-res pixel flat, written once per simulate() call
    (shared by ``stis-mama-image`` and ``stis-mama-echelle``)."""

    def write():
        entries, refkw, pflat = write_references(store.refdir, store.seed)
        return entries, (refkw, pflat)

    return store.once(("stis", detector), write)


def make_dataset(outdir, mode: str, index: int, size: str, seed: int, store, truth: bool):
    """One ``stis-mama-image`` dataset under ``outdir/inputs/<name>``; references once per store."""
    detector, nimsets, mjd0 = MODES[mode]
    refkw, pflat = mama_references(store, detector)
    shape, ltv2 = geometry(size)
    ny, nx = shape
    y0 = int(-ltv2)
    name = dataset_names(index)
    ddir = Path(outdir) / "inputs" / name
    if ddir.exists():
        shutil.rmtree(ddir)
    ddir.mkdir(parents=True)
    rng = _rng(seed, ("small", "full").index(size), index)
    ra, dec = float(rng.uniform(10.0, 350.0)), float(rng.uniform(-60.0, 60.0))
    pointing = Pointing((ra, dec), (512.0, 512.0), PLATESC, float(rng.uniform(0.0, 360.0)))
    extent = (-10.0, 1034.0, y0 - 10.0, y0 + ny + 10.0)
    nstars = int(np.clip(ny * nx / 4000, 20, 300))
    stars = make_starfield(rng, pointing, extent, nstars, (0.02, 8.0), n_bright=2, bright_rate=400.0)
    wcs = pointing.wcs((0.0, float(y0)))
    sx, sy = star_pixels(stars, wcs)
    rate = render_points(shape, sx, sy, stars.rate, sigma=0.9) + np.float32(2e-4)
    # the low-res flat the photons see: the high-res flat averaged over 2×2
    lo_flat = pflat.reshape(1024, 2, 1024, 2).mean(axis=(1, 3))[y0 : y0 + ny]
    rate = (rate * lo_flat).astype(F32)
    cards = primary_cards(name, nimsets=nimsets, mjd=mjd0, targ=pointing.crval, refkw=refkw, subarray=size == "small")
    hdus = [primary(cards)]
    for k in range(nimsets):
        expstart = mjd0 + k * (EXPTIME + 30.0) / 86400.0
        counts = poisson_counts(rng, rate * np.float32(EXPTIME) + np.float32(DARK_RATE * 4 * EXPTIME))
        raw = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)
        globrate = float(raw.sum(dtype=np.float64)) / EXPTIME
        sc = sci_cards(name, shape, ltv2, pointing, expstart=expstart, globrate=globrate)
        hdus += imset(k + 1, raw, None, None, cards=sc)
    for h in hdus[1:]:
        if h.header["EXTNAME"] != "SCI":
            h.header["BUNIT"] = "COUNTS" if h.header["EXTNAME"] == "ERR" else "UNITLESS"
    files = [
        write_asn(
            ddir / f"{name}_asn.fits", name, "STIS", DETECTOR, [name], memtype="EXP-RPT", product_type="PROD-RPT"
        ),
        write(hdus, ddir / f"{name}_raw.fits"),
        write_spt(ddir / f"{name}_spt.fits", name, "STIS", DETECTOR, {"PROPOSID": 17007, "EXPSTART": mjd0}),
    ]
    info = None
    if truth:
        tfile = write(
            [primary({"ROOTNAME": name.upper(), "BUNIT": "COUNTS/S"}), image_extension("SCI", 1, rate)],
            Path(outdir) / "truth" / name / f"{name}_truth.fits",
        )
        info = {"ra": stars.ra.tolist(), "dec": stars.dec.tolist(), "rate": stars.rate.tolist()}
        info["truth_file"] = str(tfile)
    return name, ddir, files, info
