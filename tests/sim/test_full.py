"""Full-frame geometry (one mode: the ACS/WFC CR-SPLIT association, the largest CCD layout)."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from astropy.io import fits

from caldp.bestrefs import assign_bestrefs

from .conftest import hstcal_available


@pytest.fixture(scope="module")
def sim_full(tmp_path_factory):
    from caldp import sim

    return sim.simulate(tmp_path_factory.mktemp("sim_full"), modes=("acs-wfc-asn",), size="full", seed=8)


@pytest.mark.slow
def test_full_frame_layout_and_references(sim_full, tmp_path):
    ds = sim_full.datasets[0]
    raw = sorted(ds.input_path.glob("*_raw.fits"))[0]
    with fits.open(raw) as hdul:
        assert hdul[0].header["NEXTEND"] == 6 and hdul[0].header["CCDAMP"] == "ABCD"
        assert hdul[0].header["SUBARRAY"] is False and hdul[0].header["APERTURE"] == "WFC"
        chips = [(hdul["SCI", v].header["CCDCHIP"], hdul["SCI", v].data.shape) for v in (1, 2)]
        assert chips == [(2, (2068, 4144)), (1, (2068, 4144))]
        assert (hdul["SCI", 1].header["LTV2"], hdul["SCI", 2].header["LTV2"]) == (0.0, 20.0)
        sci = hdul["SCI", 2].data.astype(np.float32)
    # four amps at four bias levels: prescan of A (left) and B (right) differ as simulated
    assert abs(float(np.median(sci[:, 2:22])) - 2210.0) < 5 and abs(float(np.median(sci[:, -22:-2])) - 2260.0) < 5
    assert abs(float(np.median(sci[:20, 100:2000])) - 2210.0) < 5  # virtual overscan rows of chip 1
    work = tmp_path / "raw.fits"
    shutil.copy(raw, work)
    with fits.open(work, mode="update") as hdul:
        expected = {k: hdul[0].header[k] for k in ("BIASFILE", "DARKFILE", "PFLTFILE", "SATUFILE")}
        for k in expected:
            hdul[0].header[k] = "N/A"
    assigned = assign_bestrefs([work], sim_full.env)["raw.fits"]
    assert {k: assigned[k] for k in expected} == expected
    assert fits.getval(sim_full.crds_cache / "references" / "hst" / expected["BIASFILE"].split("$")[1], "CCDAMP") == (
        "ABCD"
    )


@pytest.mark.slow
@pytest.mark.hstcal
def test_calacs_full_frame(sim_full, tmp_path):
    if not hstcal_available("calacs.e"):
        pytest.skip("calacs.e not on PATH")
    ds = sim_full.datasets[0]
    work = tmp_path / ds.name
    shutil.copytree(ds.input_path, work)
    env = {**os.environ, **sim_full.env, "PATH": os.pathsep.join(["/opt/hstcal/bin", os.environ.get("PATH", "")])}
    proc = subprocess.run(
        ["calacs.e", f"{ds.name}_asn.fits"], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Performing stripe removal and bias level subtraction for full frame data." in proc.stdout
    with fits.open(work / f"{ds.name}_crj.fits") as crj:
        assert crj["SCI", 1].data.shape == (2048, 4096) and crj[0].header["CRCORR"] == "COMPLETE"
        assert crj[0].header["BLEVCORR"] == "COMPLETE" and crj["SCI", 1].header["BUNIT"] == "ELECTRONS"
