"""WF3CTE pieces on tiny inputs: RAZ layout, one readout, read-noise smoothing, NumPy == C bits,
and the correction undoing trails made by the model itself."""

from __future__ import annotations

import numpy as np
import pytest

from caldp.engines.common import kernels
from caldp.engines.wfc3.uvis import pctecorr as pc
from caldp.engines.wfc3.uvis.pctetab import CTEModel

ROWS = 2070


def one_trap_model(q=100.0, dpde=2.0) -> CTEModel:
    """Trap 0 at charge level `q` grabbing `dpde` e⁻; t shifts after filling it releases
    ``0.5^t`` of what it grabbed (RPROF) and ``0.5^t`` is left to flush (CPROF)."""
    qq = np.full(999, 999999.0)
    qq[0] = q
    dp = np.zeros(999)
    dp[0] = dpde
    rprof = np.zeros((100, 999), np.float32)
    cprof = np.zeros((100, 999), np.float32)
    rprof[:, 0] = 0.5 ** np.arange(1, 101)
    cprof[:, 0] = 0.5 ** np.arange(1, 101)
    return CTEModel("t", "1", 0.0, 1.0, 60, 1, 1, 0, -10.0, 1, qq, dp, rprof, cprof, 1)


def test_raz_layout_and_inverse():
    """Amps C, D, A, B side by side, each turned so its amp sits at RAZ (0, 0)."""
    cd = np.arange(2070 * 4206, dtype=np.float32).reshape(2070, 4206)
    ab = -cd
    raz = pc.make_raz(cd, ab)
    assert raz.shape == (2070, 8412)
    assert raz[0, 0] == cd[0, 0]  # amp C: lower left of chip 2
    assert raz[0, 2103] == cd[0, 4205]  # amp D: lower right of chip 2
    assert raz[0, 4206] == ab[2069, 0]  # amp A: upper left of chip 1
    assert raz[0, 6309] == ab[2069, 4205]  # amp B: upper right of chip 1
    back = pc.undo_raz(raz)
    np.testing.assert_array_equal(back[0], cd)
    np.testing.assert_array_equal(back[1], ab)


def test_readout_one_trap_by_hand():
    """A 200 e⁻ pixel at row 3 fills the trap (loses dpde·f = 2·0.5 = 1 e⁻); the trap then gives
    back 0.5, 0.25, … of it shift by shift (RPROF × what it grabbed), and the rows below the pixel are untouched."""
    m = one_trap_model()
    col = np.zeros((8, 1))
    col[3] = 200.0
    f = np.full((8, 1), 0.5)
    out = pc.readout(col, f, m.q, m.dpde, 1, m.rprof, m.cprof)
    np.testing.assert_array_equal(out[:3, 0], 0.0)
    assert out[3, 0] == 199.0
    np.testing.assert_array_equal(out[4:, 0], [0.5, 0.25, 0.125, 0.0625])


def test_readout_refill_flushes_the_trap():
    """Two bright pixels in a row: the second refills the trap and flushes what was left (cprof)."""
    m = one_trap_model()
    col = np.zeros((6, 1))
    col[2:4] = 200.0
    out = pc.readout(col, np.full((6, 1), 1.0), m.q, m.dpde, 1, m.rprof, m.cprof)
    # row 2 grabs 2; row 3: releases 0.5·2 + flushes 0.5·2, grabs 2 → 200
    assert out[2, 0] == 198.0 and out[3, 0] == 200.0 and out[4, 0] == 1.0


def test_smooth_read_noise_leaves_smooth_columns_alone():
    """A linear ramp has no pixel-to-pixel noise: nothing moves into the noise image."""
    chg = np.repeat((10.0 + np.arange(ROWS))[:, None], 3, axis=1)
    rnz, rsz = pc.smooth_read_noise(chg, 4.0)
    np.testing.assert_array_equal(rsz, chg)
    assert not np.any(rnz[3:2046])


def test_smooth_read_noise_takes_out_a_noise_spike():
    """A +3 e⁻ one-pixel bump (below RNMIT) is moved into the noise image, conserving charge."""
    chg = np.full((ROWS, 1), 30.0)
    chg[1000, 0] += 3.0
    rnz, rsz = pc.smooth_read_noise(chg, 4.0)
    assert rsz[1000, 0] < 33.0
    assert abs(rnz[:, 0].sum()) < 1e-9  # each move gives ±dd/2 and ∓dd/4 twice


