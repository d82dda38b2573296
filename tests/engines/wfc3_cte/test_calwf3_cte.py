"""calwf3 with PCTECORR=PERFORM on simulated data: refusals happen before any product is written
(subarrays: test_subarray.py)."""

from __future__ import annotations

import shutil

import pytest
from astropy.io import fits

from caldp.engines.wfc3.calwf3 import calwf3
from caldp.engines.wfc3.uvis.context import MissingReference


@pytest.fixture(scope="module")
def small_cte(tmp_path_factory):
    from caldp import sim

    res = sim.simulate(tmp_path_factory.mktemp("sim_cte"), modes=("wfc3-uvis-cte-asn",), size="small", seed=4)
    return res.datasets[0], dict(sim.crds_env(res.crds_cache))


def _copy(ds, dest):
    for f in ds.input_path.iterdir():
        shutil.copy(f, dest)
    return dest / f"{ds.name}_asn.fits"


def test_sim_cte_mode_headers(small_cte):
    ds, env = small_cte
    raw = sorted(ds.input_path.glob("*_raw.fits"))[0]
    h = fits.getheader(raw)
    assert h["PCTECORR"] == "PERFORM"
    for key in ("PCTETAB", "BIACFILE", "DRKCFILE"):
        assert h[key].startswith("iref$")
    for key in ("PCTETLEN", "PCTENFOR", "PCTENPAR", "PCTENSMD", "FIXROCR"):
        assert key in h


def test_missing_biacfile_stops_first(small_cte, tmp_path):
    ds, env = small_cte
    asn = _copy(ds, tmp_path)
    for raw in tmp_path.glob("*_raw.fits"):
        with fits.open(raw, mode="update") as h:
            h[0].header["BIACFILE"] = "iref$nonexistent_bic.fits"
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(MissingReference, match="BIACFILE"):
        calwf3(asn, outdir=tmp_path, env=env)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
