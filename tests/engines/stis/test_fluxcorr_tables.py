"""calstis6's optional FLUXCORR tables on first-order data: the grating-aperture correction (GACTAB,
``getgac6.c``; CRDS assigns it to CCD spectra only) against cs0.e."""

from __future__ import annotations

import numpy as np
import pytest

GAC_WL = np.array([2800.0, 3600.0, 4400.0, 5200.0, 6000.0])
GAC_THR = np.array([0.95, 0.97, 1.0, 1.02, 1.05])


def _gactab(path, opt_elem: str, cenwave: int, aperture: str) -> None:
    """A GACTAB with a non-matching row first, then the row for the exposure."""
    from astropy.io import fits

    n = GAC_WL.size
    cols = [
        fits.Column(name="OPT_ELEM", format="8A", array=np.array(["G750L", opt_elem])),
        fits.Column(name="CENWAVE", format="J", array=np.array([7751, cenwave])),
        fits.Column(name="APERTURE", format="16A", array=np.array([aperture, aperture])),
        fits.Column(name="NELEM", format="J", array=np.array([n, n])),
        fits.Column(name="WAVELENGTH", format=f"{n}D", array=np.tile(GAC_WL, (2, 1))),
        fits.Column(name="THROUGHPUT", format=f"{n}D", array=np.vstack([np.ones(n), GAC_THR])),
        fits.Column(name="PEDIGREE", format="24A", array=np.array(["INFLIGHT 01/01/2002"] * 2)),
        fits.Column(name="DESCRIP", format="40A", array=np.array(["caldp test grating-aperture"] * 2)),
    ]
    head = fits.PrimaryHDU()
    head.header.update({"INSTRUME": "STIS", "FILETYPE": "GRATING-APERTURE CORRECTION TABLE", "PEDIGREE": "INFLIGHT"})
    head.header["DESCRIP"] = "caldp test GACTAB"
    fits.HDUList([head, fits.BinTableHDU.from_columns(cols)]).writeto(path)


@pytest.mark.hstcal
def test_gactab_parity_with_cs0(tmp_path):
    """stis-ccd-spec with FLUXCORR (TDSTAB N/A: the shared one is the imaging format) and a GACTAB:
    calstis6 on cs0.e's `_crj` equals its `_sx1` (every column, keyword, the history naming GACTAB),
    and FLUX over the run without GACTAB is 1/GAC(λ) (the correction is applied)."""
    import shutil

    from astropy.io import fits

    from caldp import sim
    from caldp.engines.common.hstio import read_exposure
    from caldp.engines.stis.x1d_io import calstis6
    from caldp.sim import stis_spec

    from .conftest import cs0_exe, cs0_run_env
    from .helpers import run_cs0
    from .test_x1d import compare_table

    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    s = sim.simulate(tmp_path / "sim", modes=["stis-ccd-spec"], size="small", seed=5)
    (ds,) = s.datasets
    refdir = s.crds_cache / "references" / "hst"
    _gactab(refdir / "test1gac_gac.fits", stis_spec.OPT_ELEM, stis_spec.CENWAVE, stis_spec.APERTURE)
    env = cs0_run_env(s.env)
    works = {}
    for label, gac in (("gac", "oref$test1gac_gac.fits"), ("nogac", "N/A")):
        work = tmp_path / label
        shutil.copytree(ds.input_path, work)
        with fits.open(work / f"{ds.name}_raw.fits", mode="update") as f:
            f[0].header.update({"FLUXCORR": "PERFORM", "TDSTAB": "N/A", "GACTAB": gac})
        run_cs0(exe, env, work, "-s", f"{ds.name}_raw.fits")
        works[label] = work
    work = works["gac"]
    mine = tmp_path / f"{ds.name}_sx1.fits"
    calstis6(read_exposure(work / f"{ds.name}_crj.fits"), s.env).writeto(mine)
    res = compare_table(mine, work / f"{ds.name}_sx1.fits")
    assert all(v == 0 for v in res["cols"].values()), res["cols"]
    assert res["keys"] == [] and res["history"], res
    with fits.open(mine) as a, fits.open(works["nogac"] / f"{ds.name}_sx1.fits") as b:
        assert "  reference table oref$test1gac_gac.fits" in list(a[0].header["HISTORY"])
        fa, fb = a[1].data["FLUX"][0].astype(np.float64), b[1].data["FLUX"][0].astype(np.float64)
        wl = a[1].data["WAVELENGTH"][0] / (1.0 - a[1].header["V_HELIO"] / 299792.458)
        ok = fb != 0
        np.testing.assert_allclose(fa[ok] / fb[ok], 1.0 / np.interp(wl[ok], GAC_WL, GAC_THR), rtol=1e-5)
