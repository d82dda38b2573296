"""Intermediate exposures parked on disk between stages (common.outputs.Parked) and the in-place
overscan cut of ACSCCD: same pixels and headers as the arrays they replace."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.acs.acsccd import cut_in_place
from caldp.engines.common.hstio import Exposure, ImSet, section
from caldp.engines.common.outputs import Parked


def _exposure(rng, shape=(7, 11), n=2, ir=False) -> Exposure:
    imsets = []
    for k in range(n):
        im = ImSet(
            sci=rng.normal(size=shape).astype(np.float32),
            err=rng.random(shape, dtype=np.float32),
            dq=rng.integers(0, 65536, shape).astype(np.uint16),
            headers={e: fits.Header([("EXTNAME", e), ("CCDCHIP", 2 - k)]) for e in ("SCI", "ERR", "DQ")},
            extver=k + 1,
            samp=rng.integers(0, 100, shape).astype(np.int16) if ir else None,
            time=rng.random(shape, dtype=np.float32) if ir else None,
        )
        imsets.append(im)
    return Exposure(primary=fits.Header([("ROOTNAME", "x")]), imsets=imsets, filename="x_blv_tmp.fits")


@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("ir", [False, True])
def test_parked_exposure_comes_back_identical(tmp_path, background, ir):
    rng = np.random.default_rng(3)
    exp = _exposure(rng, ir=ir)
    copies = [
        {n: getattr(im, n).copy() for n in ("sci", "err", "dq", "samp", "time") if getattr(im, n) is not None}
        for im in exp.imsets
    ]
    p = Parked(exp, tmp_path / ".x.park", background=background)
    del exp
    back = p.exposure()
    assert back.filename == "x_blv_tmp.fits" and back.primary["ROOTNAME"] == "x"
    for im, want in zip(back.imsets, copies, strict=True):
        assert im.extver in (1, 2) and im.sci_hdr["CCDCHIP"] == 3 - im.extver
        for name, a in want.items():
            got = getattr(im, name)
            assert got.dtype == a.dtype and got.shape == a.shape and got.flags.writeable
            assert np.array_equal(got, a)
    p.close()
    assert not (tmp_path / ".x.park").exists()


def test_writes_into_a_mapped_imset_stay_parked(tmp_path):
    rng = np.random.default_rng(4)
    p = Parked(_exposure(rng), tmp_path / ".x.park")
    im = p.imset(1)
    im.dq |= np.uint16(8192)  # as ACSREJ's CR mask, in place
    want = im.dq.copy()
    del im
    assert np.array_equal(p.imset(1).dq, want)
    assert not np.array_equal(p.imset(0).dq & 8192, np.full_like(want, 8192))
    p.close()


def test_background_write_error_is_raised(tmp_path):
    p = Parked(_exposure(np.random.default_rng(5)), tmp_path / "missing" / ".x.park", background=True)
    with pytest.raises(FileNotFoundError):
        p.wait()
    p.close()


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_cut_in_place_equals_section(dtype):
    rng = np.random.default_rng(6)
    a = (rng.random((70, 53)) * 1000).astype(dtype)
    hdr = {"SCI": fits.Header([("LTV1", 0.0)])}
    want = section(ImSet(sci=a, err=a, dq=a, headers=hdr), 6, 3, 41, 60).sci
    for rows in (1, 7, 64):
        got = cut_in_place(a.copy(), (3, 6), (60, 41), rows=rows)
        assert got.flags.c_contiguous and np.array_equal(got, want)


def test_product_written_from_parked_arrays_has_the_same_bytes(tmp_path):
    """A product written from parked (mapped) arrays lets their pages go as written: same bytes,
    and the parked pixels are still there afterwards."""
    from caldp.engines.common.hstio import write_exposure

    rng = np.random.default_rng(7)
    exp = _exposure(rng, shape=(300, 700))  # > 1 MB per array: several chunks dropped
    for d in ("ref", "mapped", "again"):
        (tmp_path / d).mkdir()
    write_exposure(exp, tmp_path / "ref" / "x_flt.fits")
    p = Parked(exp, tmp_path / ".x.park")
    write_exposure(p.exposure(), tmp_path / "mapped" / "x_flt.fits")
    want = (tmp_path / "ref" / "x_flt.fits").read_bytes()
    assert (tmp_path / "mapped" / "x_flt.fits").read_bytes() == want
    write_exposure(p.exposure(), tmp_path / "again" / "x_flt.fits", release=True)
    assert (tmp_path / "again" / "x_flt.fits").read_bytes() == want
    p.close()


def test_background_write_releases_arrays_and_drain_waits(tmp_path):
    from caldp.engines.common import outputs

    out = outputs.Products(tmp_path, cal_ver=("1.0", ""), background=True)
    exp = _exposure(np.random.default_rng(8), shape=(64, 64))
    imsets = list(exp.imsets)
    out.write_later(exp, "a_flt.fits")
    out.drain(0)
    assert all(im.sci is None and im.err is None and im.dq is None for im in imsets)
    assert out._unwritten == 0
    out.close()
    assert (tmp_path / "a_flt.fits").exists()


def _raw_file(path, *, scaled_dq=False):
    rng = np.random.default_rng(9)
    hdus = [fits.PrimaryHDU()]
    for ver in (1, 2):
        sci = fits.ImageHDU(rng.integers(0, 65536, (6, 8)).astype(np.uint16), name="SCI", ver=ver)
        err = fits.ImageHDU(name="ERR", ver=ver)
        err.header["NPIX1"], err.header["NPIX2"], err.header["PIXVALUE"] = 8, 6, 0.0
        dq = fits.ImageHDU(
            rng.integers(0, 600, (6, 8)).astype(np.uint16 if scaled_dq else np.int16), name="DQ", ver=ver
        )
        hdus += [sci, err, dq]
    fits.HDUList(hdus).writeto(path)


@pytest.mark.parametrize("scaled_dq", [False, True])
def test_compact_read_expands_to_the_usual_read(tmp_path, scaled_dq):
    from caldp.engines.common.hstio import expand_raw, read_exposure

    _raw_file(tmp_path / "x_raw.fits", scaled_dq=scaled_dq)
    want = read_exposure(tmp_path / "x_raw.fits")
    got = read_exposure(tmp_path / "x_raw.fits", compact=True)
    if not scaled_dq:  # stored as 16 bits until expanded
        assert got.imsets[0].sci.dtype.itemsize == 2
    expand_raw(got)
    for a, b in zip(got.imsets, want.imsets, strict=True):
        for name in ("sci", "err", "dq"):
            x, y = getattr(a, name), getattr(b, name)
            assert type(x) is np.ndarray and x.dtype == y.dtype and np.array_equal(x, y)
        assert a.headers["SCI"] == b.headers["SCI"] and a.extver == b.extver
