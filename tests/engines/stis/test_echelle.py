"""Echelle wavecals (calstis4's EchShift): FFTPACK port, template, cross-correlation peak, on tiny arrays."""

from __future__ import annotations

import numpy as np
import pytest

from caldp.engines.stis import fftpack
from caldp.engines.stis import waveshift_echelle as we

from .helpers import cs0_env, run_cs0

F32 = np.float32


def test_fftpack_factors_as_cffti1():
    assert fftpack.factors(128) == [2, 4, 4, 4]  # the 2 found last moves to the front
    assert fftpack.factors(1024) == [4] * 5
    assert fftpack.factors(96) == [2, 3, 4, 4]
    with pytest.raises(ValueError):
        fftpack.cffti(10)  # a factor 5: not ported


@pytest.mark.parametrize("n", [2, 8, 12, 32, 48])
def test_fftpack_transforms_match_the_dft(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(3, n)).astype(F32)
    y = rng.normal(size=(3, n)).astype(F32)
    fr, fi = fftpack.cfft(x, y, forward=True)
    assert fr.dtype == F32
    np.testing.assert_allclose(fr + 1j * fi, np.fft.fft(x + 1j * y, axis=1), atol=2e-5 * n)
    br, bi = fftpack.cfft(x, y, forward=False)
    np.testing.assert_allclose(br + 1j * bi, np.fft.ifft(x + 1j * y, axis=1) * n, atol=2e-5 * n)
    a = rng.normal(size=(n, 8)).astype(F32)
    r, i = fftpack.ifft2d(*fftpack.fft2d(a, np.zeros_like(a)))
    np.testing.assert_allclose(r, a, atol=1e-5)


def test_fftpack_backward_twiddles_are_conjugate():
    # an impulse at 1 transforms to exp(-2πik/n) forward and exp(+2πik/n) backward
    x = np.zeros((1, 16), F32)
    x[0, 1] = 1
    fr, fi = fftpack.cfft(x, np.zeros_like(x), forward=True)
    br, bi = fftpack.cfft(x, np.zeros_like(x), forward=False)
    assert np.array_equal(fr, br) and np.array_equal(fi, -bi)


def test_eval_inv_disp_searches_for_echelle_orders():
    c = np.zeros(10)
    c[1] = 1 / 1.5625
    c[0] = 512.5 - 101 * 1425.0 * c[1]
    # order 86 is 1000+ pixels away from CENWAVE: the search finds it; first order would not search
    wl, status = we.eval_inv_disp(c, 2, 86.0, 511.5, 1425.0, 1e-6)
    assert status == 0 and wl == pytest.approx(101 * 1425.0 / 86, abs=1e-6)
    assert we.eval_disp(c, 2, 101.0, 1425.0) == pytest.approx(511.5)


def test_slit_size_reads_height_then_width():
    assert we.slit_size("0.2x0.06", 1e-5) == pytest.approx((0.06 / 0.036, 0.2 / 0.036))
    assert we.slit_size("junk", 1e-5) == (1.0, 1.0)


def test_find_offset_centroid_and_wrap():
    z = np.zeros((16, 16), F32)
    z[3, 14] = 10
    z[3, 15] = 5  # +x neighbour
    z[2, 14] = 5  # −y neighbour
    ox, oy = we.find_offset(z, 14, 3)
    # cutoff = 10/3: the three values enter; x centroid (5·1)/20, y (−5)/20
    assert (ox, oy) == pytest.approx((0.25, -0.25))
    wide = np.ones((16, 16), F32)
    wide[3, 3] = 2
    assert we.find_offset(wide, 3, 3) == (0.0, 0.0)  # never below the cutoff along x: too broad


def _disp():
    c = np.zeros(10)
    c[1] = 1 / 1.5625
    c[0] = 32.5 - 101 * 1425.0 * c[1]
    return we.Disp(c, 2, coeff_save=c.copy())


def test_ech_shift_recovers_a_known_shift():
    """A tiny 64×64 echelle frame: two orders, a lamp with lines; the data is the template rolled by
    (+3, −2) pixels, so the cross correlation peaks there (integer shift, symmetric peak)."""
    edges = np.arange(1405.0, 1445.0, 0.005)
    flux = np.full(edges.size - 1, 0.01)
    mid = 0.5 * (edges[1:] + edges[:-1])
    for w0 in (1424.71, 1425.18, 1425.33, 1410.81, 1411.26):  # orders 101 and 102 span ±0.5 Å here
        flux += 50 * np.exp(-0.5 * ((mid - w0) / 0.012) ** 2)
    traces = [we.Trace(102, 31.5, 20.0, np.zeros(64)), we.Trace(101, 31.5, 40.0, np.zeros(64))]
    disp = _disp()
    clamp = we.make_template((64, 64), traces, edges, flux, disp, (1.0, 5.0), (1.0, 1.0), (0.0, 0.0), 1425)
    assert clamp[40, :].sum() > 0 and clamp[30, :].sum() == 0 and clamp[38:43, :].any(axis=1).all()
    data = np.roll(np.roll(clamp, 3, axis=1), -2, axis=0)
    sx, sy = we.ech_shift(data, (0, 63), (0, 63), traces, edges, flux, disp, (1.0, 5.0), (1.0, 1.0), (0.0, 0.0), 1425)
    assert sx == pytest.approx(3.0, abs=0.05) and sy == pytest.approx(-2.0, abs=0.05)


# ----------------------------------------------------------------------------- the engine on stis-mama-echelle

WRITER_KEYS = {"HISTORY", "COMMENT", "", "ORIGIN", "DATE", "CAL_VER", "BITPIX"}


