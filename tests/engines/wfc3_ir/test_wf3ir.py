"""The builtin WF3IR engine on the synthetic SQ128SUB kit: products, physics checks, bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.errors import EngineError
from caldp.engines.wfc3.ir.wf3ir import wf3ir

from . import synth

NSAMP = 8


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ir")
    ds = synth.make_dataset(root, nsamp=NSAMP)
    out = root / "out"
    out.mkdir()
    paths = wf3ir(ds["raw"], outdir=out, env=ds["env"])
    return ds, out, paths


def test_products_and_layout(run):
    ds, out, paths = run
    names = sorted(p.name for p in paths)
    assert names == ["ityt01a1q.tra", "ityt01a1q_flt.fits", "ityt01a1q_ima.fits"]
    with fits.open(out / "ityt01a1q_ima.fits") as ima, fits.open(out / "ityt01a1q_flt.fits") as flt:
        assert ima[0].header["NEXTEND"] == 5 * NSAMP
        assert ima["SCI", 1].data.shape == (138, 138)
        assert flt[0].header["NEXTEND"] == 5
        assert flt["SCI", 1].data.shape == (128, 128)
        assert flt["SCI", 1].header["LTV1"] == -448.0 - 5
        assert flt["SCI", 1].header["BUNIT"] == "ELECTRONS/S"
        for sw in (
            "DQICORR",
            "ZSIGCORR",
            "BLEVCORR",
            "ZOFFCORR",
            "NLINCORR",
            "DARKCORR",
            "PHOTCORR",
            "UNITCORR",
            "CRCORR",
            "FLATCORR",
        ):
            assert flt[0].header[sw] == "COMPLETE", sw
        assert flt[0].header["PHOTFNU"] > 0
        assert flt["SCI", 1].header["NGOODPIX"] > 15000
        # TIME of the ima reads: SAMPTIME minus the zeroth read's
        t = synth.samptimes(NSAMP)
        assert ima["TIME", 1].header["PIXVALUE"] == pytest.approx(t[0] - t[-1], abs=1e-4)
    assert "CRIDCALC" in (out / "ityt01a1q.tra").read_text()


def test_reference_level_removed(run):
    """MEANBLEV ≈ super-zero + drift; after BLEVCORR and ZOFFCORR the reference pixels are noise around 0."""
    ds, out, _ = run
    with fits.open(out / "ityt01a1q_ima.fits") as ima:
        mb = [ima["SCI", v].header["MEANBLEV"] for v in range(1, NSAMP + 1)]
        assert all(abs(m - synth.BIAS) < 200 for m in mb)
        assert mb[0] > mb[-1] + 50  # the drift of 15 DN per read is seen
        ref = ima["SCI", 1].data[5:-5, :5]
        assert abs(float(np.median(ref))) < 3.0


def test_rate_recovered(run):
    """The count rate of unflagged pixels matches the truth (minus the dark) within the noise."""
    ds, out, _ = run
    truth = ds["truth"]["rate"][5:-5, 5:-5]
    with (
        fits.open(out / "ityt01a1q_flt.fits") as flt,
        fits.open(ds["refdir"] / "i_pfl.fits") as pf,
        fits.open(ds["refdir"] / "i_drk.fits") as dk,
    ):
        sci = flt["SCI"].data
        dq = flt["DQ"].data
        gain = (
            np.float32(
                flt[0].header["ATODGNA"]
                + flt[0].header["ATODGNB"]
                + flt[0].header["ATODGNC"]
                + flt[0].header["ATODGND"]
            )
            / 4
        )
        flat = pf["SCI", 1].data[448 + 5 : 448 + 133, 448 + 5 : 448 + 133]
        drate = dk["SCI", 1].data[5:-5, 5:-5] / dk[0].header["EXPOS_1"]
    rate = sci * flat / gain + drate
    good = (dq == 0) & (flat > 0)
    bright = good & (truth > 100)
    assert bright.sum() > 5
    assert np.median(np.abs(rate[bright] / truth[bright] - 1)) < 0.01
    faint = good & (truth < 3)
    assert abs(float(np.median(rate[faint] - truth[faint]))) < 0.1


def test_cr_flagged_and_saturation(run):
    ds, out, _ = run
    cy, cx, ck, camp = ds["truth"]["cr"]
    with fits.open(out / "ityt01a1q_ima.fits") as ima, fits.open(out / "ityt01a1q_flt.fits") as flt:
        dq = {v: ima["DQ", v].data for v in range(1, NSAMP + 1)}
        hits = 0
        for y, x, k, a in zip(cy[:8], cx[:8], ck[:8], camp[:8], strict=True):
            if a > 1000:
                hits += bool(dq[NSAMP - k][y, x] & 8192)
                assert flt["DQ"].data[y - 5, x - 5] & 8192 == 0
        assert hits >= 1
        # pixel (30, 40) saturates mid-ramp: fitted from the earlier reads, rate close to the truth
        samp = flt["SAMP"].data[25, 35]
        assert 1 < samp < NSAMP
        assert dq[1][30, 40] & 256
        # pixel (10, 20) saturated in the zeroth read: zeroth-read value, SAMP 1, DQ 256
        assert flt["SAMP"].data[5, 15] == 1 and flt["DQ"].data[5, 15] & 256


def test_refuses_to_overwrite(run):
    ds, out, _ = run
    with pytest.raises(EngineError, match="already exists"):
        wf3ir(ds["raw"], outdir=out, env=ds["env"])


def _broken(tmp_path, run, edit):
    ds, _, _ = run
    raw = tmp_path / ds["raw"].name
    shutil.copy(ds["raw"], raw)
    with fits.open(raw, mode="update") as h:
        edit(h)
    out = tmp_path / "out"
    out.mkdir()
    return raw, out


@pytest.mark.parametrize(
    "edit, keyword",
    [
        (lambda h: h["SCI", 3].header.remove("SAMPTIME"), "SAMPTIME"),
        (lambda h: h[0].header.set("NSAMP", NSAMP + 1), "NSAMP"),
        (lambda h: h[0].header.set("SAMP_SEQ", "STEP100"), "SAMP_SEQ"),
    ],
)
def test_bad_input(tmp_path, run, edit, keyword):
    ds = run[0]
    raw, out = _broken(tmp_path, run, edit)
    with pytest.raises(EngineError) as exc:
        wf3ir(raw, outdir=out, env=ds["env"])
    assert exc.value.keyword == keyword
    assert exc.value.file
    assert not list(out.glob("*.fits"))


def test_linearity_file_wrong_size(tmp_path, run):
    ds = run[0]
    refdir = tmp_path / "refs"
    shutil.copytree(ds["refdir"], refdir)
    with fits.open(refdir / "i_lin.fits") as h:
        hdus = [h[0].copy()] + [
            fits.ImageHDU(data=None if x.data is None else x.data[:100, :100], header=x.header) for x in h[1:]
        ]
    fits.HDUList(hdus).writeto(refdir / "i_lin.fits", overwrite=True)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EngineError) as exc:
        wf3ir(ds["raw"], outdir=out, env={"iref": f"{refdir}/"})
    assert exc.value.keyword == "NLINFILE" and exc.value.file == "i_lin.fits"
    assert not list(out.glob("*.fits"))