def _columns(n=4, seed=3):
    rng = np.random.default_rng(seed)
    raz = rng.normal(25.0, 5.0, (ROWS, n)).astype(np.float32)
    raz[600:603, 0] += 400.0
    raz[1700, 1] += 3000.0
    raz[1200, 2] -= 60.0  # a hole: exercises the read-out cosmic-ray test
    raz[300:320, 3] += 80.0
    return raz


@pytest.fixture(params=[True, False], ids=["simd", "portable"])
def simd(request):
    """The C readout's rows with AVX-512 lanes (where the CPU has them) and the portable rows."""
    mod = kernels.load(pc.KERNEL_MODULE)
    if mod is None:
        pytest.skip("CTE C kernel not built or CALDP_KERNELS=numpy")
    used = mod.set_simd(request.param)
    if request.param and not used:
        pytest.skip("no AVX-512 on this CPU: only the portable rows exist")
    yield used
    mod.set_simd(True)


@pytest.mark.skipif(kernels.load(pc.KERNEL_MODULE) is None, reason="CTE C kernel not built or CALDP_KERNELS=numpy")
@pytest.mark.parametrize("ncol", [4, 11])
def test_numpy_and_c_give_identical_bits(model, monkeypatch, simd, ncol):
    """Columns in groups of 8 (a partial group; a full one and a partial one), both readout row paths;
    column 2's hole makes the read-out cosmic-ray test redo that column only."""
    raz = _columns(ncol)
    if ncol > 8:
        raz[900:905, 9] += 1500.0
    fff = np.repeat(pc.scale_column(1.7)[:, None], raz.shape[1], 1)
    ref, _ = pc.correct_columns_numpy(raz, fff, model, 5.0, model.thresh, 1, 2)
    fast = pc.correct_columns(raz, fff, model, 5.0, model.thresh, 1, 2)
    np.testing.assert_array_equal(ref.view(np.int32), fast.view(np.int32))
    assert np.any(ref != raz)
    one = pc.correct_columns(raz, fff[:, 0].copy(), model, 5.0, model.thresh, 1, 2)  # one scaling column
    np.testing.assert_array_equal(one.view(np.int32), fast.view(np.int32))


@pytest.mark.skipif(kernels.load(pc.KERNEL_MODULE) is None, reason="CTE C kernel not built or CALDP_KERNELS=numpy")
def test_numpy_and_c_readout_block_paths(model, simd):
    """The C readout's whole-block rows: blocks where every pixel of the 8 columns reaches a trap's level
    (a bright sky: the traps below it grab on every row), blocks where none does while the trails of
    bright pixels are released, mixed blocks, a drop of the trap scaling (rescaled ftrap)."""
    rng = np.random.default_rng(5)
    raz = rng.normal(25.0, 4.0, (ROWS, 16)).astype(np.float32)
    raz[:, :8] += 60.0  # sky above traps 0..10
    raz[800:1000, :8] += 200.0  # a band where traps up to 16 grab in every lane
    raz[[400, 401, 1500], 8:] += 600.0  # trails over sky blocks below the level
    fff = np.repeat(pc.scale_column(1.7)[:, None], 16, 1)
    fff[1000:, 4] *= np.float32(0.5)  # a lower scaling from row 1000 on: ftrap rescaled there
    ref, _ = pc.correct_columns_numpy(raz, fff, model, 5.0, model.thresh, 1, 2)
    fast = pc.correct_columns(raz, fff, model, 5.0, model.thresh, 1, 2)
    np.testing.assert_array_equal(ref.view(np.int32), fast.view(np.int32))
    assert np.any(ref != raz)


@pytest.mark.skipif(kernels.load(pc.KERNEL_MODULE) is None, reason="CTE C kernel not built or CALDP_KERNELS=numpy")
def test_numpy_and_c_all_grab_rows_of_a_shared_scaling(model, simd):
    """One trap-scaling column for every column (as WF3CTE passes it): the all-grab rows take their
    release, flush and grab terms from per-trap tables of that column — with a drop of the scaling (the
    rescaled ftrap) and a read-out cosmic-ray hole that cuts one column's scaling (that group's lanes
    then no longer share it)."""
    rng = np.random.default_rng(8)
    raz = rng.normal(25.0, 4.0, (ROWS, 16)).astype(np.float32)
    raz[:, :8] += 60.0
    raz[800:1000, :8] += 200.0
    raz[[400, 401, 1500], 8:] += 600.0
    raz[900:905, 11] += 1500.0  # the read-out cosmic-ray test redoes this column with a cut scaling
    fff = pc.scale_column(1.7)
    fff[1000:] *= np.float32(0.5)
    ref, _ = pc.correct_columns_numpy(raz, np.repeat(fff[:, None], 16, 1), model, 5.0, model.thresh, 1, 2)
    fast = pc.correct_columns(raz, fff, model, 5.0, model.thresh, 1, 2)
    np.testing.assert_array_equal(ref.view(np.int32), fast.view(np.int32))
    assert np.any(ref != raz)


