"""SC2DCORR, the echelle scattered-light correction (``caldp.engines.stis.scatter``): the C helpers on
small arrays, and the corrected ``_x1d`` of the full-size echelle against cs0.e."""

from __future__ import annotations

import numpy as np
import pytest

from caldp.engines.stis import scatter as S

F32 = np.float32


def test_interpolate_brackets_from_the_start_index_and_extrapolates():
    x = [0.0, 1.0, 2.0, 4.0]
    y = [0.0, 10.0, 20.0, 0.0]
    assert S.interpolate(1.5, 0, x, y) == (15.0, 1)
    assert S.interpolate(3.0, 2, x, y) == (10.0, 2)
    assert S.interpolate(0.5, 2, x, y) == (5.0, 0)  # searched downwards from the start
    assert S.interpolate(-1.0, 2, x, y) == (-10.0, 0)  # below: the first pair's line
    assert S.interpolate(5.0, 0, x, y) == (-10.0, 2)  # above: the last pair's line
    assert S.interpolate(5.0, 0, x, y, (0.0, 4.0)) == S.interpolate(5.0, 0, x, y)
    assert S.interpolate(0.5, -1, x, y) == (0.0, 0) and S.interpolate(0.5, 9, x, y) == (0.0, 2)
    assert S.interpolate(0.5, 0, x[::-1], y[::-1])[0] == pytest.approx(5.0)  # descending tables too


