"""The builtin calacs on the simulator's small WFC subarray association (with sink pixels), checked
against properties computed independently of the engine (no HSTCAL needed)."""

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.acs.calacs import calacs
from caldp.engines.common.errors import EngineError
from caldp.sim.naming import dataset_names

PROD, (M1, M2) = dataset_names("acs-wfc-asn", 0, members=2)


def ref_path(mini, raw_name: str, keyword: str):
    """The reference file a raw header names (``jref$…``)."""
    return mini["refdir"] / fits.getval(mini["asn"].parent / raw_name, keyword).split("$", 1)[1]


@pytest.fixture(scope="module")
def products(mini, tmp_path_factory):
    out = tmp_path_factory.mktemp("acs_out")
    written = calacs(mini["asn"], outdir=out, env=mini["env"], keep_intermediates=True)
    return out, written


def test_products_written(mini, products):
    out, written = products
    names = sorted(p.name for p in written)
    assert names == sorted(
        [
            f"{PROD}.tra",
            f"{PROD}_crj.fits",
            f"{PROD}_spt.fits",  # from the members' _spt files
            f"{PROD}_crj_tmp.fits",
            f"{M1}.tra",
            f"{M1}_blv_tmp.fits",
            f"{M1}_flt.fits",
            f"{M2}.tra",
            f"{M2}_blv_tmp.fits",
            f"{M2}_flt.fits",
        ]
    )
    with fits.open(out / f"{M1}_flt.fits") as h:
        p = h[0].header
        assert [p[k] for k in ("DQICORR", "BIASCORR", "BLEVCORR", "DARKCORR", "FLATCORR", "PHOTCORR")] == [
            "COMPLETE"
        ] * 6
        assert h["SCI", 1].data.shape == mini["setup"].chips[0].sci_shape
        assert h["SCI", 1].header["BUNIT"] == "ELECTRONS"
        assert p["SINKCORR"] == "COMPLETE"


def test_sink_pixels_flagged(mini, products):
    """Every sink (< -1) and downstream (-1) pixel of the SNKCFILE under the science area is flagged 1024."""
    out, _ = products
    chip = mini["setup"].chips[0]
    with fits.open(ref_path(mini, f"{M1}_raw.fits", "SNKCFILE")) as s, fits.open(out / f"{M1}_flt.fits") as h:
        ref = s["SCI", 1].data[chip.raw_rows(), chip.raw_cols()]
        dq = h["DQ", 1].data
    assert np.all(dq[ref < 0] & 1024)
    assert np.count_nonzero(dq & 1024) >= np.count_nonzero(ref < 0)


def test_bias_level_removed(mini, products):
    """MEANBLEV = the raw overscan level in electrons: (bias DN + mean drift − bias image) × gain."""
    out, _ = products
    setup = mini["setup"]
    x0 = setup.chips[0].trimx[0]
    over = slice(x0 - 19, x0 - 1)  # the OSCNTAB's BIASSECTA (1-based x0-18 … x0-1)
    with fits.open(mini["asn"].parent / f"{M1}_raw.fits") as raw, fits.open(out / f"{M1}_blv_tmp.fits") as blv:
        level = raw["SCI", 1].data[:, over].astype(float)
        with fits.open(ref_path(mini, f"{M1}_raw.fits", "BIASFILE")) as b:
            level = level - b["SCI", 1].data[:, over]
        expected = np.median(level) * setup.atodgn["A"]
        assert abs(blv["SCI", 1].header["MEANBLEV"] - expected) < 1.0
        # the sky (and dark) in the calibrated exposure is what was simulated, not the bias
        exptime, darktime = raw[0].header["EXPTIME"], raw[0].header["DARKTIME"] + setup.overhead
        sci = blv["SCI", 1].data
        assert abs(np.median(sci) - (setup.sky_rate * exptime + setup.dark_rate * darktime)) < 5


def test_cosmic_ray_flagged_and_combined(mini, tmp_path):
    """A cosmic ray put into one member is flagged (8192) in its flt and absent from the crj."""
    inp = tmp_path / "in"
    shutil.copytree(mini["asn"].parent, inp)
    y, x = 50, 120  # trimmed coordinates
    chip = mini["setup"].chips[0]
    with fits.open(inp / f"{M1}_raw.fits", mode="update") as h:
        h["SCI", 1].data[y + chip.trimy[0], x + chip.trimx[0]] += 20000
        exptime, darktime = h[0].header["EXPTIME"], h[0].header["DARKTIME"]
    out = tmp_path / "out"
    out.mkdir()
    calacs(inp / f"{PROD}_asn.fits", outdir=out, env=mini["env"])
    with fits.open(out / f"{M1}_flt.fits") as a, fits.open(out / f"{M2}_flt.fits") as b:
        assert a["DQ", 1].data[y, x] & 8192
        assert not b["DQ", 1].data[y, x] & 8192
        clean = b["SCI", 1].data[y, x]
    with fits.open(out / f"{PROD}_crj.fits") as c:
        p = c[0].header
        assert p["EXPTIME"] == 2 * exptime and p["TEXPTIME"] == 2 * exptime and p["CRCORR"] == "COMPLETE"
        assert p["DARKTIME"] == pytest.approx(2 * (darktime + mini["setup"].overhead))  # CCDTAB OVRHUFLS
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
    raw = tmp_path / f"{M1}_raw.fits"
    shutil.copy(mini["asn"].parent / raw.name, raw)
    with fits.open(raw, mode="update") as h:
        del h[0].header["CCDAMP"]
    with pytest.raises(EngineError) as exc:
        calacs(raw, outdir=tmp_path, env=mini["env"])
    assert exc.value.keyword == "CCDAMP" and exc.value.file == raw.name
    assert not (tmp_path / f"{M1}_flt.fits").exists()


