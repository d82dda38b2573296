"""calwf3 on the simulator's mini UVIS association (full-frame layout scaled down): products, step
effects against the simulator's truth, bad input, refusal to overwrite."""

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.errors import EngineError
from caldp.engines.wfc3.calwf3 import calwf3
from caldp.engines.wfc3.uvis.context import MissingReference
from caldp.sim.naming import dataset_names

from .conftest import ref_path, sim_dataset

PROD, (M1, M2) = dataset_names("wfc3-uvis-asn", 0, members=2)


@pytest.fixture(scope="module")
def dataset(uvis_mini):
    return uvis_mini


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


def test_products_and_keywords(dataset, products):
    names = set(products)
    assert {f"{M1}_flt.fits", f"{M2}_flt.fits", f"{PROD}_crj.fits", f"{M1}.tra", f"{PROD}.tra"} <= names
    assert {f"{M1}_blv_tmp.fits", f"{PROD}_crj_tmp.fits"} <= names
    with fits.open(products[f"{M1}_flt.fits"]) as h:
        p = h[0].header
        for sw in ("DQICORR", "BLEVCORR", "BIASCORR", "DARKCORR", "FLATCORR", "PHOTCORR", "FLUXCORR"):
            assert p[sw] == "COMPLETE", sw
        assert p["CAL_VER"].startswith("caldp ") and "calwf3 3.7.3" in p["CAL_VER"]
        assert p["FILENAME"] == f"{M1}_flt.fits"
        assert h["SCI", 1].header["BUNIT"] == "ELECTRONS"
        assert h["SCI", 1].data.shape == dataset["setup"].chips[0].sci_shape
        assert h["SCI", 1].header["PHOTMODE"].startswith("WFC3 UVIS2 F606W MJD#")
        assert "MEANBLEV" in h["SCI", 2].header and "MEANDARK" in h["SCI", 2].header
        assert p["PHTRATIO"] == pytest.approx(p["PHTFLAM2"] / p["PHTFLAM1"])
    with fits.open(products[f"{PROD}_crj.fits"]) as h:
        p = h[0].header
        exptime = 2 * fits.getval(dataset["asn"].parent / f"{M1}_raw.fits", "EXPTIME")
        assert p["EXPTIME"] == exptime and p["TEXPTIME"] == exptime and p["CRCORR"] == "COMPLETE"
        assert p["ROOTNAME"] == PROD.upper() and p["REJ_RATE"] > 0 and p["SKYSUM"] > 0
        assert h["SCI", 1].header["NCOMBINE"] == 2


def test_bias_removed_within_noise(dataset, products):
    setup = dataset["setup"]
    sky = np.median(dataset["scene"][1])  # e⁻ of the sky (stars are few) in one exposure
    with fits.open(products[f"{M1}_blv_tmp.fits"]) as h:
        # after bias removal the median is the sky (and dark) in DN, no ~2500 DN offset left
        med = np.median(h["SCI", 2].data[:, : setup.chips[1].ampx])
        darktime = h[0].header["EXPTIME"]  # calwf3: no DARKTIME overhead without a flash
    assert abs(med - (sky + setup.dark_rate * darktime) / setup.mean_gain) < 5


def cosmic_rays(dataset, member: int, ext: int):
    """(y, x) of the trimmed pixels a cosmic ray hit in `member` only: away from bright stars (truth
    < 2000 e⁻, noise < 50 DN) the raw frames of the two exposures (same pointing, same scene) differ
    there by more than 400 DN."""
    chip = dataset["setup"].chips[ext - 1]
    raws = []
    for m in dataset["members"]:
        with fits.open(dataset["asn"].parent / f"{m}_raw.fits") as h:
            raws.append(h["SCI", ext].data[chip.raw_rows(), chip.raw_cols()].astype(float))
    return np.nonzero((raws[member] - raws[1 - member] > 400) & (dataset["scene"][ext - 1] < 2000))


