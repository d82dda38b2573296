"""STIS modes mixed in one CRDS cache: bestrefs assigns every reference whatever the combination.

Each STIS mode writes its references per detector; an ALWAYS-relevant rmap (PHOTTAB) written
by one detector's mode only must still match the other detector's datasets (an ``N/A`` row).
"""

from __future__ import annotations

import shutil

import pytest
from astropy.io import fits

from caldp.bestrefs import assign_bestrefs, assigned_references
from caldp.sim import simulate
from caldp.sim.crdscache import RefEntry, detector_na_rows


def _blank_oref(src, dest):
    """Copy a dataset directory and set its ``oref$`` keywords to N/A; returns the raw files."""
    shutil.copytree(src, dest)
    raws = sorted(dest.glob("*_raw.fits"))
    for raw in raws:
        with fits.open(raw, mode="update") as hdul:
            for key, value in assigned_references(raw).items():
                if value.startswith("oref$"):
                    hdul[0].header[key] = "N/A"
    return raws


@pytest.mark.parametrize(
    "modes",
    [
        ("stis-ccd-image", "stis-mama-echelle"),  # CCD imaging without the CCD spectroscopic mode
        ("stis-ccd-spec", "stis-mama-image"),  # FUV-MAMA imaging without the echelle mode
    ],
)
def test_bestrefs_for_stis_mode_combinations(tmp_path, modes):
    result = simulate(tmp_path / "sim", modes=modes, size="small", seed=2)
    for ds in result.datasets:
        raws = _blank_oref(ds.input_path, tmp_path / "work" / ds.name)
        assigned = assign_bestrefs(raws, result.env)  # raises on any failed lookup
        for raw in raws:
            assert assigned[raw.name], raw.name
            assert fits.getval(raw, "PHOTTAB") in ("N/A", *assigned[raw.name].values())


def test_detector_na_rows_only_for_unmatched_detectors():
    entries = [
        RefEntry("stis", "darkfile", "a_drk.fits", {"DETECTOR": "CCD"}),
        RefEntry("stis", "darkfile", "b_drk.fits", {"DETECTOR": "FUV-MAMA"}),
        RefEntry("stis", "phottab", "b_pht.fits", {"DETECTOR": "FUV-MAMA"}),
        RefEntry("stis", "tdctab", "c_tdc.fits", {"DETECTOR": "NUV-MAMA"}),  # not ALWAYS-relevant
        RefEntry("acs", "darkfile", "d_drk.fits", {"DETECTOR": "HRC"}),
    ]
    rows = detector_na_rows(entries)
    assert rows == [RefEntry("stis", "phottab", "N/A", {"DETECTOR": "CCD"})]
    covered = entries + [RefEntry("stis", "phottab", "a_pht.fits", {"DETECTOR": "CCD"})]
    assert detector_na_rows(covered) == []
    assert detector_na_rows([RefEntry("stis", "phottab", "x_pht.fits", {})] + entries[:2]) == []
