"""WFC3/UVIS: detector set-ups, reference files and raw exposures as calwf3.e reads them.

Keywords and reference formats follow calib-wfc3.md §2.2, §8 (and the UVIS engine's test kit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import distortion, geometry
from .builders import (
    RefWriter,
    amp_cards,
    association_cards,
    bpixtab_columns,
    ccdtab_amp_columns,
    chip_ref_cards,
    exposure_cards,
    exposure_time_cards,
    finish_cards,
    flash_off_cards,
    full_chip_constant_imset,
    raw_chip_hdus,
    readout_cards,
    sink_map,
)
from .crdscache import RefEntry
from .detector import CCDSetup, ImageRefs, PixelQuirks
from .fitsutil import image_extension, imset, table
from .reftables import crrejtab_hdu

FILTER = "F606W"
UVIS_PHOT = {  # obsmode → PHOTFLAM, PHOTPLAM, PHOTBW, PHTFLAM1, PHTFLAM2
    "wfc3,uvis1,f606w,mjd#": (1.1575e-19, 5887.9, 671.9, 1.1575e-19, 1.1655e-19),
    "wfc3,uvis2,f606w,mjd#": (1.1655e-19, 5887.0, 671.0, 1.1575e-19, 1.1655e-19),
}
UVIS_SWITCHES = {
    "DQICORR": "PERFORM",
    "ATODCORR": "OMIT",
    "BLEVCORR": "PERFORM",
    "BIASCORR": "PERFORM",
    "FLSHCORR": "OMIT",
    "PCTECORR": "OMIT",
    "DARKCORR": "PERFORM",
    "FLATCORR": "PERFORM",
    "SHADCORR": "OMIT",
    "PHOTCORR": "PERFORM",
    "FLUXCORR": "PERFORM",
    "CRCORR": "OMIT",
    "RPTCORR": "OMIT",
    "EXPSCORR": "PERFORM",
    "DRIZCORR": "PERFORM",
}
UNUSED_REFS = (
    "ATODTAB",
    "FLSHFILE",
    "SHADFILE",
    "DFLTFILE",
    "LFLTFILE",
    "PCTETAB",
    "DRKCFILE",
    "BIACFILE",
    "IDCTAB",
    "DGEOFILE",
    "NPOLFILE",
    "D2IMFILE",
)
USEAFTER = "2009-05-14 00:00:00"
OLD_USEAFTER = "1991-01-01 00:00:00"
_AMPS = dict(
    atodgn={"A": 1.56, "B": 1.56, "C": 1.57, "D": 1.55},
    readnse={"A": 3.1, "B": 3.2, "C": 3.0, "D": 3.1},
    ccdbias={"A": 2510.0, "B": 2490.0, "C": 2530.0, "D": 2470.0},
)


def setup(detector: str, size: str) -> CCDSetup:
    if detector != "UVIS":
        raise ValueError(f"{detector!r} is not a WFC3 CCD detector")
    full = size in ("full", "mini")  # mini: the full-frame layout scaled down (geometry.UVIS_MINI)
    return CCDSetup(
        "wfc3",
        "UVIS",
        size,
        {"full": geometry.UVIS_FULL, "mini": geometry.UVIS_MINI}.get(size, geometry.UVIS_SUB),
        "UVIS" if full else "UVIS2-C512C-SUB",
        "ABCD" if full else "C",
        1.5,
        **_AMPS,
        full_well=72000.0,
        saturate=65000.0,
        dark_rate=0.003,
        sky_rate=0.3,
        scale=0.0396,
        psf_sigma=0.9,
        overhead=0.0,
        flat_uses_mean_gain=True,
    )


def _full_chips(size: str):
    """The chips a full-frame reference covers: the real ones, or the miniature layout's."""
    return geometry.UVIS_MINI if size == "mini" else geometry.UVIS_FULL


