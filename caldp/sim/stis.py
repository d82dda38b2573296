"""STIS CCD imaging (50CCD, CR-SPLIT=2): references, CRDS entries and raw exposures as cs0.e reads them.

Formats follow the STIS data handbook and what calstis (HSTCAL ``pkg/stis``) reads:

- One ``<asn>_raw.fits`` holds every CR-SPLIT imset (SCI/ERR/DQ × CRSPLIT), the way STIS
  associations are delivered; ``<asn>_asn.fits`` lists it (EXP-CRJ) and the product (PROD-CRJ).
- Full frame: 1062 × 1044 raw pixels read through amp D (LTV1=19, LTV2=20: 19 serial overscan
  columns on each side, 20 virtual-overscan rows below the image). Small: a 1060 × 128 subarray
  (18 overscan columns per side, no virtual overscan). The overscan geometry is built into
  calstis (no OSCNTAB for STIS).
- Reference images (BIASFILE, DARKFILE, PFLTFILE) are 1024 × 1024 with LTV=0; BPIXTAB rows
  are in those (trimmed) pixels with SIZAXIS1/2 in its header; CCDTAB rows match CCDAMP,
  CCDGAIN, CCDOFFST, BINAXIS1/2; the dark carries REF_TEMP/DRK_VS_T for the side-2 temperature
  scaling of OCCDHTAV; IMPHTTAB obsmodes are ``stis,50ccd,mirror,ccd,mjd#``; TDSTAB has the
  temperature-sensitivity columns calstis1 reads for imaging PHOTCORR.

>>> geometry("small").raw_shape, geometry("full").raw_shape
((128, 1060), (1044, 1062))
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.time import Time

from .ccd import bias_structure, dark_structure, flat_structure, poisson_counts
from .crdscache import RefEntry
from .fitsutil import F32, image_extension, imset, primary, table, write
from .products import write_asn, write_spt
from .reftables import crrejtab_hdu, imphttab_hdus
from .scene import Pointing, cosmic_rays, make_starfield, render_points, star_pixels

#: mode → (detector, CR-SPLIT, MJD of the first exposure); simulated by :func:`make_dataset`
MODES = {"stis-ccd-image": ("CCD", 2, 60410.3)}
PEDIGREE = "INFLIGHT 01/01/2002 01/01/2026"
USEAFTER = "2002-01-01 00:00:00"
OPT_ELEM, APERTURE = "MIRROR", "50CCD"
CCDGAIN, CCDOFFST, CCDAMP = 1, 3, "D"
ATODGAIN, READNSE, CCDBIAS, SATURATE = 1.0, 5.4, 1500.0, 33000.0
PLATESC = 0.05078  # arcsec per pixel
DARK_RATE = 0.006  # e⁻/s at REF_TEMP
REF_TEMP, DRK_VS_T, OCCDHTAV = 18.0, 0.07, 19.3
PHOT = {"stis,50ccd,mirror,ccd,mjd#": (5.8e-20, 5851.9, 1890.2)}
SWITCHES = {
    "STATFLAG": True,
    "DQICORR": "PERFORM",
    "ATODCORR": "OMIT",
    "BLEVCORR": "PERFORM",
    "BIASCORR": "PERFORM",
    "CRCORR": "PERFORM",
    "RPTCORR": "OMIT",
    "EXPSCORR": "PERFORM",
    "DARKCORR": "PERFORM",
    "FLATCORR": "PERFORM",
    "SHADCORR": "OMIT",
    "PHOTCORR": "PERFORM",
    "GLINCORR": "OMIT",
    "LFLGCORR": "OMIT",
    "LORSCORR": "OMIT",
    "DOPPCORR": "OMIT",
    "WAVECORR": "OMIT",
    "X1DCORR": "OMIT",
    "BACKCORR": "OMIT",
    "HELCORR": "OMIT",
    "DISPCORR": "OMIT",
    "FLUXCORR": "OMIT",
    "CTECORR": "OMIT",
    "X2DCORR": "OMIT",
    "GEOCORR": "OMIT",
    "SGEOCORR": "OMIT",
    "SC2DCORR": "OMIT",
}
UNUSED_REFS = (
    "ATODTAB",
    "DFLTFILE",
    "LFLTFILE",
    "SHADFILE",
    "MLINTAB",
    "APERTAB",
    "PHOTTAB",
    "SDCTAB",
    "WCPTAB",
    "LAMPTAB",
    "APDESTAB",
    "SPTRCTAB",
    "DISPTAB",
    "INANGTAB",
    "IDCTAB",
    "PCTAB",
    "XTRACTAB",
    "ECHSCTAB",
    "EXSTAB",
    "CDSTAB",
    "RIPTAB",
    "HALOTAB",
    "TELTAB",
    "SRWTAB",
    "GACTAB",
    "TDCTAB",
)


@dataclass(frozen=True, slots=True)
class Geometry:
    """Raw frame of one size: shape (ny, nx), LTV of the raw SCI header, illuminated rows/columns."""

    raw_shape: tuple[int, int]
    ltv: tuple[float, float]
    trimx: tuple[int, int]  # overscan columns (left, right)
    trimy: tuple[int, int]  # rows below / above the image (virtual overscan)
    ycorner: int  # first detector row of the image (0-based, trimmed coordinates)

    @property
    def sci_shape(self) -> tuple[int, int]:
        ny, nx = self.raw_shape
        return ny - sum(self.trimy), nx - sum(self.trimx)


def geometry(size: str) -> Geometry:
    if size == "full":
        return Geometry((1044, 1062), (19.0, 20.0), (19, 19), (20, 0), 0)
    if size == "small":
        return Geometry((128, 1060), (18.0, -448.0), (18, 18), (0, 0), 448)
    raise ValueError(f"size must be small or full, not {size!r}")


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), 7000, *keys])


def dataset_names(index: int) -> str:
    """``ocs7<vv>010`` (an association id; the raw file carries every CR-SPLIT imset).

    >>> dataset_names(0)
    'ocs701010'
    """
    n = index + 1
    b36 = "0123456789abcdefghijklmnopqrstuvwxyz"
    if not 0 < n < 36 * 36:
        raise ValueError(f"dataset index {index} out of range")
    return f"ocs7{b36[n // 36]}{b36[n % 36]}010"


# ----------------------------------------------------------------------------- references


@dataclass(slots=True)
class Refs:
    bias: np.ndarray  # DN, 1024²
    dark: np.ndarray  # e⁻/s at REF_TEMP, 1024²
    hot: np.ndarray
    flat: np.ndarray
    bad_rows: list  # BPIXTAB rows (PIX1, PIX2, LENGTH, AXIS, VALUE)


def make_refs(seed: int) -> Refs:
    rng = _rng(seed, 1)
    shape = (1024, 1024)
    bias = bias_structure(rng, shape, amplitude=1.2)
    dark, hot = dark_structure(rng, shape, rate=DARK_RATE, hot_fraction=0.002, hot_range=(0.1, 2.0))
    flat = flat_structure(rng, shape, p2p=0.008, large=0.02)
    bad = [
        (100, 1, 1024, 2, 4),  # a bad column (in every subarray)
        (700, 300, 200, 2, 16),  # a hot column segment
        (1, 480, 60, 1, 4),  # a bad row segment inside the small subarray
        (512, 470, 1, 1, 256),
        (900, 900, 5, 1, 4),
    ]
    return Refs(bias, dark, hot, flat, bad)


def _ref(refdir: Path, name: str, filetype: str, hdus, descrip: str, **cards) -> Path:
    head = primary(
        {
            "TELESCOP": "HST",
            "INSTRUME": "STIS",
            "DETECTOR": "CCD",
            "FILETYPE": filetype,
            "USEAFTER": USEAFTER,
            "PEDIGREE": PEDIGREE,
            "DESCRIP": descrip[:67],
            "COMMENT": "Simulated by caldp.sim",
            **cards,
        }
    )
    return write([head, *hdus], refdir / name)


def _ref_cards() -> dict:
    return {"LTV1": 0.0, "LTV2": 0.0, "LTM1_1": 1.0, "LTM2_2": 1.0}


def _ccdtab() -> list:
    rows = [  # (CCDAMP, CCDGAIN, CCDOFFST, bias, atodgain, readnse, saturate)
        ("A", 1, 3, 1420.0, 1.0, 5.2, 33000.0),
        ("D", 1, 3, CCDBIAS, ATODGAIN, READNSE, SATURATE),
        ("D", 4, 3, 1500.0, 4.08, 7.7, 144000.0),
    ]
    n = len(rows)
    cols = {
        "CCDAMP": ("1A", [r[0] for r in rows]),
        "CCDGAIN": ("J", [r[1] for r in rows]),
        "BINAXIS1": ("J", [1] * n),
        "BINAXIS2": ("J", [1] * n),
        "CCDOFFST": ("J", [r[2] for r in rows]),
        "CCDBIAS": ("E", [r[3] for r in rows]),
        "ATODGAIN": ("E", [r[4] for r in rows]),
        "READNSE": ("E", [r[5] for r in rows]),
        "SATURATE": ("E", [r[6] for r in rows]),
        "BLEV_CLIP": ("E", [50.0] * n),
        "CTINORM": ("E", [0.0] * n),
        "CTIGPOWER": ("E", [0.0] * n),
        "CTIBGFAC": ("E", [0.0] * n),
        "CTIBGPOWER": ("E", [0.0] * n),
        "CTITIMFAC": ("E", [0.0] * n),
        "CTIREFMJD": ("E", [51000.0] * n),
        "SPURCHARGE": ("E", [0.0] * n),
        "PEDIGREE": ("24A", ["INFLIGHT"] * n),
        "DESCRIP": ("40A", ["caldp.sim CCD parameters"] * n),
    }
    return [table(cols)]


def bpixtab_hdus(rows, opt_elem: str) -> list:
    """A 1024² BPIXTAB (CCD and MAMA): `rows` (PIX1, PIX2, LENGTH, AXIS, VALUE), all for `opt_elem`."""
    cols = {
        "OPT_ELEM": ("8A", [opt_elem] * len(rows)),
        "PIX1": ("J", [r[0] for r in rows]),
        "PIX2": ("J", [r[1] for r in rows]),
        "LENGTH": ("J", [r[2] for r in rows]),
        "AXIS": ("J", [r[3] for r in rows]),
        "VALUE": ("I", [r[4] for r in rows]),
    }
    return [table(cols, {"SIZAXIS1": 1024, "SIZAXIS2": 1024})]


def tdstab_hdus(opt_elem: str, wl: np.ndarray, sens: np.ndarray, reftemp: float, descrip: str) -> list:
    """A one-row TDSTAB with only the temperature dependence (TEMPSENS at wavelengths `wl`)."""
    cols = {
        "OPT_ELEM": ("8A", [opt_elem]),
        "NWL": ("J", [wl.size]),
        "WAVELENGTH": (f"{wl.size}D", wl[None, :]),
        "REFTEMP": ("D", [reftemp]),
        "TEMPSENS": (f"{wl.size}D", sens[None, :]),
        "PEDIGREE": ("24A", ["INFLIGHT"]),
        "DESCRIP": ("40A", [descrip]),
    }
    return [table(cols)]


def _tdstab() -> list:
    wl = np.array([2000.0, 4000.0, 6000.0, 8000.0, 10000.0, 12000.0])
    sens = np.array([-0.0030, -0.0026, -0.0021, -0.0015, -0.0010, -0.0008])
    return tdstab_hdus(OPT_ELEM, wl, sens, 18.0, "caldp.sim temperature sensitivity")


def write_references(refdir: Path, size: str, refs: Refs) -> tuple[list[RefEntry], dict[str, str]]:
    """Every reference calstis reads for CCD imaging; returns the rmap entries and raw-header values.

    The same files serve both sizes (calstis cuts 1024² references to a subarray)."""
    refdir = Path(refdir)
    names = {
        "bpixtab": (
            "BPIXTAB",
            "s7a0001o_bpx.fits",
            "BAD PIXELS",
            bpixtab_hdus(refs.bad_rows, OPT_ELEM),
            {"DETECTOR": "CCD"},
        ),
        "ccdtab": ("CCDTAB", "s7a0002o_ccd.fits", "CCD PARAMETERS", _ccdtab(), {}),
        "crrejtab": ("CRREJTAB", "s7a0003o_crr.fits", "COSMIC RAY REJECTION", [crrejtab_hdu()], {}),
        "imphttab": (
            "IMPHTTAB",
            "s7a0004o_imp.fits",
            "IMAGE PHOTOMETRY TABLE",
            imphttab_hdus(PHOT, ("PHOTFLAM", "PHOTPLAM", "PHOTBW")),
            {},
        ),
        "tdstab": ("TDSTAB", "s7a0005o_tds.fits", "TIME DEPENDENT SENSITIVITY", _tdstab(), {"DETECTOR": "CCD"}),
    }
    entries: list[RefEntry] = []
    refkw: dict[str, str] = {}
    for kind, (kw, name, ftype, hdus, match) in names.items():
        extra = {"PARNUM": 1, "PHOTZPT": -21.1} if kind == "imphttab" else {}
        _ref(refdir, name, ftype, hdus, f"caldp.sim STIS {kind}", **extra)
        entries.append(RefEntry("stis", kind, name, match, USEAFTER))
        refkw[kw] = name
    cards = _ref_cards()
    amp = {"CCDAMP": CCDAMP, "CCDGAIN": CCDGAIN, "CCDOFFST": CCDOFFST, "BINAXIS1": 1, "BINAXIS2": 1}
    ddq = np.where(refs.hot, 16, 0).astype(np.int16)
    bdq = np.zeros((1024, 1024), np.int16)
    bdq[::97, 5] = 8
    images = {
        "biasfile": (
            "BIASFILE",
            "s7a0006o_bia.fits",
            "BIAS",
            imset(1, refs.bias, None, bdq, cards=cards, err_value=0.4),
            amp,
            amp,
        ),
        "darkfile": (
            "DARKFILE",
            "s7a0007o_drk.fits",
            "DARK",
            imset(1, refs.dark, None, ddq, cards=cards, err_value=0.0015),
            {"DETECTOR": "CCD", "CCDAMP": CCDAMP, "CCDGAIN": CCDGAIN},
            {"CCDAMP": CCDAMP, "CCDGAIN": CCDGAIN, "REF_TEMP": REF_TEMP, "DRK_VS_T": DRK_VS_T},
        ),
        "pfltfile": (
            "PFLTFILE",
            "s7a0008o_pfl.fits",
            "PIXEL-TO-PIXEL FLAT",
            imset(1, refs.flat, None, None, cards=cards, err_value=0.002),
            {"DETECTOR": "CCD", "OPT_ELEM": OPT_ELEM, "OBSTYPE": "IMAGING", "APERTURE": APERTURE},
            {"OPT_ELEM": OPT_ELEM, "APERTURE": APERTURE},
        ),
    }
    for kind, (kw, name, ftype, hdus, match, extra) in images.items():
        _ref(refdir, name, ftype, hdus, f"caldp.sim STIS {kind}", **extra)
        entries.append(RefEntry("stis", kind, name, match, USEAFTER))
        refkw[kw] = name
    if size not in ("small", "full"):
        raise ValueError(size)
    return entries, {k: f"oref${v}" for k, v in refkw.items()}


# ----------------------------------------------------------------------------- raw exposures


def _date_time(mjd: float) -> tuple[str, str]:
    iso = Time(mjd, format="mjd", scale="utc").isot
    return iso[:10], iso[11:19]


def primary_cards(
    name: str, *, nimsets: int, mjd: float, exptime: float, targ, refkw: dict, subarray: bool = False
) -> dict:
    date_obs, time_obs = _date_time(mjd)
    texptime = exptime * nimsets
    cards = {
        "SIMPLE": True,
        "DATE": "2026-01-01",
        "NEXTEND": 3 * nimsets,
        "FILENAME": f"{name.lower()}_raw.fits",
        "FILETYPE": "SCI",
        "TELESCOP": "HST",
        "INSTRUME": "STIS",
        "EQUINOX": 2000.0,
        "ROOTNAME": name.upper(),
        "PRIMESI": "STIS",
        "TARGNAME": "CALDP-SIM-FIELD",
        "RA_TARG": targ[0],
        "DEC_TARG": targ[1],
        "PROPOSID": 17007,
        "LINENUM": "01.001",
        "TDATEOBS": date_obs,
        "TTIMEOBS": time_obs,
        "TEXPSTRT": mjd,
        "TEXPEND": mjd + (texptime + 60.0 * (nimsets - 1)) / 86400.0,
        "TEXPTIME": texptime,
        "DATE-OBS": date_obs,
        "TIME-OBS": time_obs,
        "QUALCOM1": "",
        "OBSTYPE": "IMAGING",
        "OBSMODE": "ACCUM",
        "PHOTMODE": "",
        "SCLAMP": "NONE",
        "NRPTEXP": 1,
        "SUBARRAY": subarray,
        "DETECTOR": "CCD",
        "OPT_ELEM": OPT_ELEM,
        "APERTURE": APERTURE,
        "PROPAPER": APERTURE,
        "FILTER": "Clear",
        "APER_FOV": "50x50",
        "CRSPLIT": nimsets,
        "CCDAMP": CCDAMP,
        "CCDGAIN": CCDGAIN,
        "CCDOFFST": CCDOFFST,
        "BINAXIS1": 1,
        "BINAXIS2": 1,
        "ATODGAIN": 0.0,
        "READNSE": 0.0,
        "ASN_ID": name.upper(),
        "ASN_TAB": f"{name.lower()}_asn.fits",
        "ASN_MTYP": "EXP-CRJ",
        "CAL_VER": "",
        "WAVECAL": "N/A",
        **SWITCHES,
        **refkw,
    }
    for k in UNUSED_REFS:
        cards.setdefault(k, "N/A")
    return cards


def raw_sci_cards(name: str, ltv, shape, *, expstart: float, exptime: float, **lead) -> dict:
    """The keywords every raw STIS SCI header of the simulator starts with (CCD and MAMA): BUNIT,
    `lead`, the exposure name, the subarray geometry (`ltv`, `shape` = (ny, nx)) and the times."""
    ny, nx = shape
    return {
        "BUNIT": "COUNTS",
        **lead,
        "EXPNAME": name.upper()[:8] + "Q",
        "ORIGIN": "caldp.sim",
        "LTV1": ltv[0],
        "LTV2": ltv[1],
        "LTM1_1": 1.0,
        "LTM2_2": 1.0,
        "SIZAXIS1": nx,
        "SIZAXIS2": ny,
        "BINAXIS1": 1,
        "BINAXIS2": 1,
        "SDQFLAGS": 31743,
        "NCOMBINE": 1,
        "EXPSTART": expstart,
        "EXPEND": expstart + exptime / 86400.0,
        "EXPTIME": exptime,
    }


def sci_cards(name: str, geo: Geometry, pointing: Pointing, *, expstart: float, exptime: float) -> dict:
    wcs = pointing.header_cards((0.0, float(geo.ycorner)), geo.ltv)
    return {
        **raw_sci_cards(name, geo.ltv, geo.raw_shape, expstart=expstart, exptime=exptime),
        "OCCDHTAV": OCCDHTAV,
        "PLATESC": PLATESC,
        **wcs,
    }


def _raw_pixels(rng, geo: Geometry, refs: Refs, image_e: np.ndarray, exptime: float) -> np.ndarray:
    """One raw readout (uint16 DN): image electrons + dark, read noise, bias pattern, overscan levels."""
    ny, nx = geo.sci_shape
    rows = slice(geo.ycorner, geo.ycorner + ny)
    scale = 1.0 + DRK_VS_T * (OCCDHTAV - REF_TEMP)
    electrons = image_e + refs.dark[rows] * (exptime * scale)
    n_cr = int(rng.poisson(ny * nx * exptime * 2e-5))
    crs, _ = cosmic_rays(rng, (ny, nx), n_cr)
    counts = poisson_counts(rng, electrons) + crs.astype(np.float32)
    counts = np.minimum(counts, np.float32(1.3 * SATURATE * ATODGAIN))
    rny, rnx = geo.raw_shape
    raw = np.empty((rny, rnx), np.float32)
    raw[...] = rng.normal(0.0, READNSE / ATODGAIN, (rny, rnx)).astype(np.float32)
    level = CCDBIAS + np.linspace(-1.5, 1.5, rny, dtype=np.float32)[:, None]  # bias drift down the chip
    raw += level.astype(np.float32)
    raw += np.linspace(0.0, 0.8, rnx, dtype=np.float32)[None, :]  # along the lines (virtual overscan slope)
    y0, x0 = geo.trimy[0], geo.trimx[0]
    raw[y0 : y0 + ny, x0 : x0 + nx] += counts / np.float32(ATODGAIN) + refs.bias[rows]
    return np.clip(np.rint(raw), 0, 65535).astype(np.uint16)


def ccd_references(store, size: str):
    """The CCD references' arrays and header cards, written once per simulate() call (shared by
    ``stis-ccd-image`` and ``stis-ccd-spec``)."""

    def write():
        refs = make_refs(store.seed)
        entries, refkw = write_references(store.refdir, size, refs)
        return entries, (refs, refkw)

    return store.once(("stis", "CCD"), write)


def make_dataset(outdir, mode: str, index: int, size: str, seed: int, store, truth: bool):
    """One ``stis-ccd-image`` dataset under ``outdir/inputs/<name>``; its references go once into
    ``store`` (``store.once``). The other STIS modes are made by
    :mod:`.stis_spec`, :mod:`.stis_mama` and :mod:`.stis_echelle` (``core._stis_maker`` picks)."""
    detector, nimsets, mjd0 = MODES[mode]
    refs, refkw = ccd_references(store, size)
    geo = geometry(size)
    name = dataset_names(index)
    ddir = Path(outdir) / "inputs" / name
    if ddir.exists():
        shutil.rmtree(ddir)
    ddir.mkdir(parents=True)
    rng = _rng(seed, ("small", "full").index(size), index)
    ny, nx = geo.sci_shape
    ra, dec = float(rng.uniform(10.0, 350.0)), float(rng.uniform(-60.0, 60.0))
    pointing = Pointing((ra, dec), (512.0, 512.0), PLATESC, float(rng.uniform(0.0, 360.0)))
    extent = (-10.0, 1034.0, geo.ycorner - 10.0, geo.ycorner + ny + 10.0)
    nstars = int(np.clip(ny * nx / 3000, 25, 400))
    stars = make_starfield(rng, pointing, extent, nstars, (0.5, 300.0), n_bright=2, bright_rate=4000.0)
    exptime = 300.0
    wcs = pointing.wcs((0.0, float(geo.ycorner)))
    sx, sy = star_pixels(stars, wcs)
    image_rate = render_points((ny, nx), sx, sy, stars.rate, sigma=1.1) + 0.05
    image_rate *= refs.flat[geo.ycorner : geo.ycorner + ny]
    cards = primary_cards(
        name, nimsets=nimsets, mjd=mjd0, exptime=exptime, targ=pointing.crval, refkw=refkw, subarray=size == "small"
    )
    hdus = [primary(cards)]
    truth_info = {"ra": stars.ra.tolist(), "dec": stars.dec.tolist(), "rate": stars.rate.tolist()}
    for k in range(nimsets):
        expstart = mjd0 + k * (exptime + 60.0) / 86400.0
        raw = _raw_pixels(rng, geo, refs, (image_rate * exptime).astype(F32), exptime)
        cards = sci_cards(name, geo, pointing, expstart=expstart, exptime=exptime)
        hdus += imset(k + 1, raw, None, None, cards=cards)
    for h in hdus[1:]:
        if h.header["EXTNAME"] != "SCI":
            h.header["BUNIT"] = "COUNTS" if h.header["EXTNAME"] == "ERR" else "UNITLESS"
    files = [
        write_asn(ddir / f"{name}_asn.fits", name, "STIS", "CCD", [name], memtype="EXP-CRJ", product_type="PROD-CRJ"),
        write(hdus, ddir / f"{name}_raw.fits"),
        write_spt(ddir / f"{name}_spt.fits", name, "STIS", "CCD", {"PROPOSID": 17007, "EXPSTART": mjd0}),
    ]
    if truth:
        tfile = write(
            [
                primary({"ROOTNAME": name.upper(), "BUNIT": "ELECTRONS/S"}),
                image_extension("SCI", 1, image_rate.astype(F32)),
            ],
            Path(outdir) / "truth" / name / f"{name}_truth.fits",
        )
        truth_info["truth_file"] = str(tfile)
    return name, ddir, files, (truth_info if truth else None)
