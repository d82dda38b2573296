"""WF3IR's dark imsets read one frame at a time: same values as astropy gives, same checks."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.errors import EngineError
from caldp.engines.wfc3.ir import wf3ir


def _dark(path, ny=6, nx=5):
    rng = np.random.default_rng(3)
    hdus = [fits.PrimaryHDU()]
    for k in (1, 2):
        hdus.append(fits.ImageHDU(rng.normal(5, 2, (ny, nx)).astype(">f4"), name="SCI", ver=k))
        err = fits.ImageHDU(None, name="ERR", ver=k)
        err.header.update(NPIX1=nx, NPIX2=ny, PIXVALUE=0.25)
        hdus.append(err)
        # DQ stored unsigned (BZERO 32768): astropy's route, values above 32767 included
        dq = np.array(rng.integers(0, 65535, (ny, nx)), np.uint16)
        hdus.append(fits.ImageHDU(dq, name="DQ", ver=k))
    fits.HDUList(hdus).writeto(path)
    return path


def test_dark_frames_read_on_demand_equal_astropy(tmp_path):
    path = _dark(tmp_path / "d_drk.fits")
    plan = [(1, "MATCH", 2, 0, 0.0, 0.0, 1.0), (0, "INTERP", 1, 2, 0.0, 1.0, 0.5)]
    darks = wf3ir._load_darks(wf3ir._DarkInfo(path, [0.0, 1.0]), plan, 6, 5)
    with fits.open(path, uint=True) as h:
        for k in (1, 2):
            sci, err, dq = darks.get(k)
            assert sci.dtype == np.float32 and sci.dtype.isnative
            assert np.array_equal(sci, h["SCI", k].data.astype(np.float32))
            assert err.shape == (6, 5) and np.all(err == np.float32(0.25))
            assert dq.dtype == np.uint16
            assert np.array_equal(dq, h["DQ", k].data.astype(np.uint16))


def test_dark_smaller_than_science_refused(tmp_path):
    path = _dark(tmp_path / "d_drk.fits")
    plan = [(0, "MATCH", 1, 0, 0.0, 0.0, 0.0)]
    with pytest.raises(EngineError, match="smaller than the science"):
        wf3ir._load_darks(wf3ir._DarkInfo(path, [0.0, 1.0]), plan, 7, 5)
