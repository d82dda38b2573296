"""Pixel parity with calwf3.e on the simulator's UVIS associations (needs HSTCAL on PATH).

Acceptance (issue 5): every SCI/ERR pixel within 4 float32 ulp (or 1e-4 absolute), DQ identical,
the key keywords equal. The mini data set (the full-frame layout scaled down) runs without DQICORR
because calwf3.e's sink-pixel step assumes the full chip (``sink.c`` works in a fixed 2070×4206 RAZ
frame and crashes on smaller images); the full-size data set with sink pixels runs every step.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from astropy.io import fits

from caldp.engines.wfc3.calwf3 import calwf3

from . import productdiff
from .conftest import sim_dataset

pytestmark = [
    pytest.mark.hstcal,
    pytest.mark.skipif(shutil.which("calwf3.e") is None, reason="calwf3.e not on PATH"),
]


def products(ds) -> list[str]:
    return [f"{m}_flt.fits" for m in ds["members"]] + [f"{ds['product']}_crj.fits"]


def _set_switches(ds, **switches):
    for m in ds["members"]:
        with fits.open(ds["asn"].parent / f"{m}_raw.fits", mode="update") as h:
            for k, v in switches.items():
                h[0].header[k] = v


def run_both(ds, tmp_path):
    """Run calwf3.e and caldp on copies of the inputs; return (hstcal dir, caldp dir)."""
    hst, mine = tmp_path / "hstcal", tmp_path / "caldp"
    hst.mkdir()
    mine.mkdir()
    for f in ds["asn"].parent.glob("*.fits"):
        shutil.copy(f, hst)
        shutil.copy(f, mine)
    env = dict(os.environ, **ds["env"])
    r = subprocess.run(["calwf3.e", ds["asn"].name], cwd=hst, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:]
    calwf3(mine / ds["asn"].name, outdir=mine, env=ds["env"])
    # the same files: products, trailers, product SPT; the association updated the same way
    assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in hst.iterdir())
    for name in [ds["asn"].name] + [
        p.name for p in hst.glob("*_spt.fits") if p.stat().st_mtime > ds["asn"].stat().st_mtime
    ]:
        assert _same_file(mine / name, hst / name), name
    return hst, mine


def _same_file(a, b, ignore=("DATE", "ORIGIN", "COMMENT", "BITPIX", "IRAF-TLM", "CHECKSUM", "DATASUM")) -> bool:
    """Same HDUs, keyword values (but the volatile ones) and data."""
    with fits.open(a) as ha, fits.open(b) as hb:
        if len(ha) != len(hb):
            return False
        for x, y in zip(ha, hb, strict=True):
            kx = {k: v for k, v in x.header.items() if k not in ignore}
            ky = {k: v for k, v in y.header.items() if k not in ignore}
            if kx != ky:
                return False
            if (x.data is None) != (y.data is None):
                return False
            if x.data is not None and not (x.data == y.data).all():
                return False
    return True


def assert_parity(hst, mine, names):
    productdiff.assert_products_match(hst, mine, names)


def test_parity_mini_without_dqicorr(tmp_path):
    ds = sim_dataset(tmp_path / "in")
    _set_switches(ds, DQICORR="OMIT")
    assert_parity(*run_both(ds, tmp_path), products(ds))


@pytest.mark.slow
def test_parity_full_size_all_steps(tmp_path):
    ds = sim_dataset(tmp_path / "in", size="full", quirks=("sinks",))
    hst, mine = run_both(ds, tmp_path)
    assert_parity(hst, mine, products(ds))
    with fits.open(mine / f"{ds['members'][0]}_flt.fits") as h:
        assert h[0].header["DQICORR"] == "COMPLETE"
        assert (h["DQ", 1].data & 1024).any()  # a sink pixel was flagged


def _simulated(tmp_path, size, quirks=()):
    return sim_dataset(tmp_path / "sim", size=size, quirks=quirks)


@pytest.mark.parametrize("size", ["small", pytest.param("full", marks=pytest.mark.slow)])
def test_parity_simulator(tmp_path, size):
    """The simulator's archive-like headers and references (small: a 1-amp subarray; full: 4 amps)."""
    ds = _simulated(tmp_path, size)
    hst, mine = run_both(ds, tmp_path)
    names = sorted(p.name for p in hst.glob("*_flt.fits")) + sorted(p.name for p in hst.glob("*_crj.fits"))
    assert len(names) == 3
    assert (mine / names[-1].replace("_crj", "_spt")).is_file()
    assert_parity(hst, mine, names)


def test_parity_mini_flash(tmp_path):
    """FLSHCORR (FLASHDUR > 0), which the standard data sets leave OMIT."""
    ds = sim_dataset(tmp_path / "in", quirks=("flash",))
    _set_switches(ds, DQICORR="OMIT")
    hst, mine = run_both(ds, tmp_path)
    assert_parity(hst, mine, products(ds))
    for d in (mine, hst):
        with fits.open(d / f"{ds['members'][0]}_flt.fits") as h:
            assert h[0].header["FLSHCORR"] == "COMPLETE"
            assert h["SCI", 1].header["MEANFLSH"] > 0


@pytest.fixture(scope="module")
def sim_small_flash(tmp_path_factory):
    """The simulator's small (UVIS2-C512C subarray) association, post-flashed (a full-frame FLSHFILE)."""
    return _simulated(tmp_path_factory.mktemp("sim_small_flash"), "small", quirks=("flash",))


@pytest.mark.parametrize(
    ("placement", "ltv1"),
    [("amp-corner", None), ("straddles-virtual-overscan", -1700.0), ("right-of-virtual-overscan", -2200.0)],
)
def test_parity_subarray_flash(sim_small_flash, tmp_path, placement, ltv1):
    """Subarray FLSHCORR: one-amp gain, 60-column shift right of column 2072, straddle cut and MEANFLSH.

    Moved subarrays do not fit the simulator's subarray-sized bias, dark and flat: those steps are off.
    """
    ds = sim_small_flash
    work = tmp_path / "in"
    work.mkdir()
    for f in ds["asn"].parent.glob("*.fits"):
        shutil.copy(f, work)
    if ltv1 is not None:
        for raw in work.glob("*_raw.fits"):
            with fits.open(raw, mode="update") as h:
                h[0].header.update(BIASCORR="OMIT", DARKCORR="OMIT", FLATCORR="OMIT")
                for ext in h[1:]:
                    if "LTV1" in ext.header:
                        ext.header["LTV1"] = ltv1
    hst, mine = run_both({"asn": work / ds["asn"].name, "env": ds["env"]}, tmp_path)
    names = sorted(p.name for p in hst.glob("*_flt.fits")) + sorted(p.name for p in hst.glob("*_crj.fits"))
    assert_parity(hst, mine, names)
    assert fits.getval(mine / names[0], "MEANFLSH", ext=1) > 0