@pytest.fixture(scope="module")
def echelle_sim(tmp_path_factory):
    from caldp import sim

    return sim.simulate(tmp_path_factory.mktemp("echelle"), modes=["stis-mama-echelle"], size="small", seed=4)


@pytest.fixture(scope="module")
def echelle_run(echelle_sim, tmp_path_factory):
    from caldp.engines.stis.calstis import calstis

    (ds,) = echelle_sim.datasets
    out = tmp_path_factory.mktemp("echelle_builtin")
    written = calstis(ds.input_path / f"{ds.name}_raw.fits", outdir=out, env=echelle_sim.env, keep_intermediates=True)
    return ds, out, written


def test_builtin_products_and_shift(echelle_run):
    from astropy.io import fits

    from caldp.sim import stis_echelle

    ds, out, written = echelle_run
    assert sorted(p.name for p in written) == [
        f"{ds.name}.tra",
        f"{ds.name}_flt.fits",
        f"{ds.name}_fwv_tmp.fits",
        f"{ds.name}_x1d.fits",
        f"{ds.name}_x2d.fits",
    ]
    with fits.open(out / f"{ds.name}_flt.fits") as flt, fits.open(out / f"{ds.name}_fwv_tmp.fits") as fwv:
        p = flt[0].header
        assert (p["WAVECORR"], p["FLATCORR"], p["DOPPCORR"]) == ("COMPLETE", "COMPLETE", "PERFORM")
        assert list(p["HISTORY"])[-2:] == ["WAVECORR complete ...", f"  wavecal = {ds.name}_fwv_tmp.fits"]
        for ext in ("SCI", "ERR", "DQ"):  # calstis12 writes the shifts into every header
            assert flt[ext, 1].header["SHIFTA1"] == fwv["SCI", 1].header["SHIFTA1"]
        assert "V_HELIO" in flt["SCI", 1].header and "V_HELIO" not in fwv["SCI", 1].header
        shift = (fwv["SCI", 1].header["SHIFTA1"], fwv["SCI", 1].header["SHIFTA2"])
    assert shift == pytest.approx(stis_echelle.WAVECAL_SHIFT, abs=0.2)  # the simulated lamp offset


@pytest.mark.hstcal
def test_parity_with_cs0(echelle_sim, echelle_run, tmp_path):
    import shutil

    from astropy.io import fits

    from ..wfc3_uvis.productdiff import assert_products_match

    exe, env = cs0_env(echelle_sim.env)
    ds, out, _ = echelle_run
    work = tmp_path / "hst"
    shutil.copytree(ds.input_path, work)
    run_cs0(exe, env, work, "-s", f"{ds.name}_raw.fits")
    names = [f"{ds.name}_flt.fits", f"{ds.name}_fwv_tmp.fits", f"{ds.name}_x2d.fits"]
    assert_products_match(work, out, names)
    for name in names:
        with fits.open(work / name) as a, fits.open(out / name) as b:
            assert len(a) == len(b)
            assert list(a[0].header["HISTORY"]) == list(b[0].header["HISTORY"])
            for ha, hb in zip(a, b, strict=True):
                for key in {k for k in (*ha.header, *hb.header) if k not in WRITER_KEYS}:
                    va, vb = ha.header.get(key), hb.header.get(key)
                    if key in ("SHIFTA1", "SHIFTA2"):
                        assert va == vb, (name, key, va, vb)  # as written (13 digits)
                    elif isinstance(va, float) and isinstance(vb, float):
                        assert np.float32(va) == np.float32(vb), (name, key, va, vb)
                    else:
                        assert str(va).strip() == str(vb).strip(), (name, key, va, vb)
    assert_tables_equal(work / f"{ds.name}_x1d.fits", out / f"{ds.name}_x1d.fits")


@pytest.mark.hstcal
def test_moved_traces_parity_with_cs0(echelle_sim, tmp_path):
    """A copy of SPTRCTAB with order 121's trace 4 rows and order 123's 7.5 rows off (beyond MAXSRCH:
    its CrossCorr fails and the global offset of GCrossCorr is used), named in the science header
    only: calstis4 takes the science's SPTRCTAB (cs0.e passes it the science reference list), so
    SHIFTA2 changes; `_fwv_tmp`, `_flt`, `_x2d`, `_x1d` all equal cs0.e's."""
    import shutil

    from astropy.io import fits

    from caldp.engines.stis.calstis import calstis

    from ..wfc3_uvis.productdiff import assert_products_match
    from .conftest import cs0_exe, cs0_run_env

    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    (ds,) = echelle_sim.datasets
    work = tmp_path / "hst"
    shutil.copytree(ds.input_path, work)
    raw = work / f"{ds.name}_raw.fits"
    # Beside the other references and named through oref$: a long absolute path would be cut at
    # 68 characters in the header (a CONTINUE card), which cs0.e does not read back.
    trace = echelle_sim.crds_cache / "references" / "hst" / "moved_1dt.fits"
    with fits.open(raw) as h:
        name = h[0].header["SPTRCTAB"].split("$")[-1]
    with fits.open(echelle_sim.crds_cache / "references" / "hst" / name) as h:
        t = h[1].data
        for m, dy in ((121, 4.0), (123, 7.5)):
            t["A2CENTER"][np.flatnonzero(t["SPORDER"] == m)[0]] += dy
        h.writeto(trace, overwrite=True)
    with fits.open(raw, mode="update") as h:
        h[0].header["SPTRCTAB"] = "oref$" + trace.name
    mine = tmp_path / "mine"
    mine.mkdir()
    calstis(raw, outdir=mine, env=echelle_sim.env, keep_intermediates=True)
    env = cs0_run_env(echelle_sim.env)
    proc = run_cs0(exe, env, work, "-s", raw.name)
    assert "Using global offset instead" in proc.stdout
    names = [f"{ds.name}_flt.fits", f"{ds.name}_fwv_tmp.fits", f"{ds.name}_x2d.fits"]
    assert_products_match(work, mine, names)
    for n in names:
        with fits.open(work / n) as a, fits.open(mine / n) as b:
            assert list(a[0].header["HISTORY"]) == list(b[0].header["HISTORY"])
            assert a[1].header["SHIFTA2"] == b[1].header["SHIFTA2"]
    assert_tables_equal(work / f"{ds.name}_x1d.fits", mine / f"{ds.name}_x1d.fits")


