"""A small synthetic WFC3/IR MULTIACCUM data set and its reference files (calib-wfc3.md §8, §9).

Default: an SQ128SUB-like subarray (138×138 with its 5-pixel reference border, LTV = −448) with
NSAMP reads; ``full=True`` gives the 1024×1024 full frame. The scene has a sky, stars (some
saturating in the first reads), hot pixels, cosmic rays hitting between reads, a per-read
reference level drift, and non-linearity ``F_meas = F·(1 − NL·F)`` undone by the NLINFILE.
Everything is seeded. ``truth`` returns the count rate (DN/s) used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from caldp.sim.fitsutil import image_extension, null_extension, primary, table
from caldp.sim.products import write_asn as write_asn_table

GAINS = (2.34, 2.37, 2.31, 2.38)
READNOISE = (20.1, 19.8, 20.4, 20.0)
BIAS = 11000.0
NL = 1.4e-6
NODE = 40000.0
SPARS = 10.0


def _ext(name, ver, data, shape, pixvalue=0, **hdr):
    """An image extension, or an HSTIO constant one (NPIX1/2, PIXVALUE) when `data` is None."""
    if data is None:
        return null_extension(name, ver, shape, pixvalue, hdr)
    return image_extension(name, ver, data, hdr)


def _imset(ver, sci, err=None, dq=None, samp=0, time=0.0, **hdr):
    shape = sci.shape
    return [
        _ext("SCI", ver, sci, shape, **hdr),
        _ext("ERR", ver, err, shape),
        _ext("DQ", ver, dq, shape),
        _ext("SAMP", ver, None, shape, pixvalue=samp),
        _ext("TIME", ver, None, shape, pixvalue=time),
    ]


def geometry(full: bool) -> dict:
    if full:
        return {"n": 1024, "ltv": 0.0, "subtype": "FULLIMAG", "aperture": "IR", "subarray": False}
    return {"n": 138, "ltv": -448.0, "subtype": "SQ128SUB", "aperture": "IRSUB128", "subarray": True}


def samptimes(nsamp: int) -> np.ndarray:
    """SAMPTIME of EXTVER 1…NSAMP (EXTVER NSAMP = zeroth read at 0 s, first read at 2.932 s)."""
    t = np.array([0.0, 2.932] + [2.932 + SPARS * k for k in range(1, nsamp - 1)])
    return t[::-1]


def write_refs(refdir: Path, *, full: bool, nsamp: int, seed: int = 11) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    refdir.mkdir(parents=True, exist_ok=True)
    g = geometry(full)
    n = g["n"]
    common = dict(DETECTOR="IR", PEDIGREE="INFLIGHT 01/01/2010", DESCRIP="caldp test reference", INSTRUME="WFC3")
    ccd = {
        "CCDAMP": ("4A", ["ABCD"]),
        "CCDCHIP": ("J", [-999]),
        "CCDGAIN": ("E", [2.5]),
        "BINAXIS1": ("J", [1]),
        "BINAXIS2": ("J", [1]),
    }
    for k, a in enumerate("ABCD"):
        ccd[f"CCDOFST{a}"] = ("J", [-999])
        ccd[f"CCDBIAS{a}"] = ("E", [0.0])
        ccd[f"ATODGN{a}"] = ("E", [GAINS[k]])
        ccd[f"READNSE{a}"] = ("E", [READNOISE[k]])
    ccd.update({"AMPX": ("J", [512]), "AMPY": ("J", [512]), "SATURATE": ("E", [NODE])})
    fits.HDUList([primary(dict(FILETYPE="CCD PARAMETERS", **common)), table(ccd)]).writeto(
        refdir / "i_ccd.fits", overwrite=True
    )
    rows = [1024, 138]
    osc = {
        "CCDAMP": ("4A", ["ABCD"] * 2),
        "CCDCHIP": ("J", [-999] * 2),
        "BINX": ("J", [1] * 2),
        "BINY": ("J", [1] * 2),
        "NX": ("J", rows),
        "NY": ("J", rows),
    }
    for c in ("TRIMX1", "TRIMX2", "TRIMY1", "TRIMY2"):
        osc[c] = ("J", [5, 5])
    for c in (
        "TRIMX3",
        "TRIMX4",
        "VX1",
        "VX2",
        "VX3",
        "VX4",
        "VY1",
        "VY2",
        "VY3",
        "VY4",
        "BIASSECTC1",
        "BIASSECTC2",
        "BIASSECTD1",
        "BIASSECTD2",
    ):
        osc[c] = ("J", [0, 0])
    osc["BIASSECTA1"] = ("J", [2, 2])
    osc["BIASSECTA2"] = ("J", [5, 5])
    osc["BIASSECTB1"] = ("J", [r - 4 for r in rows])
    osc["BIASSECTB2"] = ("J", [r - 1 for r in rows])
    fits.HDUList([primary(dict(FILETYPE="OVERSCAN", **common)), table(osc)]).writeto(
        refdir / "i_osc.fits", overwrite=True
    )
    # BPIXTAB in 1024-frame coordinates (1-based): inside the SQ128SUB area (454…581) too.
    bpx = {
        "PIX1": ("J", [460, 500, 520, 30, 575]),
        "PIX2": ("J", [470, 480, 600, 40, 460]),
        "LENGTH": ("J", [1, 6, 1, 1, 3]),
        "AXIS": ("J", [1, 2, 1, 1, 1]),
        "VALUE": ("I", [16, 4, 64, 16, 32]),
        "CCDCHIP": ("J", [1, 1, -999, 1, 1]),
    }
    fits.HDUList(
        [primary(dict(FILETYPE="BAD PIXELS", **common)), table(bpx, dict(SIZAXIS1=1024, SIZAXIS2=1024))]
    ).writeto(refdir / "i_bpx.fits", overwrite=True)
    # NLINFILE (full frame)
    hdus = [primary(dict(FILETYPE="LINEARITY COEFFICIENTS", NCOEF=4, NERR=4, **common))]
    coef = [
        np.zeros((1024, 1024), np.float32),
        (NL * (1 + 0.02 * rng.standard_normal((1024, 1024)))).astype(np.float32),
        np.full((1024, 1024), 2e-12, np.float32),
        np.full((1024, 1024), -1e-17, np.float32),
    ]
    for k, c in enumerate(coef, 1):
        hdus.append(_ext("COEF", k, c, c.shape, LTV1=0.0, LTV2=0.0))
    for k in range(1, 5):
        hdus.append(_ext("ERR", k, None, (1024, 1024), pixvalue=0.0))
    dq = np.zeros((1024, 1024), np.int16)
    dq[462, 470] = 4
    hdus.append(_ext("DQ", 1, dq, dq.shape))
    node = np.full((1024, 1024), NODE, np.float32)
    node[470:480, 470:480] = NODE - 2000
    hdus.append(_ext("NODE", 1, node, node.shape))
    zsci = (BIAS + 30 * rng.standard_normal((1024, 1024))).astype(np.float32)
    hdus.append(_ext("ZSCI", 1, zsci, zsci.shape))
    hdus.append(_ext("ZERR", 1, np.full((1024, 1024), 6.0, np.float32), (1024, 1024)))
    fits.HDUList(hdus).writeto(refdir / "i_lin.fits", overwrite=True)
    # DARKFILE (science size, imsets in science order)
    t = samptimes(nsamp)
    hot = rng.random((n, n)) < 0.004
    rate = np.where(hot, 2.0, 0.05).astype(np.float32)
    hdr = dict(FILETYPE="DARK", SAMP_SEQ="SPARS10", SUBTYPE=g["subtype"], NUMEXPOS=nsamp, NEXTEND=5 * nsamp, **common)
    for k in range(nsamp):
        hdr[f"EXPOS_{k + 1}"] = float(t[k])
    hdus = [primary(dict(**hdr))]
    for k in range(nsamp):
        d = (rate * t[k]).astype(np.float32)
        e = np.full((n, n), 0.02 * (t[k] > 0), np.float32)
        q = np.zeros((n, n), np.int16)
        if t[k] > 0:
            q[hot] = 16
        hdus += _imset(k + 1, d, e, q, samp=nsamp - 1 - k, time=float(t[k]), LTV1=g["ltv"], LTV2=g["ltv"])
    fits.HDUList(hdus).writeto(refdir / "i_drk.fits", overwrite=True)
    # PFLTFILE (full frame)
    f = (1 + 0.02 * rng.standard_normal((1024, 1024))).astype(np.float32)
    f[480, 480] = 0.0
    fq = np.zeros((1024, 1024), np.int16)
    fq[490, 495] = 512
    hdus = [primary(dict(FILETYPE="PIXEL-TO-PIXEL FLAT", FILTER="F160W", **common))]
    hdus += _imset(1, f, np.full((1024, 1024), 0.005, np.float32), fq, LTV1=0.0, LTV2=0.0)
    fits.HDUList(hdus).writeto(refdir / "i_pfl.fits", overwrite=True)
    # IMPHTTAB
    hdus = [primary(dict(FILETYPE="IMAGE PHOTOMETRY TABLE", PARNUM=1, PHOTZPT=-21.1, NEXTEND=3, **common))]
    for name, val in (("PHOTFLAM", 1.9275e-20), ("PHOTPLAM", 15369.18), ("PHOTBW", 826.25)):
        mjd = np.array([[55000.0, 60000.0, 65000.0]])
        curve = np.array([[val, val * 1.001, val * 1.002]])
        t = table(
            {
                "OBSMODE": ("24A", ["wfc3,ir,f160w,mjd#"]),
                "DATACOL": ("12A", [name + "1"]),
                name: ("D", [val]),
                "NELEM1": ("J", [3]),
                "PAR1NAMES": ("8A", ["mjd#"]),
                "PAR1VALUES": ("3D", mjd),
                name + "1": ("3D", curve),
            }
        )
        t.header["EXTNAME"] = name
        hdus.append(t)
    fits.HDUList(hdus).writeto(refdir / "i_pht.fits", overwrite=True)
    crr = {
        "CRSPLIT": ("J", [1]),
        "MEANEXP": ("E", [10000.0]),
        "SCALENSE": ("E", [0.0]),
        "INITGUES": ("8A", ["minimum"]),
        "SKYSUB": ("8A", ["mode"]),
        "CRSIGMAS": ("20A", ["4.0"]),
        "CRRADIUS": ("E", [0.0]),
        "CRTHRESH": ("E", [0.0]),
        "BADINPDQ": ("I", [256]),
        "CRMASK": ("L", [False]),
        "IRRAMP": ("L", [True]),
    }
    fits.HDUList([primary(dict(FILETYPE="COSMIC RAY REJECTION", **common)), table(crr)]).writeto(
        refdir / "i_crr.fits", overwrite=True
    )
    return {
        "CCDTAB": "iref$i_ccd.fits",
        "OSCNTAB": "iref$i_osc.fits",
        "BPIXTAB": "iref$i_bpx.fits",
        "NLINFILE": "iref$i_lin.fits",
        "DARKFILE": "iref$i_drk.fits",
        "PFLTFILE": "iref$i_pfl.fits",
        "DFLTFILE": "N/A",
        "LFLTFILE": "N/A",
        "IMPHTTAB": "iref$i_pht.fits",
        "CRREJTAB": "iref$i_crr.fits",
    }


SWITCHES = {
    k: "PERFORM"
    for k in (
        "DQICORR",
        "ZSIGCORR",
        "BLEVCORR",
        "ZOFFCORR",
        "NLINCORR",
        "DARKCORR",
        "FLATCORR",
        "UNITCORR",
        "PHOTCORR",
        "CRCORR",
    )
}
SWITCHES["RPTCORR"] = "OMIT"
SWITCHES["DRIZCORR"] = "OMIT"


def truth_rate(n: int, seed: int = 5) -> np.ndarray:
    """Count rate (DN/s) of the scene over the whole array: sky plus Gaussian stars."""
    rng = np.random.default_rng(seed)
    rate = np.full((n, n), 1.5, np.float64)
    yy, xx = np.mgrid[-6:7, -6:7]
    nstar = 12 if n < 200 else 400
    for _ in range(nstar):
        y0, x0 = rng.uniform(8, n - 8, 2)
        iy, ix = int(y0), int(x0)
        amp = 10 ** rng.uniform(0.5, 3.0)
        star = amp * np.exp(-((yy + iy - y0) ** 2 + (xx + ix - x0) ** 2) / (2 * 1.2**2))
        rate[iy - 6 : iy + 7, ix - 6 : ix + 7] += star
    rate[n // 2 + 3, n // 3] = 5000.0  # saturates in the first reads
    return rate


def write_raw(
    path: Path, refs: dict[str, str], *, full: bool, nsamp: int, seed: int = 9, ncr: int | None = None
) -> dict:
    """Write ``<root>_raw.fits``; returns truth (rate, CR positions and read index)."""
    rng = np.random.default_rng(seed)
    g = geometry(full)
    n = g["n"]
    t = samptimes(nsamp)  # EXTVER order
    rate = truth_rate(n)
    off = int(-g["ltv"]) if not full else 0
    corner = off - 5 if not full else 0
    with fits.open(Path(refs["_dir"]) / "i_lin.fits") as h:
        zsci = h["ZSCI", 1].data[corner : corner + n, corner : corner + n].astype(np.float64)
    # time order k = 0 … N-1 ↔ EXTVER N … 1; the zeroth read has already ~t0 of signal
    t_tot = t[::-1] + 2.9
    ncr = (8 if not full else 3000) if ncr is None else ncr
    cy, cx = rng.integers(6, n - 6, ncr), rng.integers(6, n - 6, ncr)
    ck = rng.integers(min(2, nsamp - 1), nsamp, ncr)
    camp = rng.uniform(200, 3000, ncr)
    # special pixels (science-array coordinates): saturated in the zeroth / first read / mid-ramp,
    # a pixel hit by a CR between every pair of reads (too many CRs), positive and negative spikes
    rate[10, 20], rate[20, 30], rate[30, 40] = 25000.0, 9000.0, 1500.0
    many = np.arange(2, nsamp, 3)
    cy = np.concatenate([cy, np.full(many.size, 40)])
    cx = np.concatenate([cx, np.full(many.size, 50)])
    ck = np.concatenate([ck, many])
    camp = np.concatenate([camp, np.resize([3000.0, 1500.0, 4000.0, 2000.0], many.size)])
    spikes = ((50, 60, min(3, nsamp - 2), 700.0), (60, 70, 2, -700.0))
    reads = []
    for k in range(nsamp):
        f = rate * t_tot[k]
        hit = ck <= k
        np.add.at(f, (cy[hit], cx[hit]), camp[hit])
        meas = f * (1 - NL * f)
        meas = np.minimum(meas, 60000.0)
        for sy, sx, sk, sa in spikes:
            if sk == k:
                meas[sy, sx] += sa
        noise = rng.normal(0, 8.0, (n, n)) + rng.normal(0, np.sqrt(np.maximum(meas, 0) / 2.4))
        lvl = 15.0 * k + 3.0 * np.sin(k)
        img = zsci + lvl + meas + noise
        # the reference border carries the level and the super-zero only
        border = np.ones((n, n), bool)
        border[5:-5, 5:-5] = False
        img[border] = (zsci + lvl + rng.normal(0, 8.0, (n, n)))[border]
        reads.append(np.clip(np.rint(img), 0, 65535).astype(np.uint16))
    hdr = dict(
        ROOTNAME=path.name[:9].upper(),
        INSTRUME="WFC3",
        DETECTOR="IR",
        FILTER="F160W",
        EXPTIME=float(t[0]),
        EXPSTART=60296.25,
        EXPEND=60296.25 + t[0] / 86400,
        SUBARRAY=g["subarray"],
        NSAMP=nsamp,
        SAMP_SEQ="SPARS10",
        SUBTYPE=g["subtype"],
        CCDGAIN=2.5,
        CCDAMP="ABCD",
        APERTURE=g["aperture"],
        OBSTYPE="IMAGING",
        NEXTEND=5 * nsamp,
        SAMPZERO=2.911755,
        TELESCOP="HST",
        ASN_ID="NONE",
        EXPFLAG="NORMAL",
        OBSMODE="MULTIACCUM",
    )
    hdr.update(SWITCHES)
    hdr.update({k: v for k, v in refs.items() if not k.startswith("_")})
    hdus = [primary(dict(**hdr))]
    for v in range(1, nsamp + 1):
        k = nsamp - v
        sci = fits.ImageHDU(data=reads[k])  # uint16 → BZERO 32768
        sci.header["EXTNAME"] = "SCI"
        sci.header["EXTVER"] = v
        for key, val in dict(
            SAMPTIME=float(t[v - 1]),
            BUNIT="COUNTS",
            CCDCHIP=1,
            LTV1=g["ltv"],
            LTV2=g["ltv"],
            LTM1_1=1.0,
            LTM2_2=1.0,
            CRPIX1=64.0,
            CRPIX2=64.0,
            SDQFLAGS=31743,
            DELTATIM=10.0,
        ).items():
            sci.header[key] = val
        hdus.append(sci)
        hdus += _imset(v, np.zeros((n, n), np.float32), samp=k, time=float(t[v - 1]))[1:]
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return {"rate": rate, "cr": (cy, cx, ck, camp), "t_tot": t_tot}


def make_dataset(root: Path, *, full: bool = False, nsamp: int = 6, name: str = "ityt01a1q", ncr=None) -> dict:
    """References in ``root/refs``, raw in ``root/data``; returns paths, env and truth."""
    refdir = root / "refs"
    refs = write_refs(refdir, full=full, nsamp=nsamp)
    refs["_dir"] = str(refdir)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    raw = data / f"{name}_raw.fits"
    truth = write_raw(raw, refs, full=full, nsamp=nsamp, ncr=ncr)
    return {"raw": raw, "env": {"iref": f"{refdir}/"}, "truth": truth, "refdir": refdir}


def write_asn(path: Path, product: str, members: list[str], *, kind: str = "RPT") -> None:
    """An IR association: ``EXP-<kind>`` members and a ``PROD-<kind>`` product (RPT → RPTCORR)."""
    write_asn_table(
        path, product, "WFC3", "IR", members, memtype=f"EXP-{kind}", product_type=f"PROD-{kind}", product_present=True
    )


def make_rpt_association(root: Path, *, nsamp: int = 6, nexp: int = 2) -> dict:
    """``nexp`` repeated exposures (different noise and CRs) in an RPTCORR association."""
    refdir = root / "refs"
    refs = write_refs(refdir, full=False, nsamp=nsamp)
    refs["_dir"] = str(refdir)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    members = [f"ityt02a{k + 1}q" for k in range(nexp)]
    for k, m in enumerate(members):
        raw = data / f"{m}_raw.fits"
        write_raw(raw, refs, full=False, nsamp=nsamp, seed=20 + k)
        with fits.open(raw, mode="update") as h:
            h[0].header["RPTCORR"] = "PERFORM"
            h[0].header["ASN_ID"] = "ITYT02010"
    asn = data / "ityt02010_asn.fits"
    write_asn(asn, "ityt02010", members)
    return {"asn": asn, "members": members, "env": {"iref": f"{refdir}/"}, "refdir": refdir}
