"""Synthetic ACS/WFC data sets for the builtin calacs engine (seeded, written from scratch).

Two geometries:

* ``mini``: a post-SM4 WFC1 subarray read by amp A (APERTURE ``WFC1A-512``: BLEVCORR by the
  original overscan fit, DARKTIME overhead applied): raw 224 × 120 = 24 prescan columns + 200,
  20 virtual-overscan rows at the bottom + 100. References have the same geometry.
* ``full``: a post-SM4 full-frame WFC exposure (two chips 4144 × 2068, DS_INT, gain 2: bias shift,
  cross-talk, destripe) with full-size references.

Each makes a CR-SPLIT=2 association (``tst01a1q``, ``tst01a2q`` → ``tst01011_crj``) with a star
field, sky, cosmic rays, hot pixels, a saturated star, and the references in ``refs/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from caldp.sim.fitsutil import image_extension, primary, table, write
from caldp.sim.products import write_asn as write_asn_table

F32 = np.float32
GAIN = 2.0
RN = 4.5
BIAS_DN = 2200.0
EXPSTART = 60300.2553
SAT_E = 80000.0


def _geom(full: bool) -> dict:
    if full:
        return {
            "nx": 4144,
            "ny": 2068,
            "chips": (2, 1),
            "ccdamp": "ABCD",
            "subarray": False,
            "aperture": "WFC",
            "tnx": 4096,
            "tny": 2048,
        }
    return {
        "nx": 224,
        "ny": 120,
        "chips": (1,),
        "ccdamp": "A",
        "subarray": True,
        "aperture": "WFC1A-512",
        "tnx": 200,
        "tny": 100,
    }


def _ltv(chip: int, full: bool) -> tuple[float, float]:
    return (24.0, 20.0) if (chip == 1 or not full) else (24.0, 0.0)


def _sci_rows(chip: int, g: dict) -> slice:
    """Rows of the raw chip holding science pixels (virtual overscan at the bottom of chip 1)."""
    return slice(20, g["ny"]) if chip == 1 else slice(0, g["tny"])


def _image(path: Path, chips_data, primary_cards: dict) -> None:
    hdus = [primary(primary_cards)]
    for ver, (chip, sci, err, dq, ltv) in enumerate(chips_data, start=1):
        kw = {"CCDCHIP": chip, "LTV1": ltv[0], "LTV2": ltv[1]}
        hdus += [image_extension(name, ver, data, kw) for name, data in (("SCI", sci), ("ERR", err), ("DQ", dq))]
    write(hdus, path)


def _table(path: Path, cols: dict, primary_cards: dict, extname: str | None = None) -> None:
    write([primary(primary_cards), table(cols, {"EXTNAME": extname} if extname else None)], path)


def write_refs(refdir: Path, *, full: bool, seed: int = 3) -> dict[str, str]:
    """Write the references; return the header keyword → ``jref$name`` values."""
    rng = np.random.default_rng(seed)
    g = _geom(full)
    refdir.mkdir(parents=True, exist_ok=True)
    common = {"INSTRUME": "ACS", "DETECTOR": "WFC", "PEDIGREE": "INFLIGHT 01/01/2010", "DESCRIP": "caldp test ref"}
    amps = "ABCD"
    rows = [("A", 1, 4096, 0)] if not full else [("ABCD", 2, 2048, 0), ("ABCD", 1, 2048, 0)]
    ccd = {
        "CCDAMP": ("4A", [r[0] for r in rows]),
        "CCDCHIP": ("J", [r[1] for r in rows]),
        "CCDGAIN": ("E", [GAIN] * len(rows)),
        "BINAXIS1": ("J", [1] * len(rows)),
        "BINAXIS2": ("J", [1] * len(rows)),
    }
    for k, a in enumerate(amps):
        ccd[f"CCDOFST{a}"] = ("J", [3] * len(rows))
        ccd[f"CCDBIAS{a}"] = ("E", [BIAS_DN + 10 * k] * len(rows))
        ccd[f"ATODGN{a}"] = ("E", [GAIN + 0.01 * k] * len(rows))
        ccd[f"READNSE{a}"] = ("E", [RN + 0.1 * k] * len(rows))
    ccd.update(
        {
            "AMPX": ("J", [r[2] for r in rows]),
            "AMPY": ("J", [r[3] for r in rows]),
            "ATODSAT": ("J", [65535] * len(rows)),
            "SATURATE": ("E", [SAT_E] * len(rows)),
            "OVRHFLS": ("E", [22.0] * len(rows)),
            "OVRHUFLS": ("E", [3.0] * len(rows)),
        }
    )
    _table(refdir / "t_ccd.fits", ccd, {**common, "FILETYPE": "CCD PARAMETERS"})
    if full:
        osc_rows = [("ABCD", 2, 4144, 2068, 24, 24, 0, 20), ("ABCD", 1, 4144, 2068, 24, 24, 20, 0)]
        bsa, bsb = (19, 24), (4121, 4126)
    else:
        osc_rows = [("A", 1, 224, 120, 24, 0, 20, 0)]
        bsa, bsb = (9, 24), (0, 0)
    osc = {
        "CCDAMP": ("4A", [r[0] for r in osc_rows]),
        "CCDCHIP": ("J", [r[1] for r in osc_rows]),
        "BINX": ("J", [1] * len(osc_rows)),
        "BINY": ("J", [1] * len(osc_rows)),
        "NX": ("J", [r[2] for r in osc_rows]),
        "NY": ("J", [r[3] for r in osc_rows]),
        "TRIMX1": ("J", [r[4] for r in osc_rows]),
        "TRIMX2": ("J", [r[5] for r in osc_rows]),
        "TRIMY1": ("J", [r[6] for r in osc_rows]),
        "TRIMY2": ("J", [r[7] for r in osc_rows]),
        "BIASSECTA1": ("J", [bsa[0]] * len(osc_rows)),
        "BIASSECTA2": ("J", [bsa[1]] * len(osc_rows)),
        "BIASSECTB1": ("J", [bsb[0]] * len(osc_rows)),
        "BIASSECTB2": ("J", [bsb[1]] * len(osc_rows)),
    }
    for k in ("VX1", "VX2", "VY1", "VY2"):
        osc[k] = ("J", [0] * len(osc_rows))
    _table(refdir / "t_osc.fits", osc, {**common, "FILETYPE": "OVERSCAN REGIONS"})
    # BPIXTAB: a bad column and a warm row segment per chip (detector coordinates)
    bp = {
        "PIX1": ("J", []),
        "PIX2": ("J", []),
        "LENGTH": ("J", []),
        "AXIS": ("J", []),
        "VALUE": ("J", []),
        "CCDCHIP": ("J", []),
        "CCDAMP": ("4A", []),
        "CCDGAIN": ("E", []),
    }
    bvals = []
    for chip in g["chips"]:
        bvals += [(37, 5, 40, 2, 4, chip), (60, 70, 15, 1, 32, chip), (150, 90, 20, 2, 4, chip)]
    for name, i in (("PIX1", 0), ("PIX2", 1), ("LENGTH", 2), ("AXIS", 3), ("VALUE", 4), ("CCDCHIP", 5)):
        bp[name] = ("J", [b[i] for b in bvals])
    bp["CCDAMP"] = ("4A", ["N/A"] * len(bvals))
    bp["CCDGAIN"] = ("E", [-999.0] * len(bvals))
    _table(refdir / "t_bpx.fits", bp, {**common, "FILETYPE": "BAD PIXELS"})
    raw_shape, trim_shape = (g["ny"], g["nx"]), (g["tny"], g["tnx"])
    bias, satu, dark, flat = [], [], [], []
    for chip in g["chips"]:
        ltv = _ltv(chip, full)
        b = (rng.normal(0.0, 1.5, raw_shape) + 5.0).astype(F32)
        bdq = np.zeros(raw_shape, np.int16)
        bdq[3, 100] = 128
        bias.append((chip, b, np.full(raw_shape, 0.9, F32), bdq, ltv))
        s = np.full(raw_shape, SAT_E, F32)
        s[:, : raw_shape[1] // 3] = SAT_E * 0.9
        satu.append((chip, s, np.zeros(raw_shape, F32), np.zeros(raw_shape, np.int16), ltv))
        d = rng.gamma(2.0, 0.002, trim_shape).astype(F32)
        ddq = np.zeros(trim_shape, np.int16)
        hot = rng.integers(0, trim_shape[0] * trim_shape[1], 40)
        d.flat[hot] = 0.5
        ddq.flat[hot] = 16
        dark.append((chip, d, np.full(trim_shape, 1e-4, F32), ddq, (0.0, 0.0)))
        f = (1.0 + rng.normal(0, 0.01, trim_shape)).astype(F32)
        f[7, 9] = 0.0
        flat.append((chip, f, np.full(trim_shape, 0.002, F32), np.zeros(trim_shape, np.int16), (0.0, 0.0)))
    _image(refdir / "t_bia.fits", bias, {**common, "FILETYPE": "BIAS"})
    _image(refdir / "t_sat.fits", satu, {**common, "FILETYPE": "FULL-WELL SATURATION MAP"})
    _image(refdir / "t_drk.fits", dark, {**common, "FILETYPE": "DARK"})
    _image(refdir / "t_pfl.fits", flat, {**common, "FILETYPE": "PIXEL-TO-PIXEL FLAT"})
    crr = {
        "CRSPLIT": ("J", [2, 2, 3]),
        "MEANEXP": ("E", [100.0, 1000.0, 1000.0]),
        "SCALENSE": ("E", [30.0, 30.0, 30.0]),
        "INITGUES": ("8A", ["minimum"] * 3),
        "SKYSUB": ("8A", ["mode"] * 3),
        "CRSIGMAS": ("12A", ["6.5,5.5,4.5"] * 3),
        "CRRADIUS": ("E", [2.1] * 3),
        "CRTHRESH": ("E", [0.5556] * 3),
        "BADINPDQ": ("I", [39] * 3),
        "CRMASK": ("L", [True] * 3),
    }
    _table(refdir / "t_crr.fits", crr, {**common, "FILETYPE": "COSMIC RAY REJECTION"})
    pht = [
        fits.PrimaryHDU(
            header=fits.Header(
                {**common, "FILETYPE": "IMAGE PHOTOMETRY TABLE", "PARNUM": 1, "PHOTZPT": -21.1, "NEXTEND": 3}
            )
        )
    ]
    for name, v in (("PHOTFLAM", 7.7e-20), ("PHOTPLAM", 5921.0), ("PHOTBW", 672.3)):
        t = fits.BinTableHDU.from_columns(
            [
                fits.Column(name="OBSMODE", format="24A", array=["acs,wfc1,f606w,mjd#"]),
                fits.Column(name="DATACOL", format="12A", array=[name + "1"]),
                fits.Column(name=name, format="D", array=[v]),
                fits.Column(name="NELEM1", format="J", array=[3]),
                fits.Column(name="PAR1NAMES", format="8A", array=["mjd#"]),
                fits.Column(name="PAR1VALUES", format="3D", array=[[52000.0, 58000.0, 64000.0]]),
                fits.Column(name=name + "1", format="3D", array=[[v, v * 1.003, v * 1.005]]),
            ]
        )
        t.header["EXTNAME"] = name
        pht.append(t)
    fits.HDUList(pht).writeto(refdir / "t_pht.fits", overwrite=True)
    # SNKCFILE: SCI-only, raw geometry; sinks (< -1) with a pixel downstream (-1) and a trail upstream (> 0)
    snk = [fits.PrimaryHDU(header=fits.Header({**common, "FILETYPE": "SINK PIXELS", "NEXTEND": len(g["chips"])}))]
    for ver, chip in enumerate(g["chips"], start=1):
        m = np.zeros(raw_shape, F32)
        rows = _sci_rows(chip, g)
        step = 1 if ver == 1 else -1  # readout direction of the scan (dosink.c)
        ys = rng.integers(rows.start + 5, rows.stop - 5, 30)
        xs = rng.integers(30, raw_shape[1] - 5, 30)
        for y, x in zip(ys, xs, strict=True):
            m[y - step, x] = -1.0
            m[y, x] = -2.0
            for k, v in enumerate((400.0, 250.0, 120.0, 40.0), start=1):
                m[y + k * step, x] = v
        snk.append(
            image_extension("SCI", ver, m, dict(CCDCHIP=chip, LTV1=_ltv(chip, full)[0], LTV2=_ltv(chip, full)[1]))
        )
    fits.HDUList(snk).writeto(refdir / "t_snk.fits", overwrite=True)
    # post-flash (e-/s of flash), shutter shading (s), a second (delta) flat
    flsh, shad, dflt = [], [], []
    for chip in g["chips"]:
        f = (0.8 + 0.05 * rng.standard_normal(trim_shape)).astype(F32)
        fdq = np.zeros(trim_shape, np.int16)
        fdq[11, 13] = 16
        flsh.append((chip, f, np.full(trim_shape, 0.01, F32), fdq, (0.0, 0.0)))
        yy = np.linspace(0.0, 0.02, trim_shape[0], dtype=F32)[:, None]
        shad.append(
            (
                chip,
                np.broadcast_to(yy, trim_shape).astype(F32),
                np.zeros(trim_shape, F32),
                np.zeros(trim_shape, np.int16),
                (0.0, 0.0),
            )
        )
        d = (1.0 + 0.003 * rng.standard_normal(trim_shape)).astype(F32)
        dflt.append((chip, d, np.zeros(trim_shape, F32), np.zeros(trim_shape, np.int16), (0.0, 0.0)))
    _image(refdir / "t_fls.fits", flsh, {**common, "FILETYPE": "POST FLASH"})
    _image(refdir / "t_shd.fits", shad, {**common, "FILETYPE": "SHUTTER SHADING"})
    _image(refdir / "t_dfl.fits", dflt, {**common, "FILETYPE": "DELTA FLAT"})
    return {
        "CCDTAB": "jref$t_ccd.fits",
        "OSCNTAB": "jref$t_osc.fits",
        "BPIXTAB": "jref$t_bpx.fits",
        "BIASFILE": "jref$t_bia.fits",
        "SATUFILE": "jref$t_sat.fits",
        "DARKFILE": "jref$t_drk.fits",
        "PFLTFILE": "jref$t_pfl.fits",
        "DFLTFILE": "N/A",
        "LFLTFILE": "N/A",
        "CFLTFILE": "N/A",
        "CRREJTAB": "jref$t_crr.fits",
        "IMPHTTAB": "jref$t_pht.fits",
        "ATODTAB": "N/A",
        "FLSHFILE": "N/A",
        "SHADFILE": "N/A",
        "SPOTTAB": "N/A",
        "SNKCFILE": "jref$t_snk.fits",
        "PCTETAB": "N/A",
        "DRKCFILE": "N/A",
    }


def truth_scene(shape, seed: int) -> np.ndarray:
    """Electrons per second: flat sky plus Gaussian stars (one saturating)."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    img = np.full(shape, 0.6, np.float64)
    y, x = np.mgrid[0:ny, 0:nx]
    nstar = max(6, ny * nx // 4000)
    for k in range(nstar):
        cy, cx = rng.uniform(5, ny - 5), rng.uniform(5, nx - 5)
        flux = 3000.0 if k else 4.0e5
        sl = (slice(max(int(cy) - 8, 0), int(cy) + 9), slice(max(int(cx) - 8, 0), int(cx) + 9))
        img[sl] += flux / (2 * np.pi * 1.5**2) * np.exp(-((y[sl] - cy) ** 2 + (x[sl] - cx) ** 2) / (2 * 1.5**2))
    return img


def write_raw(
    path: Path,
    root: str,
    refs: dict,
    *,
    full: bool,
    seed: int,
    exptime: float = 400.0,
    ncr: int | None = None,
    sinkcorr: bool = True,
    expstart: float = EXPSTART,
) -> None:
    g = _geom(full)
    rng = np.random.default_rng(seed)
    chips = []
    for chip in g["chips"]:
        rate = truth_scene((g["tny"], g["tnx"]), 11 + chip)
        e = rng.poisson(rate * exptime).astype(np.float64)
        n = ncr if ncr is not None else max(5, g["tny"] * g["tnx"] // 2000)
        cy, cx = rng.integers(1, g["tny"] - 1, n), rng.integers(1, g["tnx"] - 1, n)
        e[cy, cx] += rng.uniform(500, 5000, n)
        e[cy, cx + 1] += rng.uniform(100, 1000, n)
        raw = np.zeros((g["ny"], g["nx"]), np.float64)
        rows = _sci_rows(chip, g)
        if full:
            raw[rows, 24 : 24 + g["tnx"]] = e
        else:
            raw[rows, 24:] = e
        raw = raw / GAIN + BIAS_DN + 5.0 + rng.normal(0, RN / GAIN, raw.shape)
        raw += np.linspace(0, 1.5, g["ny"])[:, None]  # slow bias drift along the columns
        dn = np.clip(np.round(raw), 0, 65535).astype(np.uint16)
        chips.append((chip, dn))
    primary = {
        "INSTRUME": "ACS",
        "DETECTOR": "WFC",
        "ROOTNAME": root.upper(),
        "FILENAME": path.name,
        "IMAGETYP": "EXT",
        "OBSTYPE": "IMAGING",
        "TARGNAME": "SYNTH",
        "FILTER1": "F606W",
        "FILTER2": "CLEAR2L",
        "EXPTIME": exptime,
        "EXPSTART": expstart,
        "EXPEND": expstart + exptime / 86400,
        "DARKTIME": exptime + 1.0,
        "FLASHDUR": 0.0,
        "FLASHSTA": "NOT PERFORMED",
        "SUBARRAY": g["subarray"],
        "APERTURE": g["aperture"],
        "CCDAMP": g["ccdamp"],
        "CCDGAIN": GAIN,
        "JWROTYPE": "DS_int",
        "CCDOFSTA": 3,
        "CCDOFSTB": 3,
        "CCDOFSTC": 3,
        "CCDOFSTD": 3,
        "ASN_MTYP": "EXP-CRJ",
        "BIASLEVA": 0.0,
        "BIASLEVB": 0.0,
        "BIASLEVC": 0.0,
        "BIASLEVD": 0.0,
        **{
            k: "PERFORM"
            for k in ("DQICORR", "BIASCORR", "BLEVCORR", "DARKCORR", "FLATCORR", "PHOTCORR", "CRCORR", "EXPSCORR")
        },
        **{k: "OMIT" for k in ("ATODCORR", "PCTECORR", "FLSHCORR", "SHADCORR", "RPTCORR")},
        "SINKCORR": "PERFORM" if sinkcorr else "OMIT",
        **refs,
    }
    hdus = [fits.PrimaryHDU(header=fits.Header(primary))]
    for ver, (chip, dn) in enumerate(chips, start=1):
        ltv = _ltv(chip, full)
        kw = {
            "CCDCHIP": chip,
            "LTV1": ltv[0],
            "LTV2": ltv[1],
            "SDQFLAGS": 31743,
            "BUNIT": "COUNTS",
            "CRPIX1": 2072.0 if full else 100.0,
            "CRPIX2": 1024.0 if chip == 2 else 1044.0,
        }
        s = fits.ImageHDU(data=(dn.astype(np.int32) - 32768).astype(np.int16))
        s.header["BZERO"] = 32768
        s.header["EXTNAME"] = "SCI"
        s.header["EXTVER"] = ver
        for k, v in kw.items():
            s.header[k] = v
        hdus.append(s)
        for name in ("ERR", "DQ"):
            h = fits.ImageHDU()
            h.header["EXTNAME"] = name
            h.header["EXTVER"] = ver
            h.header["NPIX1"] = g["nx"]
            h.header["NPIX2"] = g["ny"]
            h.header["PIXVALUE"] = 0
            for k, v in kw.items():
                h.header[k] = v
            hdus.append(h)
    hdus[0].header["NEXTEND"] = len(hdus) - 1
    fits.HDUList(hdus).writeto(path, overwrite=True)


def write_asn(path: Path, product: str, members: list[str]) -> None:
    """A CR-SPLIT association (products marked present)."""
    write_asn_table(
        path, product, "ACS", "WFC", members, memtype="EXP-CRJ", product_type="PROD-CRJ", product_present=True
    )


def flash_and_shade(raw_path: Path, *, flashdur: float = 12.0) -> None:
    """Turn a raw exposure into a post-flashed one with FLSHCORR, SHADCORR and a delta flat."""
    with fits.open(raw_path, mode="update") as h:
        p = h[0].header
        p["FLASHDUR"], p["FLASHSTA"], p["FLASHCUR"] = flashdur, "SUCCESSFUL", "LOW"
        p["FLSHCORR"], p["SHADCORR"] = "PERFORM", "PERFORM"
        p["FLSHFILE"], p["SHADFILE"], p["DFLTFILE"] = "jref$t_fls.fits", "jref$t_shd.fits", "jref$t_dfl.fits"


def make_dataset(
    root: Path, *, full: bool = False, nexp: int = 2, sinkcorr: bool = True, expstart: float = EXPSTART
) -> dict:
    """Write references and a CR-SPLIT association under `root`; returns paths and the env.

    With `sinkcorr` the raws ask for SINKCORR (as post-2015 WFC data do); an `expstart` before SM4
    (MJD 54962) selects the original overscan fit for full frames."""
    root = Path(root)
    refdir = root / "refs"
    indir = root / "inputs"
    indir.mkdir(parents=True, exist_ok=True)
    refs = write_refs(refdir, full=full)
    members = [f"tst01a{k + 1}q" for k in range(nexp)]
    for k, m in enumerate(members):
        write_raw(indir / f"{m}_raw.fits", m, refs, full=full, seed=100 + k, sinkcorr=sinkcorr, expstart=expstart)
    asn = indir / "tst01011_asn.fits"
    write_asn(asn, "tst01011", members)
    return {"asn": asn, "members": members, "product": "tst01011", "env": {"jref": str(refdir) + "/"}}
