"""STIS MAMA imaging: the stis-mama-image sim mode, the MAMA calstis1 steps on tiny arrays (answers
worked out from the algorithm), the repeat sum, parity with cs0.e, caldp-process."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.bestrefs import assign_bestrefs
from caldp.engines.stis import binning, doppcorr, dqicorr, glincorr, rptcorr
from caldp.engines.stis.calstis import calstis
from caldp.sim import stis_mama

from ..wfc3_uvis.productdiff import assert_products_match
from .conftest import cs0_exe, cs0_run_env
from .helpers import cs0_env, run_cs0

F32 = np.float32
REF_KEYS = ("BPIXTAB", "DARKFILE", "PFLTFILE", "MLINTAB", "IMPHTTAB", "TDSTAB")  # LFLTFILE: stis_mama.NO_RMAP
WRITER_KEYS = {"HISTORY", "COMMENT", "", "ORIGIN", "DATE", "CAL_VER", "BITPIX"}


@pytest.fixture(scope="module")
def mama_small(tmp_path_factory):
    """stis-ccd-image and stis-mama-image in one CRDS cache (their IMPHTTABs share one rmap)."""
    from caldp import sim

    return sim.simulate(
        tmp_path_factory.mktemp("mama_small"), modes=["stis-ccd-image", "stis-mama-image"], size="small", seed=5
    )


@pytest.fixture(scope="module")
def mama_run(mama_small, tmp_path_factory):
    ds = mama_small.datasets[1]
    out = tmp_path_factory.mktemp("mama_builtin")
    written = calstis(ds.input_path / f"{ds.name}_asn.fits", outdir=out, env=mama_small.env)
    return ds, out, written


# ----------------------------------------------------------------------------- the sim mode


def test_raw_layout(mama_small):
    ds = mama_small.datasets[1]
    assert ds.mode == "stis-mama-image" and ds.name == "ocsa01010"
    with fits.open(ds.input_path / f"{ds.name}_raw.fits") as hdul:
        h = hdul[0].header
        assert (h["DETECTOR"], h["APERTURE"], h["NRPTEXP"], h["NEXTEND"], h["RPTCORR"]) == (
            "FUV-MAMA",
            "F25SRF2",
            2,
            6,
            "PERFORM",
        )
        sci = hdul["SCI", 2]
        assert sci.data.shape == (128, 1024) and sci.header["LTV2"] == -448.0 and sci.header["DOPPON"] is True
        assert sci.data.sum() / sci.header["EXPTIME"] == pytest.approx(sci.header["GLOBRATE"])
    asn = fits.getdata(ds.input_path / f"{ds.name}_asn.fits", 1)
    assert [m.strip() for m in asn["MEMTYPE"]] == ["EXP-RPT", "PROD-RPT"]
    assert stis_mama.geometry("full") == ((1024, 1024), 0.0)


def test_bestrefs_assigns_the_mama_references(mama_small, tmp_path):
    """Each mode gets its own references from the shared cache (the IMPHTTAB by date)."""
    for ds, keys in zip(mama_small.datasets, (("IMPHTTAB", "BPIXTAB", "DARKFILE", "PFLTFILE"), REF_KEYS), strict=True):
        raw = tmp_path / f"{ds.name}_raw.fits"
        shutil.copy(ds.input_path / raw.name, raw)
        with fits.open(raw, mode="update") as hdul:
            expected = {k: hdul[0].header[k] for k in keys}
            for k in keys:
                hdul[0].header[k] = "N/A"
        assigned = assign_bestrefs([raw], mama_small.env)
        assert {k: assigned[raw.name][k] for k in keys} == expected


# ----------------------------------------------------------------------------- steps on tiny arrays


def test_make_dopp_at_maximum_shift():
    """A 2-second exposure a quarter orbit after DOPPZERO: sin = 1, every step shifts by −DOPPMAG."""
    period = 5760.0
    ds, d0 = doppcorr.make_dopp(60000.0, 2.0, period, 60000.0 + period / 4 / 86400.0, 2.0, 1)
    assert d0 == 3 and ds.tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert doppcorr.dopp_range(ds, d0) == (-2, -2)


def test_dopp_conv_border_and_errors():
    s = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]], F32)
    e = np.full((1, 5), 2.0, F32)
    d = np.array([[0, 0, 8, 0, 0]], np.uint16)
    doppcorr.dopp_conv(s, e, d, np.array([0.25, 0.5, 0.25], F32), 1, 1)
    # the border pixels count as 0 for SCI: [0, 2, 3, 4, 0] smeared by (0.25, 0.5, 0.25)
    assert s.tolist() == [[0.5, 1.75, 3.0, 2.75, 1.0]]
    # ERR: sqrt(sum (2·w)²) over the pixels on the row (edges padded with 0)
    assert e[0].tolist() == pytest.approx(np.sqrt([1.25, 1.5, 1.5, 1.5, 1.25]).tolist())
    assert d.tolist() == [[0, 8, 8, 8, 0]]


def test_bpixtab_doppler_keeps_detector_edge():
    """doppmin = +2, doppmax = +3: a DETECTORPROB run at x = 0 keeps its start, another flag moves."""
    rows_dp, rows_hot = [(1, 1, 1, 1, 4)], [(1, 1, 1, 1, 16)]
    got = []
    for rows in (rows_dp, rows_hot):
        dq = np.zeros((2, 8), np.uint16)
        lt = ((1.0, 1.0), (0.0, 0.0))
        dqicorr.apply_bpixtab_mama(dq, rows, *lt, (2, 2), (8, 2), doppcorr=True, doppmin=2, doppmax=3)
        got.append((dq > 0).astype(int).tolist())
    # high-res pixels 0..4 (DETECTORPROB) and 2..4 (HOTPIX) of rows 0-1, ORed back in 2x2 bins
    zeros = [0] * 8
    assert got == [[[1, 1, 1, 0, 0, 0, 0, 0], zeros], [[0, 1, 1, 0, 0, 0, 0, 0], zeros]]


def test_bpixtab_lowres_without_doppler_is_direct():
    dq = np.zeros((3, 4), np.uint16)
    dqicorr.apply_bpixtab_mama(dq, [(2, 2, 2, 1, 32)], (1.0, 1.0), (0.0, -1.0), (2, 2), (4, 4), doppcorr=False)
    assert dq.tolist() == [[0, 32, 32, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_glincorr_rate_and_local_flags():
    y, tau = 2.0e5, 3.0e-7
    x = glincorr.find_rate(y, tau) * y
    assert x * np.exp(-tau * x) == pytest.approx(y, rel=1e-12)
    assert glincorr.glob_rate(np.array([[1.0, 2.0], [3.0, 4.0]], F32), 2.0) == 5.0
    s = np.zeros((5, 5), F32)
    s[0, 0] = 11.0
    dq = np.zeros((5, 5), np.uint16)
    # unbinned (high-res) pixels, EXPAND 1.5: dx² + dy² ≤ 2.25, cut at the image corner
    assert glincorr.flag_local(s, dq, 10.0, 1.5, (1, 1)) == 1
    assert (dq == 256).astype(int)[:3, :3].tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
    assert glincorr.local_limit(75.0, 600.0, (2, 2)) == 45000.0


def test_bin2d_average_and_unbin2d_dq():
    s = np.arange(16, dtype=F32).reshape(4, 4)
    e = np.full((4, 4), 2.0, F32)
    d = np.zeros((4, 4), np.uint16)
    bs, be, bd = binning.bin2d(s, e, d, 2, 0, 2, 2, (2, 1), avg=True)
    assert bs.tolist() == [[4.5], [12.5]] and be.tolist() == [[1.0], [1.0]]
    # unbin2d 2x2 -> 4x4: every output row takes the DQ of the input rows around the LAST output row
    # (aj = 1.25: row 1 only); columns at (m − 0.5)/2 = −0.25, 0.25, 0.75, 1.25 truncate to input
    # columns 0, 0, 0, 1, and an index at either end uses that column alone
    d2 = np.array([[4, 0], [16, 1]], np.uint16)
    _, _, ud = binning.unbin2d(np.ones((2, 2), F32), np.zeros((2, 2), F32), d2, (4, 4))
    assert ud.tolist() == [[16, 16, 16, 1]] * 4
    # 3 columns: (m − 0.5)/2 = −0.25 … 2.25 → column 0 (index ≤ 0 alone), 1 and 2, then 2 alone
    d3 = np.array([[0, 0, 0], [2, 4, 8]], np.uint16)
    _, _, ud = binning.unbin2d(np.ones((2, 3), F32), np.zeros((2, 3), F32), d3, (4, 6))
    assert ud.tolist() == [[2, 2, 2, 12, 12, 8]] * 4


def test_repeat_sum():
    a = (np.array([1.0, 2.0], F32), np.array([3.0, 0.0], F32), np.array([0, 4], np.uint16))
    b = (np.array([0.5, -2.0], F32), np.array([4.0, 1.0], F32), np.array([8, 0], np.uint16))
    s, e, d = rptcorr.rpt_sum([a, b])
    assert s.tolist() == [1.5, 0.0] and e.tolist() == [5.0, 1.0] and d.tolist() == [8, 4]


# ----------------------------------------------------------------------------- the engine


def test_products_and_repeat_sum(mama_run):
    ds, out, written = mama_run
    assert sorted(p.name for p in written) == [f"{ds.name}.tra", f"{ds.name}_flt.fits", f"{ds.name}_sfl.fits"]
    with fits.open(out / f"{ds.name}_flt.fits") as flt, fits.open(out / f"{ds.name}_sfl.fits") as sfl:
        p = flt[0].header
        assert [p[k] for k in ("DQICORR", "GLINCORR", "LFLGCORR", "DARKCORR", "FLATCORR", "PHOTCORR")] == [
            "COMPLETE"
        ] * 6
        assert (p["LORSCORR"], p["DOPPCORR"], p["RPTCORR"]) == ("SKIPPED", "PERFORM", "PERFORM")
        assert "FUVMAMA" in p["PHOTMODE"] and p["PHOTFLAM"] > 0
        assert sfl[0].header["RPTCORR"] == "COMPLETE" and sfl["SCI", 1].header["NCOMBINE"] == 2
        assert sfl["SCI", 1].header["EXPTIME"] == 2 * stis_mama.EXPTIME
        assert np.array_equal(sfl["SCI", 1].data, flt["SCI", 1].data + flt["SCI", 2].data)
        assert np.array_equal(sfl["DQ", 1].data, flt["DQ", 1].data | flt["DQ", 2].data)
        assert flt["SCI", 1].header["GLOBLIM"] == "NOT-EXCEEDED"
        assert np.count_nonzero(flt["DQ", 1].data & 256) > 0  # LFLGCORR flagged the bright stars
        # the hot column of the BPIXTAB (x = 300: high-res 598-599) is widened by the Doppler range
        h = flt["SCI", 1].header
        ds, d0 = doppcorr.make_dopp(h["DOPPZERO"], h["DOPPMAG"], h["ORBITPER"], h["EXPSTART"], h["EXPTIME"], 1)
        dmin, dmax = doppcorr.dopp_range(ds, d0)
        assert dmin < 0 < dmax  # the sim's exposure spans a zero crossing
        hot = np.all(flt["DQ", 1].data & 16, axis=0)
        assert np.flatnonzero(hot).tolist() == list(range((598 + dmin) // 2, (599 + dmax) // 2 + 1))


@pytest.mark.hstcal
def test_parity_with_cs0(mama_small, mama_run, tmp_path):
    exe, env = cs0_env(mama_small.env)
    ds, out, _ = mama_run
    work = tmp_path / "hst"
    shutil.copytree(ds.input_path, work)
    run_cs0(exe, env, work, f"{ds.name}_raw.fits")
    names = [f"{ds.name}_flt.fits", f"{ds.name}_sfl.fits"]
    assert_products_match(work, out, names)
    _assert_all_keywords(work, out, names)


def _assert_all_keywords(hst, mine, names) -> None:
    """Every keyword of every header equal to cs0.e's (floats as float32), but the writer's own
    (HSTIO's ORIGIN/DATE, CAL_VER, BITPIX)."""
    for name in names:
        with fits.open(hst / name) as a, fits.open(mine / name) as b:
            assert len(a) == len(b)
            for ha, hb in zip(a, b, strict=True):
                for key in {k for k in (*ha.header, *hb.header) if k not in WRITER_KEYS}:
                    va, vb = ha.header.get(key), hb.header.get(key)
                    if isinstance(va, float) and isinstance(vb, float):
                        assert np.float32(va) == np.float32(vb), (name, key, va, vb)
                    else:
                        assert str(va).strip() == str(vb).strip(), (name, key, va, vb)


def test_caldp_process_builtin(mama_small, tmp_path):
    from tests.engines.stis.helpers import process_builtin

    ds = mama_small.datasets[1]
    prod = process_builtin(mama_small, ds, tmp_path)
    with fits.open(prod / f"{ds.name}_sfl.fits") as sfl:
        assert sfl[0].header["RPTCORR"] == "COMPLETE" and sfl[0].header["FLATCORR"] == "COMPLETE"
    assert (prod / f"{ds.name}_flt.fits").is_file()


def _high_res_copy(src, dst) -> None:
    """The raw with every low-res pixel's counts split over 2×2 high-res pixels (remainder on the first),
    LTM = 2 and the coordinate keywords to match: LORSCORR bins it back, DQICORR flags it in place."""
    with fits.open(src) as h:
        out = [fits.PrimaryHDU(header=h[0].header.copy())]
        for e in h[1:]:
            hdr = e.header.copy()
            if e.data is not None:
                d = e.data.astype(np.int64)
                q = d // 4
                hi = np.repeat(np.repeat(q, 2, 0), 2, 1)
                hi[0::2, 0::2] += d - 4 * q
                out.append(fits.ImageHDU(hi.astype(e.data.dtype), hdr))
            else:
                hdr["NPIX1"], hdr["NPIX2"] = 2 * hdr["NPIX1"], 2 * hdr["NPIX2"]
                out.append(fits.ImageHDU(None, hdr))
            h2 = out[-1].header
            h2["LTM1_1"], h2["LTM2_2"] = 2.0, 2.0
            for k in ("LTV1", "LTV2", "CRPIX1", "CRPIX2"):
                h2[k] = 2 * h2[k] - 0.5
            for k in ("SIZAXIS1", "SIZAXIS2"):
                h2[k] = 2 * h2[k]
            for k in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"):
                h2[k] = h2[k] / 2
        fits.HDUList(out).writeto(dst)


@pytest.mark.hstcal
def test_high_res_lorscorr_parity_with_cs0(mama_small, tmp_path):
    mine, names = _variant_parity(mama_small, tmp_path, "ocsahi010", write_raw=_high_res_copy)
    with fits.open(mine / names[0]) as flt:
        assert flt[0].header["LORSCORR"] == "COMPLETE" and flt["SCI", 1].data.shape == (128, 1024)


def test_tdc_row_choice_and_factor():
    from caldp.engines.stis import tdccorr

    dates = np.array([54000.0, 58000.0, 56000.0])
    assert tdccorr.choose_row(dates, 60500.0) == 1 and tdccorr.choose_row(dates, 57000.0) == 2
    assert tdccorr.choose_row(dates, 54000.0) is None  # DATE0 must be before EXPSTART
    with pytest.raises(ValueError):
        tdccorr.choose_row(dates, 53000.0)
    row = dict(DATE0=60000.0, TEMP0=30.0, A1=1.0, D1=100.0, A2=0.0, D2=1.0, TA=0.5, TB=0.1, TC=0.01)
    # (e^(−100/100) + 0.5 + 0.1·2 + 0.01·4) / 2
    assert tdccorr.post_sm4_factor(row, 60100.0, 32.0, 2.0) == pytest.approx((np.exp(-1.0) + 0.74) / 2)


def _as_nuv(h) -> None:
    h[0].header["DETECTOR"] = "NUV-MAMA"
    h[0].header["TDCTAB"] = "oref$s8a0008o_tdc.fits"
    for e in h[1:]:
        if e.header["EXTNAME"] == "SCI":
            e.header["OM2CAT"] = 33.5
            del e.header["OM1CAT"]


def _nuv_refs(oref) -> None:
    for f in ("s8a0005o_drk.fits", "s8a0006o_pfl.fits", "s8a0007o_lfl.fits"):
        fits.setval(oref / f, "DETECTOR", value="NUV-MAMA")


@pytest.mark.hstcal
def test_nuv_mama_dark_scaling_parity_with_cs0(mama_small, mama_run, tmp_path):
    """The small raw as NUV-MAMA data (OM2CAT, TDCTAB; references relabelled NUV-MAMA in a copy of
    oref): the dark is scaled by the TDCTAB model over its mean, as cs0.e does."""
    mine, names = _variant_parity(mama_small, tmp_path, "ocsanu010", edit_raw=_as_nuv, edit_refs=_nuv_refs)
    _, fuv_out, _ = mama_run
    with fits.open(mine / names[0]) as nuv, fits.open(fuv_out / f"{mama_small.datasets[1].name}_flt.fits") as fuv:
        assert "NUVMAMA" in nuv[0].header["PHOTMODE"]
        assert nuv["SCI", 1].header["MEANDARK"] != pytest.approx(fuv["SCI", 1].header["MEANDARK"], rel=0.05)


# ----------------------------------------------------------------------------- bad MAMA input


def _raw_copy(mama_small, tmp_path, edit):
    ds = mama_small.datasets[1]
    raw = tmp_path / "in" / f"{ds.name}_raw.fits"
    raw.parent.mkdir()
    with fits.open(ds.input_path / raw.name) as h:
        edit(h)
        h.writeto(raw)
    return raw


@pytest.mark.parametrize(
    ("edit", "keyword", "words"),
    [
        (lambda h: h[0].header.set("MLINTAB", "oref$nothere_lin.fits"), "MLINTAB", "not found or can't open"),
        (lambda h: h[0].header.set("DARKFILE", "oref$s7a0007o_drk.fits"), "DARKFILE", "DETECTOR = CCD"),
        (lambda h: h["SCI", 2].header.remove("DOPPZERO"), "DOPPZERO", "keyword not found"),
        (lambda h: h["SCI", 1].header.remove("GLOBRATE"), "GLOBRATE", "keyword not found"),
    ],
)
def test_bad_input_names_keyword_and_writes_nothing(mama_small, tmp_path, edit, keyword, words):
    from caldp.engines.common.errors import EngineError

    raw = _raw_copy(mama_small, tmp_path, edit)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EngineError, match=words) as info:
        calstis(raw, outdir=out, env=mama_small.env)
    assert info.value.keyword == keyword
    assert not list(out.glob("*.fits"))