def _ulp(a, b) -> int:
    a = np.asarray(a, np.float32).view(np.int32).astype(np.int64)
    b = np.asarray(b, np.float32).view(np.int32).astype(np.int64)
    a = np.where(a < 0, -(2**31) - a, a)
    b = np.where(b < 0, -(2**31) - b, b)
    return int(np.abs(a - b).max()) if a.size else 0


def assert_tables_equal(ref, mine) -> None:
    """An ``_x1d`` against cs0.e's: the same rows (SPORDER), every column bit for bit (float32 at 0 ulp,
    WAVELENGTH and integers exactly), every keyword of every header (writer cards aside), HISTORY."""
    from astropy.io import fits

    with fits.open(ref) as a, fits.open(mine) as b:
        assert len(a) == len(b)
        assert list(a[0].header["HISTORY"]) == list(b[0].header["HISTORY"])
        for ha, hb in zip(a, b, strict=True):
            for key in {k for k in (*ha.header, *hb.header) if k not in WRITER_KEYS}:
                va, vb = ha.header.get(key), hb.header.get(key)
                if isinstance(va, float) and isinstance(vb, float):
                    assert np.float32(va) == np.float32(vb), (key, va, vb)
                else:
                    assert str(va).strip() == str(vb).strip(), (key, va, vb)
            if ha.data is None:
                continue
            assert list(ha.data["SPORDER"]) == list(hb.data["SPORDER"]) and len(ha.data) > 0
            for name in ha.columns.names:
                x, y = np.asarray(ha.data[name]), np.asarray(hb.data[name])
                assert x.shape == y.shape, name
                if x.dtype.kind == "f" and x.dtype.itemsize == 4:
                    assert _ulp(x, y) == 0, name
                else:
                    assert np.array_equal(x, y), name


def test_unsupported_echelle_switches_stop_before_any_product(echelle_sim, tmp_path):
    import shutil

    from astropy.io import fits

    from caldp.engines.common.errors import EngineError
    from caldp.engines.stis.calstis import calstis

    (ds,) = echelle_sim.datasets
    for key, value, keyword in (
        ("SC2DCORR", "PERFORM", "SC2DCORR"),  # a subarray: the halo kernels are 1024² (cs0.e aborts)
        ("SGEOCORR", "PERFORM", "SGEOCORR"),
        ("TDSTAB", "oref$s8a0004o_tds.fits", "TDSTAB"),  # the imaging TDSTAB: no TIME/SLOPE/NT (cs0.e stops too)
        ("OPT_ELEM", "G140L", "OBSTYPE"),
    ):
        work = tmp_path / key
        shutil.copytree(ds.input_path, work)
        with fits.open(work / f"{ds.name}_raw.fits", mode="update") as h:
            h[0].header[key] = value
        out = tmp_path / f"out_{key}"
        out.mkdir()
        with pytest.raises(EngineError) as exc:
            calstis(work / f"{ds.name}_raw.fits", outdir=out, env=echelle_sim.env)
        assert exc.value.keyword == keyword
        assert list(out.iterdir()) == []  # checked first, or rolled back


def test_x2d_orders_straight_and_lines_where_the_grid_says(echelle_sim, echelle_run):
    """calstis7 on the simulated lamp (no noise) placed as the wavecal found it (SHIFTA1/SHIFTA2 in the
    header): in each order's imset the slit image is centred on SDCTAB's CRPIX2 row (±0.1) across the
    whole order, and the bright isolated lamp lines sit at the columns their wavelengths have on the
    output grid (CRVAL1, CD1_1) within 0.1 pixel."""
    from caldp.engines.common.hstio import read_exposure
    from caldp.engines.stis import x2d_io
    from caldp.sim import stis_echelle as ech

    ds, out, _ = echelle_run
    exp = read_exposure(out / f"{ds.name}_flt.fits")
    (im,) = exp.imsets
    shape = im.sci.shape
    im.sci[...] = ech.lamp_image(shape, 0, ech.WAVECAL_SHIFT) * np.float32(100.0)
    im.err[...] = 1.0
    im.dq[...] = 0
    for h in im.headers.values():
        h["SHIFTA1"], h["SHIFTA2"] = ech.WAVECAL_SHIFT
    x2d = x2d_io.calstis7(exp, echelle_sim.env, switches={"HELCORR": "OMIT", "FLUXCORR": "OMIT", "STATFLAG": False})
    orders = [o.sci_hdr["SPORDER"] for o in x2d.imsets]
    assert orders == [119, 120, 121, 122, 123, 124]  # 125's trace is below the subarray, 118's above it
    lw, peak = ech.lamp_lines()
    checked = 0
    for o in x2d.imsets:
        h, sci = o.sci_hdr, o.sci.astype(np.float64)
        row = int(h["CRPIX2"]) - 1
        band = sci[row - 6 : row + 7, 100:-100]  # away from the order ends
        centroid_y = row - 6 + (band * np.arange(13)[:, None]).sum(axis=0) / band.sum(axis=0)
        cut = (o.dq[row - 6 : row + 7, 100:-100] & 4).any(axis=0)  # the slit image runs off the subarray
        assert cut.all() if h["SPORDER"] == 124 else not cut.any()
        assert np.abs(centroid_y - row)[~cut].max(initial=0.0) < 0.1, h["SPORDER"]
        assert h["CUNIT1"] == "angstrom"
        x = (lw - h["CRVAL1"]) / h["CD1_1"] + h["CRPIX1"] - 1.0
        prof = sci[row - 2 : row + 3].sum(axis=0)
        for k in np.flatnonzero((x > 20) & (x < prof.size - 20) & (peak > 10)):
            if np.any((np.abs(x - x[k]) < 8) & (np.arange(x.size) != k)):
                continue  # a blend
            c = int(round(x[k]))
            w = prof[c - 4 : c + 5] - np.median(prof[c - 12 : c + 13])
            centroid = c - 4 + float((w * np.arange(9)).sum() / w.sum())
            assert centroid == pytest.approx(x[k], abs=0.1), (h["SPORDER"], lw[k])
            checked += 1
    assert checked >= 10


