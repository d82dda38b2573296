"""PCTECORR algorithm (caldp/engines/acs/pctecorr.py): hand-checked readout cases, the inversion,
the geometry, and the C kernels against the NumPy reference (identical bits)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from caldp.engines.acs import pctecorr as P
from caldp.engines.acs.pctetab import N_TRAPS, CteSet
from caldp.sim import cte

F32, F64 = np.float32, np.float64


def small_set(*, n_used=6, tlen=8, n_forward=3, n_par=2, level=0.6) -> CteSet:
    """A set with a few traps (QLEV 2, 6, 13, …) and short trails: the simulator's model, made small."""
    return cte.cte_set(1, (52335.0, 59500.0, tlen, n_forward, n_par, n_used, level), tau0=2.0)


def small_image(nrows=40, ncols=12, seed=3) -> np.ndarray:
    """Background ~20 e⁻ with read noise, a few faint and bright sources and a readout-CR-like
    over-subtraction dip (so the CR fix runs)."""
    rng = np.random.default_rng(seed)
    img = (20.0 + rng.normal(0, 4.0, (nrows, ncols))).astype(F32)
    img[5, 2] += 400.0
    img[17, 5] += 60.0
    img[25, 8] += 2500.0
    img[30:33, 10] -= 40.0
    img[12, 0] += 150.0
    img[20, ncols - 1] += 90.0
    return img


def one_trap_set(n_par=1) -> CteSet:
    """One trap filled by ≥ 5 e⁻, holding 1 × trap density, released 50/30/20 % over 3 transfers."""
    qlev = np.full(N_TRAPS, 999999.0)
    qlev[0] = 5.0
    rprof = np.zeros((100, N_TRAPS), F32)
    cprof = np.zeros((100, N_TRAPS), F32)
    rprof[:3, 0] = [0.5, 0.3, 0.2]
    cprof[:3, 0] = [0.5, 0.2, 0.0]
    return CteSet(
        1, 0.0, 1.0, 3, 2, n_par, qlev, np.ones(N_TRAPS), 1, np.arange(8192), np.ones((4, 8192)), rprof, cprof
    )


def test_readout_single_pixel_trail():
    """100 e⁻ at row 2: the trap (density 0.1) takes 0.1 e⁻ and gives 0.05, 0.03, 0.02 back behind it."""
    col = np.array([[0.0], [0.0], [100.0], [0.0], [0.0], [0.0]])
    traps = np.full((6, 1), 0.1, F32)
    P.simulate_readout(col, traps, one_trap_set(), 1)
    t = float(F32(0.1))
    assert_allclose(col[:, 0], [0, 0, 100 - t, 0.5 * t, float(F32(0.3)) * t, float(F32(0.2)) * t], rtol=1e-12)
    assert col.sum() == pytest.approx(100.0, abs=1e-7)


def test_readout_refill_inside_trail_releases_the_rest():
    """A second bright pixel inside the trail gets the trail's next release plus the cumulative rest (CPROF)."""
    col = np.array([[100.0], [0.0], [100.0], [0.0], [0.0], [0.0]])
    traps = np.full((6, 1), 0.1, F32)
    P.simulate_readout(col, traps, one_trap_set(), 1)
    t = float(F32(0.1))
    r3, c2 = float(F32(0.3)) * t, float(F32(0.2)) * t
    assert_allclose(col[:, 0], [100 - t, 0.5 * t, 100 + (r3 + c2 - t), 0.5 * t, r3, float(F32(0.2)) * t], rtol=1e-12)
    assert col.sum() == pytest.approx(200.0, abs=1e-7)


def test_readout_faint_column_untouched():
    """Below the trap's charge level nothing is captured; n_par passes each take dpde/n_par."""
    col = np.array([[1.0], [4.0], [2.0]])
    P.simulate_readout(col, np.full((3, 1), 0.1, F32), one_trap_set(), 1)
    assert_array_equal(col[:, 0], [1.0, 4.0, 2.0])
    col = np.array([[100.0], [0.0], [0.0], [0.0]])
    P.simulate_readout(col, np.full((4, 1), 0.1, F32), one_trap_set(n_par=2), 1)
    assert col[0, 0] < 100.0 and col.sum() == pytest.approx(100.0, abs=1e-7)


