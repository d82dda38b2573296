"""caldp-sim's stis-ccd-image mode: raw layout, CRDS bestrefs and cs0.e accept it."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from astropy.io import fits

from caldp.bestrefs import assign_bestrefs
from caldp.sim import stis as simstis

REF_KEYS = ("BIASFILE", "DARKFILE", "PFLTFILE", "CCDTAB", "BPIXTAB", "IMPHTTAB", "CRREJTAB", "TDSTAB")


def test_raw_layout(stis_small):
    (ds,) = stis_small.datasets
    assert ds.mode == "stis-ccd-image" and ds.name == "ocs701010"
    with fits.open(ds.input_path / "ocs701010_raw.fits") as hdul:
        hdr = hdul[0].header
        assert (hdr["DETECTOR"], hdr["APERTURE"], hdr["CRSPLIT"], hdr["NEXTEND"]) == ("CCD", "50CCD", 2, 6)
        assert hdr["SUBARRAY"] is True and hdr["BIASFILE"].startswith("oref$")
        for ext in (1, 2):
            sci = hdul["SCI", ext]
            assert sci.data.shape == simstis.geometry("small").raw_shape and sci.data.dtype == np.uint16
            assert (sci.header["LTV1"], sci.header["LTV2"]) == (18.0, -448.0)
            # overscan columns sit at the bias level, the image above it
            over = np.median(sci.data[:, 2:16])
            assert abs(over - simstis.CCDBIAS) < 3 and np.median(sci.data[:, 100:900]) > over + 5
        assert hdul["SCI", 1].header["EXPSTART"] < hdul["SCI", 2].header["EXPSTART"]
    asn = fits.getdata(ds.input_path / "ocs701010_asn.fits", 1)
    assert [m.strip() for m in asn["MEMTYPE"]] == ["EXP-CRJ", "PROD-CRJ"]


def test_full_geometry():
    geo = simstis.geometry("full")
    assert geo.raw_shape == (1044, 1062) and geo.sci_shape == (1024, 1024) and geo.ltv == (19.0, 20.0)


def test_bestrefs_assigns_the_simulated_references(stis_small, tmp_path):
    (ds,) = stis_small.datasets
    raw = tmp_path / "ocs701010_raw.fits"
    shutil.copy(ds.input_path / raw.name, raw)
    with fits.open(raw, mode="update") as hdul:
        expected = {k: hdul[0].header[k] for k in REF_KEYS}
        for k in REF_KEYS:
            hdul[0].header[k] = "N/A"
    assigned = assign_bestrefs([raw], stis_small.env)
    assert assigned[raw.name] == expected
    assert {k: fits.getval(raw, k) for k in REF_KEYS} == expected


@pytest.mark.hstcal
def test_cs0_runs(stis_small, cs0, tmp_path):
    exe, env = cs0
    (ds,) = stis_small.datasets
    work = tmp_path / ds.name
    shutil.copytree(ds.input_path, work)
    proc = subprocess.run([exe, "-v", f"{ds.name}_raw.fits"], cwd=work, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    flt, crj = (work / f"{ds.name}_{s}.fits" for s in ("flt", "crj"))
    switches = ("DQICORR", "BLEVCORR", "BIASCORR", "DARKCORR", "FLATCORR", "PHOTCORR")
    with fits.open(crj) as hdul:
        assert all(hdul[0].header[k] == "COMPLETE" for k in (*switches, "CRCORR"))
        assert hdul["SCI", 1].header["NCOMBINE"] == 2 and hdul["SCI", 1].data.shape == (128, 1024)
    with fits.open(flt) as hdul:
        assert len(hdul) == 7 and all(hdul[0].header[k] == "COMPLETE" for k in switches)
        # the dark was scaled for OCCDHTAV (side-2 temperature) and the bias level came from the overscan
        assert "scaled by the factor 1.091" in proc.stdout
        assert abs(hdul["SCI", 1].header["MEANBLEV"] - simstis.CCDBIAS) < 2
