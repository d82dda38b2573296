"""WF3IR C kernels against the NumPy reference: every output bit-identical.

Random IR stacks with the cases the ramp fit branches on: clean ramps, saturation (zeroth, first,
mid-ramp), CR jumps (one to five per pixel, so HIGH_CURVATURE and the fallback are reached),
positive and negative spikes, BADINPDQ-flagged reads (lenient pass, no usable sample), input
CRHIT flags, zero-signal reads, zero σ and zero TIME samples, negative counts.
"""

from __future__ import annotations

import numpy as np
import pytest

from caldp.engines.common.kernels import load
from caldp.engines.wfc3.dq import DQ
from caldp.engines.wfc3.ir import crcorr
from caldp.engines.wfc3.ir.common import F32, Area

KMOD = "caldp.engines.wfc3.ir._kernels"
needs_kernels = pytest.mark.skipif(load(KMOD) is None, reason="WF3IR C kernels not built")


def _stack(N: int, ny: int, nx: int, seed: int, *, rate_units: bool):
    """A random ``(N, ny, nx)`` file-order stack (index N−1 = zeroth read) with every ramp case."""
    rng = np.random.default_rng(seed)
    times = np.concatenate([[0.0], 2.93 + 25.0 * np.arange(N - 1)]).astype(F32)  # time order
    rate = rng.choice([0.0, 0.5, 5.0, 50.0, 800.0, -2.0], size=(ny, nx)) * rng.uniform(0.5, 1.5, (ny, nx))
    y = rate[None] * times[:, None, None].astype(np.float64)
    y = y + rng.normal(0, 8.0, y.shape)
    dq = np.zeros((N, ny, nx), np.uint16)
    # CR jumps: 0..5 per pixel at random samples
    ncr = rng.choice([0, 0, 0, 1, 2, 3, 4, 5], size=(ny, nx))
    for j in range(5):
        at = rng.integers(1, N, size=(ny, nx))
        amp = rng.uniform(200, 3000, (ny, nx)) * (ncr > j)
        y += amp[None] * (np.arange(N)[:, None, None] >= at[None])
    # spikes (one sample up or down)
    sp = rng.random((ny, nx)) < 0.1
    at = rng.integers(1, N, size=(ny, nx))
    sign = np.where(rng.random((ny, nx)) < 0.5, 1.0, -1.0)
    y += (sp * sign * 1500.0)[None] * (np.arange(N)[:, None, None] == at[None])
    # saturation from a random sample on
    sat = rng.random((ny, nx)) < 0.08
    sat_at = rng.integers(0, N, size=(ny, nx))
    dq |= np.where(sat[None] & (np.arange(N)[:, None, None] >= sat_at[None]), np.uint16(DQ.SATPIXEL), 0).astype(
        np.uint16
    )
    # flagged reads: bad-pixel bits, input CRHIT / SPIKE / HIGH_CURVATURE, ZEROSIG, everything flagged
    flags = ((4, 0.05), (16, 0.03), (DQ.CRHIT, 0.03), (DQ.ZEROSIG, 0.05), (512, 0.02), (1024, 0.01), (16384, 0.01))
    for bit, frac in flags:
        dq |= np.where(rng.random((N, ny, nx)) < frac, np.uint16(bit), 0).astype(np.uint16)
    allbad = rng.random((ny, nx)) < 0.02
    dq[:, allbad] |= np.uint16(4)
    lenient = rng.random((ny, nx)) < 0.05  # a bit outside BADINPDQ on every read: the lenient pass
    dq[:, lenient] |= np.uint16(8)
    sig = np.sqrt(400.0 + np.abs(y) * 2.5) / 2.5
    sig[:, rng.random((ny, nx)) < 0.02] = 0.0  # zero σ: left out of the sums
    t = np.broadcast_to(times[:, None, None], y.shape).astype(F32).copy()
    t[:, rng.random((ny, nx)) < 0.01] = 0.0  # zero TIME: single-sample rates of 0
    sci, err = y.astype(F32), sig.astype(F32)
    if rate_units:
        with np.errstate(divide="ignore", invalid="ignore"):
            sci = np.where(t > 0, sci / np.where(t > 0, t, 1), 0).astype(F32)
            err = np.where(t > 0, err / np.where(t > 0, t, 1), 0).astype(F32)
    flip = (slice(None, None, -1),)  # file order: index 0 = last read
    return tuple(np.ascontiguousarray(a[flip]) for a in (sci, err, t, dq))