def test_trap_map_interpolates_and_scales():
    sens = np.vstack([np.full(8192, 1.0), np.full(8192, 2.0), np.full(8192, 3.0), np.full(8192, 4.0)])
    m = P.trap_map(2048, 3, np.arange(8192), sens, 4096, 0.5)
    assert m.dtype == F32 and m.shape == (2048, 3)
    # row 0: sens 1, (0+1)/2048; row 1024: sens 3 (between 2 and 3 at ro = 2), (1025)/2048; row 2047: clipped ro = 2.999
    assert m[0, 0] == F32(1.0 * (1 / 2048) * 0.5)
    assert m[1024, 1] == F32(3.0 * (1025 / 2048) * 0.5)
    assert m[2047, 2] == F32((3.0 + (4.0 - 3.0) * (2.999 - 2)) * 1.0 * 0.5)
    # columns not named in IZ stay 0
    assert not P.trap_map(10, 4, np.array([1, 2]), sens[:, :2], 0, 1.0)[:, [0, 3]].any()


def test_inversion_removes_trails():
    """Forward-simulated trails are taken out again by the inversion (to well below the trail size)."""
    s = small_set(n_forward=4, n_par=2)
    truth = np.zeros((40, 6))
    truth[:] = 25.0
    truth[8, :] = [80, 300, 1200, 60, 40, 500]
    traps = P.trap_map(40, 6, s.iz, s.sens, 0, 8.0) * F32(40.0)
    observed = truth.copy()
    P.simulate_readout(observed, traps, s, s.n_traps_used)
    trail = np.abs(observed - truth).max()
    assert trail > 1.0
    fixed = P.inverse_cte_blur(
        observed.astype(F32), traps.copy(), s, rn=0.5, n_traps_used=s.n_traps_used, thresh=-10.0, fix_rocr=0
    )
    assert np.abs(fixed - truth).max() < 0.05 * trail


@pytest.mark.parametrize("amp", "ABCD")
@pytest.mark.parametrize("serial", [False, True])
def test_turns_round_trip(amp, serial):
    a = np.arange(12 * 12, dtype=F32).reshape(12, 12)
    assert_array_equal(P.from_readout(P.to_readout(a, amp, serial), amp, serial), a)


def test_readout_orientation():
    """After the turn the amp's first-read pixel is at [0, 0]: parallel C is as stored, A upside down;
    serial turns the amp's rows into columns."""
    a = np.arange(6, dtype=F32).reshape(2, 3)
    assert P.to_readout(a, "C", False)[0, 0] == a[0, 0]
    assert P.to_readout(a, "D", False)[0, 0] == a[0, 2]
    assert P.to_readout(a, "A", False)[0, 0] == a[1, 0]
    assert P.to_readout(a, "B", False)[0, 0] == a[1, 2]
    assert P.to_readout(a, "C", True).shape == (3, 2)


def test_amp_columns():
    assert P.amp_columns("C", "CD", 2048, 4096) == (0, 2048)
    assert P.amp_columns("D", "CD", 2048, 4096) == (2048, 4096)
    assert P.amp_columns("A", "A", 512, 512) == (0, 512)
    assert P.chip_amps("ABCD", 2) == "CD" and P.chip_amps("ABCD", 1) == "AB" and P.chip_amps("A", 1) == "A"


def _ckernels():
    k = P.kernels()
    if k is None:
        pytest.skip("C kernels not built or CALDP_KERNELS=numpy")
    return k