def _ccdtab(size: str) -> list:
    ampx = _full_chips(size)[0].ampx
    rows = [("ABCD", 2, ampx), ("ABCD", 1, ampx), ("C", 2, 2 * ampx)]
    n = len(rows)
    cols = {
        "CCDAMP": ("4A", [r[0] for r in rows]),
        "CCDCHIP": ("J", [r[1] for r in rows]),
        "CCDGAIN": ("E", [1.5] * n),
        "BINAXIS1": ("J", [1] * n),
        "BINAXIS2": ("J", [1] * n),
        **ccdtab_amp_columns([_AMPS] * n),
    }
    cols.update(
        {
            "AMPX": ("J", [r[2] for r in rows]),
            "AMPY": ("J", [0] * n),
            "SATURATE": ("E", [65000.0] * n),
            "PEDIGREE": ("24A", ["INFLIGHT"] * n),
            "DESCRIP": ("40A", ["caldp.sim CCD parameters"] * n),
        }
    )
    return [table(cols)]


def _oscntab(size: str) -> list:
    ny, nx = _full_chips(size)[0].raw_shape
    vs = 25 + _full_chips(size)[0].ampx  # first serial-virtual column (0-based) = 2074 1-based
    rows = []
    for amp, chip in (("ABCD", 1), ("ABCD", 2), ("C", 2)):
        rows.append(
            {
                "CCDAMP": amp,
                "CCDCHIP": chip,
                "BINX": 1,
                "BINY": 1,
                "NX": nx,
                "NY": ny,
                "TRIMX1": 25,
                "TRIMX2": 25,
                "TRIMX3": 30,
                "TRIMX4": 30,
                "TRIMY1": 19 if chip == 1 else 0,
                "TRIMY2": 0 if chip == 1 else 19,
                "BIASSECTA1": 6,
                "BIASSECTA2": 22,
                "BIASSECTB1": nx - 21,
                "BIASSECTB2": nx - 5,
                "BIASSECTC1": vs + 6,
                "BIASSECTC2": vs + 27,
                "BIASSECTD1": vs + 34,
                "BIASSECTD2": vs + 55,
                "VX1": 30,
                "VX2": vs - 3,
                "VX3": vs + 63,
                "VX4": nx - 30,
                "VY1": 1 if chip == 1 else ny - 17,
                "VY2": 18 if chip == 1 else ny,
                "VY3": 1 if chip == 1 else ny - 17,
                "VY4": 18 if chip == 1 else ny,
            }
        )
    cols = {"CCDAMP": ("4A", [r["CCDAMP"] for r in rows])}
    for key in rows[0]:
        if key != "CCDAMP":
            cols[key] = ("J", [r[key] for r in rows])
    return [table(cols)]


def _bpixtab(size: str) -> list:
    if size == "mini":  # a hot column, a row run crossing the amp boundary, a warm pixel, one on every chip
        rows = [(10, 5, 10, 2, 16, 1), (40, 20, 20, 1, 4, 2), (60, 30, 1, 1, 64, 2), (70, 40, 3, 2, 16, -999)]
        ny, nx = _full_chips(size)[0].sci_shape
        return [table(bpixtab_columns(rows), {"SIZAXIS1": nx, "SIZAXIS2": ny})]
    rows = [
        (100, 30, 400, 2, 4, 2),
        (300, 200, 40, 1, 16, 2),
        (3000, 1500, 300, 2, 4, 1),
        (2500, 40, 1, 1, 64, 2),
        (1200, 1000, 3, 1, 4, 1),
    ]
    return [table(bpixtab_columns(rows), {"SIZAXIS1": 4096, "SIZAXIS2": 2051})]


