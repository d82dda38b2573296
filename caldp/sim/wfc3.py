"""WFC3/UVIS: detector set-ups, reference files and raw exposures as calwf3.e reads them.

Keywords and reference formats follow calib-wfc3.md §2.2, §8 (and the UVIS engine's test kit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import geometry
from .crdscache import RefEntry
from .detector import CCDSetup, ImageRefs
from .fitsutil import imset, null_extension, primary, table, write
from .naming import RefNamer
from .reftables import crrejtab_hdu, imphttab_hdus, mdriztab_hdu

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
    full = size == "full"
    return CCDSetup(
        "wfc3",
        "UVIS",
        size,
        geometry.UVIS_FULL if full else geometry.UVIS_SUB,
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


def _ref_primary(filetype: str, descrip: str, useafter: str = USEAFTER, **cards):
    base = {
        "TELESCOP": "HST",
        "INSTRUME": "WFC3",
        "DETECTOR": "UVIS",
        "FILETYPE": filetype,
        "USEAFTER": useafter,
        "PEDIGREE": "INFLIGHT 14/05/2009 01/01/2026",
        "DESCRIP": descrip[:67],
        "COMMENT": "Simulated by caldp.sim",
    }
    base.update(cards)
    return primary(base)


def _ccdtab() -> list:
    rows = [("ABCD", 2, 2048), ("ABCD", 1, 2048), ("C", 2, 4096)]
    n = len(rows)
    cols = {
        "CCDAMP": ("4A", [r[0] for r in rows]),
        "CCDCHIP": ("J", [r[1] for r in rows]),
        "CCDGAIN": ("E", [1.5] * n),
        "BINAXIS1": ("J", [1] * n),
        "BINAXIS2": ("J", [1] * n),
    }
    for a in "ABCD":
        cols[f"CCDOFST{a}"] = ("J", [3] * n)
    for name, key in (("CCDBIAS", "ccdbias"), ("ATODGN", "atodgn"), ("READNSE", "readnse")):
        for a in "ABCD":
            cols[f"{name}{a}"] = ("E", [_AMPS[key][a]] * n)
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


def _oscntab() -> list:
    nx, ny = 4206, 2070
    vs = 25 + 2048  # first serial-virtual column (0-based) = 2074 1-based
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


def _bpixtab() -> list:
    rows = [
        (100, 30, 400, 2, 4, 2),
        (300, 200, 40, 1, 16, 2),
        (3000, 1500, 300, 2, 4, 1),
        (2500, 40, 1, 1, 64, 2),
        (1200, 1000, 3, 1, 4, 1),
    ]
    cols = {
        "PIX1": ("J", [r[0] for r in rows]),
        "PIX2": ("J", [r[1] for r in rows]),
        "LENGTH": ("J", [r[2] for r in rows]),
        "AXIS": ("J", [r[3] for r in rows]),
        "VALUE": ("I", [r[4] for r in rows]),
        "CCDCHIP": ("J", [r[5] for r in rows]),
    }
    return [table(cols, {"SIZAXIS1": 4096, "SIZAXIS2": 2051})]


def _full_frame_const(ext: int, chip, value, names=(("SCI", None), ("ERR", 0.0), ("DQ", 0))) -> list:
    full = {c.ccdchip: c for c in geometry.UVIS_FULL}[chip.ccdchip]
    ltv1, ltv2 = full.ltv
    cards = {"CCDCHIP": full.ccdchip, "LTV1": ltv1, "LTV2": ltv2, "LTM1_1": 1.0, "LTM2_2": 1.0}
    return [null_extension(n, ext, full.raw_shape, value if v is None else v, cards) for n, v in names]


def write_references(refdir: Path, setup_: CCDSetup, refs: ImageRefs) -> tuple[list[RefEntry], dict[str, str]]:
    namer = RefNamer("wfc3", "UVIS", setup_.size)
    entries: list[RefEntry] = []
    refkw: dict[str, str] = {}

    def add(kind, suffix, filetype, hdus, match=None, useafter=USEAFTER, descrip="", **cards):
        name = namer.name(suffix)
        write([_ref_primary(filetype, descrip or f"caldp.sim {kind}", useafter, **cards), *hdus], refdir / name)
        entries.append(RefEntry("wfc3", kind, name, {"DETECTOR": "UVIS", **(match or {})}, useafter))
        return name

    add("ccdtab", "ccd", "CCD PARAMETERS", _ccdtab(), useafter=OLD_USEAFTER, descrip="caldp.sim early CCDTAB")
    refkw["CCDTAB"] = add("ccdtab", "ccd", "CCD PARAMETERS", _ccdtab())
    refkw["OSCNTAB"] = add("oscntab", "osc", "OVERSCAN", _oscntab())
    refkw["BPIXTAB"] = add("bpixtab", "bpx", "BAD PIXELS", _bpixtab())
    refkw["CRREJTAB"] = add("crrejtab", "crr", "COSMIC RAY REJECTION", [crrejtab_hdu()])
    refkw["IMPHTTAB"] = add(
        "imphttab",
        "imp",
        "IMAGE PHOTOMETRY TABLE",
        imphttab_hdus(UVIS_PHOT, ("PHOTFLAM", "PHOTPLAM", "PHOTBW", "PHTFLAM1", "PHTFLAM2")),
        PARNUM=1,
        PHOTZPT=-21.1,
    )
    refkw["MDRIZTAB"] = add("mdriztab", "mdz", "MULTIDRIZZLE PARAMETERS", [mdriztab_hdu()])
    bias_hdus, dark_hdus, flat_hdus, sat_hdus, snk_hdus = [], [], [], [], []
    for k, chip in enumerate(setup_.chips):
        ext = k + 1
        ltv1, ltv2 = chip.ltv
        raw_cards = {"CCDCHIP": chip.ccdchip, "LTV1": ltv1, "LTV2": ltv2, "LTM1_1": 1.0, "LTM2_2": 1.0}
        sci_cards = {
            "CCDCHIP": chip.ccdchip,
            "LTV1": 0.0 - chip.corner[0],
            "LTV2": 0.0 - chip.corner[1],
            "LTM1_1": 1.0,
            "LTM2_2": 1.0,
        }
        bdq = np.zeros(chip.raw_shape, np.int16)
        bdq[chip.raw_shape[0] // 3, chip.trimx[0] + 40 : chip.trimx[0] + 43] = 128
        bias_hdus += imset(ext, refs.bias[k], None, bdq, cards=raw_cards, err_value=0.4)
        ddq = np.where(refs.hot[k], 16, 0).astype(np.int16)
        dark_hdus += imset(ext, refs.dark[k], None, ddq, cards=sci_cards, err_value=0.0005)
        flat_hdus += imset(ext, refs.flat[k], None, None, cards=sci_cards, err_value=0.003)
        sat_hdus += _full_frame_const(ext, chip, setup_.saturate)
        snk_hdus += _full_frame_const(ext, chip, 0.0)
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
    return entries, {k: f"iref${v}" for k, v in refkw.items()}


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
        "SIMPLE": True,
        "DATE": "2026-01-01",
        "NEXTEND": 3 * len(chips),
        "FILENAME": f"{root.lower()}_raw.fits",
        "FILETYPE": "SCI",
        "TELESCOP": "HST",
        "INSTRUME": "WFC3",
        "EQUINOX": 2000.0,
        "ROOTNAME": root,
        "IMAGETYP": "EXT",
        "PRIMESI": "WFC3",
        "TARGNAME": "CALDP-SIM-FIELD",
        "RA_TARG": targ[0],
        "DEC_TARG": targ[1],
        "PROPOSID": 17002,
        "LINENUM": "01.001",
        "DATE-OBS": date_obs,
        "TIME-OBS": time_obs,
        "EXPSTART": expstart,
        "EXPEND": expstart + exptime / 86400.0,
        "EXPTIME": exptime,
        "TEXPTIME": exptime,
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
        "CCDAMP": setup_.ccdamp,
        "CCDGAIN": setup_.ccdgain,
        "CCDOFSTA": 3,
        "CCDOFSTB": 3,
        "CCDOFSTC": 3,
        "CCDOFSTD": 3,
        "BINAXIS1": 1,
        "BINAXIS2": 1,
        "CHINJECT": "NONE",
        "FLASHDUR": 0.0,
        "FLASHCUR": "OFF",
        "FLASHSTA": "NOT PERFORMED",
        "SHUTRPOS": "A",
        "PCTERNOI": 0.0,
        "ASN_ID": asn_id,
        "ASN_TAB": f"{asn_id.lower()}_asn.fits" if asn_id != "NONE" else "NONE",
        "ASN_MTYP": asn_mtyp,
        "CAL_VER": "",
    }
    for a in "ABCD":
        cards[f"ATODGN{a}"] = 0.0
        cards[f"READNSE{a}"] = 0.0
        cards[f"BIASLEV{a}"] = 0.0
    cards.update(UVIS_SWITCHES)
    cards["CRCORR"] = "PERFORM" if crsplit > 1 else "OMIT"
    cards.update(refkw)
    for k in UNUSED_REFS:
        cards.setdefault(k, "N/A")
    return cards


def raw_hdus(setup_: CCDSetup, pcards: dict, pixels, root: str):
    hdus = [primary(pcards)]
    for chip, px in zip(setup_.chips, pixels, strict=True):
        ltv1, ltv2 = chip.ltv
        ny, nx = chip.raw_shape
        cards = {
            "BUNIT": "COUNTS",
            "EXPNAME": root,
            "CCDCHIP": chip.ccdchip,
            "LTV1": ltv1,
            "LTV2": ltv2,
            "LTM1_1": 1.0,
            "LTM2_2": 1.0,
            "SIZAXIS1": nx,
            "SIZAXIS2": ny,
            "BINAXIS1": 1,
            "BINAXIS2": 1,
            "SDQFLAGS": 31743,
            "NCOMBINE": 1,
            "PA_APER": px.wcs_cards["ORIENTAT"],
            "RA_APER": px.wcs_cards["CRVAL1"],
            "DEC_APER": px.wcs_cards["CRVAL2"],
            **px.wcs_cards,
        }
        hdus += imset(chip.extver, px.raw, None, None, shape=chip.raw_shape, cards=cards)
    return hdus