def test_x1d_orders_recover_lines_and_counts(echelle_sim, echelle_run):
    """calstis6 on the noiseless lamp placed where the wavecal found it: one row per order on the
    subarray; the isolated bright lines' NET peaks at their wavelengths (within 0.1 pixel of the
    WAVELENGTH scale) and the continuum's NET equals the simulated rate summed over the slit image
    (within 3 %), the background between the orders is zero."""
    from caldp.engines.common.hstio import read_exposure
    from caldp.engines.stis import x1d_echelle
    from caldp.sim import stis_echelle as ech

    ds, out, _ = echelle_run
    exp = read_exposure(out / f"{ds.name}_flt.fits")
    (im,) = exp.imsets
    exptime = np.float32(im.sci_hdr["EXPTIME"])
    rate = ech.lamp_image(im.sci.shape, 0, ech.WAVECAL_SHIFT)
    im.sci[...] = rate * exptime
    im.err[...] = 1.0
    im.dq[...] = 0
    for h in im.headers.values():
        h["SHIFTA1"], h["SHIFTA2"] = ech.WAVECAL_SHIFT
    switches = {"X1DCORR": "PERFORM", "BACKCORR": "PERFORM", "DISPCORR": "PERFORM", "HELCORR": "OMIT"}
    t = x1d_echelle.calstis6_echelle(exp, echelle_sim.env, switches=switches)[1].data
    assert list(t["SPORDER"]) == [119, 120, 121, 122, 123, 124]
    lw, peak = ech.lamp_lines()
    checked = 0
    for row in t:
        m, wave, net = int(row["SPORDER"]), row["WAVELENGTH"], row["NET"].astype(np.float64)
        assert np.all(np.diff(wave) > 0) and abs(row["OFFSET"]) < 0.5  # a flat-topped slit image
        assert np.abs(row["BACKGROUND"]).max() < 1e-6
        if m < 124:  # 124's slit image runs off the subarray
            y = float(ech.a2center(m)) - 1.0 + ech.WAVECAL_SHIFT[1]
            rows = slice(int(y) - 5, int(y) + 7)
            truth = rate[rows].astype(np.float64).sum(axis=0)
            quiet = np.abs(np.gradient(truth)) < 1e-4 * truth.max()  # the flat continuum between lines
            assert quiet.sum() > 50
            # 3 %: CrossCorr's parabola puts the 7-row box up to 0.33 row off the flat-topped slit image
            assert np.allclose(net[quiet], truth[quiet], rtol=0.03)
        disp = np.gradient(wave)
        for k in np.flatnonzero((lw > wave[20]) & (lw < wave[-20]) & (peak > 10)):
            if np.any((np.abs(lw - lw[k]) < 8 * disp.mean()) & (np.arange(lw.size) != k)):
                continue  # a blend
            c = int(np.searchsorted(wave, lw[k]))
            w = net[c - 5 : c + 5] - np.median(net[c - 15 : c + 15])
            centroid = float((w * wave[c - 5 : c + 5]).sum() / w.sum())
            assert abs(centroid - lw[k]) < 0.1 * disp[c], (m, lw[k])
            checked += 1
    assert checked >= 10


def test_boxcar_average_is_the_c_loop():
    """BKS_AVERAGE as the C writes it (a scalar loop, the value at wsize/2 never added): the same bits."""
    from caldp.engines.stis import x1d as E

    rng = np.random.default_rng(3)
    for n, wsize in ((1024, 31), (40, 31), (16, 31), (200, 9)):  # n > wsize/2 (the C reads past the end else)
        a = rng.normal(1.0, 0.5, n).astype(np.float32)
        want = np.empty(n, np.float32)
        h = wsize // 2
        s, npts = 0.0, 0
        w2 = h
        for j in range(min(h, n)):
            s += float(a[j])
            npts += 1
        want[0] = s / npts
        for i in range(1, n):
            w2 += 1
            if w2 < n:
                s += float(a[w2])
                npts += 1
            w1 = w2 - wsize
            if w1 > 0:
                s -= float(a[w1 - 1])
                npts -= 1
            want[i] = s / npts
        assert np.array_equal(E.boxcar_average(a, wsize), want), (n, wsize)