def _run(stack, area, pars, *, zsig_done, rows_per):
    sci, err, tim, dq = (a.copy() for a in stack)
    N, ny, nx = sci.shape
    out = (sci[0].copy(), err[0].copy(), dq[0].copy(), np.zeros((ny, nx), np.int16), tim[0].copy())
    wtab = crcorr.weight_table(N)
    ay = area.y1 - area.y0
    nunst = 0
    for r0 in range(0, ay, rows_per):
        nunst += crcorr.fit_rows(
            (sci, err, tim, dq), out, area, r0, min(ay, r0 + rows_per), pars, wtab, zsig_done=zsig_done, sampzero=2.9
        )
    return (*out, dq, nunst)


def _both(monkeypatch, *args, **kw):
    got_c = _run(*args, **kw)
    monkeypatch.setenv("CALDP_KERNELS", "numpy")
    got_np = _run(*args, **kw)
    monkeypatch.delenv("CALDP_KERNELS")
    return got_c, got_np


def _assert_same(got_c, got_np):
    names = ("sci", "err", "dq", "samp", "time", "read dq", "unstable count")
    for name, c, n in zip(names, got_c, got_np, strict=True):
        assert np.array_equal(np.asarray(c), np.asarray(n), equal_nan=True), name
        if isinstance(c, np.ndarray):
            assert c.dtype == n.dtype, name


@needs_kernels
@pytest.mark.parametrize("N", [2, 3, 4, 8, 14, 16])
@pytest.mark.parametrize("rate_units", [False, True])
def test_ramp_fit_c_equals_numpy(monkeypatch, N, rate_units):
    stack = _stack(N, 40, 36, seed=N * 7 + rate_units, rate_units=rate_units)
    area = Area(3, 38, 2, 33)
    pars = crcorr.RampPars(
        thresh=F32(4.0), dqignore=4 | 16 | 32 | 256 | 512, gain=F32(2.35), rate_units=rate_units,
        counts_out=not rate_units,
    )  # fmt: skip
    got_c, got_np = _both(monkeypatch, stack, area, pars, zsig_done=True, rows_per=7)
    _assert_same(got_c, got_np)
    # the data reach the branches the test is about
    samp, dq_reads = got_np[3], got_np[5]
    assert (dq_reads & DQ.CRHIT).any() and (samp[area.sl] == 0).any()
    if N >= 4:  # spikes found (DETECTORPROB added to reads that did not have it)
        assert (dq_reads & ~stack[3] & DQ.DETECTORPROB).any()
    if N >= 8:  # four CRs: UNSTABLE
        assert got_np[6] > 0


@needs_kernels
def test_ramp_fit_no_zsig_and_narrow_dqignore(monkeypatch):
    """Without ZSIGCORR every pixel is fitted; BADINPDQ without the SATPIXEL bit."""
    stack = _stack(10, 30, 30, seed=3, rate_units=False)
    area = Area(0, 30, 0, 30)
    pars = crcorr.RampPars(thresh=F32(5.5), dqignore=16, gain=F32(2.5), rate_units=False, counts_out=False)
    got_c, got_np = _both(monkeypatch, stack, area, pars, zsig_done=False, rows_per=30)
    _assert_same(got_c, got_np)


@needs_kernels
def test_ramp_fit_rejects_bad_buffers():
    kern = load(KMOD)
    stack = _stack(4, 8, 8, seed=1, rate_units=False)
    sci, err, tim, dq = stack
    out = (sci[0].copy(), err[0].copy(), dq[0].copy(), np.zeros((8, 8), np.int16), tim[0].copy())
    with pytest.raises(ValueError):
        kern.ramp_fit(
            sci, err, tim, dq, *out, np.zeros(3, F32), 4, 8, 8, 0, 8, 0, 8,
            4.0, 0, 2.5, 0.01, 0.01, False, False, False, 2.9,
        )  # fmt: skip


def _reads(N, ny, nx, seed):
    """A file-order stack of raw-ish reads: signal up to saturation, negatives, zeros, flags, zero TIME."""
    rng = np.random.default_rng(seed)
    sci = rng.choice([0.0, -30.0, 500.0, 20000.0, 45000.0], size=(N, ny, nx)) * rng.uniform(0.5, 1.2, (N, ny, nx))
    err = np.zeros((N, ny, nx), F32)
    dq = np.where(rng.random((N, ny, nx)) < 0.05, rng.choice([4, 256, 2048, 8192], size=(N, ny, nx)), 0)
    tim = np.broadcast_to(np.linspace(40.0, 0.0, N)[:, None, None], (N, ny, nx)).astype(F32).copy()
    tim[:, rng.random((ny, nx)) < 0.05] = 0.0
    return sci.astype(F32), err, dq.astype(np.uint16), tim


