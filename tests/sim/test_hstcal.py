"""The real HSTCAL accepts every small simulated mode (skipped without calacs.e/calwf3.e)."""

from __future__ import annotations

import os
import shutil
import subprocess

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
}


@pytest.mark.hstcal
@pytest.mark.parametrize("mode", list(PRODUCTS))
def test_hstcal_runs(sim_small, tmp_path, mode):
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