def test_global_offset_average_rejects_outliers():
    from caldp.engines.stis import x1d as E

    off = [0.1, 0.12, 0.09, 0.11, 0.1, 0.1, 0.11, 0.09, 2.5, 7.0]
    rej = [0] * 9 + [1]  # the last one's CrossCorr failed
    av, sig = E.cc_average(off, rej, 2.0)
    assert rej == [0] * 8 + [1, 1] and av == pytest.approx(0.1025) and 0 < sig < 0.02
    assert E.cc_average([1.0], [0], 2.0) == (0.0, 0.0)


def test_caldp_process_builtin(echelle_sim, tmp_path):
    from astropy.io import fits

    from tests.engines.stis.helpers import process_builtin

    (ds,) = echelle_sim.datasets
    prod = process_builtin(echelle_sim, ds, tmp_path)
    with fits.open(prod / f"{ds.name}_flt.fits") as flt:
        assert flt[0].header["WAVECORR"] == "COMPLETE" and flt["SCI", 1].header["SHIFTA1"] != 0.0
    for name in (f"{ds.name}_x2d.jpg", f"{ds.name}_x2d_thumb.jpg", f"{ds.name}_x1d.png", f"{ds.name}_x1d_thumb.png"):
        assert (prod / "previews" / name).stat().st_size > 0, name
    with fits.open(prod / f"{ds.name}_x1d.fits") as x1d:
        assert list(x1d[1].data["SPORDER"]) == list(range(119, 125))


@pytest.mark.hstcal
def test_standalone_wavecal_parity_with_cs0(echelle_sim, tmp_path):
    """cs0.e given the _wav.fits itself (as caldp-process does without an association): calstis1
    with the wavecal's switches → <root>_wav_flt.fits; the builtin engine the same, 0 ulp."""
    import shutil

    from astropy.io import fits

    from caldp.engines.stis.calstis import calstis

    from ..wfc3_uvis.productdiff import assert_products_match

    exe, env = cs0_env(echelle_sim.env)
    (ds,) = echelle_sim.datasets
    work = tmp_path / "hst"
    shutil.copytree(ds.input_path, work)
    run_cs0(exe, env, work, f"{ds.name}_wav.fits")
    out = tmp_path / "mine"
    out.mkdir()
    written = calstis(ds.input_path / f"{ds.name}_wav.fits", outdir=out, env=echelle_sim.env)
    name = f"{ds.name}_wav_flt.fits"
    assert out / name in written
    assert_products_match(work, out, [name])
    with fits.open(work / name) as a, fits.open(out / name) as b:
        assert list(a[0].header["HISTORY"]) == list(b[0].header["HISTORY"])


@pytest.mark.hstcal
def test_two_imset_wavecal_interpolated_like_cs0(echelle_sim, tmp_path):
    """A second wavecal imset one column over and later, the first moved before the science: calstis4
    per imset (SHIFTA1 +1), calstis12's interpolation in time into the _flt — equal to cs0.e's."""
    import shutil

    from astropy.io import fits

    from caldp.engines.stis.calstis import calstis

    from ..wfc3_uvis.productdiff import assert_products_match
    from .conftest import cs0_exe, cs0_run_env

    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    (ds,) = echelle_sim.datasets
    work = tmp_path / "hst"
    shutil.copytree(ds.input_path, work)
    wav = work / f"{ds.name}_wav.fits"
    with fits.open(wav) as h:
        hdus = [h[0].copy()] + [e.copy() for e in h[1:]]
        for e in h[1:]:
            c = e.copy()
            c.header["EXTVER"] = 2
            for key, dt in (("EXPSTART", 0.05), ("EXPEND", 0.05)):
                if key in c.header:
                    c.header[key] += dt
            if c.name == "SCI":
                c.data = np.roll(c.data, 1, axis=1)
            hdus.append(c)
        for e in hdus[1:4]:
            for key in ("EXPSTART", "EXPEND"):
                if key in e.header:
                    e.header[key] -= 0.03
    hdus[0].header["NEXTEND"] = 6  # cs0.e counts imsets from NEXTEND
    fits.HDUList(hdus).writeto(wav, overwrite=True)
    mine = tmp_path / "mine"
    mine.mkdir()
    calstis(work / f"{ds.name}_raw.fits", outdir=mine, env=echelle_sim.env, keep_intermediates=True)
    env = cs0_run_env(echelle_sim.env)
    run_cs0(exe, env, work, "-s", f"{ds.name}_raw.fits")
    names = [f"{ds.name}_flt.fits", f"{ds.name}_fwv_tmp.fits"]
    assert_products_match(work, mine, names)
    with fits.open(work / names[1]) as a, fits.open(mine / names[1]) as b:
        s1 = [(x.header["SHIFTA1"], y.header["SHIFTA1"]) for x, y in zip(a[1:], b[1:], strict=True) if x.name == "SCI"]
    assert s1[0][0] == s1[0][1] and s1[1][0] == s1[1][1] and s1[1][0] == pytest.approx(s1[0][0] + 1, abs=0.05)
    with fits.open(work / names[0]) as a, fits.open(mine / names[0]) as b:
        for ext in ("SCI", "ERR", "DQ"):
            for key in ("SHIFTA1", "SHIFTA2"):
                assert a[ext, 1].header[key] == b[ext, 1].header[key]
        assert s1[0][0] < a["SCI", 1].header["SHIFTA1"] < s1[1][0]  # interpolated between the imsets


