"""Stage 2 and previews on the simulator's small ACS/WFC association (caldp.sim, truth=True).

Stage 1 runs with the builtin calacs engine (always) or calacs.e (``hstcal`` marker); the drizzled
stars must land on the simulator's truth RA/Dec through the ``_drz`` WCS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from caldp import stage2
from caldp.tasks.preview import create_previews

from .test_stage2 import centroid_offsets

sim = pytest.importorskip("caldp.sim", reason="caldp.sim not available")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    res = sim.simulate(out, modes=("acs-wfc-asn",), size="small", truth=True)
    return res, res.datasets[0]


def stage1_builtin(work: Path, asn: str, env: dict[str, str]) -> None:
    calacs = pytest.importorskip("caldp.engines.acs.calacs", reason="builtin ACS engine not available").calacs
    calacs(work / asn, outdir=work, env=env)


def stage1_hstcal(work: Path, asn: str, env: dict[str, str]) -> None:
    subprocess.run(["calacs.e", asn], cwd=work, env=env, check=True, capture_output=True, timeout=300)


def drizzle_dataset(tmp_path: Path, simulated, stage1) -> tuple[Path, list[Path], dict]:
    res, ds = simulated
    work = tmp_path / ds.name
    shutil.copytree(ds.input_path, work)
    env = {**os.environ, **res.env}
    asn = f"{ds.name}_asn.fits"
    stage1(work, asn, env)
    products = stage2.run_stage2(work, [asn], instrument="acs", env=env, log_dir=work / "logs")
    return work, products, ds.truth


def assert_stars_on_truth(drz: Path, truth: dict) -> None:
    ra, dec, rate = (np.asarray(truth[k], float) for k in ("ra", "dec", "rate"))
    with fits.open(drz) as hdul:
        sci, wht = hdul["SCI"].data, hdul["WHT"].data
        w = WCS(hdul["SCI"].header)
        assert {"SCI", "WHT", "CTX"} <= {h.name for h in hdul}
    px, py = w.all_world2pix(ra, dec, 0)
    ny, nx = sci.shape
    inside = (px > 8) & (py > 8) & (px < nx - 9) & (py < ny - 9)
    # isolated, well-exposed stars: no other star within 8 px, brighter than the median star
    sep = np.hypot(px[:, None] - px[None, :], py[:, None] - py[None, :])
    np.fill_diagonal(sep, np.inf)
    pick = inside & (sep.min(axis=1) > 8) & (rate > np.median(rate))
    pick &= wht[np.clip(np.rint(py), 0, ny - 1).astype(int), np.clip(np.rint(px), 0, nx - 1).astype(int)] > 0
    assert pick.sum() >= 5, "too few isolated bright stars to test"
    off = centroid_offsets(sci, px[pick], py[pick])
    dist = np.hypot(off[:, 0], off[:, 1])
    assert dist.max() < 0.5, dist
    assert np.median(dist) < 0.1, dist


def test_builtin_stage1_then_drizzle_lands_on_truth(tmp_path, simulated):
    work, products, truth = drizzle_dataset(tmp_path, simulated, stage1_builtin)
    drz = [p for p in products if p.name.endswith("_drz.fits")]
    assert len(drz) == 1
    assert_stars_on_truth(drz[0], truth)
    (tmp_path / "previews").mkdir()
    made = create_previews(sorted(work.glob("*.fits")), tmp_path / "previews", instrument="acs")
    names = {p.name for p in made}
    ds = simulated[1]
    assert f"{ds.name}_drz.jpg" in names and f"{ds.name}_crj_thumb.jpg" in names
    for m in ds.truth["exposures"]:
        assert {f"{m}_flt.jpg", f"{m}_raw.jpg", f"{m}_flt_thumb.jpg"} <= names
    for p in made:
        with Image.open(p) as im:
            assert im.format == "JPEG"
            if p.name.endswith("_thumb.jpg"):
                assert max(im.size) == 128


@pytest.mark.hstcal
@pytest.mark.skipif(shutil.which("calacs.e") is None, reason="calacs.e (HSTCAL) not on PATH")
def test_hstcal_stage1_then_drizzle_lands_on_truth(tmp_path, simulated):
    _, products, truth = drizzle_dataset(tmp_path, simulated, stage1_hstcal)
    assert_stars_on_truth(products[0], truth)


@pytest.mark.hstcal
@pytest.mark.skipif(shutil.which("calwf3.e") is None, reason="calwf3.e (HSTCAL) not on PATH")
@pytest.mark.parametrize("mode", ["wfc3-uvis-asn", "wfc3-ir"])
def test_wfc3_hstcal_then_drizzle_lands_on_truth(tmp_path, mode):
    """WFC3: a UVIS association and an unassociated IR exposure (the single-_raw path)."""
    res = sim.simulate(tmp_path / "sim", modes=(mode,), size="small", truth=True)
    ds = res.datasets[0]
    work = tmp_path / ds.name
    shutil.copytree(ds.input_path, work)
    env = {**os.environ, **res.env}
    inp = f"{ds.name}_asn.fits" if (work / f"{ds.name}_asn.fits").is_file() else f"{ds.name}_raw.fits"
    subprocess.run(["calwf3.e", inp], cwd=work, env=env, check=True, capture_output=True, timeout=300)
    products = stage2.run_stage2(work, [inp], instrument="wfc3", env=env, log_dir=work / "logs")
    assert [p.name for p in products] == [f"{ds.name}_drz.fits"]
    assert_stars_on_truth(products[0], ds.truth)
    made = create_previews(sorted(work.glob("*.fits")), tmp_path / "previews", instrument="wfc3")
    expected = {"drz", "flt", "raw"} | ({"ima"} if mode == "wfc3-ir" else set())
    assert {p.name.split(".")[0].split("_")[-1] for p in made if not p.name.endswith("_thumb.jpg")} == expected
