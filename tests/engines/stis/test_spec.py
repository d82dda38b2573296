"""Builtin STIS engine on stis-ccd-spec (G430L long slit, CR-SPLIT=2, line-lamp wavecal): the sim,
the products, V_HELIO, and parity with cs0.e on _flt, _crj and the wavecal's _fwv_tmp."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.hstio import read_exposure
from caldp.engines.stis import radialvel, wavecal
from caldp.engines.stis.calstis import calstis
from caldp.sim import stis_spec

from ..wfc3_uvis.productdiff import assert_products_match
from .conftest import cs0_exe, cs0_run_env
from .helpers import cs0_env, run_cs0


@pytest.fixture(scope="module")
def spec_small(tmp_path_factory):
    from caldp import sim

    return sim.simulate(tmp_path_factory.mktemp("stis_spec"), modes=["stis-ccd-spec"], size="small", seed=2)


@pytest.fixture(scope="module")
def spec_run(spec_small, tmp_path_factory):
    (ds,) = spec_small.datasets
    out = tmp_path_factory.mktemp("stis_spec_builtin")
    written = calstis(ds.input_path / f"{ds.name}_raw.fits", outdir=out, env=spec_small.env, keep_intermediates=True)
    return ds, out, written


def test_sim_files_and_keywords(spec_small):
    (ds,) = spec_small.datasets
    names = sorted(p.name for p in ds.files)
    assert names == [f"{ds.name}_{s}.fits" for s in ("asn", "raw", "spt", "wav")]
    with fits.open(ds.input_path / f"{ds.name}_raw.fits") as raw, fits.open(ds.input_path / f"{ds.name}_wav.fits") as w:
        p, wp = raw[0].header, w[0].header
        assert (p["OBSTYPE"], p["OPT_ELEM"], p["CENWAVE"], p["CRSPLIT"]) == ("SPECTROSCOPIC", "G430L", 4300, 2)
        assert p["WAVECORR"] == "PERFORM" and p["WAVECAL"] == f"{ds.name}_wav.fits"
        assert (wp["TARGNAME"], wp["SCLAMP"], wp["NEXTEND"]) == ("WAVELINE", "LINE", 3)
        assert raw["SCI", 1].header["CTYPE1"] == "LAMBDA" and raw["SCI", 1].header["CD1_1"] == stis_spec.DISPERSION
        # the lamp lines sit WAVECAL_SHIFT columns from where DISPTAB puts them
        lamp = w["SCI", 1].data.astype(float)[20:100, 18:-18].mean(axis=0)
        x0 = stis_spec.dispersion_x(4358.0)
        i = int(round(x0 + stis_spec.WAVECAL_SHIFT[0]))
        seg = lamp[i - 4 : i + 5] - np.median(lamp)
        centroid = float((seg * np.arange(i - 4, i + 5)).sum() / seg.sum())
        assert centroid - x0 == pytest.approx(stis_spec.WAVECAL_SHIFT[0], abs=0.15)


def test_products_and_keywords(spec_run):
    ds, out, written = spec_run
    tmp = [f"{ds.name}_fwv_tmp.fits", f"{ds.name}_w2d_tmp.fits"]
    raw = fits.getheader(ds.input_path / f"{ds.name}_raw.fits")
    tmp += [f"{ds.name}_{p}.fits" for k, p in (("X2DCORR", "sx2"), ("X1DCORR", "sx1")) if raw[k] == "PERFORM"]
    assert sorted(p.name for p in written) == sorted(
        [f"{ds.name}.tra", f"{ds.name}_crj.fits", f"{ds.name}_flt.fits", *tmp]
    )
    with fits.open(out / f"{ds.name}_crj.fits") as crj, fits.open(out / f"{ds.name}_fwv_tmp.fits") as fwv:
        assert crj[0].header["CRCORR"] == "COMPLETE" and crj[0].header["WAVECORR"] == "COMPLETE"
        assert crj[0].header["PHOTMODE"].startswith("STIS 52X0.2 A2D1 G430L CCD 4300")
        assert abs(crj["SCI", 1].header["V_HELIO"]) < 31.0
        # the lamp was shifted by WAVECAL_SHIFT[0] columns: calstis4 finds it
        assert crj["SCI", 1].header["SHIFTA1"] == pytest.approx(stis_spec.WAVECAL_SHIFT[0], abs=0.1)
        assert "V_HELIO" not in fwv["SCI", 1].header  # a wavecal has none
        assert fwv[0].header["FLATCORR"] == "COMPLETE" and fwv["SCI", 1].data.shape == (128, 1024)


def test_earth_velocity_and_radial_velocity():
    """|v⊕| stays within 29.2–30.4 km/s over a year; a target along −v⊕ at J2000 (no precession)
    has V_HELIO = +|v⊕| (the velocity is the negated component towards the target)."""
    speeds = [math.hypot(*radialvel.earth_velocity(51544.5 + d)) for d in range(0, 365, 30)]
    assert 29.2 < min(speeds) and max(speeds) < 30.4
    v = radialvel.earth_velocity(radialvel.REFDATE)
    s = math.hypot(*v)
    ra = math.degrees(math.atan2(-v[1], -v[0]))
    dec = math.degrees(math.asin(-v[2] / s))
    assert radialvel.radial_velocity(ra, dec, radialvel.REFDATE) == pytest.approx(s, rel=1e-9)


@pytest.fixture(scope="module")
def cs0_run(spec_small, tmp_path_factory):
    """cs0.e -s on a copy of the inputs (the _fwv_tmp and _w2d_tmp intermediates kept)."""
    exe, env = cs0_env(spec_small.env)
    (ds,) = spec_small.datasets
    work = tmp_path_factory.mktemp("stis_spec_cs0") / "hst"
    shutil.copytree(ds.input_path, work)
    run_cs0(exe, env, work, "-s", f"{ds.name}_raw.fits")
    return work


SHIFT_KEYS = ("SHIFTA1", "SHIFTA2")


def _assert_shifts_match(work, out, names, w2d_name):
    for name in [*names, w2d_name]:
        with fits.open(work / name) as a, fits.open(out / name) as b:
            assert a[0].header["WAVECORR"] == b[0].header["WAVECORR"] == "COMPLETE", name
            for ha, hb in zip(a[1:], b[1:], strict=True):
                if name == w2d_name and ha.header["EXTNAME"] != "SCI":
                    continue  # calstis4 writes the shifts into the wavecal's SCI headers only
                assert all(ha.header[k] == hb.header[k] for k in SHIFT_KEYS), (name, ha.header["EXTNAME"])
            if name != w2d_name:
                assert [str(x) for x in a[0].header["HISTORY"]][-2:] == [str(x) for x in b[0].header["HISTORY"]][-2:]


@pytest.mark.hstcal
def test_parity_with_cs0(spec_run, cs0_run):
    """_flt, _crj, the wavecal intermediates _fwv_tmp and _w2d_tmp (and the _sx2): 0 ulp, DQ and keywords equal,
    V_HELIO and SHIFTA1/SHIFTA2 (SCI/ERR/DQ headers) equal, WAVECORR COMPLETE with cs0.e's history."""
    ds, out, _ = spec_run
    work = cs0_run
    names = [f"{ds.name}_flt.fits", f"{ds.name}_crj.fits"]
    w2d = f"{ds.name}_w2d_tmp.fits"
    assert_products_match(work, out, [*names, f"{ds.name}_fwv_tmp.fits", w2d, f"{ds.name}_sx2.fits"])
    for name in names:
        with fits.open(work / name) as a, fits.open(out / name) as b:
            for k in range(1, len(a) // 3 + 1):
                assert a["SCI", k].header["V_HELIO"] == b["SCI", k].header["V_HELIO"]
    _assert_shifts_match(work, out, names, w2d)
    for name in [*names, f"{ds.name}_fwv_tmp.fits", w2d]:  # every HISTORY record, calstis1/4/7/12's
        ha, hb = fits.getheader(work / name), fits.getheader(out / name)
        assert [str(x) for x in ha["HISTORY"]] == [str(x) for x in hb["HISTORY"]], name
        assert _header_differences(work / name, out / name) == [], name


#: cards that say who wrote the file and when, or how FITS stores the pixels
_WRITER_CARDS = {"HISTORY", "COMMENT", "", "DATE", "IRAF-TLM", "ORIGIN", "CAL_VER", "FILENAME", "BITPIX", "BZERO"}


def _header_differences(a, b) -> list:
    """Every keyword of every extension whose value differs (the writer's cards aside), e.g. the
    coordinate keywords calstis1's BinCoords rewrites as 13-digit doubles after the overscan trim."""
    out = []
    with fits.open(a) as ha, fits.open(b) as hb:
        assert len(ha) == len(hb)
        for e, (x, y) in enumerate(zip(ha, hb, strict=True)):
            for k in sorted((set(x.header) | set(y.header)) - _WRITER_CARDS):
                if x.header.get(k) != y.header.get(k):
                    out.append((e, k, x.header.get(k), y.header.get(k)))
    return out


@pytest.mark.hstcal
def test_wavecal_shifts_match_cs0(spec_small, cs0_run, tmp_path, monkeypatch):
    """calstis4 + calstis12 alone, given cs0.e's own 2-D rectified wavecal in place of the
    engine's calstis7: SHIFTA1/SHIFTA2 in every SCI/ERR/DQ header of _flt and _crj, WAVECORR and
    the history equal cs0.e's; pixels unchanged (0 ulp)."""
    (ds,) = spec_small.datasets
    work = cs0_run
    w2d_name = f"{ds.name}_w2d_tmp.fits"
    monkeypatch.setattr(wavecal, "rectify_first_order", lambda fwv, env: read_exposure(work / w2d_name))
    out = tmp_path / "mine"
    out.mkdir()
    calstis(ds.input_path / f"{ds.name}_raw.fits", outdir=out, env=spec_small.env, keep_intermediates=True)
    names = [f"{ds.name}_flt.fits", f"{ds.name}_crj.fits"]
    assert_products_match(work, out, names)
    _assert_shifts_match(work, out, names, w2d_name)
    with fits.open(out / f"{ds.name}_crj.fits") as b:
        assert abs(b["SCI", 1].header["SHIFTA1"]) < 10.0 and b["SCI", 1].header["SHIFTA2"] != 0.0


def test_caldp_process_builtin(spec_small, tmp_path):
    from tests.engines.stis.helpers import process_builtin

    (ds,) = spec_small.datasets
    prod = process_builtin(spec_small, ds, tmp_path)
    with fits.open(prod / f"{ds.name}_crj.fits") as crj:
        assert crj[0].header["CRCORR"] == "COMPLETE" and crj[0].header["OBSTYPE"] == "SPECTROSCOPIC"
        assert "V_HELIO" in crj["SCI", 1].header
        assert crj[0].header["WAVECORR"] == "COMPLETE"
    assert "SHIFTA1 set to" in (prod / f"{ds.name}.tra").read_text()


def _copy_inputs(ds, tmp_path, edit_wav=None, edit_raw=None):
    work = tmp_path / "in"
    shutil.copytree(ds.input_path, work)
    for suffix, edit in (("wav", edit_wav), ("raw", edit_raw)):
        if edit is not None:
            with fits.open(work / f"{ds.name}_{suffix}.fits", mode="update") as h:
                edit(h[0].header)
    out = tmp_path / "out"
    out.mkdir()
    return work / f"{ds.name}_raw.fits", out


@pytest.mark.parametrize(
    ("edit_wav", "edit_raw", "file_suffix", "keyword", "words"),
    [
        (lambda h: h.__setitem__("DETECTOR", "NUV-MAMA"), None, "_wav.fits", "DETECTOR", "mismatch"),
        (lambda h: h.__setitem__("LAMPTAB", "oref$nothere_lmp.fits"), None, "nothere_lmp.fits", "LAMPTAB", "not found"),
        (lambda h: h.remove("LAMPSET"), None, "_wav.fits", "LAMPSET", "missing"),
        (None, lambda h: h.__setitem__("WAVECAL", "elsewhere_wav.fits"), "elsewhere_wav.fits", "WAVECAL", "not found"),
    ],
)
def test_bad_wavecal_stops_before_any_product(spec_small, tmp_path, edit_wav, edit_raw, file_suffix, keyword, words):
    """A wavecal that does not match, lacks a keyword or a reference, or is missing: EngineError
    naming file and keyword, before any product (cs0.e checks the wavecal in StisInit, before calstis1)."""
    from caldp.engines.common.errors import EngineError

    (ds,) = spec_small.datasets
    raw, out = _copy_inputs(ds, tmp_path, edit_wav, edit_raw)
    with pytest.raises(EngineError, match=words) as err:
        calstis(raw, outdir=out, env=spec_small.env)
    assert err.value.keyword == keyword and str(err.value.file).endswith(file_suffix)
    assert list(out.iterdir()) == []


def test_wavecal_na_skips_wavecorr(spec_small, tmp_path):
    (ds,) = spec_small.datasets
    raw, out = _copy_inputs(ds, tmp_path, None, lambda h: h.__setitem__("WAVECAL", "N/A"))
    calstis(raw, outdir=out, env=spec_small.env)
    with fits.open(out / f"{ds.name}_crj.fits") as crj:
        assert crj[0].header["WAVECORR"] == "SKIPPED" and crj["SCI", 1].header["SHIFTA1"] == 0.0


def _hitm(h):
    h["SCLAMP"] = "HITM1"
    h["TEXPSTRT"] = 51000.0  # before 1998 Nov 9: the external shutter was open for HITM wavecals


@pytest.mark.hstcal
def test_hitm_wavecal_calstis11_parity(spec_small, tmp_path):
    """A HITM wavecal before 1998 Nov 9: calstis11 subtracts the _crj (scaled by 3 s / 600 s) before
    calstis7; _cwv_tmp and everything after it equal cs0.e's (0 ulp, DQ, keywords, history, shifts)."""
    exe, env = cs0_env(spec_small.env)
    (ds,) = spec_small.datasets
    raw, out = _copy_inputs(ds, tmp_path, _hitm, None)
    hst = tmp_path / "hst"
    shutil.copytree(raw.parent, hst)
    proc = subprocess.run([exe, "-s", raw.name], cwd=hst, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "CALSTIS-11" in proc.stdout, proc.stdout[-2000:]
    calstis(raw, outdir=out, env=spec_small.env, keep_intermediates=True)
    names = [f"{ds.name}_{s}.fits" for s in ("flt", "crj", "fwv_tmp", "cwv_tmp", "w2d_tmp", "sx2")]
    assert_products_match(hst, out, names)
    _assert_shifts_match(hst, out, names[:2], names[4])
    for name in names[2:5]:
        for ext in (0, 1):
            ha, hb = fits.getheader(hst / name, ext), fits.getheader(out / name, ext)
            assert [str(x) for x in ha.get("HISTORY", [])] == [str(x) for x in hb.get("HISTORY", [])], (name, ext)
    with fits.open(out / names[2]) as fwv, fits.open(out / names[3]) as cwv, fits.open(out / names[1]) as crj:
        expect = fwv["SCI", 1].data.astype(float) - 3.0 / 600.0 * crj["SCI", 1].data.astype(float)
        assert np.array_equal(cwv["SCI", 1].data, expect.astype(np.float32))


def test_e_aperture_needs_the_full_frame(spec_small, spec_run):
    """PROPAPER …E1/E2: calstis4 takes the dispersion shift from rows 971–1011, which a 128-row
    subarray wavecal does not have (cs0.e would read past the image) — an EngineError naming PROPAPER."""
    from caldp.engines.common.errors import EngineError
    from caldp.engines.stis.calstis1 import Refs
    from caldp.engines.stis.calstis4 import calstis4

    ds, out, _ = spec_run
    w2d = read_exposure(out / f"{ds.name}_w2d_tmp.fits")
    with pytest.raises(EngineError, match="E-aperture rows") as err:
        calstis4(w2d, Refs(spec_small.env, w2d.primary.copy()), use_e_aperture=True)
    assert err.value.keyword == "PROPAPER"


def test_cli_wavecal_option(spec_small, tmp_path, monkeypatch):
    """caldp-calstis -w: the wavecal named on the command line (from the current directory, as
    cs0.e) replaces the WAVECAL keyword."""
    from caldp.cli.calstis import main

    (ds,) = spec_small.datasets
    raw, _ = _copy_inputs(ds, tmp_path, None, lambda h: h.__setitem__("WAVECAL", "not_there_wav.fits"))
    (tmp_path / "lamps").mkdir()
    (raw.parent / f"{ds.name}_wav.fits").rename(tmp_path / "lamps" / "mine_wav.fits")
    for key, value in spec_small.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    assert main([str(raw), "-w", "lamps/mine_wav.fits"]) == 0
    with fits.open(raw.parent / f"{ds.name}_crj.fits") as crj:
        assert crj[0].header["WAVECORR"] == "COMPLETE" and crj["SCI", 1].header["SHIFTA1"] != 0.0
    assert main([str(raw.with_name("again_raw.fits")), "-w", "lamps/mine_wav.fits"]) == 2  # no such input


def _two_imset_wavecal(path, constant_second: bool = False):
    """The wavecal made of two imsets: the first taken before the science, the second (its lamp
    image one column to the right, or constant: IMSET_OK = F) after it, so calstis12 interpolates
    in time."""
    with fits.open(path) as h:
        hdus = [h[0].copy(), *(x.copy() for x in h[1:4])]
        second = [x.copy() for x in h[1:4]]
    start = hdus[1].header["EXPSTART"]
    length = hdus[1].header["EXPEND"] - start
    first_start = start - 0.02  # before the first science imset
    for x in hdus[1:4]:
        x.header["EXPSTART"], x.header["EXPEND"] = first_start, first_start + length
    second[0].data = np.full_like(second[0].data, 1500) if constant_second else np.roll(second[0].data, 1, axis=1)
    for x in second:
        x.header["EXTVER"] = 2
    hdus[0].header["NEXTEND"] = 6
    fits.HDUList(hdus + second).writeto(path, overwrite=True)


@pytest.mark.hstcal
@pytest.mark.parametrize("constant_second", [False, True])
def test_two_wavecal_imsets_interpolated_like_cs0(spec_small, tmp_path, constant_second):
    """Two wavecal imsets around the science: calstis4 measures each, calstis12 interpolates the
    shifts linearly at each science imset's midpoint — equal to cs0.e's in every header. A constant
    second imset (IMSET_OK = F): calstis4 skips it (shifts −9999), calstis12 uses the first alone."""
    exe, env = cs0_env(spec_small.env)
    (ds,) = spec_small.datasets
    raw, out = _copy_inputs(ds, tmp_path)
    _two_imset_wavecal(raw.parent / f"{ds.name}_wav.fits", constant_second)
    hst = tmp_path / "hst"
    shutil.copytree(raw.parent, hst)
    run_cs0(exe, env, hst, "-s", raw.name)
    calstis(raw, outdir=out, env=spec_small.env, keep_intermediates=True)
    names = [f"{ds.name}_flt.fits", f"{ds.name}_crj.fits"]
    w2d = f"{ds.name}_w2d_tmp.fits"
    assert_products_match(hst, out, [*names, f"{ds.name}_fwv_tmp.fits", w2d])
    _assert_shifts_match(hst, out, names, w2d)
    with fits.open(out / w2d) as w, fits.open(out / names[0]) as flt:
        a, b = w["SCI", 1].header["SHIFTA1"], w["SCI", 2].header["SHIFTA1"]
        s1, s2 = flt["SCI", 1].header["SHIFTA1"], flt["SCI", 2].header["SHIFTA1"]
        if constant_second:
            assert b == -9999.0 and w["SCI", 2].header["SHIFTA2"] == -9999.0 and s1 == s2 == a
        else:
            assert b - a == pytest.approx(1.0, abs=0.1)  # the second lamp image one column further
            assert a < s1 < s2 < b  # interpolated, later imset nearer the later wavecal


def _short_slit_copy(spec_small, ds, tmp_path, window_centre: int):
    """The small dataset as if taken through 0.2X0.2: the wavecal's lamp only in 5 rows around
    `window_centre` (raw rows; elsewhere the row's overscan level), and APDESTAB with a 0.2X0.2 row
    (a copy of the references, `oref` pointing at it)."""

    def aperture(h):
        h["APERTURE"], h["PROPAPER"], h["APER_FOV"] = "0.2X0.2", "0.2X0.2", "0.2x0.2"
        h["X1DCORR"] = "OMIT"  # no XTRACTAB row for this aperture

    raw, out = _copy_inputs(ds, tmp_path, aperture, aperture)
    with fits.open(raw.with_name(f"{ds.name}_wav.fits"), mode="update") as h:
        data = h["SCI", 1].data
        level = np.median(data[:, :18].astype(float), axis=1)
        rows = np.abs(np.arange(data.shape[0]) - window_centre) > 2
        data[rows] = np.rint(level[rows])[:, None].astype(data.dtype)
    refdir = tmp_path / "refs"
    shutil.copytree(spec_small.env["oref"], refdir)
    name = spec_small.env["oref"] + "s7b0006o_apd.fits"
    with fits.open(name) as h:
        t = h[1].data
        extra = fits.FITS_rec.from_columns(h[1].columns, nrows=len(t) + 1)
        extra[-1]["APERTURE"], extra[-1]["WIDTH1"], extra[-1]["WIDTH2"] = "0.2X0.2", 0.2, 0.2
        extra[-1]["ANGLE"], extra[-1]["NBARS"] = 0.315, 0
        extra[-1]["PEDIGREE"], extra[-1]["DESCRIP"] = t[0]["PEDIGREE"], t[0]["DESCRIP"]
        hdus = fits.HDUList([h[0].copy(), fits.BinTableHDU(extra, h[1].header)])
    hdus.writeto(refdir / "s7b0006o_apd.fits", overwrite=True)
    return raw, out, {**spec_small.env, "oref": f"{refdir}/"}


@pytest.mark.hstcal
def test_short_slit_wavecal_like_cs0(spec_small, tmp_path):
    """A short slit (0.2X0.2): calstis4 cross-correlates the slit profile with a 0.2″ box
    (XCEchelle); the lamp window one row above the trace gives SHIFTA2 ≈ +1, equal to cs0.e's."""
    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    (ds,) = spec_small.datasets
    raw, out, env = _short_slit_copy(spec_small, ds, tmp_path, window_centre=64)
    hst = tmp_path / "hst"
    shutil.copytree(raw.parent, hst)
    run_env = cs0_run_env(env)
    run_cs0(exe, run_env, hst, "-s", raw.name)
    calstis(raw, outdir=out, env=env, keep_intermediates=True)
    names = [f"{ds.name}_flt.fits", f"{ds.name}_crj.fits"]
    w2d = f"{ds.name}_w2d_tmp.fits"
    assert_products_match(hst, out, [*names, w2d])
    _assert_shifts_match(hst, out, names, w2d)
    with fits.open(out / w2d) as w:
        assert w["SCI", 1].header["SHIFTA2"] == pytest.approx(1.0, abs=0.3)


@pytest.mark.slow
@pytest.mark.hstcal
def test_full_size_parity_with_cs0(tmp_path):
    """Full frame (1062×1044 with overscan): every product of the chain — _flt, _crj, _fwv_tmp,
    _w2d_tmp, _sx2 — 0 ulp, DQ and every header keyword equal to cs0.e's, shifts included."""
    from caldp import sim

    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    res = sim.simulate(tmp_path / "sim", modes=["stis-ccd-spec"], size="full", seed=1)
    (ds,) = res.datasets
    hst = tmp_path / "hst"
    shutil.copytree(ds.input_path, hst)
    env = cs0_run_env(res.env)
    run_cs0(exe, env, hst, "-s", f"{ds.name}_raw.fits")
    out = tmp_path / "out"
    out.mkdir()
    calstis(ds.input_path / f"{ds.name}_raw.fits", outdir=out, env=res.env, keep_intermediates=True)
    names = [f"{ds.name}_{s}.fits" for s in ("flt", "crj", "fwv_tmp", "w2d_tmp", "sx2")]
    assert_products_match(hst, out, names)
    _assert_shifts_match(hst, out, names[:2], names[3])
    for name in names:
        assert _header_differences(hst / name, out / name) == [], name