@pytest.mark.parametrize("ncoeff", [2, 7])
def test_edge_wavelengths_equal_the_scalar_chain(ncoeff):
    """The orders side by side give the bits of ESumSpec's one-order-at-a-time PixToWl chain."""
    c = np.zeros(10)
    c[1] = 1 / 1.5625
    c[0] = 512.5 - 101 * 1425.0 * c[1]
    if ncoeff == 7:
        c[2], c[3], c[4], c[5], c[6] = 1e-11, 0.3, -0.02, 1e-6, -2e-9
    disp = we.Disp(c, ncoeff, coeff_save=c.copy())
    orders = list(range(86, 126, 3))
    got = we.edge_wavelengths(disp, orders, 1.0, 0.0, 1425, 200)
    for k, m in enumerate(orders):
        est = 1425.0
        for i in range(201):
            wl, status = we.eval_inv_disp(c, ncoeff, float(m), i - 0.5, est, we.TOLERANCE)
            assert status == 0 and got[k, i] == wl, (m, i)
            est = wl


def test_echelle_preview_many_orders_readable(tmp_path):
    """A 40-order ``_x1d`` preview: no 40-entry legend running off the figure (matplotlib's "Tight layout
    not applied" warning before), the order numbers written above the orders, PNG and thumbnail."""
    import warnings

    from astropy.io import fits

    from caldp.engines.stis.x1d_io import _columns
    from caldp.tasks.preview_spectra import spectrum_rows, write_spectrum_previews

    n = 256
    rows = []
    for m in range(86, 126):
        wave = 143925.0 / m + (np.arange(n) - n / 2) * 0.016
        net = (0.05 + 0.03 * np.sin(np.arange(n) / 20.0)).astype(np.float32)
        z = np.zeros(n, np.float32)
        rows.append(
            {
                **{k: np.float32(0) for k in ("A2CENTER", "EXTRSIZE", "BK1SIZE", "BK2SIZE", "BK1OFFST", "BK2OFFST")},
                **{"SPORDER": np.int16(m), "NELEM": np.int16(n), "MAXSRCH": np.int16(5), "OFFSET": np.float32(0)},
                **{"WAVELENGTH": wave, "GROSS": net, "BACKGROUND": z, "NET": net, "FLUX": z},
                **{"ERROR": net * 0.1, "NET_ERROR": net * 0.1, "DQ": np.zeros(n, np.int16), "EXTRLOCY": z},
            }
        )
    from caldp.engines.common import fitsfile as ff

    ff.write([ff.primary_hdu(), _columns(n, rows)], tmp_path / "x1d_in.fits")  # the table as the engine writes it
    hdul = fits.open(tmp_path / "x1d_in.fits")
    for k, v in {"INSTRUME": "STIS", "DETECTOR": "FUV-MAMA", "OPT_ELEM": "E140M", "CENWAVE": 1425}.items():
        hdul[0].header[k] = v
    assert [r["label"] for r in spectrum_rows(hdul[1].data)][:2] == ["order 86", "order 87"]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        made = write_spectrum_previews(hdul, "oech01010_x1d", tmp_path)
    assert not [w for w in seen if "ight layout" in str(w.message)]
    from PIL import Image

    assert [Image.open(p).size for p in made] == [(1000, 500), (128, 128)]


def test_x2d_preview_shows_every_order(echelle_run, tmp_path):
    """The echelle ``_x2d`` image preview stacks every order's imset (lowest order on top); a
    first-order file with two imsets of the same order still shows its first imset only."""
    from astropy.io import fits
    from PIL import Image

    from caldp.tasks.preview import open_product, read_chips, write_image_previews

    ds, out, _ = echelle_run
    with open_product(out / f"{ds.name}_x2d.fits") as h:
        chips = read_chips(h)
        assert len(chips) == 6 and all(c.sci.shape == (31, 1024) for c in chips)
        assert np.array_equal(chips[0].sci, h["SCI", 1].data) and np.array_equal(chips[-1].sci, h["SCI", 6].data)
        full, _thumb = write_image_previews(h, "x2d", tmp_path)
    assert Image.open(full).size == (1024, 6 * 31)
    with fits.open(out / f"{ds.name}_x2d.fits") as h:
        two = fits.HDUList([h[0].copy(), *(e.copy() for e in h[1:7])])
    for e in two[4:]:
        e.header["SPORDER"] = two[1].header["SPORDER"]
    assert len(read_chips(two)) == 1


@pytest.mark.parametrize("keyword", ["SDCTAB", "XTRACTAB"])
def test_missing_echelle_rows_stop_with_nothing_written(echelle_sim, tmp_path, keyword):
    """SDCTAB or XTRACTAB without the E140M rows: an EngineError naming the table and the selection,
    and no product left behind (the ``_flt`` already written is rolled back). cs0.e is laxer: no
    ``_x2d`` and exit 0 for SDCTAB; exit 2 after ``_flt`` and ``_x2d`` for XTRACTAB."""
    import shutil

    from astropy.io import fits

    from caldp.engines.common.errors import EngineError
    from caldp.engines.stis.calstis import calstis

    (ds,) = echelle_sim.datasets
    work = tmp_path / "in"
    shutil.copytree(ds.input_path, work)
    raw = work / f"{ds.name}_raw.fits"
    name = fits.getheader(raw)[keyword].split("$")[-1]
    with fits.open(echelle_sim.crds_cache / "references" / "hst" / name) as h:
        keep = np.array([s.strip() != "E140M" for s in h[1].data["OPT_ELEM"]])
        h[1].data = h[1].data[keep]
        h.writeto(work / "cut.fits")
    with fits.open(raw, mode="update") as h:
        h[0].header[keyword] = str(work / "cut.fits")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EngineError) as exc:
        calstis(raw, outdir=out, env=echelle_sim.env)
    assert exc.value.keyword == keyword
    assert "matching row not found (APERTURE 0.2X0.2, OPT_ELEM E140M, CENWAVE 1425)" in str(exc.value)
    assert list(out.iterdir()) == []