def write_references(refdir: Path, setup_: CCDSetup, refs: ImageRefs) -> tuple[list[RefEntry], dict[str, str]]:
    refs_out = RefWriter(refdir, "wfc3", "UVIS", setup_.size, useafter=USEAFTER, descrip="caldp.sim")
    add, refkw = refs_out.add, refs_out.refkw

    size = setup_.size
    add("ccdtab", "ccd", "CCD PARAMETERS", _ccdtab(size), useafter=OLD_USEAFTER, descrip="caldp.sim early CCDTAB")
    refkw["CCDTAB"] = add("ccdtab", "ccd", "CCD PARAMETERS", _ccdtab(size))
    refkw["OSCNTAB"] = add("oscntab", "osc", "OVERSCAN", _oscntab(size))
    refkw["BPIXTAB"] = add("bpixtab", "bpx", "BAD PIXELS", _bpixtab(size))
    refs_out.add_standard_tables(crrejtab_hdu(), UVIS_PHOT, ("PHOTFLAM", "PHOTPLAM", "PHOTBW", "PHTFLAM1", "PHTFLAM2"))
    bias_hdus, dark_hdus, flat_hdus, sat_hdus, snk_hdus = [], [], [], [], []
    for k, chip in enumerate(setup_.chips):
        ext = k + 1
        raw_cards, sci_cards = chip_ref_cards(chip)
        bdq = np.zeros(chip.raw_shape, np.int16)
        bdq[chip.raw_shape[0] // 3, chip.trimx[0] + 40 : chip.trimx[0] + 43] = 128
        bias_hdus += imset(ext, refs.bias[k], None, bdq, cards=raw_cards, err_value=0.4)
        ddq = np.where(refs.hot[k], 16, 0).astype(np.int16)
        dark_hdus += imset(ext, refs.dark[k], None, ddq, cards=sci_cards, err_value=0.0005)
        flat_hdus += imset(ext, refs.flat[k], None, None, cards=sci_cards, err_value=0.003)
        sat_hdus += full_chip_constant_imset(_full_chips(size), ext, chip, (setup_.saturate, 0.0, 0))
        snk_hdus += full_chip_constant_imset(_full_chips(size), ext, chip, (0.0, 0.0, 0))
    amp = {"CCDAMP": setup_.ccdamp, "BINAXIS1": "1", "BINAXIS2": "1"}
    refkw["BIASFILE"] = add(
        "biasfile", "bia", "BIAS", bias_hdus, {**amp, "CCDGAIN": "1.5"}, CCDAMP=setup_.ccdamp, CCDGAIN=setup_.ccdgain
    )
    refkw["DARKFILE"] = add("darkfile", "drk", "DARK", dark_hdus, amp, CCDAMP=setup_.ccdamp, CCDGAIN=setup_.ccdgain)
    refkw["PFLTFILE"] = add(
        "pfltfile",
        "pfl",
        "PIXEL-TO-PIXEL FLAT",
        flat_hdus,
        {**amp, "FILTER": FILTER},
        CCDAMP=setup_.ccdamp,
        FILTER=FILTER,
    )
    refkw["SATUFILE"] = add("satufile", "sat", "FULL-WELL SATURATION LEVEL MAP", sat_hdus, {"BINAXIS1": "1"})
    refkw["SNKCFILE"] = add("snkcfile", "snk", "SINK PIXELS", snk_hdus)
    distortion.write_references(refs_out, "UVIS")  # IDCTAB, NPOLFILE, D2IMFILE
    return refs_out.entries, refs_out.header_values("iref")


#: Optional features of UVIS modes (``simulate(quirks=…)``, see :func:`write_quirk_references`).
QUIRKS = ("sinks", "flash")
FLASHDUR = 4.5  # s of post-flash
SINK_MJD = 55000.0  # when the simulated sink pixels appeared (calwf3 flags them in later exposures)


def write_quirk_references(
    refdir: Path, setup_: CCDSetup, rng: np.random.Generator, quirks
) -> tuple[list[RefEntry], dict[str, str], dict, PixelQuirks]:
    """``sinks``: a full-frame SNKCFILE at raw size with sink pixels (calwf3.e's sink.c needs the real
    full frame: with DQICORR it fails on a mini chip); ``flash``: a full-frame FLSHFILE at raw size
    (e⁻/s; 0 outside the science area, one DQ flag), FLSHCORR and a 4.5 s flash, in the pixels too.
    Returns the rmap entries, the raw-header reference values, the other raw cards and the pixel
    effects (like ``acs.write_quirk_references``)."""
    unknown = sorted(set(quirks) - set(QUIRKS))
    if unknown:
        raise ValueError(f"unknown WFC3/UVIS quirk(s) {', '.join(unknown)}; choose from {', '.join(QUIRKS)}")
    out = RefWriter(refdir, "wfc3", "UVIS", setup_.size, useafter=USEAFTER, descrip="caldp.sim", series="q")
    px = PixelQuirks()
    full = {c.ccdchip: c for c in _full_chips(setup_.size)}
    kw, cards = {}, {}
    if "sinks" in quirks:
        n = max(30, int(np.prod(_full_chips(setup_.size)[0].sci_shape)) // 10000)
        hdus = [
            image_extension("SCI", ext, sink_map(rng, fc, n, 1 if ext == 1 else -1, SINK_MJD), chip_ref_cards(fc)[0])
            for ext, fc in enumerate(_full_chips(setup_.size), start=1)
        ]
        kw["SNKCFILE"] = out.add("snkcfile", "snk", "SINK PIXELS", hdus)
    if "flash" in quirks:
        px.flash = _flash(out, setup_, rng, full, kw)
        cards.update(FLASHDUR=FLASHDUR, FLASHCUR="LOW", FLASHSTA="SUCCESSFUL", FLSHCORR="PERFORM")
    return out.entries, {k: f"iref${v}" for k, v in kw.items()}, cards, px


def _flash(out: RefWriter, setup_: CCDSetup, rng: np.random.Generator, full: dict, kw: dict) -> list:
    """Write the FLSHFILE (its name into `kw`); return each chip's flash electrons (trimmed area)."""
    hdus, rates, flash = [], {}, []
    for ext, fc in enumerate(_full_chips(setup_.size), start=1):
        f = np.zeros(fc.raw_shape, np.float32)
        f[fc.raw_rows(), fc.raw_cols()] = rng.uniform(1.0, 3.0, fc.sci_shape).astype(np.float32)
        fdq = np.zeros(fc.raw_shape, np.int16)
        fdq[12, 40] = 4
        hdus += imset(ext, f, None, fdq, cards=chip_ref_cards(fc)[0], err_value=0.05)
        rates[fc.ccdchip] = f
    for chip in setup_.chips:
        fc = full[chip.ccdchip]
        trimmed = rates[chip.ccdchip][fc.raw_rows(), fc.raw_cols()]
        (ny, nx), (x0, y0) = chip.sci_shape, chip.corner
        flash.append(trimmed[y0 : y0 + ny, x0 : x0 + nx] * np.float32(FLASHDUR))
    kw["FLSHFILE"] = out.add("flshfile", "fls", "POST FLASH", hdus, {"CCDAMP": setup_.ccdamp, "FLASHCUR": "LOW"})
    return flash


def primary_cards(
    setup_: CCDSetup,
    root: str,
    *,
    exptime: float,
    expstart: float,
    crsplit: int,
    asn_id: str,
    asn_mtyp: str,
    refkw: dict,
    date_obs: str,
    time_obs: str,
    targ: tuple[float, float],
    chips,
) -> dict:
    cards = {
        **exposure_cards("wfc3", root, f"{root.lower()}_raw.fits", nextend=3 * len(chips), targ=targ, proposid=17002),
        **exposure_time_cards(date_obs, time_obs, expstart, exptime),
        "EXPFLAG": "NORMAL",
        "OBSTYPE": "IMAGING",
        "OBSMODE": "ACCUM",
        "SCLAMP": "NONE",
        "NRPTEXP": 1,
        "SUBARRAY": setup_.subarray,
        "DETECTOR": "UVIS",
        "FILTER": FILTER,
        "APERTURE": setup_.aperture,
        "PROPAPER": setup_.aperture,
        "CTEDIR": "NONE",
        "CRSPLIT": crsplit,
        **readout_cards(setup_),
        "CHINJECT": "NONE",
        **flash_off_cards(),
        "PCTERNOI": 0.0,
        **association_cards(asn_id, asn_mtyp),
        **amp_cards(),
    }
    return finish_cards(cards, UVIS_SWITCHES, refkw, UNUSED_REFS, crsplit=crsplit)


def raw_hdus(setup_: CCDSetup, pcards: dict, pixels, root: str):
    return raw_chip_hdus(setup_, pcards, pixels, root)
