"""The UVIS C kernels against the NumPy reference implementations: bit-identical outputs.

Each test runs a step twice on the same small random inputs — once with the compiled kernels,
once with ``CALDP_KERNELS=numpy`` — and compares every output bit for bit (float32 as raw bits,
so signed zeros and NaNs count too).
"""

from __future__ import annotations

import numpy as np
import pytest

from caldp.engines.wfc3.uvis import darkcorr, flatcorr, fluxcorr, noise, passes, sinkcorr
from caldp.engines.wfc3.uvis.blevcorr import AmpLevels
from caldp.engines.wfc3.uvis.geometry import amp_regions

pytest.importorskip("caldp.engines.wfc3.uvis._kernels")

F32 = np.float32
U16 = np.uint16


def _bits(a):
    a = np.asarray(a)
    if a.dtype == F32:
        return a.view(np.uint32)
    if a.dtype == np.float64:
        return a.view(np.uint64)
    return a


def _same(x, y):
    if isinstance(x, tuple | list):
        assert len(x) == len(y)
        for a, b in zip(x, y, strict=True):
            _same(a, b)
    elif isinstance(x, np.ndarray):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(_bits(x), _bits(y))
    elif isinstance(x, float):
        assert np.float64(x).view(np.uint64) == np.float64(y).view(np.uint64)
    else:
        assert x == y


def both(monkeypatch, fn, *make):
    """fn(*inputs) with the kernels and with NumPy; inputs are rebuilt for each run (kernels may work in place)."""
    monkeypatch.delenv("CALDP_KERNELS", raising=False)
    assert passes.kernels() is not None
    fast = fn(*[m() for m in make])
    monkeypatch.setenv("CALDP_KERNELS", "numpy")
    assert passes.kernels() is None
    ref = fn(*[m() for m in make])
    monkeypatch.delenv("CALDP_KERNELS")
    _same(fast, ref)
    return fast


def _raw(seed, shape=(37, 53)):
    rng = np.random.default_rng(seed)
    sci = rng.normal(2500, 800, shape).astype(F32)
    sci.flat[rng.integers(0, sci.size, 20)] = 65535.0
    sci.flat[rng.integers(0, sci.size, 10)] = 0.0
    sci.flat[rng.integers(0, sci.size, 10)] = -0.0
    sci.flat[rng.integers(0, sci.size, 10)] = -50.0
    dq = np.zeros(shape, U16)
    dq.flat[rng.integers(0, sci.size, 40)] = rng.choice([4, 16, 256, 1024, 2048, 8192], 40).astype(U16)
    return sci, dq


@pytest.mark.parametrize("mask_kind", ["none", "whole", "rows_cols"])
@pytest.mark.parametrize("boundary", [0, 20, 53])
def test_ccd_first_pass(monkeypatch, mask_kind, boundary):
    sci, dq = _raw(1)
    ny, nx = sci.shape
    rows = np.zeros(ny, bool)
    rows[30:] = True
    cols = np.zeros(nx, bool)
    cols[:3] = cols[25:28] = cols[-2:] = True
    sat = {
        "none": None,
        "whole": passes.SatPars(saturate=3000.0),
        "rows_cols": passes.SatPars(saturate=3000.0, mask=(rows, cols)),
    }[mask_kind]
    pars = passes.NoisePars(boundary=boundary, gain=(1.5, 1.6), readnoise=(3.1, 3.3), bias=(2500.0, 2480.0))
    err, out = both(
        monkeypatch,
        lambda s, e, d: passes.ccd_first_pass(s, e, d, noise=pars, dqicorr=True, sat=sat),
        sci.copy,
        lambda: np.zeros(sci.shape, F32),
        dq.copy,
    )
    assert np.any(out & 2048) and np.all(err > 0)


def test_init_error_alone(monkeypatch):
    sci, _ = _raw(2)
    both(
        monkeypatch,
        lambda s: noise.init_error(s, boundary=17, gain=(1.5, 0.0), readnoise=(3.0, 0.0), bias=(2500, 0)),
        sci.copy,
    )


def _levels(sci):
    ny, nx = sci.shape
    regs = amp_regions("ABCD", 1, ampx=20, ampy=0, trimx=(3, 2, 3, 3), trimy=(2, 0), nx=nx, ny=ny)
    out = []
    for k, r in enumerate(regs):
        rows = np.linspace(2490.0, 2510.0, r.sizey) + 0.1 * k
        cols = (np.arange(r.begx, r.endx) - 10.5) * (1e-3 if k == 0 else 0.0)
        out.append(AmpLevels(region=r, rows=rows, cols=cols))
    return regs, out


