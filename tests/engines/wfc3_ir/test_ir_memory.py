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


def test_constant_samp_is_a_broadcast_and_an_image_samp_is_read(tmp_path):
    from .conftest import sim_ir

    ds = sim_ir(tmp_path, nsamp=4)
    exp, st, _ = wf3ir._read_raw(ds["raw"])
    with fits.open(ds["raw"]) as h:
        values = [int(h["SAMP", v].header["PIXVALUE"]) for v in range(1, 5)]
        ny, nx = h["SCI", 1].data.shape
    assert st.samp.shape == (4, ny, nx) and st.samp.strides[1:] == (0, 0)  # no pixels behind it
    assert not st.samp.flags.writeable
    for g in range(4):
        assert np.all(exp.imsets[g].samp == values[g]) and exp.imsets[g].samp.dtype == np.int16
    # one read with a real SAMP image: the whole stack is then an array of the file's values
    with fits.open(ds["raw"]) as h:
        hdus = [hdu.copy() for hdu in h]
    img = np.arange(ny * nx, dtype=np.int16).reshape(ny, nx) % 7
    for i, hdu in enumerate(hdus):
        if hdu.name == "SAMP" and hdu.ver == 2:
            hdus[i] = fits.ImageHDU(
                img, header=fits.Header([c for c in hdu.header.cards if c.keyword in ("EXTNAME", "EXTVER")])
            )
    other = tmp_path / "other_raw.fits"
    fits.HDUList(hdus).writeto(other)
    exp2, st2, _ = wf3ir._read_raw(other)
    assert st2.samp.flags.writeable and st2.samp.strides[1] != 0
    assert np.array_equal(exp2.imsets[1].samp, img)
    assert np.all(exp2.imsets[0].samp == values[0])


def test_broadcast_samp_written_as_the_same_null_extension(tmp_path):
    from caldp.engines.common.hstio import Exposure, ImSet, write_exposure

    def exposure(samp):
        sci = np.arange(12, dtype=np.float32).reshape(3, 4)
        headers = {k: fits.Header() for k in ("SCI", "ERR", "DQ", "SAMP", "TIME")}
        im = ImSet(sci=sci, err=sci + 1, dq=np.zeros((3, 4), np.uint16), headers=headers, extver=1,
                   samp=samp, time=np.full((3, 4), 2.5, np.float32))  # fmt: skip
        return Exposure(primary=fits.Header(), imsets=[im])

    a = write_exposure(exposure(np.full((3, 4), 7, np.int16)), tmp_path / "a_ima.fits")
    b = write_exposure(exposure(np.broadcast_to(np.int16(7), (3, 4))), tmp_path / "b_ima.fits")
    da, db = a.read_bytes(), b.read_bytes()
    assert da.replace(b"a_ima.fits", b"b_ima.fits") == db
    with fits.open(b) as h:
        assert h["SAMP", 1].header["PIXVALUE"] == 7 and h["SAMP", 1].header["NAXIS"] == 0
