"""Tiny ACS/WFC-like calibrated association for drizzle tests (used until caldp.sim lands).

Two dithered exposures, each with two chips (``SCI,1`` = WFC2 below ``SCI,2`` = WFC1), a
tangent-plane WCS per chip (0.05"/px, no distortion: IDCTAB N/A), Gaussian stars at known
RA/Dec, a cosmic ray in each exposure, ERR and DQ. Written as ``_raw`` (headers only, carrying
DRIZCORR and MDRIZTAB), ``_flt`` and ``_asn``, plus a minimal MDRIZTAB in ``refdir``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

PIXSCALE = 0.05 / 3600.0  # deg per pixel
RA0, DEC0 = 150.1, 2.2


@dataclass(frozen=True, slots=True)
class SynthAssociation:
    workdir: Path
    asn: str  # association file name
    product: str  # product rootname (lower case)
    members: tuple[str, ...]  # member rootnames
    stars: np.ndarray  # (n, 2) RA, Dec in degrees
    env: dict[str, str]


def chip_wcs(nx: int, ny: int, chip: int, dither: tuple[float, float], orient_deg: float = 0.0) -> WCS:
    """WCS of one chip: the detector centre offset by +/- half a chip height and the dither (pixels)."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [RA0, DEC0]
    # chip 1 (WFC1) sits above chip 2; the detector centre is the edge between them
    edge = 0.5 if chip == 1 else ny + 0.5
    w.wcs.crpix = [nx / 2.0 + 0.5 - dither[0], edge - dither[1]]
    th = np.deg2rad(orient_deg)
    w.wcs.cd = PIXSCALE * np.array([[-np.cos(th), np.sin(th)], [np.sin(th), np.cos(th)]])
    return w


def cd_header(w: WCS) -> fits.Header:
    """The CD-matrix form of a WCS header, as HST calibrated products carry it."""
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = w.wcs.ctype
    h["CRPIX1"], h["CRPIX2"] = w.wcs.crpix
    h["CRVAL1"], h["CRVAL2"] = w.wcs.crval
    for i in range(2):
        for j in range(2):
            h[f"CD{i + 1}_{j + 1}"] = w.wcs.cd[i, j]
    return h


def add_gaussians(img: np.ndarray, xy: np.ndarray, flux: np.ndarray, sigma: float = 1.3) -> None:
    """Add Gaussian stars at 0-based pixel positions `xy` ((n, 2), x, y), vectorised over a 15x15 stamp."""
    ny, nx = img.shape
    r = np.arange(-7, 8)
    dy, dx = np.meshgrid(r, r, indexing="ij")
    for (x, y), f in zip(xy, flux, strict=True):
        ix, iy = int(round(x)), int(round(y))
        ys, xs = iy + dy, ix + dx
        ok = (ys >= 0) & (ys < ny) & (xs >= 0) & (xs < nx)
        val = f / (2 * np.pi * sigma**2) * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
        np.add.at(img, (ys[ok], xs[ok]), val[ok].astype(img.dtype))


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


def write_mdriztab(path: Path) -> None:
    """A minimal MDRIZTAB: one ANY row per image count; columns are AstroDrizzle parameter names."""
    t = Table(
        {
            "filter": ["ANY", "ANY"],
            "numimages": np.array([1, 2], dtype=np.int32),
            "build": np.array([1, 1], dtype=np.int8),
            "driz_separate": np.array([0, 1], dtype=np.int8),
            "median": np.array([0, 1], dtype=np.int8),
            "blot": np.array([0, 1], dtype=np.int8),
            "driz_cr": np.array([0, 1], dtype=np.int8),
            "skysub": np.array([1, 1], dtype=np.int8),
            "skymethod": ["localmin", "localmin"],
            "combine_type": ["minmed", "minmed"],
            "final_wht_type": ["EXP", "EXP"],
            "final_kernel": ["square", "square"],
            "final_pixfrac": np.array([1.0, 1.0], dtype=np.float32),
            "final_bits": np.array([336, 336], dtype=np.int32),
            "driz_sep_bits": np.array([336, 336], dtype=np.int32),
        }
    )
    hdu = fits.table_to_hdu(t)
    hdu.header["EXTNAME"] = "MDRIZTAB"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)


def primary_header(root: str, asn_id: str, drizcorr: str) -> fits.Header:
    h = fits.Header()
    for k, v in {
        "TELESCOP": "HST",
        "INSTRUME": "ACS",
        "DETECTOR": "WFC",
        "ROOTNAME": root,
        "ASN_ID": asn_id.upper(),
        "ASN_TAB": f"{asn_id}_asn.fits",
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
        "ATODGNA": 2.0,
        "ATODGNB": 2.0,
        "ATODGNC": 2.0,
        "ATODGND": 2.0,
        "READNSEA": 4.0,
        "READNSEB": 4.0,
        "READNSEC": 4.0,
        "READNSED": 4.0,
        "MEANDARK": 0.0,
        "SUBARRAY": False,
        "DRIZCORR": drizcorr,
        "MDRIZTAB": "jref$synth_mdz.fits",
        "IDCTAB": "N/A",
        "NPOLFILE": "N/A",
        "D2IMFILE": "N/A",
        "DGEOFILE": "N/A",
        "FLASHDUR": 0.0,
        "SHUTRPOS": "A",
        "PHOTMODE": "ACS WFC1 F606W",
    }.items():
        h[k] = v
    return h