@pytest.mark.parametrize("parts", ["all", "blev", "bias", "fullwell", "bias+fullwell"])
def test_ccd_bias_pass(monkeypatch, parts):
    sci, dq = _raw(3)
    rng = np.random.default_rng(4)
    err = rng.uniform(0, 20, sci.shape).astype(F32)
    err.flat[::7] = 0.0
    regs, levels = _levels(sci)
    bias = (
        rng.normal(2, 3, sci.shape).astype(F32),
        rng.uniform(0, 2, sci.shape).astype(F32),
        np.where(rng.random(sci.shape) < 0.05, 128, 0).astype(U16),
    )
    satmap = rng.uniform(0, 2000, sci.shape).astype(F32)
    use = {
        "levels": levels if parts in ("all", "blev") else None,
        "bias": bias if "bias" in parts or parts == "all" else None,
        "fullwell": passes.FullWellPars(satmap, regs, np.float32(1.55))
        if "fullwell" in parts or parts == "all"
        else None,
    }
    res = both(monkeypatch, lambda s, e, d: passes.ccd_bias_pass(s, e, d, **use), sci.copy, err.copy, dq.copy)
    if use["fullwell"] is not None:
        assert res[4] > 0


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("up", [True, False])
def test_sinks(monkeypatch, up, in_place):
    rng = np.random.default_rng(5)
    shape = (40, 30)
    m = np.zeros(shape, F32)
    sci = rng.uniform(0, 50, shape).astype(F32)
    for _ in range(25):
        y, x = rng.integers(1, 39), rng.integers(0, 30)
        m[y, x] = rng.choice([55000.0, 60500.0, 61000.0])
        step = 1 if up else -1
        m[y - step, x] = rng.choice([-1.0, 0.0, 3.0])
        for j in range(1, rng.integers(1, 6)):
            yy = y + step * j
            if 0 <= yy < 40:
                m[yy, x] = rng.choice([0.5, 5.0, 30.0, 900.0, 1500.0, 0.0])
    m[0, :3] = 60000.0  # sinks on the first/last row
    m[-1, :3] = 60000.0
    dq = np.zeros(shape, U16)
    dq.flat[::11] = 1024
    dq.flat[::13] = 4
    d, n = both(
        monkeypatch,
        lambda s, q, mm: sinkcorr.flag_sinks(s, q, mm, expstart=60600.0, upstream_is_up=up, in_place=in_place),
        sci.copy,
        dq.copy,
        m.copy,
    )
    assert n > 0


def _twod_inputs(seed, shape=(31, 47)):
    rng = np.random.default_rng(seed)
    sci = rng.normal(100, 50, shape).astype(F32)
    sci.flat[::17] = -0.0
    err = rng.uniform(1, 10, shape).astype(F32)
    dq = np.where(rng.random(shape) < 0.1, 16, 0).astype(U16)
    ref = rng.uniform(-0.01, 0.05, shape).astype(F32)
    ref_err = rng.uniform(0, 0.01, shape).astype(F32)
    ref_dq = np.where(rng.random(shape) < 0.2, rng.choice([4, 32, 512], shape), 0).astype(U16)
    ref_dq[3, :] = 4  # a line without good pixels
    flat = rng.uniform(0.8, 1.2, shape).astype(F32)
    flat.flat[::9] = 0.0
    flat_err = rng.uniform(0, 0.01, shape).astype(F32)
    flat_dq = np.where(rng.random(shape) < 0.05, 512, 0).astype(U16)
    return sci, err, dq, ref, ref_err, ref_dq, flat, flat_err, flat_dq


@pytest.mark.parametrize("ampx", [0, 20, 47])
@pytest.mark.parametrize("gain", [(1.5, 1.6), (0.0, 1.6), (1.5, 0.0)])
@pytest.mark.parametrize("in_place", [False, True])
def test_twod_pass(monkeypatch, ampx, gain, in_place):
    x = _twod_inputs(6)

    def run(sci, err, dq):
        dark = passes.DarkPars(x[3], x[4], x[5], k0=300.0, gain=gain, ampx=ampx, sdqflags=31743)
        flat = passes.FlatPars(x[6], x[7], x[8], mean_gain=np.float32(1.55))
        out = (sci, err, dq) if in_place else None
        return passes.twod_pass(sci, err, dq, dark=dark, flat=flat, out=out)

    with np.errstate(all="ignore"):
        res = both(monkeypatch, run, x[0].copy, x[1].copy, x[2].copy)
    assert res[4] > 0