def _nlin(ay, ax, ncoef, seed, zsig):
    from caldp.engines.wfc3.ir import passes

    rng = np.random.default_rng(seed)
    coef = np.stack([rng.normal(0, s, (ay, ax)) for s in (1e-3, 1e-6, 1e-11, 1e-16)[:ncoef]]).astype(F32)
    node = rng.choice([30000.0, 40000.0], size=(ay, ax)).astype(F32)
    nldq = np.where(rng.random((ay, ax)) < 0.05, rng.choice([4, 256], size=(ay, ax)), 0).astype(np.uint16)
    nl = passes.Nlin(coef, node, nldq)
    if zsig:
        nl.zs = rng.choice([0.0, 80.0, 3000.0], size=(ay, ax)).astype(F32)
        nl.zsdq = np.where(nl.zs > 0, 2048 | 256 * (rng.random((ay, ax)) < 0.1), 0).astype(np.uint16)
    return nl


@needs_kernels
@pytest.mark.parametrize(("ncoef", "zsig", "noise_all"), [(4, True, True), (3, False, True), (0, False, False)])
def test_noise_nlin_c_equals_numpy(monkeypatch, ncoef, zsig, noise_all):
    from caldp.engines.wfc3.ir import passes

    N, ny, nx = 6, 30, 28
    area = Area(3, 27, 2, 26)
    amps = passes.Amps((2.34, 2.37, 2.31, 2.38), (20.1, 19.8, 20.4, 20.0), bx=13, by=11)
    nl = _nlin(24, 24, ncoef, 5, zsig) if ncoef else None
    noise_reads = list(range(N - 1, -1, -1)) if noise_all else [N - 1, N - 2]
    results = []
    for env in (None, "numpy"):
        if env:
            monkeypatch.setenv("CALDP_KERNELS", env)
        sci, err, dq, _ = _reads(N, ny, nx, 9)
        nsat = np.zeros(N, np.int64)
        for r0, r1 in ((0, 7), (7, 20), (20, 30)):
            passes.noise_nlin((sci, err, dq), area, r0, r1, noise_reads, amps, nl, nsat)
        results.append((sci, err, dq, nsat))
    monkeypatch.delenv("CALDP_KERNELS")
    for c, n in zip(*results, strict=True):
        assert np.array_equal(c, n)
    if ncoef:
        assert results[1][3].sum() > 0 and (results[1][2][0] & 256).any()


@needs_kernels
@pytest.mark.parametrize("unit", [0, 1, 2])
@pytest.mark.parametrize("with_dark", [True, False, "constant"])
def test_dark_unit_and_flat_c_equal_numpy(monkeypatch, unit, with_dark):
    from caldp.engines.wfc3.ir import passes

    rng = np.random.default_rng(unit + 10 * bool(with_dark))
    area = Area(3, 27, 2, 26)
    dshape = (32, 31)  # larger than the science array: indexed with the science pixel numbers
    dark = (
        rng.normal(5, 10, dshape).astype(F32),
        rng.uniform(0, 3, dshape).astype(F32),
        np.where(rng.random(dshape) < 0.1, rng.choice([4, 32, 1024], size=dshape), 0).astype(np.uint16),
    )
    dark[0][0, 0], dark[0][5, 5], dark[0][6, 6] = np.inf, -np.inf, np.finfo(F32).max
    if with_dark == "constant":  # constant ERR and DQ extensions arrive as broadcast views
        dark = (dark[0], np.broadcast_to(F32(2.5), dshape), np.broadcast_to(np.uint16(64), dshape))
    flat = (
        rng.choice([0.0, 0.9, 1.1, -0.5], size=(24, 24)).astype(F32),
        rng.uniform(0, 0.05, (24, 24)).astype(F32),
        np.where(rng.random((24, 24)) < 0.1, 512, 0).astype(np.uint16),
    )
    results = []
    for env in (None, "numpy"):
        if env:
            monkeypatch.setenv("CALDP_KERNELS", env)
        sci, err, dq, tim = (a[1].copy() for a in _reads(3, 30, 28, 4))
        err[...] = rng.uniform(0, 30, err.shape).astype(F32) if env is None else results[0][4]
        e0 = err.copy()
        with np.errstate(over="ignore", invalid="ignore"):  # the ±inf / FLT_MAX dark pixels
            passes.dark_unit(sci, err, dq, tim, area, dark if with_dark else None, unit, 2.9)
            passes.flat_gain(sci, err, dq, area, flat, 2.35)
        results.append((sci, err, dq, tim, e0, passes.meandark(dark[0], dark[2], area)))
    monkeypatch.delenv("CALDP_KERNELS")
    for c, n in zip(*results, strict=True):
        assert np.array_equal(c, n, equal_nan=True)


