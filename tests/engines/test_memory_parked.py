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
