"""calwf3 on the miniature UVIS association: products, step effects, bad input, refusal to overwrite."""

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.errors import EngineError
from caldp.engines.wfc3.calwf3 import calwf3
from caldp.engines.wfc3.uvis.context import MissingReference

from . import synth


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("uvis_mini")
    return synth.make_dataset(root)


@pytest.fixture(scope="module")
def products(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("uvis_mini_out")
    paths = calwf3(dataset["asn"], outdir=out, env=dataset["env"], keep_intermediates=True)
    return {p.name: p for p in paths}


def _copy_inputs(dataset, dest):
    for m in dataset["members"]:
        shutil.copy(dataset["asn"].parent / f"{m}_raw.fits", dest)
    shutil.copy(dataset["asn"], dest)
    return dest / dataset["asn"].name


def test_products_and_keywords(products):
    names = set(products)
    assert {"tst01a1q_flt.fits", "tst01a2q_flt.fits", "tst01011_crj.fits", "tst01a1q.tra", "tst01011.tra"} <= names
    assert {"tst01a1q_blv_tmp.fits", "tst01011_crj_tmp.fits"} <= names
    with fits.open(products["tst01a1q_flt.fits"]) as h:
        p = h[0].header
        for sw in ("DQICORR", "BLEVCORR", "BIASCORR", "DARKCORR", "FLATCORR", "PHOTCORR", "FLUXCORR"):
            assert p[sw] == "COMPLETE", sw
        assert p["CAL_VER"].startswith("caldp ") and "calwf3 3.7.3" in p["CAL_VER"]
        assert p["FILENAME"] == "tst01a1q_flt.fits"
        assert h["SCI", 1].header["BUNIT"] == "ELECTRONS"
        assert h["SCI", 1].data.shape == (synth.SCI_NY, synth.SCI_NX)
        assert h["SCI", 1].header["PHOTMODE"].startswith("WFC3 UVIS2 F606W MJD#")
        assert "MEANBLEV" in h["SCI", 2].header and "MEANDARK" in h["SCI", 2].header
        assert p["PHTRATIO"] == pytest.approx(p["PHTFLAM2"] / p["PHTFLAM1"])
    with fits.open(products["tst01011_crj.fits"]) as h:
        p = h[0].header
        assert p["EXPTIME"] == 200.0 and p["TEXPTIME"] == 200.0 and p["CRCORR"] == "COMPLETE"
        assert p["ROOTNAME"] == "TST01011" and p["REJ_RATE"] > 0 and p["SKYSUM"] > 0
        assert h["SCI", 1].header["NCOMBINE"] == 2


def test_bias_removed_within_noise(products):
    with fits.open(products["tst01a1q_blv_tmp.fits"]) as h:
        # the sky is 300 e-; after bias removal the median is sky/gain, no ~2500 DN offset left
        med = np.median(h["SCI", 2].data[:, : synth.AMPX])
        assert abs(med - 300 / synth.GAIN) < 5


def test_crs_flagged_and_replaced(dataset, products):
    ys, xs = dataset["crs"]["tst01a1q"][1]  # imset 1 = chip 2
    with fits.open(products["tst01a1q_flt.fits"]) as flt, fits.open(products["tst01011_crj.fits"]) as crj:
        dq = flt["DQ", 1].data.astype(np.int64)
        assert np.mean((dq[ys, xs] & 8192) != 0) > 0.8
        scene = dataset["scene"][0]
        resid = crj["SCI", 1].data[ys, xs] - 2 * scene[ys, xs]
        err = crj["ERR", 1].data[ys, xs]
        good = (crj["DQ", 1].data[ys, xs] & 8192) == 0
        # CR pixels are replaced by the other exposure: residual of order the error, not thousands
        assert np.median(np.abs(resid[good]) / err[good]) < 5


def test_truth_recovered_within_noise(dataset, products):
    with fits.open(products["tst01011_crj.fits"]) as crj:
        sci, err, dq = crj["SCI", 2].data, crj["ERR", 2].data, crj["DQ", 2].data
        truth = 2 * dataset["scene"][1]
        ok = (dq == 0) & (err > 0)
        pull = (sci[ok] - truth[ok]) / err[ok]
        assert abs(np.median(pull)) < 0.5 and np.std(pull) < 2.0


def test_refuses_to_overwrite(dataset, products, tmp_path):
    out = products["tst01a1q_flt.fits"].parent
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(EngineError, match="already exists"):
        calwf3(dataset["asn"], outdir=out, env=dataset["env"])
    assert sorted(p.name for p in out.iterdir()) == before


def test_missing_reference_named(dataset, tmp_path):
    asn = _copy_inputs(dataset, tmp_path)
    for m in dataset["members"]:
        with fits.open(tmp_path / f"{m}_raw.fits", mode="update") as h:
            h[0].header["DARKFILE"] = "iref$nonexistent_drk.fits"
    with pytest.raises(MissingReference, match="DARKFILE"):
        calwf3(asn, outdir=tmp_path, env=dataset["env"])
    assert not list(tmp_path.glob("*_flt.fits")) and not list(tmp_path.glob("*_crj.fits"))


def test_bad_reference_shape_and_detector(dataset, tmp_path):
    refs = tmp_path / "refs"
    shutil.copytree(dataset["asn"].parent / "refs", refs)
    asn = _copy_inputs(dataset, tmp_path)
    env = {"iref": str(refs) + "/"}
    with fits.open(refs / "t_bia.fits", mode="update") as h:
        h[1].data = h[1].data[:, :100]
    with pytest.raises(EngineError, match="BIASFILE"):
        calwf3(asn, outdir=tmp_path, env=env)
    assert not list(tmp_path.glob("*_flt.fits"))
    shutil.copy(dataset["asn"].parent / "refs" / "t_bia.fits", refs / "t_bia.fits")
    with fits.open(refs / "t_ccd.fits", mode="update") as h:
        h[0].header["DETECTOR"] = "IR"
    with pytest.raises(EngineError, match="CCDTAB"):
        calwf3(asn, outdir=tmp_path, env=env)


@pytest.mark.filterwarnings("ignore:File may have been truncated")
def test_missing_keyword_and_corrupt_raw(dataset, tmp_path):
    asn = _copy_inputs(dataset, tmp_path)
    m = dataset["members"][1]
    with fits.open(tmp_path / f"{m}_raw.fits", mode="update") as h:
        del h[0].header["CCDGAIN"]
    with pytest.raises(EngineError, match="CCDGAIN"):
        calwf3(asn, outdir=tmp_path, env=dataset["env"])
    raw = tmp_path / f"{m}_raw.fits"
    data = raw.read_bytes()
    raw.write_bytes(data[: len(data) // 3])
    with pytest.raises(EngineError, match=f"{m}_raw.fits"):
        calwf3(asn, outdir=tmp_path, env=dataset["env"])
    assert not list(tmp_path.glob("*_flt.fits")) and not list(tmp_path.glob("*.tra"))


def test_single_raw_without_crcorr(dataset, tmp_path):
    m = dataset["members"][0]
    shutil.copy(dataset["asn"].parent / f"{m}_raw.fits", tmp_path)
    with fits.open(tmp_path / f"{m}_raw.fits", mode="update") as h:
        h[0].header["CRCORR"] = "OMIT"
    out = calwf3(tmp_path / f"{m}_raw.fits", env=dataset["env"])
    assert sorted(p.name for p in out) == [f"{m}.tra", f"{m}_flt.fits"]
    with fits.open(tmp_path / f"{m}_flt.fits") as h:
        assert h[0].header["CRCORR"] == "OMIT" and h[0].header["DQICORR"] == "COMPLETE"


def test_ir_dispatch_without_engine(tmp_path, monkeypatch):
    import sys

    raw = tmp_path / "ixxx01abq_raw.fits"
    fits.HDUList([fits.PrimaryHDU(header=fits.Header({"INSTRUME": "WFC3", "DETECTOR": "IR"}))]).writeto(raw)
    monkeypatch.setitem(sys.modules, "caldp.engines.wfc3.ir.wf3ir", None)
    with pytest.raises(EngineError, match="WFC3/IR engine not available"):
        calwf3(raw)


def test_pctecorr_perform_without_cte_references_fails_first(dataset, tmp_path):
    """PCTECORR=PERFORM with PCTETAB N/A: calwf3.e 3.7 stops before any processing (exit 115,
    "PCTETAB `N/A' not found"); so does the engine, writing nothing (CTE runs: tests/engines/wfc3_cte)."""
    asn = _copy_inputs(dataset, tmp_path)
    for m in dataset["members"]:
        with fits.open(tmp_path / f"{m}_raw.fits", mode="update") as h:
            h[0].header["PCTECORR"] = "PERFORM"
    with pytest.raises(MissingReference, match="PCTETAB"):
        calwf3(asn, outdir=tmp_path, env=dataset["env"])
    assert not list(tmp_path.glob("*_fl?.fits")) and not list(tmp_path.glob("*_cr?.fits"))


def _write_spt(path, root):
    prim = fits.PrimaryHDU()
    prim.header.update(ROOTNAME=root.upper(), FILENAME=path.name, NEXTEND=2, PROPOSID=12345)
    udl = fits.ImageHDU(data=np.arange(16, dtype=np.int16).reshape(1, 16), name="UDL")
    snap = fits.ImageHDU(name="SNAP1")
    snap.header["SNAPKEY"] = root
    fits.HDUList([prim, udl, snap]).writeto(path)


def test_product_spt_and_asn_update(dataset, tmp_path):
    """WF3REJ's product SPT (first SPT's header, every input's UDL/SNAP1 pair) and MEMPRSNT/ASN_PROD."""
    asn = _copy_inputs(dataset, tmp_path)
    for m in dataset["members"]:
        _write_spt(tmp_path / f"{m}_spt.fits", m)
    out = calwf3(asn, outdir=tmp_path, env=dataset["env"])
    assert tmp_path / "tst01011_spt.fits" in out
    with fits.open(tmp_path / "tst01011_spt.fits") as h:
        p = h[0].header
        assert (p["ROOTNAME"], p["OBSERVTN"], p["ASN_MTYP"], p["NEXTEND"]) == ("TST01011", "11", "", 4)
        assert p["FILENAME"] == "tst01011_spt.fits" and p["PROPOSID"] == 12345
        assert [(x.name, x.ver) for x in h[1:]] == [("UDL", 1), ("SNAP1", 1), ("UDL", 2), ("SNAP1", 2)]
        assert [h["SNAP1", k].header["SNAPKEY"] for k in (1, 2)] == dataset["members"]
    with fits.open(asn) as h:
        assert h[0].header["ASN_PROD"] is True
        assert [bool(v) for v in h[1].data["MEMPRSNT"]] == [True, True, True]
