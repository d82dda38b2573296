"""Echelle wavecals (calstis4's EchShift): FFTPACK port, template, cross-correlation peak, on tiny arrays."""

from __future__ import annotations

import numpy as np
import pytest

from caldp.engines.stis import fftpack
from caldp.engines.stis import waveshift_echelle as we

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
    import os
    import shutil
    import subprocess

    from astropy.io import fits

    from ..wfc3_uvis.productdiff import assert_products_match
    from .conftest import HSTCAL_BIN, cs0_exe

    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    env = {**os.environ, **echelle_sim.env, "PATH": os.pathsep.join([HSTCAL_BIN, os.environ.get("PATH", "")])}
    ds, out, _ = echelle_run
    work = tmp_path / "hst"
    shutil.copytree(ds.input_path, work)
    proc = subprocess.run([exe, "-s", f"{ds.name}_raw.fits"], cwd=work, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:]
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


def test_unsupported_echelle_switches_stop_before_any_product(echelle_sim, tmp_path):
    import shutil

    from astropy.io import fits

    from caldp.engines.common.errors import EngineError
    from caldp.engines.stis.calstis import calstis

    (ds,) = echelle_sim.datasets
    for key, value, keyword in (
        ("SC2DCORR", "PERFORM", "SC2DCORR"),
        ("FLUXCORR", "PERFORM", "FLUXCORR"),
        ("OPT_ELEM", "G140L", "OBSTYPE"),
    ):
        work = tmp_path / key
        shutil.copytree(ds.input_path, work)
        with fits.open(work / f"{ds.name}_raw.fits", mode="update") as h:
            h[0].header[key] = value
        out = tmp_path / f"out_{key}"
        with pytest.raises(EngineError) as exc:
            calstis(work / f"{ds.name}_raw.fits", outdir=out, env=echelle_sim.env)
        assert exc.value.keyword == keyword
        assert not list(out.glob("*.fits")) if out.exists() else True


def test_x2d_orders_straight_and_lines_where_the_grid_says(echelle_sim, echelle_run):
    """calstis7 on the simulated lamp (no noise) placed as the wavecal found it (SHIFTA1/SHIFTA2 in the
    header): in each order's imset the slit image is centred on SDCTAB's CRPIX2 row (±0.1) across the
    whole order, and the bright isolated lamp lines sit at the columns their wavelengths have on the
    output grid (CRVAL1, CD1_1) within 0.1 pixel."""
    from astropy.io import fits

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
        assert fits.Header(h)["CUNIT1"] == "angstrom"
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


def test_caldp_process_builtin(echelle_sim, tmp_path):
    from astropy.io import fits

    from tests.integration.conftest import run_process

    (ds,) = echelle_sim.datasets
    out = tmp_path / "out"
    proc = run_process(
        ds.name,
        f"file:{ds.input_path.parent}",
        f"file:{out}",
        "caldp-config-local",
        env={"CRDS_PATH": str(echelle_sim.crds_cache)},
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    prod = out / "data" / "stis" / ds.name
    assert "Stage 1 with the builtin engine" in (prod / "logs" / "process.txt").read_text()
    with fits.open(prod / f"{ds.name}_flt.fits") as flt:
        assert flt[0].header["WAVECORR"] == "COMPLETE" and flt["SCI", 1].header["SHIFTA1"] != 0.0


@pytest.mark.hstcal
def test_standalone_wavecal_parity_with_cs0(echelle_sim, tmp_path):
    """cs0.e given the _wav.fits itself (as caldp-process does without an association): calstis1
    with the wavecal's switches → <root>_wav_flt.fits; the builtin engine the same, 0 ulp."""
    import os
    import shutil
    import subprocess

    from astropy.io import fits

    from caldp.engines.stis.calstis import calstis

    from ..wfc3_uvis.productdiff import assert_products_match
    from .conftest import HSTCAL_BIN, cs0_exe

    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    (ds,) = echelle_sim.datasets
    env = {**os.environ, **echelle_sim.env, "PATH": os.pathsep.join([HSTCAL_BIN, os.environ.get("PATH", "")])}
    work = tmp_path / "hst"
    shutil.copytree(ds.input_path, work)
    proc = subprocess.run([exe, f"{ds.name}_wav.fits"], cwd=work, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:]
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
    import os
    import shutil
    import subprocess

    from astropy.io import fits

    from caldp.engines.stis.calstis import calstis

    from ..wfc3_uvis.productdiff import assert_products_match
    from .conftest import HSTCAL_BIN, cs0_exe

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
    env = {**os.environ, **echelle_sim.env, "PATH": os.pathsep.join([HSTCAL_BIN, os.environ.get("PATH", "")])}
    proc = subprocess.run([exe, "-s", f"{ds.name}_raw.fits"], cwd=work, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:]
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
