"""caldp-process on a stis-ccd-image dataset uses the builtin engine and delivers _flt/_crj."""

from __future__ import annotations

from astropy.io import fits

from caldp.engines.builtin import BuiltinEngine
from tests.engines.stis.helpers import process_builtin


def test_builtin_supports_stis():
    assert BuiltinEngine().supports("stis")


def test_caldp_process_builtin(stis_small, tmp_path):
    (ds,) = stis_small.datasets
    prod = process_builtin(stis_small, ds, tmp_path)
    with fits.open(prod / f"{ds.name}_crj.fits") as crj:
        assert crj[0].header["CRCORR"] == "COMPLETE" and crj[0].header["FLATCORR"] == "COMPLETE"
    assert (prod / f"{ds.name}_flt.fits").is_file() and (prod / f"{ds.name}.tra").is_file()
