"""The builtin calacs on the synthetic WFC subarray association, checked against properties
computed independently of the engine (no HSTCAL needed)."""

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.acs.calacs import calacs
from caldp.engines.common.errors import EngineError

from . import synth


@pytest.fixture(scope="module")
def products(mini, tmp_path_factory):
    out = tmp_path_factory.mktemp("acs_out")
    written = calacs(mini["asn"], outdir=out, env=mini["env"], keep_intermediates=True)
    return out, written


def test_products_written(products):
    out, written = products
    names = sorted(p.name for p in written)
    assert names == sorted(
        [
            "tst01011.tra",
            "tst01011_crj.fits",
            "tst01011_crj_tmp.fits",
            "tst01a1q.tra",
            "tst01a1q_blv_tmp.fits",
            "tst01a1q_flt.fits",
            "tst01a2q.tra",
            "tst01a2q_blv_tmp.fits",
            "tst01a2q_flt.fits",
        ]
    )
    with fits.open(out / "tst01a1q_flt.fits") as h:
        p = h[0].header
        assert [p[k] for k in ("DQICORR", "BIASCORR", "BLEVCORR", "DARKCORR", "FLATCORR", "PHOTCORR")] == [
            "COMPLETE"
        ] * 6
        assert h["SCI", 1].data.shape == (synth._geom(False)["tny"], synth._geom(False)["tnx"])
        assert h["SCI", 1].header["BUNIT"] == "ELECTRONS"
        assert p["SINKCORR"] == "COMPLETE"


def test_sink_pixels_flagged(mini, products):
    """Every sink (< -1) and downstream (-1) pixel of the SNKCFILE under the science area is flagged 1024."""
    out, _ = products
    with fits.open(mini["env"]["jref"] + "t_snk.fits") as s, fits.open(out / "tst01a1q_flt.fits") as h:
        ref = s["SCI", 1].data[20:, 24:]
        dq = h["DQ", 1].data
    assert np.all(dq[ref < 0] & 1024)
    assert np.count_nonzero(dq & 1024) >= np.count_nonzero(ref < 0)


def test_bias_level_removed(mini, products):
    """MEANBLEV = the raw overscan level in electrons: (bias DN + mean drift − bias image) × gain."""
    out, _ = products
    with fits.open(mini["asn"].parent / "tst01a1q_raw.fits") as raw, fits.open(out / "tst01a1q_blv_tmp.fits") as blv:
        over = raw["SCI", 1].data[20:, 8:24].astype(float)
        with fits.open(mini["env"]["jref"] + "t_bia.fits") as b:
            over = over - b["SCI", 1].data[20:, 8:24]
        expected = np.median(over) * synth.GAIN
        assert abs(blv["SCI", 1].header["MEANBLEV"] - expected) < 1.0
        # the sky in the calibrated exposure is what was simulated (0.6 e-/s · 400 s), not the bias
        sci = blv["SCI", 1].data
        assert abs(np.median(sci) - 0.6 * 400) < 10


def test_cosmic_ray_flagged_and_combined(mini, tmp_path):
    """A cosmic ray put into one member is flagged (8192) in its flt and absent from the crj."""
    inp = tmp_path / "in"
    shutil.copytree(mini["asn"].parent, inp)
    y, x = 50, 120  # trimmed coordinates
    with fits.open(inp / "tst01a1q_raw.fits", mode="update") as h:
        h["SCI", 1].data[y + 20, x + 24] += 20000
    out = tmp_path / "out"
    out.mkdir()
    calacs(inp / "tst01011_asn.fits", outdir=out, env=mini["env"])
    with fits.open(out / "tst01a1q_flt.fits") as a, fits.open(out / "tst01a2q_flt.fits") as b:
        assert a["DQ", 1].data[y, x] & 8192
        assert not b["DQ", 1].data[y, x] & 8192
        clean = b["SCI", 1].data[y, x]
    with fits.open(out / "tst01011_crj.fits") as c:
        p = c[0].header
        assert p["EXPTIME"] == 800.0 and p["TEXPTIME"] == 800.0 and p["CRCORR"] == "COMPLETE"
        assert p["DARKTIME"] == pytest.approx(2 * (401.0 + 3.0))
        assert c["SCI", 1].header["NCOMBINE"] == 2
        assert not c["DQ", 1].data[y, x] & 8192
        # float(): pytest >= 9.2 refuses a NumPy float32 as a tolerance
        tolerance = 6 * float(c["ERR", 1].data[y, x]) + 50
        assert float(c["SCI", 1].data[y, x]) == pytest.approx(2 * float(clean), abs=tolerance)
        assert p["REJ_RATE"] > 0


def test_refuses_to_overwrite(mini, products):
    out, _ = products
    with pytest.raises(EngineError, match="already exists"):
        calacs(mini["asn"], outdir=out, env=mini["env"])