@pytest.mark.slow
@pytest.mark.hstcal
def test_full_size_parity_with_cs0(tmp_path):
    """The full-size echelle (1024², 39 orders on the detector): `_flt`, `_x2d` and `_x1d` of the
    builtin engine equal cs0.e's (0 ulp, DQ, keywords, HISTORY)."""
    import shutil

    from astropy.io import fits

    from caldp import sim
    from caldp.engines.stis.calstis import calstis

    from ..wfc3_uvis.productdiff import assert_products_match
    from .conftest import cs0_exe, cs0_run_env

    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    res = sim.simulate(tmp_path / "sim", modes=["stis-mama-echelle"], size="full", seed=1)
    (ds,) = res.datasets
    work = tmp_path / "hst"
    shutil.copytree(ds.input_path, work)
    env = cs0_run_env(res.env)
    run_cs0(exe, env, work, f"{ds.name}_raw.fits")
    mine = tmp_path / "mine"
    mine.mkdir()
    calstis(ds.input_path / f"{ds.name}_raw.fits", outdir=mine, env=res.env)
    names = [f"{ds.name}_flt.fits", f"{ds.name}_x2d.fits"]
    assert_products_match(work, mine, names)
    for n in names:
        with fits.open(work / n) as a, fits.open(mine / n) as b:
            assert len(a) == len(b) and list(a[0].header["HISTORY"]) == list(b[0].header["HISTORY"])
    with fits.open(mine / f"{ds.name}_x2d.fits") as h:
        assert [h["SCI", k].header["SPORDER"] for k in (1, 39)] == [86, 124]
    assert_tables_equal(work / f"{ds.name}_x1d.fits", mine / f"{ds.name}_x1d.fits")


@pytest.mark.hstcal
def test_fluxcorr_blaze_shift_parity_with_cs0(echelle_sim, tmp_path):
    """FLUXCORR without TDSTAB and PCTAB (both N/A): each order's sensitivity from its PHOTTAB row
    shifted by the MSM/blaze shift (calstis7: REFORD's wavelength at pixel 512 through the dispersion
    relation at its trace line; calstis6: at the middle column plus the orbital Doppler shift, the
    line from GCrossCorr's offset; REFY one-indexed): the flux-calibrated `_x2d` (BLZSHIFT, DIFF2PT,
    BUNIT) and `_x1d` (FLUX, ERROR, BLZSHIFT average, the history naming PCTAB N/A) equal cs0.e's."""
    import shutil

    from astropy.io import fits

    from caldp.engines.stis.calstis import calstis

    from ..wfc3_uvis.productdiff import assert_products_match
    from .conftest import cs0_exe, cs0_run_env

    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    (ds,) = echelle_sim.datasets
    work = tmp_path / "hst"
    shutil.copytree(ds.input_path, work)
    raw = work / f"{ds.name}_raw.fits"
    with fits.open(raw, mode="update") as h:
        h[0].header.update({"FLUXCORR": "PERFORM", "TDSTAB": "N/A", "PCTAB": "N/A"})
    mine = tmp_path / "mine"
    mine.mkdir()
    calstis(raw, outdir=mine, env=echelle_sim.env)
    env = cs0_run_env(echelle_sim.env)
    run_cs0(exe, env, work, raw.name)
    name = f"{ds.name}_x2d.fits"
    assert_products_match(work, mine, [name])
    with fits.open(work / name) as a, fits.open(mine / name) as b:
        assert list(a[0].header["HISTORY"]) == list(b[0].header["HISTORY"])
        assert b[0].header["FLUXCORR"] == "COMPLETE"
        for k in range(1, 7):
            ha, hb = a["SCI", k].header, b["SCI", k].header
            assert hb["BUNIT"].startswith("erg") and ha["BUNIT"] == hb["BUNIT"]
            for key in ("BLZSHIFT", "DIFF2PT", "CONT2EML", "SCALE_A1", "OMEGAPIX"):
                assert np.float32(ha[key]) == np.float32(hb[key]), (k, key)
        assert 1.0 < b["SCI", 1].header["BLZSHIFT"] < 4.0
    assert_tables_equal(work / f"{ds.name}_x1d.fits", mine / f"{ds.name}_x1d.fits")
    with fits.open(mine / f"{ds.name}_x1d.fits") as t:
        assert t[0].header["FLUXCORR"] == "COMPLETE" and 1.0 < t[1].header["BLZSHIFT"] < 4.0
        assert (t[1].data["FLUX"] != 0).mean() > 0.9


def _tds_scalar(tds, t: float, temperature: float) -> list[float]:
    """TdsCorrection written out one wavelength at a time (the reference for the vector version)."""
    out = []
    nt = tds.time.size
    for i in range(tds.wl.size):
        if tds.intercept is not None:
            j = nt - 1
            if not (nt == 1 or t >= tds.time[nt - 1]):
                for j in range(nt - 1):
                    if t < tds.time[j + 1]:
                        break
            f = (t - tds.ref_time) / 365.25 * float(tds.slope[j][i]) / 100.0 + float(tds.intercept[j][i])
        else:
            f = 1.0
            for j in range(nt):
                sl = float(tds.slope[j][i]) / 365.25 / 100.0
                if j == nt - 1 or t <= tds.time[j + 1]:
                    f += (t - tds.time[j]) * sl
                    break
                f += (tds.time[j + 1] - tds.time[j]) * sl
        if tds.ref_temp > 0.0 and temperature > 0.0:
            f *= 1.0 + float(tds.temp_sens[i]) * (temperature - tds.ref_temp)
        out.append(f)
    return out


