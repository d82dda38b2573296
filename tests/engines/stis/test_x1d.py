"""calstis6 (X1DCORR, first order, unweighted): the steps on tiny arrays (cross correlation finds
the spectrum, the clipped background, the extraction box, the background smoothing, the
wavelength inversion) and parity with cs0.e's ``_sx1``/``_x1d`` on stis-ccd-spec (marked hstcal)."""

from __future__ import annotations

import numpy as np
import pytest

from caldp.engines.stis import x1d as E
from caldp.engines.stis import x2d as X

F32 = np.float32


def _spectrum(nx=60, ny=50, y0=24.3, sigma=1.1, sky=2.0, amp=100.0, seed=1):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    prof = np.exp(-0.5 * ((yy - y0) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
    flux = amp * (1.0 + 0.3 * np.sin(xx / 7.0))
    sci = (flux * prof + sky + rng.normal(0, 0.01, (ny, nx))).astype(F32)
    return sci, np.full_like(sci, F32(1.0)), np.zeros(sci.shape, np.uint16), flux[0]


def _flat_trace(nx):
    return [X.TraceRow(0.0, 20.0, np.zeros(nx))]


def test_cross_correlation_finds_the_spectrum():
    sci, err, dq, _ = _spectrum(y0=24.3)
    off = E.cross_corr(sci, err, dq, _flat_trace(60), 21.0, 6, (1.0, 1.0), (0.0, 0.0), E.cc_sdqflags(31743))
    assert off == pytest.approx(3.3, abs=0.15)
    # the peak at the end of the search range is a failure (None), as CrossCorr's
    assert E.cross_corr(sci, err, dq, _flat_trace(60), 10.0, 3, (1.0, 1.0), (0.0, 0.0), 0) is None


def test_background_and_box_recover_the_flux():
    sci, err, dq, flux = _spectrum(y0=24.0, sky=2.0)
    sci[5, 10] = 500.0  # a cosmic ray in a background box is clipped
    xtr = E.Xtract(1, 9.0, (5.0, 5.0), (-15.0, 15.0), (0.0,), 0, 5)
    y_box = np.full(60, 24.0)
    bg = E.calc_back(sci, err, dq, y_box, xtr, (1.0, 1.0), (0.0, 0.0))
    np.testing.assert_allclose(bg.bck0, 2.0, atol=0.05)
    assert not bg.dqbck.any()
    ex = E.extract(sci, err, dq, y_box, 9.0, bg, 10.0, (1.0, 1.0), (0.0, 0.0))
    # a 9-pixel box holds > 99.9 % of a σ = 1.1 profile; NET per second
    np.testing.assert_allclose(ex.net * 10.0, flux * 0.9999, rtol=3e-3)
    np.testing.assert_allclose(ex.back * 10.0, 9 * 2.0, rtol=3e-2)
    np.testing.assert_allclose(ex.extrlocy, 25.0)
    # ERROR: sqrt(Σ err²)/t over the 9 pixels (unit errors), no background variance when smoothing
    np.testing.assert_allclose(ex.error, 3.0 / 10.0, rtol=1e-6)


def test_box_fractional_ends():
    sci = np.ones((20, 4), F32)
    ex = E.extract(sci, sci, np.zeros((20, 4), np.uint16), np.full(4, 9.3), 4.5, None, 1.0, (1.0, 1.0), (0.0, 0.0))
    np.testing.assert_allclose(ex.gross, 4.5, rtol=1e-7)  # the box holds its size in pixels exactly


def test_smoothing_and_poly_fit():
    x = np.arange(200.0)
    cubic = 3.0 + 0.02 * (x - 100) - 1e-4 * (x - 100) ** 2 + 2e-7 * (x - 100) ** 3
    coeff = E.fit_poly(x, cubic, 3)
    np.testing.assert_allclose(E.compute_poly(x, coeff, 3), cubic, atol=1e-9)
    back = cubic.astype(F32).copy()
    back[50] = 40.0  # a spike the running median removes
    gross = np.full(200, F32(10.0))
    b, net = E.smooth_back(back, gross)
    # HSTCAL's running median spans 10 pixels [i−5, i+4] (w1 = w2 − 9): the cubic half a pixel back
    half_back = 3.0 + 0.02 * (x - 100.5) - 1e-4 * (x - 100.5) ** 2 + 2e-7 * (x - 100.5) ** 3
    np.testing.assert_allclose(b[10:191], half_back[10:191], atol=5e-3)  # the spike nudges the fit
    assert b[5] == E.median_float(back[0:10]) and net.dtype == np.float32
    np.testing.assert_array_equal(net, gross - b)


def test_boxcar_median_windows():
    a = np.arange(12, dtype=F32) ** 2
    out = E.boxcar_median(a, 9)
    # windows [max(i − 5, 0), min(i + 4, n − 1)]: [0..4], [0..5], …, [0..9], [1..10], [2..11], [3..11], …
    assert out[0] == E.median_float(a[0:5]) and out[4] == E.median_float(a[0:9])
    assert out[6] == E.median_float(a[1:11]) and out[11] == E.median_float(a[6:12])


def test_wavelengths_invert_the_dispersion_relation():
    coeff = np.zeros(10)
    coeff[:3] = [-1200.0, 0.35, 1e-6]  # one-indexed pixel = c0 + c1·λ + c2·λ²
    wave = E.wavelengths(coeff, 3, 1, 4300, 64, (1.0, 1.0), (-400.0, 0.0), None)
    pix = np.array([E.eval_disp_scalar(coeff, 3, 1.0, w) for w in wave])
    np.testing.assert_allclose(pix, np.arange(64) + 400.0, atol=1e-3)
    h = 1.0 - 20.0 / E.HCFACTOR
    np.testing.assert_array_equal(E.wavelengths(coeff, 3, 1, 4300, 64, (1.0, 1.0), (-400.0, 0.0), h), wave * h)


# ----------------------------------------------------------------------------------- parity


def compare_table(mine, ref) -> dict:
    """Per column: max ulp (float32), max |Δ| (float64), mismatches (integers); keyword differences
    of every header (dates, history, CAL_VER, FILENAME aside) and whether the HISTORY is equal."""
    from astropy.io import fits

    from ..wfc3_uvis.productdiff import ulp_diff
    from .test_x2d import _keys_equal

    res = {"cols": {}, "keys": [], "history": True}
    with fits.open(mine) as a, fits.open(ref) as b:
        assert len(a) == len(b)
        res["keys"] += _keys_equal(a[0].header, b[0].header)
        res["history"] = [str(h) for h in a[0].header["HISTORY"]] == [str(h) for h in b[0].header["HISTORY"]]
        for k in range(1, len(b)):
            ta, tb = a[k].data, b[k].data
            assert ta.columns.names == tb.columns.names
            for c in tb.columns.names:
                va, vb = np.asarray(ta[c]), np.asarray(tb[c])
                if vb.dtype.kind == "f" and vb.dtype.itemsize == 4:
                    bad = ulp_diff(va, vb)[0]
                elif vb.dtype.kind == "f":
                    bad = float(np.abs(va - vb).max())
                else:
                    bad = int(np.count_nonzero(va != vb))
                res["cols"][f"{k}:{c}"] = bad
            res["keys"] += [(k, *d) for d in _keys_equal(a[k].header, b[k].header)]
    return res


@pytest.mark.hstcal
@pytest.mark.parametrize(
    "label, src, ref", [("crj", "crj", "sx1"), ("flt", "flt", "x1d"), ("flux", "crj", "sx1"), ("fluxflt", "flt", "x1d")]
)
def test_parity_with_cs0(cs0_spec, tmp_path, label, src, ref):
    """calstis6 on cs0.e's own _crj (one row) and two-imset _flt (two tables) against its _sx1 and
    _x1d: every column bit for bit, every keyword and the history equal."""
    from caldp.engines.common.hstio import read_exposure
    from caldp.engines.stis.x1d_io import calstis6

    name, runs, env = cs0_spec
    work = runs[label]
    hd = calstis6(read_exposure(work / f"{name}_{src}.fits"), env)
    mine = tmp_path / f"{name}_{ref}.fits"
    hd.writeto(mine)
    res = compare_table(mine, work / f"{name}_{ref}.fits")
    assert all(v == 0 for v in res["cols"].values()), res["cols"]
    assert res["keys"] == [] and res["history"], res
    assert len(res["cols"]) == 19 * (2 if ref == "x1d" else 1)
    if label.startswith("flux"):
        from astropy.io import fits

        with fits.open(mine) as h:
            assert h[0].header["FLUXCORR"] == "COMPLETE" and h[1].columns["ERROR"].unit == "erg/s/cm**2/Angstrom"
            assert 0 < float(np.median(h[1].data["FLUX"][0])) < 1e-10


@pytest.mark.hstcal
def test_builtin_end_to_end_sx1_sx2(cs0_spec, tmp_path):
    """caldp's whole chain (calstis1, OCRREJECT, the wavecal's calstis7/4/12, calstis7, calstis6) on
    the raw file: _sx2 and _sx1 equal to cs0.e's (CAL_VER is caldp's)."""
    import shutil

    from caldp.engines.stis.calstis import calstis

    from .test_x2d import compare_x2d

    name, runs, env = cs0_spec
    raw_dir = tmp_path / "in"
    raw_dir.mkdir()
    for f in runs["crj"].glob(f"{name}_*.fits"):
        if f.name.endswith(("_raw.fits", "_wav.fits", "_asn.fits", "_spt.fits")):
            shutil.copy(f, raw_dir / f.name)
    (tmp_path / "out").mkdir()
    written = calstis(raw_dir / f"{name}_raw.fits", outdir=tmp_path / "out", env=env)
    assert {p.name for p in written} >= {f"{name}_sx1.fits", f"{name}_sx2.fits"}
    r2 = compare_x2d(tmp_path / "out" / f"{name}_sx2.fits", runs["crj"] / f"{name}_sx2.fits")
    assert r2 == {"max_ulp": 0, "dq": 0, "keys": [], "history": True}, r2
    r1 = compare_table(tmp_path / "out" / f"{name}_sx1.fits", runs["crj"] / f"{name}_sx1.fits")
    assert all(v == 0 for v in r1["cols"].values()) and r1["history"], r1
    assert r1["keys"] == [], r1


def test_extraction_recovers_the_simulated_spectrum(tmp_path):
    """The builtin _sx1 of stis-ccd-spec: NET follows the simulated continuum (its truth image
    summed over the slit rows) and WAVELENGTH puts the lamp-calibrated scale where the sim's
    dispersion says; BACKGROUND is the sky in the box."""
    from astropy.io import fits

    from caldp import sim
    from caldp.engines.stis.calstis import calstis
    from caldp.sim import stis_spec

    s = sim.simulate(tmp_path / "sim", modes=["stis-ccd-spec"], size="small", seed=7, truth=True)
    (ds,) = s.datasets
    (tmp_path / "out").mkdir()
    calstis(ds.input_path / f"{ds.name}_raw.fits", outdir=tmp_path / "out", env=s.env)
    with fits.open(tmp_path / "out" / f"{ds.name}_sx1.fits") as h, fits.open(ds.truth["truth_file"]) as t:
        row = h[1].data[0]
        rate = t["SCI", 1].data.astype(float)  # e⁻/s incl. flat and sky; gain 1
        y0 = int(round(row["A2CENTER"])) - 1
        truth = rate[y0 - 3 : y0 + 4].sum(axis=0)
        net, back, wave = row["NET"].astype(float), row["BACKGROUND"].astype(float), row["WAVELENGTH"]
        good = slice(60, -60)
        ratio = (net + back)[good] / truth[good]
        assert abs(np.median(ratio) - 1.0) < 0.02 and np.percentile(np.abs(ratio - 1), 90) < 0.1
        # the dispersion: 2.73 Å/pixel around CENWAVE at the simulated reference column (± the
        # measured wavecal shift and the heliocentric factor, well below a pixel)
        assert np.median(np.diff(wave)) == pytest.approx(stis_spec.DISPERSION, rel=2e-4)
        x_c = int(np.argmin(np.abs(wave - stis_spec.CENWAVE)))
        assert abs(x_c - stis_spec.REF_X) <= 3


def test_caldp_process_delivers_sx1_sx2_with_previews(tmp_path):
    """caldp-process on stis-ccd-spec: _sx2 and _sx1 delivered with their previews (an image of
    the rectified spectrum, a plot of the extracted one — NET in counts/s, as FLUXCORR was omitted)."""
    from astropy.io import fits

    from caldp import sim
    from caldp.tasks.preview_spectra import spectrum_rows
    from tests.engines.stis.helpers import process_builtin

    s = sim.simulate(tmp_path / "sim", modes=["stis-ccd-spec"], size="small", seed=4)
    (ds,) = s.datasets
    prod = process_builtin(s, ds, tmp_path)
    names = {p.name for p in prod.rglob("*") if p.is_file()}
    want = {f"{ds.name}_{s}" for s in ("sx1.fits", "sx2.fits", "sx2.jpg", "sx2_thumb.jpg", "sx1.png", "sx1_thumb.png")}
    assert want <= names, sorted(names)
    with fits.open(prod / f"{ds.name}_sx1.fits") as h:
        rows = spectrum_rows(h[1].data)
        assert h[0].header["X1DCORR"] == "COMPLETE" and rows[0]["unit"] == "rate" and rows[0]["flux"].mean() > 50


@pytest.mark.parametrize(
    "table, name, column",
    [("XTRACTAB", "s7b0009o_1dx.fits", "CENWAVE"), ("SDCTAB", "s7b0007o_sdc.fits", "CENWAVE")],
)
def test_missing_table_row_stops_before_any_product(tmp_path, table, name, column):
    """No XTRACTAB/SDCTAB row for the grating and cenwave: EngineError naming the table and the
    selection, and nothing left in the output directory (the products written before roll back)."""
    import shutil

    from astropy.io import fits

    from caldp import sim
    from caldp.engines.common.errors import EngineError
    from caldp.engines.stis.calstis import calstis

    s = sim.simulate(tmp_path / "sim", modes=["stis-ccd-spec"], size="small", seed=4)
    (ds,) = s.datasets
    ref = tmp_path / "ref"
    shutil.copytree(s.env["oref"], ref)
    with fits.open(ref / name, mode="update") as f:
        f[1].data[column][:] = 5216
    (tmp_path / "out").mkdir()
    with pytest.raises(EngineError, match=f"{table}.*CENWAVE 4300") as exc:
        calstis(ds.input_path / f"{ds.name}_raw.fits", outdir=tmp_path / "out", env={**s.env, "oref": f"{ref}/"})
    assert exc.value.keyword == table
    assert list((tmp_path / "out").iterdir()) == []