@pytest.mark.skipif(kernels.load(pc.KERNEL_MODULE) is None, reason="CTE C kernel not built or CALDP_KERNELS=numpy")
def test_c_block_paths_with_non_finite_pixels(model):
    """A group holding a NaN and an infinite pixel: the AVX-512 rows (whose all-grab blocks need finite
    values, so are off there) give the portable rows' bits, and the group's finite columns are the same
    as when grouped without the others."""
    mod = kernels.load(pc.KERNEL_MODULE)
    if not mod.set_simd(True):
        pytest.skip("no AVX-512 on this CPU: only the portable rows exist")
    rng = np.random.default_rng(6)
    raz = rng.normal(85.0, 4.0, (ROWS, 8)).astype(np.float32)
    raz[[400, 1500], :] += 600.0
    raz[700, 1] = np.nan
    raz[900, 4] = np.inf
    fff = pc.scale_column(1.7)
    try:
        fast = pc.correct_columns(raz, fff, model, 5.0, model.thresh, 1, 2)
        mod.set_simd(False)
        portable = pc.correct_columns(raz, fff, model, 5.0, model.thresh, 1, 2)
    finally:
        mod.set_simd(True)
    np.testing.assert_array_equal(fast.view(np.int32), portable.view(np.int32))
    fin = np.isfinite(raz).all(axis=0)
    alone = pc.correct_columns(np.ascontiguousarray(raz[:, fin]), fff, model, 5.0, model.thresh, 1, 2)
    np.testing.assert_array_equal(alone.view(np.int32), fast[:, fin].view(np.int32))


@pytest.mark.skipif(kernels.load(pc.KERNEL_MODULE) is None, reason="CTE C kernel not built or CALDP_KERNELS=numpy")
def test_numpy_and_c_smoothing_lanes_stop_apart(model, simd):
    """Read-noise smoothing with the columns of a group in lanes: noisy columns whose rounds stop at
    different rounds (rms of the noise image above RNMIT) next to ones that run all 298, a column whose
    positive rows start late and end early (j1 > 2, j2 < 2047), one with no positive row at all."""
    rng = np.random.default_rng(11)
    raz = rng.normal(25.0, 3.0, (ROWS, 11)).astype(np.float32)
    raz[:, [1, 4, 6, 9]] = rng.normal(25.0, 10.0, (ROWS, 4))  # these stop after ~55-61 rounds
    raz[:40, 2] = -5.0
    raz[1990:, 2] = 0.0
    raz[:, 5] = -1.0
    raz[700:704, 3] += 300.0
    fff = pc.scale_column(1.7)
    ref, _ = pc.correct_columns_numpy(raz, np.repeat(fff[:, None], 11, 1), model, 5.0, model.thresh, 2, 1)
    fast = pc.correct_columns(raz, fff, model, 5.0, model.thresh, 2, 1)
    np.testing.assert_array_equal(ref.view(np.int32), fast.view(np.int32))
    _, rsz = pc.smooth_read_noise(raz.astype(np.float64), 5.0)
    np.testing.assert_array_equal(rsz[:, 5], raz[:, 5])  # nothing in range: unchanged
    assert np.any(rsz[:, 2] != raz[:, 2]) and np.all(rsz[:39, 2] == raz[:39, 2])


