"""Compare a caldp product with the calwf3.e product of the same name (max ulp, DQ, keywords)."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

KEYS = (
    "NGOODPIX",
    "GOODMEAN",
    "SNRMAX",
    "MEANBLEV",
    "MEANDARK",
    "MEANFLSH",
    "PHOTFLAM",
    "PHOTPLAM",
    "PHOTBW",
    "PHOTZPT",
    "PHTFLAM1",
    "PHTFLAM2",
    "PHTRATIO",
    "SKYSUM",
    "REJ_RATE",
    "BUNIT",
    "EXPTIME",
    "TEXPTIME",
    "NCOMBINE",
    "PHOTMODE",
    "PHOTFNU",
    "GOODMIN",
    "GOODMAX",
    "SNRMIN",
    "SNRMEAN",
    "BIASLEVA",
    "BIASLEVB",
    "BIASLEVC",
    "BIASLEVD",
    "ATODGNA",
    "ATODGNC",
    "READNSEA",
    "READNSEC",
    "SIZAXIS1",
    "SIZAXIS2",
    "LTV1",
    "LTV2",
    "DQICORR",
    "BLEVCORR",
    "BIASCORR",
    "DARKCORR",
    "FLATCORR",
    "PHOTCORR",
    "FLUXCORR",
    "CRCORR",
    "EXPSCORR",
    "SHADCORR",
    "ATODCORR",
    "FLSHCORR",
    "PCTECORR",
    "EXPSTART",
    "EXPEND",
    "EXPFLAG",
    "ROOTNAME",
)


def ulp_diff(a: np.ndarray, b: np.ndarray, *, atol: float = 1e-4) -> tuple[int, float, int]:
    """(max ulp, max abs diff, n pixels beyond 4 ulp and atol) between two float32 arrays."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    ia = a.view(np.int32).astype(np.int64)
    ib = b.view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    ulp = np.abs(ia - ib)
    absd = np.abs(a.astype(np.float64) - b.astype(np.float64))
    both_nan = np.isnan(a) & np.isnan(b)
    ulp = np.where(both_nan, 0, ulp)
    absd = np.where(both_nan, 0, absd)
    bad = (ulp > 4) & (absd > atol)
    return int(ulp.max()) if ulp.size else 0, float(absd.max()) if absd.size else 0.0, int(bad.sum())


def _arr(hdu, shape=None):
    if hdu.data is not None:
        return np.asarray(hdu.data)
    h = hdu.header
    return np.full((h["NPIX2"], h["NPIX1"]), h.get("PIXVALUE", 0))


def compare(mine: str, ref: str) -> dict:
    """Per extension: max ulp / abs diff for SCI and ERR, DQ mismatch count; keyword differences."""
    out = {"ext": {}, "keywords": []}
    with fits.open(mine) as a, fits.open(ref) as b:
        for hb in b[1:]:
            name, ver = hb.header.get("EXTNAME"), hb.header.get("EXTVER", 1)
            try:
                ha = a[name, ver]
            except KeyError:
                out["ext"][f"{name},{ver}"] = "missing"
                continue
            da, db = _arr(ha), _arr(hb)
            if da.shape != db.shape:
                out["ext"][f"{name},{ver}"] = f"shape {da.shape} vs {db.shape}"
                continue
            if name == "DQ":
                out["ext"][f"{name},{ver}"] = {
                    "dq_mismatch": int(np.count_nonzero(da.astype(np.int64) != db.astype(np.int64)))
                }
            else:
                mu, ma, nb = ulp_diff(da, db)
                out["ext"][f"{name},{ver}"] = {"max_ulp": mu, "max_abs": ma, "n_bad": nb}
            for key in KEYS:
                if key in hb.header or key in ha.header:
                    va, vb = ha.header.get(key), hb.header.get(key)
                    if not _same(va, vb):
                        out["keywords"].append((f"{name},{ver}", key, va, vb))
        for key in KEYS:
            va, vb = a[0].header.get(key), b[0].header.get(key)
            if (key in a[0].header or key in b[0].header) and not _same(va, vb):
                out["keywords"].append(("PRIMARY", key, va, vb))
    return out


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return str(a).strip() == str(b).strip()
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    return np.float32(a) == np.float32(b) or (np.isnan(float(a)) and np.isnan(float(b)))


def assert_products_match(hst, mine, names) -> None:
    """Every product in `names` (in the directories `mine` and `hst`): each SCI/ERR extension within
    tolerance (no bad pixel), DQ identical, the compared keywords equal."""
    for name in names:
        d = compare(str(mine / name), str(hst / name))
        assert d["ext"], name
        for ext, v in d["ext"].items():
            assert isinstance(v, dict), (name, ext, v)
            if ext.startswith("DQ"):
                assert v["dq_mismatch"] == 0, (name, ext, v)
            else:
                assert v["n_bad"] == 0, (name, ext, v)
        assert d["keywords"] == [], (name, d["keywords"])
