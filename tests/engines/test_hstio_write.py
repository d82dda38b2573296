"""hstio's direct FITS writer gives the same bytes as astropy's writeto of the HDUList HSTIO would
write (built here with astropy, independently of hstio's own fitsfile-based ``to_hdulist``)."""

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common import hstio


def _astropy_hdulist(exposure) -> fits.HDUList:
    """The HDUList HSTIO would write, built with astropy (constant non-SCI arrays as null extensions)."""

    def clean(hdr):
        out = fits.Header([fits.Card.fromstring(c.image) for c in hdr.cards])
        for key in hstio._STRUCTURAL:
            out.remove(key, ignore_missing=True, remove_all=True)
        return out

    hdus = [fits.PrimaryHDU(header=clean(exposure.primary))]
    for imset in exposure.imsets:
        for name in hstio.IR_EXTNAMES if imset.samp is not None else hstio.CCD_EXTNAMES:
            data = imset.array(name)
            header = clean(imset.headers[name])
            header["EXTNAME"] = name
            header["EXTVER"] = imset.extver
            disk = data.astype(hstio._DISK_DTYPES[name], copy=False) if name != "DQ" else data.view(np.int16)
            if name != "SCI" and np.all(disk == disk.flat[0]):
                hdu = fits.ImageHDU(data=None, header=header)
                ny, nx = data.shape
                hdu.header["NPIX1"] = (nx, "length of constant array axis 1")
                hdu.header["NPIX2"] = (ny, "length of constant array axis 2")
                hdu.header["PIXVALUE"] = (hstio.pixvalue(data.flat[0]), "values of pixels in constant array")
            else:
                hdu = fits.ImageHDU(data=np.ascontiguousarray(disk), header=header)
            hdus.append(hdu)
    hdul = fits.HDUList(hdus)
    hdul[0].header["NEXTEND"] = len(hdus) - 1
    return hdul


def _exposure(ir: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    imsets = []
    for ver in (1, 2):
        shape = (37, 53)
        hdrs = {n: fits.Header([("EXTNAME", n), ("BUNIT", "ELECTRONS"), ("LTV1", 0.0)]) for n in hstio.IR_EXTNAMES}
        imsets.append(
            hstio.ImSet(
                sci=rng.normal(0, 10, shape).astype(np.float32),
                err=(np.full(shape, 2.5, np.float32) if ver == 1 else rng.random(shape, np.float32)),
                dq=(np.zeros(shape, np.uint16) if ver == 1 else rng.choice(np.array([0, 4, 32768], np.uint16), shape)),
                headers=hdrs,
                extver=ver,
                samp=np.full(shape, 14, np.int16) if ir else None,
                time=rng.random(shape, np.float32) if ir else None,
            )
        )
    primary = fits.Header([("INSTRUME", "WFC3"), ("ROOTNAME", "ib0101abq"), ("EXPTIME", 100.0)])
    primary.add_history("a history line")
    return hstio.Exposure(primary=primary, imsets=imsets, filename="x_flt.fits")


@pytest.mark.parametrize("ir", [False, True])
def test_same_bytes_as_astropy(tmp_path, monkeypatch, ir):
    exp = _exposure(ir)
    fast = tmp_path / "fast.fits"
    with monkeypatch.context() as m:  # the direct writer must not fall back to writeto here
        m.setattr(fits.HDUList, "writeto", lambda *a, **k: pytest.fail("writeto called"))
        hstio.write_exposure(exp, fast)
    slow = tmp_path / "slow.fits"
    hdul = _astropy_hdulist(exp)
    hdul[0].header["FILENAME"] = "fast.fits"
    hdul.writeto(slow, output_verify="silentfix", checksum=False)
    assert fast.read_bytes() == slow.read_bytes()
    back = hstio.read_exposure(fast)
    assert np.array_equal(back.imsets[1].dq, exp.imsets[1].dq)  # bit 32768 survives the int16 view
    assert back.imsets[0].err[0, 0] == np.float32(2.5)  # constant ERR → null extension → expanded


def test_no_temporary_left_and_no_overwrite(tmp_path):
    out = hstio.write_exposure(_exposure(False), tmp_path / "a_flt.fits")
    with pytest.raises(hstio.EngineError, match="exists"):
        hstio.write_exposure(_exposure(False), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_flt.fits"]


def _via_astropy(exposure, path):
    hdul = _astropy_hdulist(exposure)
    hdul.writeto(path, output_verify="silentfix", checksum=False)


def test_real_headers_same_bytes(tmp_path):
    """Headers as HSTIO and the simulator write them (HISTORY, blank and comment-only cards,
    EXTNAME with an empty comment, floats), rewritten both ways."""
    from caldp.sim import simulate

    res = simulate(tmp_path / "sim", modes=("acs-wfc", "wfc3-ir"), size="small", seed=2)
    raws = sorted(p for d in res.datasets for p in d.input_path.glob("*_raw.fits"))
    assert len(raws) == 2
    for raw in raws:
        exp = hstio.read_exposure(raw)
        exp.primary.add_history("calibrated")
        exp.imsets[0].headers["SCI"]["BUNIT"] = "ELECTRONS"
        exp.imsets[0].sci[0, 0] += 1.0
        fast, slow = tmp_path / f"fast_{raw.name}", tmp_path / f"slow_{raw.name}"
        hstio.write_exposure(exp, fast)
        exp.primary["FILENAME"] = fast.name
        _via_astropy(exp, slow)
        assert fast.read_bytes() == slow.read_bytes(), raw.name


@pytest.mark.parametrize("ir", [False, True])
def test_to_hdulist_write_atomic_same_bytes(tmp_path, ir):
    """hstio's fitsfile HDUs written by write_atomic: the bytes of write_exposure (and so of astropy)."""
    exp = _exposure(ir)
    fast = hstio.write_exposure(exp, tmp_path / "a.fits")
    hdus = hstio.to_hdulist(exp)
    out = hstio.write_atomic(hdus, tmp_path / "b.fits")
    assert out.read_bytes() == fast.read_bytes()