@needs_kernels
def test_zsigcorr_c_equals_numpy(monkeypatch):
    """Zero-read signal below/above 4σ, saturated zeroth and first reads, quadrant boundaries inside."""
    from caldp.engines.wfc3.ir import passes

    rng = np.random.default_rng(21)
    N, ny, nx = 4, 30, 28
    area = Area(3, 27, 2, 26)
    amps = passes.Amps((2.34, 2.37, 2.31, 2.38), (20.1, 19.8, 20.4, 20.0), bx=13, by=11)
    ref = {
        "ZSCI": rng.normal(100, 5, (24, 24)).astype(F32),
        "ZERR": rng.uniform(0, 20, (24, 24)).astype(F32),
        "NODE": rng.choice([30000.0, 40000.0], size=(24, 24)).astype(F32),
    }
    zeroth = rng.choice([90.0, 110.0, 500.0, 41000.0], size=(ny, nx)).astype(F32)
    results = []
    for env in (None, "numpy"):
        if env:
            monkeypatch.setenv("CALDP_KERNELS", env)
        sci, _, dq, _ = _reads(N, ny, nx, 13)
        sci[N - 1] = zeroth
        zs = passes.zsig((sci, dq), area, ref, amps)
        results.append((sci, dq, zs.sci, zs.dq, zs.nsat0, zs.nsat1))
    monkeypatch.delenv("CALDP_KERNELS")
    for c, n in zip(*results, strict=True):
        assert np.array_equal(c, n)
    assert results[1][4] > 0 and results[1][5] > results[1][4] and (results[1][3] & 2048).any()


@needs_kernels
@pytest.mark.parametrize("N", [3, 4, 5, 14])
def test_ramp_fit_clean_rows_c_equals_numpy(monkeypatch, N):
    """Mostly DQ-clean ramps (the C kernel's row-vectorised path), with CRs, spikes, zero σ/TIME among them."""
    sci, err, tim, dq = _stack(N, 24, 70, seed=100 + N, rate_units=False)
    dq[:, :, 5:] = 0  # only the first five columns keep their flags
    area = Area(0, 24, 1, 69)
    pars = crcorr.RampPars(thresh=F32(4.0), dqignore=4 | 16 | 256, gain=F32(2.5), rate_units=False, counts_out=True)
    got_c, got_np = _both(monkeypatch, (sci, err, tim, dq), area, pars, zsig_done=True, rows_per=5)
    _assert_same(got_c, got_np)
    if N >= 5:  # rejections among the clean ramps
        assert (got_np[5][:, :, 5:] & DQ.CRHIT).any()


def test_raw_reader_matches_astropy_and_rejects_truncation(tmp_path):
    """The direct 16-bit SCI read gives astropy's values; a truncated file is an EngineError naming it."""
    from astropy.io import fits

    from caldp.engines.common.errors import EngineError
    from caldp.engines.wfc3.ir.wf3ir import _read_raw

    from .conftest import sim_ir

    raw = sim_ir(tmp_path / "sim", nsamp=3)["raw"]
    _, st, _ = _read_raw(raw)
    with fits.open(raw) as h:
        for g in range(3):
            for ext, arr in (("SCI", st.sci), ("ERR", st.err), ("DQ", st.dq), ("TIME", st.time)):
                hdu = h[ext, g + 1]
                want = hdu.data if hdu.data is not None else np.full(arr.shape[1:], hdu.header["PIXVALUE"])
                assert np.array_equal(arr[g], np.asarray(want).astype(arr.dtype)), (ext, g)
    cut = tmp_path / raw.name
    data = raw.read_bytes()
    cut.write_bytes(data[: len(data) - 2880 * 3])
    with pytest.raises(EngineError, match=raw.name):
        _read_raw(cut)
