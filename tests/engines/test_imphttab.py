"""IMPHTTAB lookup: interpolation in MJD by hand, and one parse per file version."""

import os

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common import imphttab
from caldp.engines.common.errors import EngineError


def _table(path, flam1=(4.0e-19, 2.0e-19), zpt=-21.1):
    cols = [
        fits.Column("OBSMODE", "23A", array=["acs,wfc1,f606w,mjd#", "acs,wfc1,f814w"]),
        fits.Column("DATACOL", "12A", array=["PHOTFLAM1", "PHOTFLAM"]),
        fits.Column("PHOTFLAM", "D", array=[0.0, 7.0e-20]),
        fits.Column("NELEM1", "J", array=[2, 0]),
        fits.Column("PAR1NAMES", "8A", array=["mjd#", ""]),
        fits.Column("PAR1VALUES", "2D", array=[[50000.0, 60000.0], [0.0, 0.0]]),
        fits.Column("PHOTFLAM1", "2D", array=[list(flam1), [0.0, 0.0]]),
    ]
    hdus = [fits.PrimaryHDU(header=fits.Header([("PHOTZPT", zpt)]))]
    for name in ("PHOTFLAM", "PHOTPLAM", "PHOTBW"):
        hdu = fits.BinTableHDU.from_columns(cols)
        hdu.header["EXTNAME"] = name
        if name != "PHOTFLAM":  # the other extensions carry their own columns under their names
            hdu.columns.change_name("PHOTFLAM", name)
            hdu.columns.change_name("PHOTFLAM1", f"{name}1")
            hdu.data["DATACOL"] = [f"{name}1", name]
        hdus.append(hdu)
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def test_mjd_interpolation_and_scalar_rows(tmp_path):
    path = _table(tmp_path / "x_imp.fits")
    out = imphttab.lookup(path, "ACS WFC1 F606W MJD#57500.0")
    assert out["PHOTFLAM"] == pytest.approx(4.0e-19 + 0.75 * (2.0e-19 - 4.0e-19), rel=1e-15)
    assert out["PHOTZPT"] == -21.1
    assert imphttab.lookup(path, "ACS WFC1 F814W")["PHOTFLAM"] == 7.0e-20
    assert imphttab.lookup(path, "ACS WFC1 F606W MJD#40000.0")["PHOTFLAM"] == imphttab.OUT_OF_RANGE
    with pytest.raises(EngineError, match="no IMPHTTAB row"):
        imphttab.lookup(path, "ACS WFC1 F555W")


def test_parsed_once_per_file_version(tmp_path, monkeypatch):
    path = _table(tmp_path / "y_imp.fits")
    first = imphttab.lookup(path, "ACS WFC1 F606W MJD#55000.0")
    with monkeypatch.context() as m:
        m.setattr(fits, "open", lambda *a, **k: pytest.fail("IMPHTTAB re-read"))
        assert imphttab.lookup(path, "ACS WFC1 F606W MJD#55000.0") == first
    _table(path, flam1=(1.0e-19, 1.0e-19), zpt=-20.0)  # a new version of the file
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = imphttab.lookup(path, "ACS WFC1 F606W MJD#55000.0")
    assert again["PHOTFLAM"] == np.float64(1.0e-19) and again["PHOTZPT"] == -20.0
