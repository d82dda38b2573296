"""Builtin STIS engine on stis-ccd-image: products, steps on tiny arrays, parity with cs0.e."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.errors import EngineError
from caldp.engines.stis import blevcorr, ocrreject
from caldp.engines.stis.calstis import calstis

from ..wfc3_uvis.productdiff import assert_products_match
from .helpers import run_cs0

SWITCHES = ("DQICORR", "BLEVCORR", "BIASCORR", "DARKCORR", "FLATCORR", "PHOTCORR")


@pytest.fixture(scope="module")
def builtin_run(stis_small, tmp_path_factory):
    (ds,) = stis_small.datasets
    out = tmp_path_factory.mktemp("stis_builtin")
    written = calstis(ds.input_path / f"{ds.name}_raw.fits", outdir=out, env=stis_small.env)
    return ds, out, written


def test_products_and_switches(builtin_run):
    ds, out, written = builtin_run
    assert sorted(p.name for p in written) == [f"{ds.name}.tra", f"{ds.name}_crj.fits", f"{ds.name}_flt.fits"]
    with fits.open(out / f"{ds.name}_crj.fits") as crj, fits.open(out / f"{ds.name}_flt.fits") as flt:
        assert all(crj[0].header[k] == "COMPLETE" for k in (*SWITCHES, "CRCORR"))
        assert flt[0].header["CRCORR"] == "PERFORM" and all(flt[0].header[k] == "COMPLETE" for k in SWITCHES)
        assert crj["SCI", 1].header["NCOMBINE"] == 2 and crj["SCI", 1].data.shape == (128, 1024)
        # rejections written back into the _flt DQ; the combination is close to the sum of the two _flt
        cr = [(flt["DQ", k].data & 8192) != 0 for k in (1, 2)]
        assert cr[0].sum() > 10 and cr[1].sum() > 10
        both_ok = ~cr[0] & ~cr[1] & (crj["DQ", 1].data == 0)
        total = flt["SCI", 1].data + flt["SCI", 2].data
        resid = (crj["SCI", 1].data - total)[both_ok]
        assert abs(np.median(resid)) < 0.5
        assert crj[0].header["PHOTFLAM"] > 0 and "MJD#60410.3000" in crj[0].header["PHOTMODE"]


def test_never_overwrites(builtin_run):
    ds, out, _ = builtin_run
    with pytest.raises(EngineError, match="already exists"):
        calstis(ds.input_path / f"{ds.name}_raw.fits", outdir=out, env={"oref": "/nonexistent/"})


def test_blevcorr_line_fit_and_drift():
    """Full-frame amp D: bias 1000 + 0.01·line in the serial overscan, drift 0.002·column in the virtual overscan."""
    ny, nx = 1044, 1062
    rows = np.arange(ny, dtype=np.float64)[:, None]
    cols = np.arange(nx, dtype=np.float64)[None, :]
    raw = (1000.0 + 0.01 * (rows - 20) + 0.002 * (cols - 19 - 8.0 + 19)).astype(np.float32)
    raw[20:, 19:1043] += 50.0  # the image
    dq = np.zeros((ny, nx), np.uint16)
    res, ov = blevcorr.blevcorr(raw, dq, ccdamp="D", binning=(1, 1), sdqflags=31743, ccdbias=1500.0, blev_clip=5.0)
    assert ov.biassect == (1, 15) and res.driftcorr and res.sci.shape == (1024, 1024)
    assert np.allclose(res.sci, 50.0, atol=2e-3)


def test_ocrreject_masks_follow_the_raster_scan():
    """An excluded pixel after a HIT (in raster order) is spilled onto and can become a HIT itself;
    one before it stays excluded."""
    d2 = np.zeros((1, 5), np.float32)
    d2[0, [1, 2, 3]] = 100.0
    thresh = np.ones((1, 5), np.float32)
    excluded = np.zeros((1, 5), bool)
    excluded[0, [1, 3]] = True
    offsets = [(0, -1), (0, 0), (0, 1)]
    earlier = [(0, -1)]
    hit, spill = ocrreject._masks(d2, thresh, thresh, np.float32(0.36), excluded, offsets, earlier)
    assert hit[0].tolist() == [False, False, True, True, False]
    assert spill[0].tolist() == [False, True, False, False, False]


def test_cr_mode_and_sky():
    img = np.full((10, 10), 20.4, np.float32)
    img[:3] = 21.2
    # bins from int(min(0, 20.4)) - 1 = -1: 70 counts in bin 21 (20 DN), 30 in bin 22, empty neighbours;
    # mode = 21 + 1 + 0.5·(70 − 40)/110, sky = -1 + (mode − 0.5)
    sky = ocrreject.sky_level(img, np.zeros((10, 10), np.uint16))
    assert float(sky) == pytest.approx(-1 + 21 + 1 + 0.5 * 30 / 110 - 0.5, rel=1e-6)


@pytest.mark.hstcal
def test_parity_with_cs0(builtin_run, cs0, tmp_path):
    exe, env = cs0
    ds, out, _ = builtin_run
    work = tmp_path / "hst"
    shutil.copytree(ds.input_path, work)
    run_cs0(exe, env, work, f"{ds.name}_raw.fits")
    assert_products_match(work, out, [f"{ds.name}_flt.fits", f"{ds.name}_crj.fits"])