def _amp_both(img, threads, monkeypatch):
    s = small_set()
    err = np.sqrt(np.abs(img) + 16.0).astype(F32)
    traps0 = P.trap_map(*img.shape, s.iz, s.sens, 100, 1000.0)
    t_np, t_c = traps0.copy(), traps0.copy()
    kw = dict(rn=4.0, n_traps_used=s.n_traps_used, thresh=-10.0, fix_rocr=1)
    ref = P.correct_amp(img, err, t_np, s, **kw)
    monkeypatch.setenv("CALDP_THREADS", str(threads))
    got = P.correct_amp(img, err, t_c, s, kernels=_ckernels(), **kw)
    return traps0, t_np, t_c, ref, got


@pytest.mark.parametrize("threads", [1, 2])
def test_c_kernels_match_numpy_bits(threads, monkeypatch):
    img = small_image()
    traps0, t_np, t_c, ref, got = _amp_both(img, threads, monkeypatch)
    assert not np.array_equal(t_np, traps0), "the readout-CR fix was not exercised"
    assert not np.array_equal(ref[0], img), "nothing was corrected"
    assert_array_equal(got[0].view(np.uint32), ref[0].view(np.uint32))
    assert_array_equal(got[1].view(np.uint32), ref[1].view(np.uint32))
    assert_array_equal(t_c.view(np.uint32), t_np.view(np.uint32))


def test_c_smoothing_matches_numpy_bits():
    img = small_image(36, 11, seed=5)
    ref, n = P.smooth_readnoise(img, 4.0)
    assert 1 <= n <= 100 and not np.array_equal(ref, img)
    assert_array_equal(_ckernels().smooth(img, 4.0).view(np.uint32), ref.view(np.uint32))
    # below 0.1 e⁻ of read noise nothing is smoothed
    assert_array_equal(P.smooth_readnoise(img, 0.05)[0], img)


@pytest.mark.parametrize("parts", [1, 2, 3, 7, 23])
def test_c_smoothing_row_ranges_match_numpy_bits(parts):
    """A smoothing round swept over 1..7 row ranges (their edge rows copied before the round; ranges of
    one row included) gives the reference bits."""
    img = _block_image(23, 13, seed=4)
    ref, n = P.smooth_readnoise(img, 4.0)
    assert n >= 2 and not np.array_equal(ref, img)
    k = _ckernels()
    k.smooth_parts = parts
    assert_array_equal(k.smooth(img, 4.0).view(np.uint32), ref.view(np.uint32))


@pytest.mark.parametrize("slack", [1e-12, float("inf")], ids=["fast-sum", "reference-sum"])
def test_c_smoothing_stop_sum_matches_numpy_bits(slack, simd):
    """The smoothing's stop test with the fast sum (AVX-512 or portable chains) and with the
    reference-order sum every round."""
    img = _block_image(64, 45, seed=2)
    ref, n = P.smooth_readnoise(img, 4.0)
    assert n >= 2
    k = _ckernels()
    k.stop_slack = slack
    assert_array_equal(k.smooth(img, 4.0).view(np.uint32), ref.view(np.uint32))
    rowsum = np.zeros(img.shape[0])
    k.mod.smooth_exact(img, ref, rowsum, *img.shape)
    use = (np.abs(img.astype(F64)) > 0.1) | (np.abs(ref.astype(F64)) > 0.1)
    d = (img - ref).astype(F64)
    assert_array_equal(rowsum, np.cumsum(np.where(use, d * d, 0.0), axis=1)[:, -1])


def test_c_smoothing_fast_sums_same_both_ways():
    """A smoothing round's per-row fast sums and counts (eight chains by column mod 8, the tail
    columns on chain 0) and its pixels are the same with the AVX-512 sums and the portable ones."""
    mod = _ckernels().mod
    img = _block_image(30, 45, seed=9)
    img[4, :7] = 0.05  # pixels not counted (|obs| and |rsz| ≤ 0.1)
    out = {}
    for flag in (True, False):
        used = mod.set_simd(flag)
        rsz, rowsum, rowcnt = img.copy(), np.zeros(30), np.zeros(30)
        mod.smooth_round(img, rsz, np.zeros((2, 45), F32), rowsum, rowcnt, 30, 45, 0, 30, 4.0)
        out[used] = (rsz, rowsum, rowcnt)
    mod.set_simd(True)
    if len(out) < 2:
        pytest.skip("no AVX-512 on this CPU: only the portable sums exist")
    for a, b in zip(out[True], out[False], strict=True):
        assert_array_equal(a.view(np.uint8), b.view(np.uint8))
    assert out[True][2][4] < 45  # some pixels of row 4 were left out of the sum