def make_association(
    workdir: Path,
    *,
    nx: int = 128,
    ny: int = 64,
    nstars: int = 12,
    seed: int = 1,
    drizcorr: str = "PERFORM",
    dithers: tuple[tuple[float, float], ...] = ((0.0, 0.0), (2.5, 1.5)),
    flc: bool = False,
) -> SynthAssociation:
    """Write the association into `workdir` (and ``workdir/ref/`` for jref) and return its description.

    With `flc`, each exposure also gets an ``_flc`` (the CTE-corrected twin: here the same pixels).
    """
    rng = np.random.default_rng(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    refdir = workdir / "ref"
    refdir.mkdir(exist_ok=True)
    write_mdriztab(refdir / "synth_mdz.fits")
    asn_id = "jsyn01010"
    members = tuple(f"jsyn01{c}q" for c in ("abc", "abd")[: len(dithers)])
    # stars spread over both chips of the undithered pointing, away from the edges
    w1, w2 = chip_wcs(nx, ny, 1, (0, 0)), chip_wcs(nx, ny, 2, (0, 0))
    xs, ys = separated_positions(rng, nstars, nx, ny)
    onchip1 = np.arange(nstars) % 2 == 0
    ra = np.where(onchip1, w1.all_pix2world(xs, ys, 0)[0], w2.all_pix2world(xs, ys, 0)[0])
    dec = np.where(onchip1, w1.all_pix2world(xs, ys, 0)[1], w2.all_pix2world(xs, ys, 0)[1])
    stars = np.column_stack([ra, dec])
    flux = rng.uniform(3e3, 3e4, nstars)
    for root, dither in zip(members, dithers, strict=True):
        ph = primary_header(root, asn_id, drizcorr)
        fits.HDUList([fits.PrimaryHDU(header=ph)]).writeto(workdir / f"{root}_raw.fits", overwrite=True)
        hdus = [fits.PrimaryHDU(header=ph.copy())]
        hdus[0].header["FILENAME"] = f"{root}_flt.fits"
        for extver, chip in ((1, 2), (2, 1)):
            w = chip_wcs(nx, ny, chip, dither)
            sci = np.full((ny, nx), 20.0, np.float32) + rng.normal(0, 3, (ny, nx)).astype(np.float32)
            px, py = w.all_world2pix(stars[:, 0], stars[:, 1], 0)
            add_gaussians(sci, np.column_stack([px, py]), flux)
            dq = np.zeros((ny, nx), np.int16)  # HST DQ is int16 on disk
            cy = rng.integers(5, ny - 5)
            sci[cy, 2:5] += 5000.0  # a cosmic ray, away from the stars (x >= 12)
            dq[3, :] = 4  # a bad row (DQ 4: bad pixel in the reference)
            err = np.sqrt(np.abs(sci) + 16).astype(np.float32)
            hdr = cd_header(w)
            for k, v in {
                "CCDCHIP": chip,
                "BUNIT": "ELECTRONS",
                "LTV1": 0.0,
                "LTV2": 0.0,
                "LTM1_1": 1.0,
                "LTM2_2": 1.0,
                "ORIENTAT": 0.0,
                "VAFACTOR": 1.0,
                "PHOTFLAM": 1.5e-19,
                "PHOTPLAM": 5900.0,
                "PHOTZPT": -21.1,
                "MEANDARK": 0.0,
                "NGOODPIX": nx * ny,
                "GOODMEAN": 20.0,
                "WCSNAME": "OPUS",
                "EXPNAME": root,
            }.items():
                hdr[k] = v
            for name, data in (("SCI", sci), ("ERR", err), ("DQ", dq)):
                h = fits.ImageHDU(data=data, header=hdr.copy() if name == "SCI" else None, name=name)
                h.header["EXTVER"] = extver
                if name != "SCI":
                    h.header["CCDCHIP"] = chip
                hdus.append(h)
        fits.HDUList(hdus).writeto(workdir / f"{root}_flt.fits", overwrite=True)
        if flc:
            hdus[0].header["FILENAME"] = f"{root}_flc.fits"
            fits.HDUList(hdus).writeto(workdir / f"{root}_flc.fits", overwrite=True)
    asn = Table(
        {
            "MEMNAME": [m.upper() for m in members] + [asn_id.upper()],
            "MEMTYPE": ["EXP-DTH"] * len(members) + ["PROD-DTH"],
            "MEMPRSNT": np.ones(len(members) + 1, bool),
        }
    )
    ahdu = fits.table_to_hdu(asn)
    ahdu.header["EXTNAME"] = "ASN"
    aph = fits.Header({"INSTRUME": "ACS", "DETECTOR": "WFC", "ROOTNAME": asn_id, "ASN_ID": asn_id.upper()})
    fits.HDUList([fits.PrimaryHDU(header=aph), ahdu]).writeto(workdir / f"{asn_id}_asn.fits", overwrite=True)
    env = {"jref": f"{refdir}/"}
    return SynthAssociation(workdir, f"{asn_id}_asn.fits", asn_id, members, stars, env)