@pytest.mark.parametrize("n", [3, 4, 7, 40])
def test_select_is_the_kth_smallest(n):
    rng = np.random.default_rng(n)
    v = rng.normal(size=n)
    for k in (1, n // 2, n):
        assert S.select(k, v) == sorted(v)[k - 1]
    assert S.select(0, v) == 0.0


def test_clamped_window_shifts_at_the_low_edge():
    w = S.clamped_window(10, 5)
    assert w[0].tolist() == [0, 1, 2, 3, 4]  # raised to 0, then stepping on (the C's k1++)
    assert w[1].tolist() == [0, 1, 2, 3, 4]
    assert w[5].tolist() == [3, 4, 5, 6, 7]
    assert w[9].tolist() == [7, 8, 9, 9, 9]  # past the end it stays on the last row


def test_fft_shift_negates_odd_parity_elements():
    re = np.arange(24, dtype=F32).reshape(4, 6) + 1
    im = -re.copy()
    sign = (-1.0) ** np.add.outer(np.arange(4), np.arange(6))
    want_re, want_im = re * sign, im * sign
    S.fft_shift(re, im)
    assert np.array_equal(re, want_re.astype(F32)) and np.array_equal(im, want_im.astype(F32))


def test_splice_joins_overlapping_orders_at_their_midpoints():
    w1 = np.linspace(1000.0, 1010.0, 101)  # order A
    w2 = np.linspace(1008.0, 1018.0, 101)  # order B overlaps 1008–1010
    wm, fm = S.splice([w1, w2], [np.ones(101, F32), np.full(101, 2.0, F32)], 10.0)
    # the first order up to the first point past the overlap's midpoint (1009), the next one from
    # its first point past it: the join repeats a wavelength, as the C does
    assert np.all(np.diff(wm) > -1e-9) and wm[0] == 1000.0 and wm[-1] == 1018.0
    join = int(np.flatnonzero(fm == 20.0)[0])
    assert wm[join] == pytest.approx(1009.2) and wm[join - 1] == pytest.approx(1009.2)
    assert set(np.unique(fm)) == {10.0, 20.0} and wm.size == 93 + 89


def test_bin_psf_keeps_unit_sum_and_centre():
    r = np.hypot(*np.meshgrid(np.arange(101) - 50, np.arange(101) - 50)) * 0.0036
    psf = np.exp(-0.5 * (r / 0.012) ** 2).astype(F32)
    b = S.bin_psf(psf, 0.0036, 0.2, 0.2, S.PLATE["E140M"])
    assert b.shape == (7, 7) and abs(float(b.astype(np.float64).sum()) - 1.0) < 1e-6
    assert np.unravel_index(np.argmax(b), b.shape) == (3, 3)


@pytest.mark.slow
@pytest.mark.hstcal
def test_sc2dcorr_parity_with_cs0(tmp_path):
    """SC2DCORR = PERFORM on the full-size echelle (39 orders, the sim's seven scattered-light tables,
    FLUXCORR with PCTAB and TDSTAB): the builtin `_x1d` equals cs0.e's — every column bit for bit
    (GROSS of the first extraction, BACKGROUND = GROSS − NET after three model iterations), every
    keyword, the history with the seven tables; the `_x2d` is not affected (0 ulp)."""
    import shutil

    from astropy.io import fits

    from caldp import sim
    from caldp.bestrefs import assign_bestrefs
    from caldp.engines.stis.calstis import calstis

    from ..wfc3_uvis.productdiff import assert_products_match
    from .conftest import cs0_exe, cs0_run_env
    from .helpers import run_cs0
    from .test_echelle import assert_tables_equal

    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    res = sim.simulate(tmp_path / "sim", modes=["stis-mama-echelle"], size="full", seed=1)
    (ds,) = res.datasets
    work = tmp_path / "hst"
    shutil.copytree(ds.input_path, work)
    raw = work / f"{ds.name}_raw.fits"
    assign_bestrefs([raw], {**res.env, "CRDS_READONLY_CACHE": "1"})
    with fits.open(raw, mode="update") as h:
        h[0].header["SC2DCORR"] = "PERFORM"
    mine = tmp_path / "mine"
    mine.mkdir()
    calstis(raw, outdir=mine, env=res.env)
    env = cs0_run_env(res.env)
    run_cs0(exe, env, work, raw.name)
    assert_tables_equal(work / f"{ds.name}_x1d.fits", mine / f"{ds.name}_x1d.fits")
    assert_products_match(work, mine, [f"{ds.name}_x2d.fits"])
    with fits.open(mine / f"{ds.name}_x1d.fits") as h:
        assert h[0].header["SC2DCORR"] == "COMPLETE" and "SC2DCORR performed ..." in list(h[0].header["HISTORY"])


@pytest.mark.parametrize("last", [False, True])
def test_spread_is_the_c_loop(last):
    """The column-parallel spread gives the bits of the C-ordered reference loop (3 orders on a
    64-column image, a 21-point scattering function, rows reaching off the image)."""
    rng = np.random.default_rng(5)
    nx, ny, nel = 64, 40, 21
    orders = [100, 101, 102]
    i1 = (S.NSBIG - nx) // 2
    wave = [1400.0 + 10 * k + 0.01 * np.arange(nx) for k in range(3)]
    rows = S.Rows(
        orders,
        wave,
        [np.ones(nx, F32)] * 3,
        [np.ones(nx, F32)] * 3,
        [(np.array([2.0, 18.0, 37.5])[k] + 0.02 * np.arange(nx)).astype(F32) for k in range(3)],
    )
    values = np.exp(-0.5 * ((np.arange(nel) - nel // 2) / 4.0) ** 2) * 1e-2
    sc = S.Scatter([(m, values) for m in orders], np.ones(1, F32), np.ones(1, F32), [], [1400.0], [1400.0])
    wbig = np.zeros((3, S.NSBIG), F32)
    for k in range(3):
        wbig[k] = (wave[k][0] + 0.01 * (np.arange(S.NSBIG) - i1)).astype(F32)
    blaze = rng.uniform(0.5, 1.0, (3, S.NSBIG)).astype(F32)
    fbig = rng.uniform(0.0, 100.0, (3, S.NSBIG)).astype(F32)
    a = S._spread(rows, sc, wbig, blaze, fbig, 3.0, 1.0, (ny, nx), last)
    b = S.spread_reference(rows, sc, wbig, blaze, fbig, 3.0, 1.0, (ny, nx), last)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.view(np.int32), y.view(np.int32))
    assert a[0].any() and (a[2].any() == last)


@pytest.mark.parametrize(("n", "width"), [(1, 1), (3, 5), (10, 5), (40, 31), (1055, 31), (7, 1)])
def test_clamped_window_vector_form_is_the_c_loop(n, width):
    assert np.array_equal(S.clamped_window(n, width), S.clamped_window_py(n, width))


@pytest.mark.parametrize(("ny", "n"), [(40, 31), (9, 3), (5, 1), (64, 4)])
def test_cross_disperse_slices_equal_the_clamped_windows(ny, n):
    """The shifted-slice sums give the bits of the sums over every padded row's clamped window."""
    rng = np.random.default_rng(ny)
    img = rng.normal(0.0, 100.0, (ny, 17)).astype(F32)
    spsf = rng.uniform(0.0, 0.1, n).astype(F32)
    a, b = S._cross_disperse(img, spsf), S.cross_disperse_reference(img, spsf)
    assert a.dtype == b.dtype == F32 and np.array_equal(a.view(np.int32), b.view(np.int32))