def test_unbin2d_rows_are_the_full_expansion_cut():
    rng = np.random.default_rng(3)
    s = rng.random((8, 8), dtype=F32) + F32(0.5)
    e = rng.random((8, 8), dtype=F32) * F32(0.01)
    d = rng.integers(0, 4, (8, 8)).astype(np.uint16) * np.uint16(4)
    full = binning.unbin2d(s, e, d, (64, 64))
    part = binning.unbin2d(s, e, d, (64, 64), rows=(17, 45))
    for a, b in zip(full, part, strict=True):
        assert np.array_equal(a[17:45], b, equal_nan=a.dtype.kind == "f")


def _constant_second_imset(h) -> None:
    h["SCI", 2].data[:] = 7


@pytest.mark.hstcal
def test_constant_imset_parity_with_cs0(mama_small, tmp_path):
    """A repeat whose second imset is constant: IMSET_OK = F, left uncalibrated in the _flt, and the
    _sfl is the first imset alone (NCOMBINE 1, its EXPTIME, EXPEND of the last imset read)."""
    mine, names = _variant_parity(mama_small, tmp_path, "ocsabd010", edit_raw=_constant_second_imset)
    with fits.open(mine / names[0]) as flt, fits.open(mine / names[1]) as sfl:
        assert flt["SCI", 2].header["IMSET_OK"] is False and sfl["SCI", 1].header["NCOMBINE"] == 1
        assert np.array_equal(sfl["SCI", 1].data, flt["SCI", 1].data)