def test_darkcorr_and_divide_flat_steps(monkeypatch):
    x = _twod_inputs(7)
    both(
        monkeypatch,
        lambda s, e, d: darkcorr.darkcorr(
            s, e, d, x[3], x[4], x[5], exptime=500.0, gain=(1.5, 1.6), ampx=20, sdqflags=31743
        ),
        x[0].copy,
        x[1].copy,
        x[2].copy,
    )
    with np.errstate(all="ignore"):
        both(
            monkeypatch,
            lambda s, e, d: flatcorr.divide_flat(s, e, d, x[6], x[7], x[8]),
            x[0].copy,
            x[1].copy,
            x[2].copy,
        )
        # row blocks of a larger array (as ACS2D passes them) and strided reference sections
        both(
            monkeypatch,
            lambda s, e, d: flatcorr.divide_flat(s[5:20], e[5:20], d[5:20], x[6][5:20], x[7][5:20], x[8][5:20]),
            x[0].copy,
            x[1].copy,
            x[2].copy,
        )
        wide = np.tile(x[6], (1, 2))
        both(
            monkeypatch,
            lambda s, e, d: flatcorr.divide_flat(s, e, d, wide[:, 3:50], x[7], x[8], out=(s, e, d)),
            x[0].copy,
            x[1].copy,
            x[2].copy,
        )


def test_fluxcorr(monkeypatch):
    x = _twod_inputs(8)
    both(monkeypatch, lambda s, e: fluxcorr.fluxcorr(s, e, ratio=1.0068618), x[0].copy, x[1].copy)
    both(monkeypatch, lambda s, e: fluxcorr.fluxcorr(s, e, ratio=0.9931, in_place=True), x[0].copy, x[1].copy)


def test_kernel_rejects_wrong_sizes():
    k = passes.kernels()
    if k is None:
        pytest.skip("CALDP_KERNELS asks for the NumPy path")
    with pytest.raises(ValueError):
        k.scale64(np.zeros(3, F32), 4, 1.0)
    with pytest.raises(ValueError):
        k.sinks(np.zeros(6, F32), np.zeros(6, U16), np.zeros(5, F32), 2, 3, 1.0, True)


def test_constant_reference_rows(monkeypatch):
    """Null reference extensions come as broadcast views (strides 0): the kernels reuse one row."""
    sci, dq = _raw(9)
    err = np.full(sci.shape, 5.0, F32)
    regs, levels = _levels(sci)
    const = lambda v, t: np.broadcast_to(np.full((), v, t), sci.shape)  # noqa: E731
    bias = (np.random.default_rng(1).normal(2, 3, sci.shape).astype(F32), const(0.4, F32), const(0, U16))
    fw = passes.FullWellPars(const(4000.0, F32), regs, np.float32(1.55))
    res = both(
        monkeypatch,
        lambda s, e, d: passes.ccd_bias_pass(s, e, d, levels=levels, bias=bias, fullwell=fw),
        sci.copy,
        err.copy,
        dq.copy,
    )
    assert res[4] > 0
    x = _twod_inputs(10, shape=sci.shape)
    dark = passes.DarkPars(x[3], const(0.0005, F32), x[5], k0=300.0, gain=(1.5, 1.6), ampx=20, sdqflags=31743)
    flat = passes.FlatPars(x[6], const(0.003, F32), const(0, U16), mean_gain=np.float32(1.55))
    with np.errstate(all="ignore"):
        both(
            monkeypatch,
            lambda s, e, d: passes.twod_pass(s, e, d, dark=dark, flat=flat),
            x[0].copy,
            x[1].copy,
            x[2].copy,
        )


@pytest.mark.parametrize("four_amp", [True, False])
def test_trim_in_place(monkeypatch, four_amp):
    from astropy.io import fits

    from caldp.engines.common.hstio import ImSet
    from caldp.engines.wfc3.uvis.wf3ccd import _trim

    sci, dq = _raw(11, shape=(30, 64))
    err = np.arange(sci.size, dtype=F32).reshape(sci.shape)

    def run(s, e, d):
        headers = {k: fits.Header({"LTV1": 25.0, "LTV2": 0.0}) for k in ("SCI", "ERR", "DQ")}
        im = ImSet(sci=s, err=e, dq=d, headers=headers, extver=1)
        out = _trim(im, trimx=(3, 2, 4, 5), trimy=(1, 2), four_amp=four_amp, in_place=True)
        assert all(a.flags.c_contiguous for a in (out.sci, out.err, out.dq))
        return out.sci, out.err, out.dq

    res = both(monkeypatch, run, sci.copy, err.copy, dq.copy)
    assert res[0].shape == (27, 64 - 14)