def test_wrong_shape_reference(mini, tmp_path):
    refs = tmp_path / "refs"
    shutil.copytree(mini["env"]["jref"], refs)
    dark = ref_path(mini, f"{M1}_raw.fits", "DARKFILE").name
    with fits.open(refs / dark, mode="update") as h:
        for ext in ("SCI", "ERR", "DQ"):
            if h[ext, 1].data is None:  # a constant (HSTIO null) extension
                h[ext, 1].header["NPIX1"] = h[ext, 1].header["NPIX2"] = 50
            else:
                h[ext, 1].data = h[ext, 1].data[:50, :50].copy()
    raw = tmp_path / f"{M1}_raw.fits"
    shutil.copy(mini["asn"].parent / raw.name, raw)
    with pytest.raises(EngineError) as exc:
        calacs(raw, outdir=tmp_path, env={"jref": str(refs) + "/"})
    assert exc.value.keyword == "DARKFILE" and exc.value.file == dark


def test_missing_reference_file(mini, tmp_path):
    raw = tmp_path / f"{M1}_raw.fits"
    shutil.copy(mini["asn"].parent / raw.name, raw)
    with pytest.raises(EngineError) as exc:
        calacs(raw, outdir=tmp_path, env={"jref": str(tmp_path / "nowhere") + "/"})
    assert exc.value.keyword == "CCDTAB"


def test_single_raw_has_no_crj(mini, tmp_path):
    raw = tmp_path / f"{M2}_raw.fits"
    shutil.copy(mini["asn"].parent / raw.name, raw)
    written = calacs(raw, outdir=tmp_path / ".", env=mini["env"])
    assert sorted(p.name for p in written) == [f"{M2}.tra", f"{M2}_flt.fits"]
    with fits.open(tmp_path / f"{M2}_flt.fits") as h:
        assert not np.any(h["DQ", 1].data & 8192)


def test_association_marked_like_calacs(mini, tmp_path):
    """Run in the directory holding the inputs (as calacs.e does): ASN_PROD = T afterwards."""
    shutil.copytree(mini["asn"].parent, tmp_path / "run")
    asn = tmp_path / "run" / mini["asn"].name
    calacs(asn, env=mini["env"])
    assert fits.getheader(asn)["ASN_PROD"] is True
    assert (tmp_path / "run" / f"{PROD}_crj.fits").exists()


def test_product_spt_from_member_spts(mini, tmp_path):
    """With member SPT files present, the crj gets ``<product>_spt.fits``: first member's primary with the
    product ROOTNAME/OBSERVTN, NEXTEND = number of members, every member's UDL renumbered."""
    inp = tmp_path / "in"
    shutil.copytree(mini["asn"].parent, inp)
    for k, m in enumerate(mini["members"]):
        udl = fits.ImageHDU(data=np.full((1, 16), k, np.int16), name="UDL")
        udl.header["ROOTNAME"] = m.upper()
        fits.HDUList([fits.PrimaryHDU(header=fits.Header({"ROOTNAME": m.upper(), "NEXTEND": 1})), udl]).writeto(
            inp / f"{m}_spt.fits", overwrite=True
        )
    out = tmp_path / "out"
    out.mkdir()
    written = calacs(inp / mini["asn"].name, outdir=out, env=mini["env"])
    assert out / f"{PROD}_spt.fits" in written
    with fits.open(out / f"{PROD}_spt.fits") as h:
        assert h[0].header["ROOTNAME"].strip() == PROD.upper() and h[0].header["OBSERVTN"].strip() == PROD.upper()[6:9]
        assert h[0].header["NEXTEND"] == 2 and [x.header["EXTVER"] for x in h[1:]] == [1, 2]
        assert [x.header["ROOTNAME"] for x in h[1:]] == [m.upper() for m in mini["members"]]
        assert [x.header["PIXVALUE"] for x in h[1:]] == [0, 1]


def test_pctecorr_without_pctetab_stops_before_any_work(mini, tmp_path):
    """PCTECORR = PERFORM with PCTETAB = N/A: calacs.e's reference check stops the run, nothing is
    written (the CTE branch itself is tested in tests/engines/acs_cte)."""
    from caldp.engines.acs.context import MissingReference

    raw = tmp_path / f"{M1}_raw.fits"
    shutil.copy(mini["asn"].parent / raw.name, raw)
    with fits.open(raw, mode="update") as h:
        h[0].header["PCTECORR"] = "PERFORM"
    with pytest.raises(MissingReference, match="PCTETAB"):
        calacs(raw, outdir=tmp_path, env=mini["env"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{M1}_raw.fits"]