def _variant_parity(mama_small, tmp_path, root: str, *, edit_raw=None, write_raw=None, edit_refs=None):
    """A variant of the small raw (`edit_raw` on the open HDUList, or `write_raw(src, dst)`), with an
    `oref` copy changed by `edit_refs(dir)` if given, calibrated by both programs: SCI/ERR within 4 ulp,
    DQ and every keyword equal. Returns (caldp's product dir, product names)."""
    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    ds = mama_small.datasets[1]
    env = dict(mama_small.env)
    if edit_refs is not None:
        oref = tmp_path / "oref"
        shutil.copytree(env["oref"], oref)
        edit_refs(oref)
        env["oref"] = f"{oref}/"
    work, mine = tmp_path / "hst", tmp_path / "mine"
    work.mkdir()
    mine.mkdir()
    raw = work / f"{root}_raw.fits"
    src = ds.input_path / f"{ds.name}_raw.fits"
    if write_raw is not None:
        write_raw(src, raw)
    else:
        with fits.open(src) as h:
            edit_raw(h)
            h.writeto(raw)
    calstis(raw, outdir=mine, env=env)
    run_env = cs0_run_env(env)
    run_cs0(exe, run_env, work, raw.name)
    names = [f"{root}_flt.fits", f"{root}_sfl.fits"]
    assert_products_match(work, mine, names)
    _assert_all_keywords(work, mine, names)
    return mine, names