def test_c_div9_equals_division():
    """The smoothing's a / 9.0 without the divider (fma correction) gives the quotient's bits on the
    3x3 sums' range (0 and 2^-31 <= |a| < 2^22): 2^-31-grid values, quotients at binade edges, sums
    of 18 float32 values, signed zeros."""
    mod = _ckernels().mod
    rng = np.random.default_rng(7)
    n = 400_000
    mags = np.exp2(rng.uniform(-31, 22, n)) * rng.choice([-1.0, 1.0], n)
    j = rng.integers(-31, 19, n).astype(F64)
    edges = 9.0 * np.exp2(j) + rng.integers(-500, 500, n) * np.exp2(j - 49)
    f = rng.normal(50, 30, (n, 18)).astype(F32).astype(F64) * np.where(np.arange(18) % 2, -1.0, 1.0)
    a = np.concatenate(
        [
            rng.integers(-(2**53) + 1, 2**53, n).astype(F64) * 2.0**-31,
            np.round(mags * 2.0**31) * 2.0**-31,
            edges,
            f.sum(axis=1),
            [0.0, -0.0, 9.0, -9.0, 2.0**-31, -(2.0**-31), 2.0**22 - 2.0**-31, 1.0, 3.0],
        ]
    )
    out = np.empty_like(a)
    mod.div_nine(a, out, a.size)
    assert_array_equal(out.view(np.uint64), (a / 9.0).view(np.uint64))


@pytest.mark.parametrize("exact_sums", [True, False], ids=["column-sums", "chain"])
def test_c_smoothing_grid_rows_match_numpy_bits(exact_sums, simd):
    """Rows whose 3x3 values are on the 2^-31 grid take the column sums (and a / 9 without the divider);
    rows with a value off it (below 2^-8, at or above 2^17) keep HSTCAL's chain; a block of -0.0 gives
    zero sums. Both ways give the reference bits."""
    k = _ckernels()
    img = _block_image(48, 21, seed=6)
    img[5, 4] = 3e-3  # off the grid: rows 4..6 keep the chain
    img[20, 9] = 2.0**17  # likewise rows 19..21
    img[33, 2] = 1.5e5
    img[40:45, 10:15] = -0.0
    img[26, :] = 0.0
    ref, n = P.smooth_readnoise(img, 4.0)
    assert n >= 2
    old = k.mod.set_exact_sums(exact_sums)
    try:
        got = k.smooth(img, 4.0)
    finally:
        k.mod.set_exact_sums(old)
    assert_array_equal(got.view(np.uint32), ref.view(np.uint32))


def _block_image(nrows=120, ncols=20, seed=11):
    """Sky ~45 e⁻ (the lowest traps refilled on every row, one near the sky level at random, the
    highest only by sources), bright sources, a faint column and a dip: the C readout's skipped,
    all-filled and row-by-row blocks all occur."""
    rng = np.random.default_rng(seed)
    img = (45.0 + rng.normal(0, 4.0, (nrows, ncols))).astype(F32)
    img[rng.integers(0, nrows, 25), rng.integers(0, ncols, 25)] += rng.uniform(50, 3000, 25).astype(F32)
    img[:, 3] = 0.5
    img[60:64, 7] -= 60.0
    return img


def _shrinking_traps(shape, s):
    """A trap map whose density drops on every 7th row (the trapped charge is rescaled there)."""
    traps = P.trap_map(*shape, s.iz, s.sens, 100, 200.0)
    traps[::7] *= F32(0.75)
    return traps