@pytest.mark.parametrize("cos_format", [False, True])
@pytest.mark.parametrize("t", [50000.0, 50800.0, 51234.5, 52500.0, 54000.0, 60510.3])
def test_tds_factors_are_the_scalar_loops(cos_format, t):
    from caldp.engines.stis import tds as tdsmod
    from caldp.sim import stis_echelle as ech

    rng = np.random.default_rng(3)
    icpt = rng.uniform(0.8, 1.0, ech.TDS_SLOPES.shape) if cos_format else None
    tds = tdsmod.Tds(
        ech.TDS_WL, np.array(ech.TDS_TIMES), ech.TDS_SLOPES, icpt, 51000.0 if cos_format else 0.0, 27.0,
        ech.TDS_TEMPSENS, 1,
    )  # fmt: skip
    for temp in (29.5, -1.0):
        got = tdsmod.tds_factors(tds, t, temp)
        assert got.tolist() == _tds_scalar(tds, t, temp)  # bit for bit


def _cos_format_tdstab(src, dst) -> None:
    """A copy of TDSTAB in the newer (COS-like) format: REF_TIME in the table header, an INTERCEPT column
    (NT × NWL, TDIM as SLOPE's)."""
    from astropy.io import fits

    with fits.open(src) as h:
        cols = h[1].columns
        slope = cols["SLOPE"]
        icpt = np.ones_like(np.asarray(h[1].data["SLOPE"]))
        icpt[:, 1:, :] = 0.93  # later segments start lower
        new = fits.Column(name="INTERCEPT", format=slope.format, dim=slope.dim, array=icpt)
        t = fits.BinTableHDU.from_columns([*cols, new], header=h[1].header)
        t.header["REF_TIME"] = 52000.0
        fits.HDUList([h[0].copy(), t]).writeto(dst)


@pytest.mark.hstcal
@pytest.mark.parametrize("variant", ["cos-format", "no-tds"])
def test_tds_variants_parity_with_cs0(echelle_sim, tmp_path, variant):
    """The echelle FLUXCORR with a TDSTAB in the COS-like format (REF_TIME, INTERCEPT), and without
    TDSTAB (N/A): `_x2d` and `_x1d` equal cs0.e's; the default (spectroscopic-format TDSTAB) FLUX over
    the one without TDSTAB is 1 / TdsCorrection at the order's wavelengths (the factor is applied)."""
    import os
    import shutil

    from astropy.io import fits

    from caldp.engines.stis.calstis import calstis

    from ..wfc3_uvis.productdiff import assert_products_match
    from .conftest import cs0_exe, cs0_run_env

    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    (ds,) = echelle_sim.datasets
    work = tmp_path / "hst"
    shutil.copytree(ds.input_path, work)
    raw = work / f"{ds.name}_raw.fits"
    refdir = echelle_sim.crds_cache / "references" / "hst"
    with fits.open(raw, mode="update") as h:
        if variant == "cos-format":
            name = f"cosfmt{os.getpid()}_tds.fits"  # beside the references, named through oref$ (short card)
            _cos_format_tdstab(refdir / h[0].header["TDSTAB"].split("$")[1], refdir / name)
            h[0].header["TDSTAB"] = "oref$" + name
        else:
            h[0].header["TDSTAB"] = "N/A"
    mine = tmp_path / "mine"
    mine.mkdir()
    calstis(raw, outdir=mine, env=echelle_sim.env)
    env = cs0_run_env(echelle_sim.env)
    run_cs0(exe, env, work, raw.name)
    name = f"{ds.name}_x2d.fits"
    assert_products_match(work, mine, [name])
    with fits.open(work / name) as a, fits.open(mine / name) as b:
        assert list(a[0].header["HISTORY"]) == list(b[0].header["HISTORY"])
    assert_tables_equal(work / f"{ds.name}_x1d.fits", mine / f"{ds.name}_x1d.fits")
    base = tmp_path / "default"
    base.mkdir()
    calstis(ds.input_path / f"{ds.name}_raw.fits", outdir=base, env=echelle_sim.env)
    with fits.open(base / f"{ds.name}_x1d.fits") as d, fits.open(mine / f"{ds.name}_x1d.fits") as n:
        ratio = d[1].data["FLUX"][2].astype(np.float64) / n[1].data["FLUX"][2]
        wl = d[1].data["WAVELENGTH"][2]
        t0 = d[1].header["EXPSTART"]
    if variant == "cos-format":
        assert np.abs(ratio - 1.0).min() > 0.01  # not the original format's factors
    else:
        from caldp.engines.stis import tds as tdsmod
        from caldp.sim import stis_echelle as ech

        tds = tdsmod.Tds(ech.TDS_WL, np.array(ech.TDS_TIMES), ech.TDS_SLOPES, None, 0.0, 27.0, ech.TDS_TEMPSENS, 1)
        want = 1.0 / np.interp(wl, ech.TDS_WL, tdsmod.tds_factors(tds, t0, 29.5))
        assert 0.6 < want.mean() ** -1 < 0.8  # ~30 % lost since 1997 in the simulated table
        np.testing.assert_allclose(ratio, want, rtol=1e-3)  # the heliocentric shift of λ aside
