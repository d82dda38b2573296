"""A miniature WFC3/UVIS data set for unit tests (full-frame layout scaled down: 2 chips × 4 amps).

Chip raw size 206 × 70: prescan 25 | amp A/C 48 | 30 + 30 serial virtual | amp B/D 48 | overscan 25;
chip 1 (imset 2) has 19 parallel-virtual rows at the bottom, chip 2 (imset 1) at the top. The
references follow calib-wfc3.md §8. Everything is seeded and small (a few hundred kB).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from caldp.sim.fitsutil import imset, primary, table
from caldp.sim.products import write_asn as write_asn_table

F32 = np.float32
NX, NY, AMPX = 206, 70, 48
TRIMX = (25, 25, 30, 30)
SCI_NY = NY - 19
SCI_NX = 2 * AMPX
GAIN = 1.5
BIAS = 2500.0
RN = 3.0


def set_full_size(full: bool) -> None:
    """Switch the module geometry between the miniature (206×70) and the real chip (4206×2070)."""
    global NX, NY, AMPX, SCI_NY, SCI_NX
    NX, NY, AMPX = (4206, 2070, 2048) if full else (206, 70, 48)
    SCI_NY, SCI_NX = NY - 19, 2 * AMPX


def _chip_ltv2(chip: int) -> float:
    return 19.0 if chip == 1 else 0.0


def write_refs(refdir: Path, seed: int = 3) -> dict[str, str]:
    """Write the reference files; return header keyword → ``iref$name`` values."""
    rng = np.random.default_rng(seed)
    refdir.mkdir(parents=True, exist_ok=True)
    common = dict(DETECTOR="UVIS", PEDIGREE="INFLIGHT 01/01/2010", DESCRIP="caldp test reference")
    # CCDTAB
    ccd = {
        "CCDAMP": ("4A", ["ABCD", "ABCD"]),
        "CCDCHIP": ("J", [1, 2]),
        "CCDGAIN": ("E", [GAIN, GAIN]),
        "BINAXIS1": ("J", [1, 1]),
        "BINAXIS2": ("J", [1, 1]),
    }
    for a in "ABCD":
        ccd[f"CCDOFST{a}"] = ("J", [3, 3])
        ccd[f"CCDBIAS{a}"] = ("E", [BIAS, BIAS])
        ccd[f"ATODGN{a}"] = ("E", [GAIN, GAIN] if a in "AC" else [1.55, 1.55])
        ccd[f"READNSE{a}"] = ("E", [RN, RN])
    ccd.update({"AMPX": ("J", [AMPX, AMPX]), "AMPY": ("J", [0, 0]), "SATURATE": ("E", [63000.0, 63000.0])})
    fits.HDUList([primary(dict(FILETYPE="CCD PARAMETERS", **common)), table(ccd)]).writeto(
        refdir / "t_ccd.fits", overwrite=True
    )
    vs = 25 + AMPX  # first serial-virtual column (0-based)
    # OSCNTAB: 0-based bias sections A 5..21 (cols 6..22 1-based), C/D in the serial virtual region.
    osc = {
        "CCDAMP": ("4A", ["ABCD", "ABCD"]),
        "CCDCHIP": ("J", [1, 2]),
        "BINX": ("J", [1, 1]),
        "BINY": ("J", [1, 1]),
        "NX": ("J", [NX, NX]),
        "NY": ("J", [NY, NY]),
        "TRIMX1": ("J", [25, 25]),
        "TRIMX2": ("J", [25, 25]),
        "TRIMX3": ("J", [30, 30]),
        "TRIMX4": ("J", [30, 30]),
        "TRIMY1": ("J", [19, 0]),
        "TRIMY2": ("J", [0, 19]),
        "BIASSECTA1": ("J", [6, 6]),
        "BIASSECTA2": ("J", [22, 22]),
        "BIASSECTB1": ("J", [NX - 21] * 2),
        "BIASSECTB2": ("J", [NX - 5] * 2),
        "BIASSECTC1": ("J", [vs + 6] * 2),
        "BIASSECTC2": ("J", [vs + 27] * 2),
        "BIASSECTD1": ("J", [vs + 34] * 2),
        "BIASSECTD2": ("J", [vs + 55] * 2),
        "VX1": ("J", [30, 30]),
        "VX2": ("J", [vs - 3] * 2),
        "VY1": ("J", [1, NY - 17]),
        "VY2": ("J", [18, NY]),
        "VX3": ("J", [vs + 63] * 2),
        "VX4": ("J", [NX - 30] * 2),
        "VY3": ("J", [1, NY - 17]),
        "VY4": ("J", [18, NY]),
    }
    fits.HDUList([primary(dict(FILETYPE="OVERSCAN", **common)), table(osc)]).writeto(
        refdir / "t_osc.fits", overwrite=True
    )
    # BPIXTAB (trimmed coordinates, 1-based): a hot column, a row run crossing the amp boundary, a warm pixel.
    bpx = {
        "PIX1": ("J", [10, 40, 60, 70]),
        "PIX2": ("J", [5, 20, 30, 40]),
        "LENGTH": ("J", [10, 20, 1, 3]),
        "AXIS": ("J", [2, 1, 1, 2]),
        "VALUE": ("I", [16, 4, 64, 16]),
        "CCDCHIP": ("J", [1, 2, 2, -999]),
    }
    fits.HDUList(
        [primary(dict(FILETYPE="BAD PIXELS", **common)), table(bpx, dict(SIZAXIS1=SCI_NX, SIZAXIS2=SCI_NY))]
    ).writeto(refdir / "t_bpx.fits", overwrite=True)
    # BIASFILE (raw geometry, both chips)
    hdus = [primary(dict(FILETYPE="BIAS", CCDGAIN=GAIN, CCDAMP="ABCD", **common))]
    sat = [primary(dict(FILETYPE="FULL-WELL SATURATION LEVEL MAP", **common))]
    snk = [primary(dict(FILETYPE="SINK PIXELS", **common))]
    for ext, chip in ((1, 2), (2, 1)):
        b = rng.normal(0.0, 0.5, (NY, NX)).astype(F32)
        b[:, 50] += 30.0  # warm bias column
        bdq = np.zeros((NY, NX), np.int16)
        bdq[3, 60] = 128
        hdus += imset(
            ext, b, np.full((NY, NX), 0.3, F32), bdq, cards=dict(CCDCHIP=chip, LTV1=25.0, LTV2=_chip_ltv2(chip))
        )
        s = np.full((NY, NX), 70000.0, F32)
        s[:, 25 + AMPX : 85 + AMPX] = 0.0
        sat += imset(ext, s, None, None, cards=dict(CCDCHIP=chip, LTV1=25.0, LTV2=_chip_ltv2(chip)))
        m = np.zeros((NY, NX), F32)
        # one sink in each chip with a trail upstream and a downstream marker
        r = 40
        m[r, 90] = 55000.0
        up = 1 if ext == 1 else -1
        m[r - up, 90] = -1.0
        m[r + up, 90], m[r + 2 * up, 90], m[r + 3 * up, 90] = 900.0, 5.0, 700.0
        snk += imset(ext, m, None, None, cards=dict(CCDCHIP=chip, LTV1=25.0, LTV2=_chip_ltv2(chip)))
    for lst, name in ((hdus, "t_bia.fits"), (sat, "t_sat.fits"), (snk, "t_snk.fits")):
        lst[0].header["NEXTEND"] = len(lst) - 1
        fits.HDUList(lst).writeto(refdir / name, overwrite=True)
    # DARK and PFLT (trimmed geometry)
    drk = [primary(dict(FILETYPE="DARK", **common))]
    flt = [primary(dict(FILETYPE="PIXEL-TO-PIXEL FLAT", FILTER="F606W", **common))]
    for ext, chip in ((1, 2), (2, 1)):
        d = np.full((SCI_NY, SCI_NX), 0.002, F32)
        d[10, 10] = 2.0
        ddq = np.zeros((SCI_NY, SCI_NX), np.int16)
        ddq[10, 10] = 16
        drk += imset(ext, d, np.full((SCI_NY, SCI_NX), 0.0004, F32), ddq, cards=dict(CCDCHIP=chip))
        f = (1.0 + rng.normal(0, 0.01, (SCI_NY, SCI_NX))).astype(F32)
        f[7, 7] = 0.0
        flt += imset(ext, f, np.full((SCI_NY, SCI_NX), 0.005, F32), None, cards=dict(CCDCHIP=chip))
    for lst, name in ((drk, "t_drk.fits"), (flt, "t_pfl.fits")):
        lst[0].header["NEXTEND"] = len(lst) - 1
        fits.HDUList(lst).writeto(refdir / name, overwrite=True)
    # CRREJTAB
    crr = {
        "CRSPLIT": ("J", [2, 2]),
        "MEANEXP": ("E", [1000.0, 200.0]),
        "SCALENSE": ("E", [30.0, 30.0]),
        "INITGUES": ("8A", ["minimum", "minimum"]),
        "SKYSUB": ("8A", ["mode", "mode"]),
        "CRSIGMAS": ("12A", ["6.5,5.5,4.5", "6.5,5.5,4.5"]),
        "CRRADIUS": ("E", [2.1, 2.1]),
        "CRTHRESH": ("E", [0.5555, 0.5555]),
        "BADINPDQ": ("I", [39, 39]),
        "CRMASK": ("J", [1, 1]),
    }
    fits.HDUList([primary(dict(FILETYPE="COSMIC RAY REJECTION", **common)), table(crr)]).writeto(
        refdir / "t_crr.fits", overwrite=True
    )
    # IMPHTTAB (scalar DATACOL rows)
    pht = [primary(dict(FILETYPE="IMAGE PHOTOMETRY TABLE", PARNUM=1, PHOTZPT=-21.1, NEXTEND=5, **common))]
    vals = {
        "PHOTFLAM": (1.16e-19, 1.15e-19),
        "PHOTPLAM": (5889.0, 5888.0),
        "PHOTBW": (672.0, 671.0),
        "PHTFLAM1": (1.1575178e-19, 1.1575178e-19),
        "PHTFLAM2": (1.1654605e-19, 1.1654605e-19),
    }
    for name, (v2, v1) in vals.items():
        mjd = np.array([[55000.0, 60000.0, 65000.0]] * 2)
        curve = np.array([[v2, v2 * 1.001, v2 * 1.002], [v1, v1 * 1.001, v1 * 1.002]])
        t = table(
            {
                "OBSMODE": ("24A", ["wfc3,uvis2,f606w,mjd#", "wfc3,uvis1,f606w,mjd#"]),
                "DATACOL": ("12A", [name + "1", name + "1"]),
                name: ("D", [v2, v1]),
                "NELEM1": ("J", [3, 3]),
                "PAR1NAMES": ("8A", ["mjd#", "mjd#"]),
                "PAR1VALUES": ("3D", mjd),
                name + "1": ("3D", curve),
            }
        )
        t.header["EXTNAME"] = name
        pht.append(t)
    fits.HDUList(pht).writeto(refdir / "t_pht.fits", overwrite=True)
    return {
        "CCDTAB": "iref$t_ccd.fits",
        "OSCNTAB": "iref$t_osc.fits",
        "BPIXTAB": "iref$t_bpx.fits",
        "BIASFILE": "iref$t_bia.fits",
        "SATUFILE": "iref$t_sat.fits",
        "SNKCFILE": "iref$t_snk.fits",
        "DARKFILE": "iref$t_drk.fits",
        "PFLTFILE": "iref$t_pfl.fits",
        "DFLTFILE": "N/A",
        "LFLTFILE": "N/A",
        "CRREJTAB": "iref$t_crr.fits",
        "IMPHTTAB": "iref$t_pht.fits",
        "ATODTAB": "N/A",
        "FLSHFILE": "N/A",
        "SHADFILE": "N/A",
        "PCTETAB": "N/A",
        "DRKCFILE": "N/A",
        "BIACFILE": "N/A",
    }


def write_optional_refs(refdir: Path, seed: int = 5) -> dict[str, str]:
    """Post-flash (raw geometry, e⁻/s) and shutter-shading (trimmed geometry) references for the
    optional steps FLSHCORR and SHADCORR; returns header keyword → ``iref$name`` values."""
    rng = np.random.default_rng(seed)
    common = dict(DETECTOR="UVIS", PEDIGREE="INFLIGHT 01/01/2010", DESCRIP="caldp test reference")
    fls = [primary(dict(FILETYPE="POST FLASH", **common))]
    shd = [primary(dict(FILETYPE="SHUTTER SHADING", **common))]
    for ext, chip in ((1, 2), (2, 1)):
        f = rng.uniform(1.0, 3.0, (NY, NX)).astype(F32)
        fdq = np.zeros((NY, NX), np.int16)
        fdq[12, 40] = 4
        fls += imset(
            ext, f, np.full((NY, NX), 0.05, F32), fdq, cards=dict(CCDCHIP=chip, LTV1=25.0, LTV2=_chip_ltv2(chip))
        )
        sh = rng.uniform(-0.02, 0.02, (SCI_NY, SCI_NX)).astype(F32)
        shd += imset(ext, sh, np.full((SCI_NY, SCI_NX), 0.001, F32), None, cards=dict(CCDCHIP=chip))
    for lst, name in ((fls, "t_fls.fits"), (shd, "t_shd.fits")):
        lst[0].header["NEXTEND"] = len(lst) - 1
        fits.HDUList(lst).writeto(refdir / name, overwrite=True)
    return {"FLSHFILE": "iref$t_fls.fits", "SHADFILE": "iref$t_shd.fits"}


SWITCHES = {
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
    "CRCORR": "PERFORM",
    "RPTCORR": "OMIT",
    "EXPSCORR": "PERFORM",
}


def truth_scene(seed: int = 7) -> np.ndarray:
    """Electrons per exposure on both trimmed chips (sky + a few stars), shape (2, SCI_NY, SCI_NX)."""
    rng = np.random.default_rng(seed)
    scene = np.full((2, SCI_NY, SCI_NX), 300.0)
    yy, xx = np.mgrid[0:SCI_NY, 0:SCI_NX]
    for c in range(2):
        for _ in range(4):
            y0, x0, f = rng.uniform(5, SCI_NY - 5), rng.uniform(5, SCI_NX - 5), rng.uniform(2e3, 8e4)
            scene[c] += f * np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * 1.2**2))
    return scene


def write_raw(
    path: Path,
    root: str,
    refkw: dict,
    *,
    scene,
    seed: int,
    exptime: float = 100.0,
    expstart: float = 60300.25,
    ncr: int = 25,
    switches=None,
) -> dict:
    """Write one raw exposure; returns the CR positions per imset (trimmed coordinates)."""
    rng = np.random.default_rng(seed)
    sw = dict(SWITCHES if switches is None else switches)
    prim = dict(
        ROOTNAME=root.upper(),
        INSTRUME="WFC3",
        DETECTOR="UVIS",
        FILTER="F606W",
        APERTURE="UVIS",
        OBSTYPE="IMAGING",
        EXPTIME=exptime,
        EXPSTART=expstart,
        EXPEND=expstart + exptime / 86400.0,
        SUBARRAY=False,
        NEXTEND=6,
        CCDAMP="ABCD",
        CCDGAIN=GAIN,
        CCDOFSTA=3,
        CCDOFSTB=3,
        CCDOFSTC=3,
        CCDOFSTD=3,
        FLASHDUR=0.0,
        FLASHSTA="NONE",
        EXPFLAG="NORMAL",
        BIASLEVA=0.0,
        BIASLEVB=0.0,
        BIASLEVC=0.0,
        BIASLEVD=0.0,
        ATODGNA=0.0,
        ATODGNB=0.0,
        ATODGNC=0.0,
        ATODGND=0.0,
        READNSEA=0.0,
        READNSEB=0.0,
        READNSEC=0.0,
        READNSED=0.0,
    )
    prim.update(sw)
    prim.update(refkw)
    hdus = [primary(dict(**prim))]
    crs = {}
    for ext, chip in ((1, 2), (2, 1)):
        c = 0 if chip == 2 else 1
        e = rng.poisson(scene[c]).astype(float)
        ys, xs = rng.integers(0, SCI_NY, ncr), rng.integers(0, SCI_NX, ncr)
        e[ys, xs] += rng.uniform(500, 20000, ncr)
        crs[ext] = (ys, xs)
        gains = np.where(np.arange(SCI_NX) < AMPX, GAIN, 1.55)
        dn_sci = e / gains
        raw = np.zeros((NY, NX))
        y0 = 19 if chip == 1 else 0
        raw[y0 : y0 + SCI_NY, 25 : 25 + AMPX] = dn_sci[:, :AMPX]
        raw[y0 : y0 + SCI_NY, 85 + AMPX : 85 + 2 * AMPX] = dn_sci[:, AMPX:]
        drift = 0.02 * np.arange(NX)[None, :]
        raw = raw + BIAS + drift + rng.normal(0, RN / GAIN, (NY, NX))
        raw[5, 30] = 65535.0  # A-to-D saturated pixel in the overscan rows
        raw = np.clip(np.round(raw), 0, 65535).astype(np.uint16)
        h = dict(
            CCDCHIP=chip,
            LTV1=25.0,
            LTV2=_chip_ltv2(chip),
            LTM1_1=1.0,
            LTM2_2=1.0,
            BUNIT="COUNTS",
            SDQFLAGS=31743,
            BINAXIS1=1,
            BINAXIS2=1,
            CRPIX1=100.0,
            CRPIX2=40.0,
        )
        sci = fits.ImageHDU(data=(raw.astype(np.int32) - 32768).astype(np.int16))
        sci.header["EXTNAME"], sci.header["EXTVER"] = "SCI", ext
        sci.header["BZERO"], sci.header["BSCALE"] = 32768, 1
        for k, v in h.items():
            sci.header[k] = v
        err = fits.ImageHDU()
        dq = fits.ImageHDU()
        for hdu, name in ((err, "ERR"), (dq, "DQ")):
            hdu.header["EXTNAME"], hdu.header["EXTVER"] = name, ext
            hdu.header["NPIX1"], hdu.header["NPIX2"], hdu.header["PIXVALUE"] = NX, NY, 0
            hdu.header["CCDCHIP"] = chip
        hdus += [sci, err, dq]
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return crs


def write_asn(path: Path, product: str, members: list[str]) -> None:
    """A CR-SPLIT association (products marked present, as the parity runs expect)."""
    write_asn_table(
        path, product, "WFC3", "UVIS", members, memtype="EXP-CRJ", product_type="PROD-CRJ", product_present=True
    )


def make_dataset(root: Path, *, nexp: int = 2, full: bool = False, ncr: int | None = None) -> dict:
    """An association ``tst01011`` with `nexp` CR-SPLIT members plus references under root/refs.

    `full`: real chip geometry (4206×2070 per chip) instead of the miniature one.
    """
    set_full_size(full)
    if ncr is None:
        ncr = 20000 if full else 25
    root.mkdir(parents=True, exist_ok=True)
    refkw = write_refs(root / "refs")
    scene = truth_scene()
    members = [f"tst01a{k + 1}q" for k in range(nexp)]
    crs = {}
    for k, m in enumerate(members):
        crs[m] = write_raw(
            root / f"{m}_raw.fits", m, refkw, scene=scene, seed=100 + k, expstart=60300.25 + k * 0.01, ncr=ncr
        )
    write_asn(root / "tst01011_asn.fits", "tst01011", members)
    out = {
        "asn": root / "tst01011_asn.fits",
        "members": members,
        "env": {"iref": str(root / "refs") + "/"},
        "scene": scene,
        "crs": crs,
    }
    set_full_size(False)
    return out