def test_crs_flagged_and_replaced(dataset, products):
    ys, xs = cosmic_rays(dataset, 0, 1)  # imset 1 = chip 2
    assert ys.size > 3
    with fits.open(products[f"{M1}_flt.fits"]) as flt, fits.open(products[f"{PROD}_crj.fits"]) as crj:
        dq = flt["DQ", 1].data.astype(np.int64)
        assert np.mean((dq[ys, xs] & 8192) != 0) > 0.8
        scene = dataset["scene"][0]
        resid = crj["SCI", 1].data[ys, xs] - 2 * scene[ys, xs]
        err = crj["ERR", 1].data[ys, xs]
        good = (crj["DQ", 1].data[ys, xs] & 8192) == 0
        # CR pixels are replaced by the other exposure: residual of order the error, not thousands
        assert np.median(np.abs(resid[good]) / err[good]) < 5


def test_truth_recovered_within_noise(dataset, products):
    with fits.open(products[f"{PROD}_crj.fits"]) as crj:
        sci, err, dq = crj["SCI", 2].data, crj["ERR", 2].data, crj["DQ", 2].data
        truth = 2 * dataset["scene"][1]
        ok = (dq == 0) & (err > 0)
        pull = (sci[ok] - truth[ok]) / err[ok]
        assert abs(np.median(pull)) < 0.5 and np.std(pull) < 2.0


def test_refuses_to_overwrite(dataset, products, tmp_path):
    out = products[f"{M1}_flt.fits"].parent
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
    shutil.copytree(dataset["refdir"], refs)
    asn = _copy_inputs(dataset, tmp_path)
    env = {"iref": str(refs) + "/"}
    bias, ccdtab = ref_path(dataset, "BIASFILE").name, ref_path(dataset, "CCDTAB").name
    with fits.open(refs / bias, mode="update") as h:
        h[1].data = h[1].data[:, :100]
    with pytest.raises(EngineError, match="BIASFILE"):
        calwf3(asn, outdir=tmp_path, env=env)
    assert not list(tmp_path.glob("*_flt.fits"))
    shutil.copy(dataset["refdir"] / bias, refs / bias)
    with fits.open(refs / ccdtab, mode="update") as h:
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
    assert tmp_path / f"{PROD}_spt.fits" in out
    with fits.open(tmp_path / f"{PROD}_spt.fits") as h:
        p = h[0].header
        assert (p["ROOTNAME"], p["OBSERVTN"], p["ASN_MTYP"], p["NEXTEND"]) == (PROD.upper(), PROD[6:9], "", 4)
        assert p["FILENAME"] == f"{PROD}_spt.fits" and p["PROPOSID"] == 12345
        assert [(x.name, x.ver) for x in h[1:]] == [("UDL", 1), ("SNAP1", 1), ("UDL", 2), ("SNAP1", 2)]
        assert [h["SNAP1", k].header["SNAPKEY"] for k in (1, 2)] == dataset["members"]
    with fits.open(asn) as h:
        assert h[0].header["ASN_PROD"] is True
        assert [bool(v) for v in h[1].data["MEMPRSNT"]] == [True, True, True]


def test_sink_pixels_flagged(tmp_path):
    """With the simulator's sink pixels (a SNKCFILE holding the MJD each sink appeared, -1 below it, a
    trail of thresholds above it) DQICORR flags sinks 1024 on both chips."""
    ds = sim_dataset(tmp_path / "sim", quirks=("sinks",))
    out = tmp_path / "out"
    out.mkdir()
    calwf3(ds["asn"], outdir=out, env=ds["env"])
    with fits.open(ref_path(ds, "SNKCFILE")) as s, fits.open(out / f"{M1}_flt.fits") as h:
        for ext in (1, 2):
            chip = ds["setup"].chips[ext - 1]
            sinks = s["SCI", ext].data[chip.raw_rows(), chip.raw_cols()] > 50000
            assert sinks.sum() >= 20  # 30 drawn, a few may coincide
            assert np.all(h["DQ", ext].data[sinks] & 1024)