def _low_global_limit(oref) -> None:
    with fits.open(oref / "s8a0002o_lin.fits", mode="update") as h:
        h[1].data["GLOBAL_LIMIT"][:] = 100.0


@pytest.mark.hstcal
def test_global_limit_exceeded_parity_with_cs0(mama_small, tmp_path):
    """GLOBAL_LIMIT below the global rate: GLOBLIM = EXCEEDED and no GLINCORR factor, as cs0.e."""
    mine, names = _variant_parity(
        mama_small, tmp_path, "ocsagl010", edit_raw=lambda h: None, edit_refs=_low_global_limit
    )
    with fits.open(mine / names[0]) as flt:
        assert flt["SCI", 1].header["GLOBLIM"] == "EXCEEDED"


def _no_doppler(h) -> None:
    for e in h[1:]:
        if e.header["EXTNAME"] == "SCI":
            e.header["DOPPON"] = False


@pytest.mark.hstcal
def test_doppon_false_parity_with_cs0(mama_small, tmp_path):
    """DOPPCORR = PERFORM but DOPPON = F: calstis silently drops the smear (BPIXTAB straight onto the
    low-res DQ, the dark and flat binned unsmeared)."""
    mine, names = _variant_parity(mama_small, tmp_path, "ocsand010", edit_raw=_no_doppler)
    with fits.open(mine / names[0]) as flt:
        assert np.all(flt["DQ", 1].data[:, 299] & 16) and not np.any(flt["DQ", 1].data[:, 298] & 16)