def test_missing_keyword_names_file_and_keyword(mini, tmp_path):
    raw = tmp_path / "tst01a1q_raw.fits"
    shutil.copy(mini["asn"].parent / raw.name, raw)
    with fits.open(raw, mode="update") as h:
        del h[0].header["CCDAMP"]
    with pytest.raises(EngineError) as exc:
        calacs(raw, outdir=tmp_path, env=mini["env"])
    assert exc.value.keyword == "CCDAMP" and exc.value.file == raw.name
    assert not (tmp_path / "tst01a1q_flt.fits").exists()


def test_wrong_shape_reference(mini, tmp_path):
    refs = tmp_path / "refs"
    shutil.copytree(mini["env"]["jref"], refs)
    with fits.open(refs / "t_drk.fits", mode="update") as h:
        for ext in ("SCI", "ERR", "DQ"):
            h[ext, 1].data = h[ext, 1].data[:50, :50].copy()
    raw = tmp_path / "tst01a1q_raw.fits"
    shutil.copy(mini["asn"].parent / raw.name, raw)
    with pytest.raises(EngineError) as exc:
        calacs(raw, outdir=tmp_path, env={"jref": str(refs) + "/"})
    assert exc.value.keyword == "DARKFILE" and exc.value.file == "t_drk.fits"


def test_missing_reference_file(mini, tmp_path):
    raw = tmp_path / "tst01a1q_raw.fits"
    shutil.copy(mini["asn"].parent / raw.name, raw)
    with pytest.raises(EngineError) as exc:
        calacs(raw, outdir=tmp_path, env={"jref": str(tmp_path / "nowhere") + "/"})
    assert exc.value.keyword == "CCDTAB"


def test_single_raw_has_no_crj(mini, tmp_path):
    raw = tmp_path / "tst01a2q_raw.fits"
    shutil.copy(mini["asn"].parent / raw.name, raw)
    written = calacs(raw, outdir=tmp_path / ".", env=mini["env"])
    assert sorted(p.name for p in written) == ["tst01a2q.tra", "tst01a2q_flt.fits"]
    with fits.open(tmp_path / "tst01a2q_flt.fits") as h:
        assert not np.any(h["DQ", 1].data & 8192)


def test_association_marked_like_calacs(mini, tmp_path):
    """Run in the directory holding the inputs (as calacs.e does): ASN_PROD = T afterwards."""
    shutil.copytree(mini["asn"].parent, tmp_path / "run")
    asn = tmp_path / "run" / mini["asn"].name
    calacs(asn, env=mini["env"])
    assert fits.getheader(asn)["ASN_PROD"] is True
    assert (tmp_path / "run" / "tst01011_crj.fits").exists()


def test_product_spt_from_member_spts(mini, tmp_path):
    """With member SPT files present, the crj gets ``<product>_spt.fits``: first member's primary with the
    product ROOTNAME/OBSERVTN, NEXTEND = number of members, every member's UDL renumbered."""
    inp = tmp_path / "in"
    shutil.copytree(mini["asn"].parent, inp)
    for k, m in enumerate(mini["members"]):
        udl = fits.ImageHDU(data=np.full((1, 16), k, np.int16), name="UDL")
        udl.header["ROOTNAME"] = m.upper()
        fits.HDUList([fits.PrimaryHDU(header=fits.Header({"ROOTNAME": m.upper(), "NEXTEND": 1})), udl]).writeto(
            inp / f"{m}_spt.fits"
        )
    out = tmp_path / "out"
    out.mkdir()
    written = calacs(inp / mini["asn"].name, outdir=out, env=mini["env"])
    assert out / "tst01011_spt.fits" in written
    with fits.open(out / "tst01011_spt.fits") as h:
        assert (
            h[0].header["ROOTNAME"].strip() == "TST01011"
            and h[0].header["OBSERVTN"].strip() == "TST01011 "[6:9].strip()
        )
        assert h[0].header["NEXTEND"] == 2 and [x.header["EXTVER"] for x in h[1:]] == [1, 2]
        assert [x.header["ROOTNAME"] for x in h[1:]] == [m.upper() for m in mini["members"]]
        assert [x.header["PIXVALUE"] for x in h[1:]] == [0, 1]


def test_pctecorr_without_pctetab_stops_before_any_work(mini, tmp_path):
    """PCTECORR = PERFORM with PCTETAB = N/A: calacs.e's reference check stops the run, nothing is
    written (the CTE branch itself is tested in tests/engines/acs_cte)."""
    from caldp.engines.acs.context import MissingReference

    raw = tmp_path / "tst01a1q_raw.fits"
    shutil.copy(mini["asn"].parent / raw.name, raw)
    with fits.open(raw, mode="update") as h:
        h[0].header["PCTECORR"] = "PERFORM"
    with pytest.raises(MissingReference, match="PCTETAB"):
        calacs(raw, outdir=tmp_path, env=mini["env"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tst01a1q_raw.fits"]
