"""hstio's direct FITS writer gives the same bytes as astropy's writeto."""

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common import hstio


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
    hdul = hstio.to_hdulist(exp)
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
    hdul = hstio.to_hdulist(exposure)
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
