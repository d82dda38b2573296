"""Stage 2 on simulated data with its distortion model (caldp.sim.distortion): runastrodriz's
updatewcs finds IDCTAB/NPOLFILE/D2IMFILE, keeps every exposure, and the stars land on the truth."""

from __future__ import annotations

import pytest
from astropy.io import fits

from .test_stage2_sim import assert_stars_on_truth, drizzle_dataset, simulated, stage1_builtin  # noqa: F401

pytest.importorskip("caldp.sim", reason="caldp.sim not available")


def test_distortion_path_lands_on_truth(tmp_path, simulated):  # noqa: F811
    work, products, truth = drizzle_dataset(tmp_path, simulated, stage1_builtin)
    log = (work / "logs" / f"{simulated[1].name}_runastrodriz.log").read_text()
    assert "Distortion model is not available" not in log
    assert "IDCTAB: Distortion model from row" in log
    for root in truth["exposures"]:
        with fits.open(work / f"{root}_flt.fits") as hdul:
            sci = hdul["SCI", 1].header
            assert sci["WCSNAME"].startswith("IDC_") and sci["CTYPE1"] == "RA---TAN-SIP"
            assert sci["NPOLEXT"] and sci["D2IMEXT"] and "WCSDVARR" in hdul and "D2IMARR" in hdul
    drz = [p for p in products if p.name.endswith("_drz.fits")]
    with fits.open(drz[0]) as hdul:
        assert hdul[0].header["NDRIZIM"] == 2  # both exposures drizzled
    assert_stars_on_truth(drz[0], truth)
