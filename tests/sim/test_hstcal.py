"""The real HSTCAL accepts every small simulated mode (skipped without calacs.e/calwf3.e)."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from astropy.io import fits

from .conftest import hstcal_available

PRODUCTS = {
    "acs-wfc-asn": ["_crj", "_flt"],
    "acs-wfc": ["_flt"],
    "acs-hrc-asn": ["_crj", "_flt"],
    "wfc3-uvis-asn": ["_crj", "_flt"],
    "wfc3-ir": ["_ima", "_flt"],
    "wfc3-ir-asn": ["_ima", "_flt"],
    "wfc3-ir-rpt-asn": ["_crj", "_ima", "_flt"],
}


def _run_hstcal(sim_small, mode, tmp_path):
    """calacs.e or calwf3.e on a copy of the small dataset of `mode` (skip without it); it must succeed."""
    ds = next(d for d in sim_small.datasets if d.mode == mode)
    exe = "calacs.e" if ds.instrument == "acs" else "calwf3.e"
    if not hstcal_available(exe):
        pytest.skip(f"{exe} not on PATH")
    work = tmp_path / ds.name
    shutil.copytree(ds.input_path, work)
    target = f"{ds.name}_asn.fits" if mode.endswith("-asn") else f"{ds.name}_raw.fits"
    env = {**os.environ, **sim_small.env, "PATH": os.pathsep.join(["/opt/hstcal/bin", os.environ.get("PATH", "")])}
    proc = subprocess.run([exe, target], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return ds, work


@pytest.fixture(scope="module")
def hstcal_run(sim_small, tmp_path_factory):
    """hstcal_run(mode) -> (dataset, work dir): HSTCAL run once per mode for the module's tests, which
    only read its products."""
    runs = {}

    def run(mode):
        if mode not in runs:
            runs[mode] = _run_hstcal(sim_small, mode, tmp_path_factory.mktemp(f"hstcal-{mode}"))
        return runs[mode]

    return run


@pytest.mark.hstcal
@pytest.mark.parametrize("mode", list(PRODUCTS))
def test_hstcal_runs(hstcal_run, mode):
    ds, work = hstcal_run(mode)
    for raw in sorted(work.glob("*_raw.fits")):
        root = raw.name[:9]
        for suffix in PRODUCTS[mode]:
            if suffix == "_crj":
                continue
            prod = work / f"{root}{suffix}.fits"
            assert prod.is_file(), prod
            hdr = fits.getheader(prod)
            switches = ["DQICORR", "DARKCORR", "FLATCORR", "PHOTCORR"]
            switches += ["ZSIGCORR", "NLINCORR", "CRCORR"] if "IR" == hdr["DETECTOR"] else ["BLEVCORR", "BIASCORR"]
            assert all(hdr[k] == "COMPLETE" for k in switches), {k: hdr[k] for k in switches}
    if "_crj" in PRODUCTS[mode]:
        crj = work / f"{ds.name}_crj.fits"
        assert fits.getval(crj, "CRCORR") == "COMPLETE" and fits.getval(crj, "NCOMBINE", ("SCI", 1)) == 2


def _truth_residuals(flt, truth_file):
    """(median residual / sky, robust std of residual/ERR) of a _flt against the noiseless truth."""
    truth = fits.getdata(truth_file, 1).astype(float)
    with fits.open(flt) as hdul:
        sci, err, dq = (hdul[e, 1].data.astype(float) for e in ("SCI", "ERR", "DQ"))
        per_second = "/S" in hdul["SCI", 1].header["BUNIT"]
        exptime = hdul[0].header["EXPTIME"]
    model = truth if per_second else truth * exptime
    sky = np.median(model)
    good = (dq == 0) & (model < 1.5 * sky)
    z = (sci - model)[good] / err[good]
    mad = np.median(np.abs(z - np.median(z))) * 1.4826
    return float(np.median((sci - model)[good]) / sky), float(mad)


@pytest.mark.hstcal
@pytest.mark.parametrize(
    ("mode", "tolerance"), [("acs-wfc", 0.005), ("acs-hrc-asn", 0.005), ("wfc3-uvis-asn", 0.005), ("wfc3-ir", 0.02)]
)
def test_calibration_recovers_truth(hstcal_run, mode, tolerance):
    """calacs.e/calwf3.e turn the raw pixels back into the noiseless sky + stars, within the noise."""
    ds, work = hstcal_run(mode)
    root, exp = sorted(ds.truth["exposures"].items())[0]
    bias, spread = _truth_residuals(work / f"{root}_flt.fits", exp["truth_file"])
    # sky level recovered to 0.5 % (CCD; 2 % for the 1 e⁻/s IR sky through calwf3's ramp fit)
    assert abs(bias) < tolerance, bias
    assert 0.5 < spread < 1.3, spread  # residuals match the pipeline's error array
