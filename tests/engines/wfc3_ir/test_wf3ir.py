"""The builtin WF3IR engine on the simulator's small IR exposure (IRSUB256, 8 reads, with its ramp
cases): products, physics checks against the simulator's truth, bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.errors import EngineError
from caldp.engines.wfc3.ir.wf3ir import wf3ir
from caldp.sim import ir

from .conftest import ref_path, sim_ir

NSAMP = 8


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ir")
    ds = sim_ir(root / "sim", nsamp=NSAMP, truth=True)
    out = root / "out"
    out.mkdir()
    paths = wf3ir(ds["raw"], outdir=out, env=ds["env"])
    return ds, out, paths


def test_products_and_layout(run):
    ds, out, paths = run
    m, chip = ds["members"][0], ds["chip"]
    names = sorted(p.name for p in paths)
    assert names == [f"{m}.tra", f"{m}_flt.fits", f"{m}_ima.fits"]
    with fits.open(out / f"{m}_ima.fits") as ima, fits.open(out / f"{m}_flt.fits") as flt:
        assert ima[0].header["NEXTEND"] == 5 * NSAMP
        assert ima["SCI", 1].data.shape == chip.raw_shape
        assert flt[0].header["NEXTEND"] == 5
        assert flt["SCI", 1].data.shape == chip.sci_shape
        assert flt["SCI", 1].header["LTV1"] == chip.ltv[0] - 5
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
        assert flt["SCI", 1].header["NGOODPIX"] > 0.9 * np.prod(chip.sci_shape)
        # TIME of the ima reads: SAMPTIME minus the zeroth read's
        t = ds["seq"].times
        assert ima["TIME", 1].header["PIXVALUE"] == pytest.approx(t[-1] - t[0], abs=1e-4)
    assert "CRIDCALC" in (out / f"{m}.tra").read_text()


def test_reference_level_removed(run):
    """MEANBLEV = super-zero + the simulated drift of each read; after BLEVCORR and ZOFFCORR the
    reference pixels are noise around 0."""
    ds, out, _ = run
    drift = ds["truth"]["drift"]  # time order
    with fits.open(out / f"{ds['members'][0]}_ima.fits") as ima:
        mb = [ima["SCI", NSAMP - k].header["MEANBLEV"] for k in range(NSAMP)]  # time order
        assert all(abs(v - ir.ZERO_LEVEL) < 300 for v in mb)
        assert np.allclose(np.subtract(mb, mb[0]), np.subtract(drift, drift[0]), atol=1.0), (mb, drift)
        ref = ima["SCI", 1].data[5:-5, :5]
        assert abs(float(np.median(ref))) < 3.0


def test_rate_recovered(run):
    """The count rate of unflagged pixels matches the simulator's truth (sky and stars, e⁻/s)."""
    ds, out, _ = run
    truth = ds["truth"]["rate"]
    with fits.open(out / f"{ds['members'][0]}_flt.fits") as flt:
        rate, dq = flt["SCI"].data, flt["DQ"].data
    good = dq == 0
    bright = good & (truth > 100)
    assert bright.sum() > 5
    assert np.median(np.abs(rate[bright] / truth[bright] - 1)) < 0.01
    faint = good & (truth < 3)
    assert abs(float(np.median(rate[faint] - truth[faint]))) < 0.1


def test_cr_flagged_and_saturation(run):
    ds, out, _ = run
    m = ds["members"][0]
    cy, cx, ck, ce = ds["truth"]["cosmic_rays"]  # science-area pixels, read index, e⁻
    with fits.open(out / f"{m}_ima.fits") as ima, fits.open(out / f"{m}_flt.fits") as flt:
        dq = {v: ima["DQ", v].data for v in range(1, NSAMP + 1)}
        hits = 0
        for y, x, k, e in zip(cy[:8], cx[:8], ck[:8], ce[:8], strict=True):
            if e > 2500:
                hits += bool(dq[NSAMP - k][y + 5, x + 5] & 8192)
                assert flt["DQ"].data[y, x] & 8192 == 0
        assert hits >= 1
        # saturates mid-ramp: fitted from the earlier reads
        y, x, _ = ir.SATURATING["mid"]
        assert 1 < flt["SAMP"].data[y, x] < NSAMP
        assert dq[1][y + 5, x + 5] & 256
        # saturated in the zeroth read: zeroth-read value, SAMP 1, DQ 256
        y, x, _ = ir.SATURATING["zeroth"]
        assert flt["SAMP"].data[y, x] == 1 and flt["DQ"].data[y, x] & 256


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
    lin = ref_path(ds, "NLINFILE").name
    with fits.open(refdir / lin, mode="update") as h:
        for x in h[1:]:
            if x.data is None:  # a constant (HSTIO null) extension
                x.header["NPIX1"] = x.header["NPIX2"] = 100
            else:
                x.data = x.data[:100, :100].copy()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EngineError) as exc:
        wf3ir(ds["raw"], outdir=out, env={"iref": f"{refdir}/"})
    assert exc.value.keyword == "NLINFILE" and exc.value.file == lin
    assert not list(out.glob("*.fits"))
