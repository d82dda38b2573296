"""ACS (WFC, HRC): detector set-ups, reference files and raw exposures as calacs.e reads them.

Headers follow calib-acs-wfc.md §2.4 (every keyword calacs needs, incl. the ones whose absence
it silently mishandles: DARKTIME, CCDGAIN, JWROTYPE, IMAGETYP, SUBARRAY, LTV, SDQFLAGS).
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
from .fitsutil import F32, image_extension, imset, table
from .reftables import crrejtab_hdu

FILTER1, FILTER2 = "F606W", "CLEAR2L"
PHOT = {  # obsmode → (PHOTFLAM, PHOTPLAM, PHOTBW)
    "acs,wfc1,f606w,mjd#": (7.8e-20, 5921.9, 672.3),
    "acs,hrc,f606w,mjd#": (2.9e-19, 5887.6, 662.4),
}
SWITCHES_CCD = {
    "STATFLAG": True,
    "WRTERR": True,
    "DQICORR": "PERFORM",
    "ATODCORR": "OMIT",
    "BLEVCORR": "PERFORM",
    "BIASCORR": "PERFORM",
    "FLSHCORR": "OMIT",
    "CRCORR": "OMIT",
    "EXPSCORR": "PERFORM",
    "SHADCORR": "OMIT",
    "PCTECORR": "OMIT",
    "SINKCORR": "OMIT",
    "DARKCORR": "PERFORM",
    "FLATCORR": "PERFORM",
    "PHOTCORR": "PERFORM",
    "RPTCORR": "OMIT",
    "DRIZCORR": "PERFORM",
    "GLINCORR": "OMIT",
    "LFLGCORR": "OMIT",
}
UNUSED_REFS = (
    "ATODTAB",
    "FLSHFILE",
    "SHADFILE",
    "DFLTFILE",
    "LFLTFILE",
    "CFLTFILE",
    "SPOTTAB",
    "SNKCFILE",
    "DRKCFILE",
    "PCTETAB",
    "IDCTAB",
    "DGEOFILE",
    "NPOLFILE",
    "D2IMFILE",
    "MLINTAB",
)
OLD_USEAFTER = "1991-01-01 00:00:00"
NEW_USEAFTER = {"WFC": "2016-11-01 00:00:00", "HRC": "2002-03-01 00:00:00"}

_WFC_AMPS = dict(
    atodgn={"A": 2.02, "B": 1.99, "C": 2.01, "D": 2.03},
    readnse={"A": 4.3, "B": 3.9, "C": 4.1, "D": 4.7},
    ccdbias={"A": 2210.0, "B": 2260.0, "C": 2180.0, "D": 2240.0},
)
_HRC_AMPS = dict(
    atodgn={"A": 2.2, "B": 2.2, "C": 2.18, "D": 2.2},
    readnse={"A": 4.7, "B": 4.7, "C": 4.6, "D": 4.7},
    ccdbias={"A": 2300.0, "B": 2300.0, "C": 2320.0, "D": 2300.0},
)


def setup(detector: str, size: str) -> CCDSetup:
    if detector == "WFC":
        full = size == "full"
        return CCDSetup(
            "acs",
            "WFC",
            size,
            geometry.ACS_WFC_FULL if full else geometry.ACS_WFC_SUB,
            "WFC" if full else "WFC1A-512",
            "ABCD" if full else "A",
            2.0,
            **_WFC_AMPS,
            full_well=90000.0,
            saturate=84700.0,
            dark_rate=0.012,
            sky_rate=0.25,
            scale=0.05,
            psf_sigma=1.0,
            overhead=3.0,
        )
    if detector == "HRC":
        full = size == "full"
        return CCDSetup(
            "acs",
            "HRC",
            size,
            geometry.ACS_HRC_FULL if full else geometry.ACS_HRC_SUB,
            "HRC" if full else "HRC-512",
            "C",
            2.0,
            **_HRC_AMPS,
            full_well=160000.0,
            saturate=155000.0,
            dark_rate=0.009,
            sky_rate=0.08,
            scale=0.025,
            psf_sigma=1.3,
            overhead=0.0,
        )
    raise ValueError(f"unknown ACS detector {detector!r}")


# ----------------------------------------------------------------------------- reference files


def _ccdtab(setup_: CCDSetup) -> list:
    rows = []
    for chip in (2, 1):  # WFC full frame
        rows.append(("ABCD", chip, 2.0, 2048, 0, _WFC_AMPS, 84700.0))
    rows.append(("A", 1, 2.0, 4096, 0, _WFC_AMPS, 84700.0))  # WFC1A-* subarrays: every column is amp A
    rows.append(("C", 1, 2.0, 0, 0, _HRC_AMPS, 155000.0))  # HRC
    rows = [r for r in rows if (r[5] is _WFC_AMPS) == (setup_.detector == "WFC")]
    cols = {
        "CCDAMP": ("4A", [r[0] for r in rows]),
        "CCDCHIP": ("J", [r[1] for r in rows]),
        "CCDGAIN": ("E", [r[2] for r in rows]),
        "BINAXIS1": ("J", [1] * len(rows)),
        "BINAXIS2": ("J", [1] * len(rows)),
        **ccdtab_amp_columns([r[5] for r in rows]),
    }
    cols.update(
        {
            "AMPX": ("J", [r[3] for r in rows]),
            "AMPY": ("J", [r[4] for r in rows]),
            "ATODSAT": ("J", [65534] * len(rows)),
            "SATURATE": ("E", [r[6] for r in rows]),
            "OVRHFLS": ("E", [setup_.overhead + 0.5] * len(rows)),
            "OVRHUFLS": ("E", [setup_.overhead] * len(rows)),
            "PEDIGREE": ("24A", ["INFLIGHT"] * len(rows)),
            "DESCRIP": ("40A", ["caldp.sim CCD parameters"] * len(rows)),
        }
    )
    return [table(cols)]


def _oscntab(chips) -> list:
    cols = {
        k: ("J", [])
        for k in (
            "CCDCHIP",
            "BINX",
            "BINY",
            "NX",
            "NY",
            "TRIMX1",
            "TRIMX2",
            "TRIMY1",
            "TRIMY2",
            "VX1",
            "VX2",
            "VY1",
            "VY2",
            "BIASSECTA1",
            "BIASSECTA2",
            "BIASSECTB1",
            "BIASSECTB2",
        )
    }
    amps = []
    for chip in chips:
        ny, nx = chip.raw_shape
        amps.append(chip.amps if len(chip.amps) == 1 else "ABCD")
        right = chip.trimx[1] > 0
        vals = dict(
            CCDCHIP=chip.ccdchip,
            BINX=1,
            BINY=1,
            NX=nx,
            NY=ny,
            TRIMX1=chip.trimx[0],
            TRIMX2=chip.trimx[1],
            TRIMY1=chip.trimy[0],
            TRIMY2=chip.trimy[1],
            VX1=0,
            VX2=0,
            VY1=0,
            VY2=0,
            BIASSECTA1=chip.trimx[0] - 18,
            BIASSECTA2=chip.trimx[0] - 1,
            BIASSECTB1=nx - chip.trimx[1] + 2 if right else 0,
            BIASSECTB2=nx - 1 if right else 0,
        )
        for k, v in vals.items():
            cols[k][1].append(v)
    return [table({"CCDAMP": ("4A", amps), **cols})]


def _bpixtab(setup_: CCDSetup) -> list:
    """Bad columns/rows in detector (trimmed full-chip) coordinates, some inside the subarray."""
    if setup_.detector == "WFC":
        rows = [
            (100, 1540, 300, 2, 4, 1),
            (300, 1700, 40, 1, 32, 1),
            (3000, 100, 500, 2, 4, 2),
            (50, 2000, 3, 1, 4, 1),
            (2500, 50, 1, 1, 1024, 2),
        ]
    else:
        rows = [(100, 20, 400, 2, 4, 1), (300, 300, 30, 1, 32, 1), (900, 700, 1, 1, 1024, 1)]
    cols = {
        **bpixtab_columns(rows),
        "CCDAMP": ("4A", ["N/A"] * len(rows)),
        "CCDGAIN": ("E", [-999.0] * len(rows)),
    }
    return [table(cols)]


def _satufile_imset(setup_: CCDSetup, ext: int, chip) -> list:
    """Full-chip SATUFILE imset (constant level). Always full frame: calacs's same-size branch
    (dofwsat.c) indexes the reference from abs(corner), which only works for full chips."""
    full = geometry.ACS_WFC_FULL if setup_.detector == "WFC" else geometry.ACS_HRC_FULL
    return full_chip_constant_imset(full, ext, chip, (setup_.saturate, 0.0, 0))


def write_references(refdir: Path, setup_: CCDSetup, refs: ImageRefs) -> tuple[list[RefEntry], dict[str, str]]:
    """Write every reference calacs needs for `setup_`; returns the rmap entries and header values."""
    det = setup_.detector
    refs_out = RefWriter(refdir, "acs", det, setup_.size, useafter=NEW_USEAFTER[det], descrip="caldp.sim")
    add, refkw = refs_out.add, refs_out.refkw

    # tables: an old CCDTAB (UseAfter 1991) and the current one, so dates select different files
    add("ccdtab", "ccd", "CCD PARAMETERS", _ccdtab(setup_), useafter=OLD_USEAFTER, descrip="caldp.sim early CCDTAB")
    refkw["CCDTAB"] = add("ccdtab", "ccd", "CCD PARAMETERS", _ccdtab(setup_))
    chips_all = (
        geometry.ACS_WFC_FULL + geometry.ACS_WFC_SUB if det == "WFC" else geometry.ACS_HRC_FULL + geometry.ACS_HRC_SUB
    )
    refkw["OSCNTAB"] = add("oscntab", "osc", "OVERSCAN", _oscntab(chips_all))
    refkw["BPIXTAB"] = add("bpixtab", "bpx", "BAD PIXELS", _bpixtab(setup_))
    phot = {m: v for m, v in PHOT.items() if det.lower() in m}
    refs_out.add_standard_tables(
        crrejtab_hdu(), phot, ("PHOTFLAM", "PHOTPLAM", "PHOTBW"), crrej_match={"RPTCORR": "N/A"}
    )

    # images, one imset per chip in the raw order
    amp = {"CCDAMP": setup_.ccdamp}
    amp_gain = {"CCDAMP": setup_.ccdamp, "CCDGAIN": f"{setup_.ccdgain:.1f}"}
    bias_hdus, dark_hdus, flat_hdus, sat_hdus = [], [], [], []
    for k, chip in enumerate(setup_.chips):
        raw_cards, sci_cards = chip_ref_cards(chip)
        ext = k + 1
        bias_hdus += imset(ext, refs.bias[k], None, None, cards=raw_cards, err_value=0.5)
        ddq = np.where(refs.hot[k], 16, 0).astype(np.int16)
        dark_hdus += imset(ext, refs.dark[k], None, ddq, cards=sci_cards, err_value=0.002)
        flat_hdus += imset(ext, refs.flat[k], None, None, cards=sci_cards, err_value=0.003)
        sat_hdus += _satufile_imset(setup_, ext, chip)
    refkw["BIASFILE"] = add(
        "biasfile", "bia", "BIAS", bias_hdus, amp_gain, CCDAMP=setup_.ccdamp, CCDGAIN=setup_.ccdgain
    )
    refkw["DARKFILE"] = add(
        "darkfile", "drk", "DARK", dark_hdus, amp_gain, CCDAMP=setup_.ccdamp, CCDGAIN=setup_.ccdgain
    )
    refkw["PFLTFILE"] = add(
        "pfltfile",
        "pfl",
        "PIXEL-TO-PIXEL FLAT",
        flat_hdus,
        {**amp, "FILTER1": FILTER1, "FILTER2": FILTER2, "OBSTYPE": "IMAGING"},
        CCDAMP=setup_.ccdamp,
        FILTER1=FILTER1,
        FILTER2=FILTER2,
    )
    refkw["SATUFILE"] = add("satufile", "sat", "FULL-WELL SATURATION LEVEL MAP", sat_hdus, amp, CCDAMP=setup_.ccdamp)
    distortion.write_references(refs_out, det)  # IDCTAB, NPOLFILE, D2IMFILE (WFC), DGEOFILE
    return refs_out.entries, refs_out.header_values("jref")


# ----------------------------------------------------------------------------- optional quirks

#: Optional features (``simulate(quirks=…)``): each writes its references, sets its raw keywords and
#: switches and puts its effect into the pixels.
QUIRKS = ("sinks", "flash", "shading", "delta-flat")
FLASHDUR = 12.0  # s of post-flash (FLASHCUR LOW)


def write_quirk_references(
    refdir: Path, setup_: CCDSetup, rng: np.random.Generator, quirks
) -> tuple[list[RefEntry], dict[str, str], dict, PixelQuirks]:
    """The references of `quirks` (see :data:`QUIRKS`): ``sinks`` a SNKCFILE (raw size, like the
    BIASFILE) and SINKCORR; ``flash`` a FLSHFILE (e⁻/s of flash), FLSHCORR and a 12 s LOW flash;
    ``shading`` a SHADFILE (seconds) and SHADCORR; ``delta-flat`` a DFLTFILE. Returns the rmap
    entries, the raw-header reference values, the other raw cards and the pixel effects."""
    unknown = sorted(set(quirks) - set(QUIRKS))
    if unknown:
        raise ValueError(f"unknown ACS quirk(s) {', '.join(unknown)}; choose from {', '.join(QUIRKS)}")
    det = setup_.detector
    out = RefWriter(refdir, "acs", det, setup_.size, useafter=NEW_USEAFTER[det], descrip="caldp.sim", series="q")
    amp = {"CCDAMP": setup_.ccdamp}
    cards: dict = {}
    px = PixelQuirks()
    chips = list(enumerate(setup_.chips, start=1))
    shapes = [c.sci_shape for c in setup_.chips]
    if "sinks" in quirks:
        n = max(30, int(np.prod(shapes[0])) // 10000)
        hdus = [
            image_extension("SCI", ext, sink_map(rng, c, n, 1 if ext == 1 else -1), chip_ref_cards(c)[0])
            for ext, c in chips
        ]
        out.refkw["SNKCFILE"] = out.add("snkcfile", "snk", "SINK PIXELS", hdus, amp)
        cards["SINKCORR"] = "PERFORM"
    if "flash" in quirks:  # acs2d refuses a FLSHFILE with LTV != 0: always the full trimmed chip
        full = {c.ccdchip: c for c in (geometry.ACS_WFC_FULL if det == "WFC" else geometry.ACS_HRC_FULL)}
        hdus, px.flash = [], []
        for ext, c in chips:
            fc = full[c.ccdchip]
            f = (0.8 + 0.05 * rng.standard_normal(fc.sci_shape)).astype(F32)
            fdq = np.zeros(fc.sci_shape, np.int16)
            fdq[c.corner[1] + 11, c.corner[0] + 13] = 16
            hdus += imset(ext, f, None, fdq, cards=chip_ref_cards(fc)[1], err_value=0.01)
            ny, nx = c.sci_shape
            px.flash.append(f[c.corner[1] : c.corner[1] + ny, c.corner[0] : c.corner[0] + nx] * F32(FLASHDUR))
        out.refkw["FLSHFILE"] = out.add("flshfile", "fls", "POST FLASH", hdus, {**amp, "FLASHCUR": "LOW"})
        cards.update(FLASHDUR=FLASHDUR, FLASHSTA="SUCCESSFUL", FLASHCUR="LOW", FLSHCORR="PERFORM")
    if "shading" in quirks:
        px.shading = [np.broadcast_to(np.linspace(0.0, 0.02, s[0], dtype=F32)[:, None], s) for s in shapes]
        hdus = []
        for (ext, c), sh in zip(chips, px.shading, strict=True):
            hdus += imset(ext, np.ascontiguousarray(sh), None, None, cards=chip_ref_cards(c)[1])
        out.refkw["SHADFILE"] = out.add("shadfile", "shd", "SHUTTER SHADING", hdus)
        cards["SHADCORR"] = "PERFORM"
    if "delta-flat" in quirks:
        px.dflat = [(1.0 + 0.003 * rng.standard_normal(s)).astype(F32) for s in shapes]
        hdus = []
        for (ext, c), d in zip(chips, px.dflat, strict=True):
            hdus += imset(ext, d, None, None, cards=chip_ref_cards(c)[1])
        out.refkw["DFLTFILE"] = out.add(
            "dfltfile", "dfl", "DELTA FLAT", hdus, {**amp, "FILTER1": FILTER1, "FILTER2": FILTER2}
        )
    return out.entries, out.header_values("jref"), cards, px


# ----------------------------------------------------------------------------- raw exposures


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
    darktime = exptime  # the shutter-closed overhead is added by ACSCCD from CCDTAB (DARKTIME keyword)
    cards = {
        **exposure_cards("acs", root, f"{root}_raw.fits", nextend=3 * len(chips), targ=targ, proposid=17001),
        "PR_INV_L": "Simulator",
        "PR_INV_F": "Caldp",
        "SUNANGLE": 120.0,
        "MOONANGL": 90.0,
        "FGSLOCK": "FINE",
        **exposure_time_cards(date_obs, time_obs, expstart, exptime),
        "DARKTIME": darktime,
        "EXPFLAG": "NORMAL",
        "QUALCOM1": "",
        "OBSTYPE": "IMAGING",
        "OBSMODE": "ACCUM",
        "CTEIMAGE": "NONE",
        "SCLAMP": "NONE",
        "NRPTEXP": 1,
        "SUBARRAY": setup_.subarray,
        "DETECTOR": setup_.detector,
        "FILTER1": FILTER1,
        "FILTER2": FILTER2,
        "FW1OFFST": 0,
        "FW2OFFST": 0,
        "FWSOFFST": 0,
        "FW1ERROR": False,
        "FW2ERROR": False,
        "FWSERROR": False,
        "LRFWAVE": 0.0,
        "APERTURE": setup_.aperture,
        "PROPAPER": setup_.aperture,
        "DIRIMAGE": "NONE",
        "CTEDIR": "NONE",
        "CRSPLIT": crsplit,
        "JWROTYPE": "DS_INT",
        "DRIFTCOR": False,
        **readout_cards(setup_),
        **flash_off_cards(),
        **association_cards(asn_id, asn_mtyp),
        "XCORNER": 0.0,
        "YCORNER": 0.0,
        **amp_cards(),
    }
    finish_cards(cards, SWITCHES_CCD, refkw, UNUSED_REFS, crsplit=crsplit)
    if crsplit < 2:  # CRDS: CRREJTAB is relevant only when CRCORR or RPTCORR is not OMIT
        cards["CRREJTAB"] = "N/A"
    return cards


def raw_hdus(setup_: CCDSetup, pcards: dict, pixels, root: str):
    hdus = raw_chip_hdus(setup_, pcards, pixels, root, ORIGIN="caldp.sim")
    for h in hdus[1:]:
        if h.header["EXTNAME"] != "SCI":
            h.header["BUNIT"] = "COUNTS" if h.header["EXTNAME"] == "ERR" else "UNITLESS"
    return hdus


def dark_reference_time(setup_: CCDSetup, exptime: float) -> float:
    """Dark integration time the pixels received (DARKTIME + the CCDTAB overhead ACSCCD adds)."""
    return exptime + setup_.overhead


__all__ = [
    "setup",
    "write_references",
    "write_quirk_references",
    "primary_cards",
    "raw_hdus",
    "dark_reference_time",
    "F32",
]