@pytest.mark.skipif(kernels.load(pc.KERNEL_MODULE) is None, reason="CTE C kernel not built or CALDP_KERNELS=numpy")
def test_fused_smoothing_rounds_give_the_unfused_bits(model):
    """The AVX-512 smoothing rounds with HSTCAL's halves and quarters folded into fused multiply-adds give
    the unfused rounds' bits (and NumPy's) on columns that stop apart or run all rounds; a group holding a
    non-zero value below 2^-120 (where the fused rounds' premise fails) takes the unfused rounds."""
    mod = kernels.load(pc.KERNEL_MODULE)
    if not mod.set_simd(True):
        pytest.skip("no AVX-512 on this CPU: only the portable rows exist")
    rng = np.random.default_rng(12)
    raz = rng.normal(25.0, 3.0, (ROWS, 16)).astype(np.float32)
    raz[:, [1, 4, 6, 9]] = rng.normal(25.0, 10.0, (ROWS, 4))
    raz[700:704, 3] += 300.0
    raz[:, 8:] *= np.float32(1e-37)  # a group of tiny columns (1e-37 < 2^-120)
    raz[:, 12] = rng.normal(25.0, 3.0, ROWS)  # one ordinary column among them
    fff = pc.scale_column(1.7)
    try:
        assert mod.set_fma(True)
        fused = pc.correct_columns(raz, fff, model, 5.0, model.thresh, 2, 1)
        assert not mod.set_fma(False)
        unfused = pc.correct_columns(raz, fff, model, 5.0, model.thresh, 2, 1)
    finally:
        mod.set_fma(True)
    np.testing.assert_array_equal(fused.view(np.int32), unfused.view(np.int32))
    ref, _ = pc.correct_columns_numpy(raz, np.repeat(fff[:, None], 16, 1), model, 5.0, model.thresh, 2, 1)
    np.testing.assert_array_equal(ref.view(np.int32), fused.view(np.int32))
    assert np.any(fused[:, 8:] != raz[:, 8:])


def test_correction_shrinks_model_trails(model):
    """Trails made by the readout model itself behind faint sources shrink after correction."""
    rng = np.random.default_rng(7)
    n = 16
    truth = np.full((ROWS, n), 40.0)
    rows = np.arange(300, 2000, 170)
    truth[rows, :] += 150.0  # faint sources high on the chip
    fff = np.repeat(pc.scale_column(1.5)[:, None], n, 1)
    obs = truth.copy()
    for _ in range(model.npar):
        obs = pc.readout_fast(obs, fff.astype(np.float64), model.q, model.dpde, model.npar, model.rprof, model.cprof)
    obs = (obs + rng.normal(0, 1.0, obs.shape)).astype(np.float32)
    corr = pc.correct_columns(obs, fff, model, 3.75, model.thresh, model.nfor, model.npar)
    trail = (slice(rows[-1] + 1, rows[-1] + 8), slice(None))
    lost = truth[rows[-1]] - obs[rows[-1]]
    assert lost.mean() > 4.0  # the source lost a visible part of its charge
    before = (obs[trail] - truth[trail]).sum(axis=0).mean()  # charge in the trail (noise averages out)
    after = (corr[trail] - truth[trail]).sum(axis=0).mean()
    assert before > 2.0 and abs(after) < 0.3 * before
    assert np.abs(corr[rows[-1]] - truth[rows[-1]]).mean() < 0.5 * lost.mean()
    # far from sources (well below the first) the correction changes little
    assert np.abs(corr[100:250] - obs[100:250]).max() < 3.0


@pytest.mark.skipif(kernels.load(pc.KERNEL_MODULE) is None, reason="CTE C kernel not built or CALDP_KERNELS=numpy")
def test_readout_numpy_and_c_identical(model):
    raz = _columns(4).astype(np.float64)
    f = np.repeat(pc.scale_column(2.2)[:, None], 4, 1).astype(np.float64)
    a = pc.readout(raz, f, model.q, model.dpde, 7, model.rprof, model.cprof)
    b = pc.readout_fast(raz, f, model.q, model.dpde, 7, model.rprof, model.cprof)
    np.testing.assert_array_equal(a.view(np.int64), b.view(np.int64))


def test_find_read_noise_on_gaussian_noise():
    """The histogram estimate lands near the injected noise (clipped to 3.75 … 9.75)."""
    rng = np.random.default_rng(2)
    raz = rng.normal(50.0, 6.0, (ROWS, 8412)).astype(np.float32)
    rn, rnoival, bkg = pc.find_read_noise(raz)
    assert 3.75 <= rn <= 9.75
    assert abs(float(rnoival) - 6.0) < 1.0
    assert abs(float(bkg) - 50.0) < 1.0


def test_scale_column_is_float32_of_the_double_product():
    f = pc.scale_column(2.5877001455604076)
    assert f.dtype == np.float32 and f[2047] == np.float32(2.5877001455604076 * 2048 / 2048.0)