@pytest.fixture(params=[True, False], ids=["simd", "portable"])
def simd(request):
    """The C readout's rows with AVX-512 lanes (where the CPU has them) and the portable rows."""
    mod = _ckernels().mod
    used = mod.set_simd(request.param)
    if request.param and not used:
        pytest.skip("no AVX-512 on this CPU: only the portable rows exist")
    yield used
    mod.set_simd(True)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("ncols", [20, 37])
def test_c_readout_blocks_match_numpy_bits(threads, ncols, simd, monkeypatch):
    """Groups of 8 columns with a partial last group (20, 37 columns), both ways of running the rows."""
    s = small_set(n_used=12, tlen=20)
    img = _block_image(ncols=ncols)
    traps0 = _shrinking_traps(img.shape, s)
    assert (np.diff(traps0, axis=0) < 0).any()
    ref = P.forward_readout(img, traps0, s, n_traps_used=12)
    monkeypatch.setenv("CALDP_THREADS", str(threads))
    got = P.forward_readout(img, traps0, s, n_traps_used=12, kernels=_ckernels())
    assert not np.array_equal(ref, img)
    assert_array_equal(got.view(np.uint32), ref.view(np.uint32))
    err = np.sqrt(np.abs(img) + 16.0).astype(F32)
    t_np, t_c = traps0.copy(), traps0.copy()
    kw = dict(rn=4.0, n_traps_used=12, thresh=-10.0, fix_rocr=1)
    ref = P.correct_amp(img, err, t_np, s, **kw)
    got = P.correct_amp(img, err, t_c, s, kernels=_ckernels(), **kw)
    assert not np.array_equal(ref[0], img)
    for a, b in ((got[0], ref[0]), (got[1], ref[1]), (t_c, t_np)):
        assert_array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("shrink", [False, True], ids=["steady-traps", "shrinking-traps"])
@pytest.mark.parametrize("lanes", [0, 2, 8], ids=["no-lanes", "lanes-2", "all-lanes"])
def test_c_readout_paths_match_numpy_bits(lanes, shrink, simd, monkeypatch):
    """Every way the C readout runs a 16-row block — skipped, all filled, trail only (AVX-512 rows where no
    lane fills and the trapped charge stays), lane by lane (blocks where at most `lanes` lanes fill or
    release; 8: every block that is not skipped or all filled), row by row — gives the reference bits,
    with trap densities that stay (no rescale) and that drop every 7th row."""
    mod = _ckernels().mod
    s = small_set(n_used=12, tlen=20)
    img = _block_image(nrows=200, ncols=37, seed=7)
    if shrink:
        traps0 = _shrinking_traps(img.shape, s)
    else:
        traps0 = np.maximum.accumulate(P.trap_map(*img.shape, s.iz, s.sens, 100, 200.0), axis=0)
    monkeypatch.setenv("CALDP_THREADS", "1")
    old = mod.set_lane_limit(lanes)
    try:
        mod.block_paths()
        ref = P.forward_readout(img, traps0, s, n_traps_used=12)
        got = P.forward_readout(img, traps0, s, n_traps_used=12, kernels=_ckernels())
        assert_array_equal(got.view(np.uint32), ref.view(np.uint32))
        err = np.sqrt(np.abs(img) + 16.0).astype(F32)
        t_np, t_c = traps0.copy(), traps0.copy()
        kw = dict(rn=4.0, n_traps_used=12, thresh=-10.0, fix_rocr=1)
        ref = P.correct_amp(img, err, t_np, s, **kw)
        got = P.correct_amp(img, err, t_c, s, kernels=_ckernels(), **kw)
        paths = dict(zip(("skip", "filled", "trail", "lane", "rows"), mod.block_paths(), strict=True))
    finally:
        mod.set_lane_limit(old)
    assert not np.array_equal(ref[0], img)
    for a, b in ((got[0], ref[0]), (got[1], ref[1]), (t_c, t_np)):
        assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    assert paths["skip"] and paths["filled"], paths
    assert bool(paths["trail"]) == (simd and not shrink), paths
    assert bool(paths["lane"]) == (lanes > 0), paths
    assert bool(paths["rows"]) == (lanes < 8), paths
