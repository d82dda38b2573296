"""The cosmic-ray rejection C kernels (caldp.engines.common._rej_kernels) against the NumPy code.

Each case runs the step twice, with the kernel and with ``CALDP_KERNELS=numpy``, and compares every
output bit for bit: random strips with cosmic rays and their tails, flagged pixels next to them
(the raster-order promotion), DQ values that read as HIT/SPILL/EXCLUDE, inputs with EXPTIME 0,
1-3 inputs and row strips that cut through hits.
"""

import numpy as np
import pytest

from caldp.engines.acs import acsrej
from caldp.engines.ccd import crreject
from caldp.engines.common.kernels import load
from caldp.engines.wfc3.uvis import wf3rej
from caldp.engines.wfc3.uvis.wf3rej import NoiseModel

F32 = np.float32
pytestmark = pytest.mark.skipif(load(crreject.REJ_KERNELS) is None, reason="rejection kernels not built")


def _stack(seed, shape=(37, 29), n=2, ncr=30, nbad=40, level=120.0):
    rng = np.random.default_rng(seed)
    ny, nx = shape
    sky = rng.normal(level, 6.0, shape).astype(F32)
    sky[10:13, 5:9] += 800  # a star: same in every input
    scis, errs, dqs = [], [], []
    for _ in range(n):
        s = (sky + rng.normal(0, 8.0, shape)).astype(F32)
        ys, xs = rng.integers(0, ny, ncr), rng.integers(0, nx, ncr)
        s[ys, xs] += rng.uniform(60, 5000, ncr).astype(F32)
        s[np.clip(ys + 1, 0, ny - 1), xs] += rng.uniform(0, 300, ncr).astype(F32)  # tails: spills
        s[ys, np.clip(xs + 1, 0, nx - 1)] += rng.uniform(0, 300, ncr).astype(F32)
        s.flat[rng.integers(0, s.size, 8)] *= -1  # negative values
        s.flat[rng.integers(0, s.size, 4)] = 0
        d = np.zeros(shape, np.uint16)
        d.flat[rng.integers(0, d.size, nbad)] = rng.choice(np.array([2, 4, 8, 16, 32, 256, 8192], np.uint16), nbad)
        # flagged pixels right after cosmic rays: excluded candidates reached by a spill
        d[ys[:10], np.clip(xs[:10] + 1, 0, nx - 1)] = 32
        d[np.clip(ys[10:20] + 1, 0, ny - 1), xs[10:20]] = 16
        d[np.clip(ys[20:25] + 1, 0, ny - 1), np.clip(xs[20:25] + 1, 0, nx - 1)] = 4
        scis.append(s)
        errs.append(np.sqrt(np.maximum(s, 0) + F32(25)).astype(F32))
        dqs.append(d)
    return scis, errs, dqs


def _both(monkeypatch, fn):
    monkeypatch.delenv("CALDP_KERNELS", raising=False)
    got = fn()
    monkeypatch.setenv("CALDP_KERNELS", "numpy")
    ref = fn()
    monkeypatch.delenv("CALDP_KERNELS")
    return got, ref


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("badinpdq", [0, 39, 0xFFFF])
def test_sky_mode(monkeypatch, seed, badinpdq):
    scis, _, dqs = _stack(seed, n=3)
    scis[1] = scis[1] * F32(37.3)  # wide range: bins wider than 1
    got, ref = _both(monkeypatch, lambda: crreject.sky_mode(scis, dqs, badinpdq=badinpdq))
    assert [F32(s).tobytes() for s in got] == [F32(s).tobytes() for s in ref]


ACS_CASES = [
    # n, efac, initgues, crradius, crthresh, sigmas
    (2, (1.0, 1.0), "minimum", 2.1, 0.5556, (6.5, 5.5, 4.5)),
    (3, (1.0, 1.5, 1.0), "minimum", 2.1, 0.5556, (6.5, 5.5, 4.5)),
    (3, (1.0, 0.0, 2.0), "median", 2.1, 0.5556, (5.0, 4.0)),
    (2, (1.0, 1.0), "median", 1.0, 0.0, (4.0,)),
    (1, (1.0,), "minimum", 2.1, 0.5556, (6.5, 5.5, 4.5)),
    (2, (1.0, 1.0), "minimum", 0.5, 0.8, (3.0, 3.0)),
    (3, (0.0, 0.0, 0.0), "minimum", 3.0, 0.5, (6.0, 4.0)),
]


@pytest.mark.parametrize("case", ACS_CASES)
@pytest.mark.parametrize("seed", range(2))
def test_acsrej(monkeypatch, case, seed):
    n, efac, initgues, radius, thresh, sigmas = case
    scis, errs, dqs = _stack(seed, n=n)
    efac = [F32(e) for e in efac]
    allzero = all(e == 0 for e in efac)
    if allzero:
        efac = [F32(1)] * n
    exptot = F32(sum(efac))
    pars = acsrej.RejPars(
        sigmas=tuple(F32(s) for s in sigmas),
        scalense=F32(30),
        crradius=F32(radius),
        crthresh=F32(thresh),
        badinpdq=39,
        initgues=initgues,
        skysub="mode",
    )

    def run():
        return acsrej.reject(scis, errs, dqs, efac=efac, pars=pars, exptot=exptot, texpt=exptot)

    got, ref = _both(monkeypatch, run)
    _same(got.sci, ref.sci)
    _same(got.err, ref.err)
    _same(got.dq, ref.dq)
    assert got.nrej == ref.nrej
    assert [F32(s) for s in got.skies] == [F32(s) for s in ref.skies] and got.skysum == ref.skysum
    for a, b in zip(got.rejected, ref.rejected, strict=True):
        _same(a, b)
    if n > 1 and sigmas[0] > 5:
        assert got.nrej > 0


@pytest.mark.parametrize(("nstrips", "halo"), [(2, None), (3, 0), (3, 3), (7, 0), (7, None)])
def test_acsrej_row_strips(monkeypatch, caplog, nstrips, halo):
    """Strips computed at once from an empty ring give the whole-chip result, also when the ring
    reached at a strip start differs (no halo, or a chain of promoted pixels crossing the strip
    start): then the strip is computed again from the ring of the strip above."""
    scis, errs, dqs = _stack(7, shape=(90, 31), n=2, ncr=80)
    # a vertical chain of flagged, hit pixels: each promoted by the one above it
    scis[0][5:80, 12] += 4000
    dqs[0][6:80, 12] = 32
    pars = acsrej.RejPars(
        sigmas=(F32(6.5), F32(5.5)), scalense=F32(30), crradius=F32(2.1), crthresh=F32(0.5556), badinpdq=39
    )
    mod = load(crreject.REJ_KERNELS)
    skies = acsrej.sky_levels(scis, dqs, skysub="mode", badinpdq=39)
    kw = dict(efac=[F32(1), F32(1)], pars=pars, skies=skies, exptot=F32(2), texpt=F32(2))
    whole = acsrej._reject_kernel(mod, scis, errs, dqs, nstrips=1, **kw)
    with caplog.at_level("DEBUG", logger="caldp.engines.ccd.crreject"):
        split = acsrej._reject_kernel(mod, scis, errs, dqs, nstrips=nstrips, halo=halo, **kw)
    if halo is not None:
        assert "recomputed" in caplog.text
    for f in ("sci", "err", "dq"):
        _same(getattr(split, f), getattr(whole, f))
    assert split.nrej == whole.nrej > 0
    assert whole.rejected[0][6:80, 12].all()
    monkeypatch.setenv("CALDP_KERNELS", "numpy")
    ref = acsrej.reject(scis, errs, dqs, efac=kw["efac"], pars=pars, exptot=F32(2), texpt=F32(2))
    _same(whole.sci, ref.sci)
    _same(whole.dq, ref.dq)


WF3_CASES = [
    # n, efac, initgues, crradius, crthresh, sigmas, ampy
    (2, (300.0, 300.0), "minimum", 2.1, 0.5, (6.5, 5.5, 4.5), 0),
    (3, (300.0, 200.0, 300.0), "minimum", 2.1, 0.5, (6.5, 5.5, 4.5), 17),
    (3, (300.0, 0.0, 300.0), "median", 2.1, 0.5, (5.0, 4.0), 0),
    (2, (100.0, 120.0), "median", 1.5, 0.0, (4.0,), 20),
    (2, (100.0, 100.0), "minimum", 2.1, 0.5, (3.5,), 0),
    (2, (100.0, 100.0), "minimum", 0.5, 0.7, (3.0, 3.0), 0),
    (3, (0.0, 0.0, 0.0), "minimum", 2.1, 0.5, (6.0, 4.0), 0),
]


class _Pars:
    def __init__(self, initgues, radius, thresh, sigmas):
        self.initgues, self.crradius, self.crthresh = initgues, radius, thresh
        self.sigmas = tuple(F32(s) for s in sigmas)
        self.scalense, self.badinpdq, self.skysub = 30.0, 39, "mode"


@pytest.mark.parametrize("case", WF3_CASES)
@pytest.mark.parametrize("seed", range(2))
def test_wf3rej_combine(monkeypatch, case, seed):
    n, efac, initgues, radius, thresh, sigmas, ampy = case
    scis, _, dqs = _stack(seed + 10, n=n, level=300.0)
    raws = [s / F32(7.0) for s in scis]  # rates: the spill plane of the first rows holds these
    noise = NoiseModel((1.5, 1.6, 1.55, 1.65), (F32(2.0) ** 2, F32(2.2) ** 2, F32(9.0), F32(1.0)), 11, ampy)
    pars = _Pars(initgues, radius, thresh, sigmas)

    def run():
        return wf3rej.combine(scis, dqs, raws, efac=list(efac), noise=noise, pars=pars)

    got, ref = _both(monkeypatch, run)
    _same(got.sci, ref.sci)
    _same(got.err, ref.err)
    _same(got.dq, ref.dq)
    assert got.nrej == ref.nrej and got.skysum == ref.skysum
    for a, b in zip(got.crbits, ref.crbits, strict=True):
        _same(a, b)
    if sum(e > 0 for e in efac) > 1 and sigmas[0] > 5:
        assert got.nrej > 0


@pytest.mark.parametrize("initgues", ["minimum", "median"])
def test_wf3rej_reject_given_guess_in_place(monkeypatch, initgues):
    """reject() with the guess given, results written over it (as combine's NumPy path does)."""
    scis, _, dqs = _stack(4, n=2, level=300.0)
    efac = [F32(300.0), F32(300.0)]
    noise = NoiseModel((1.5, 1.6, 1.5, 1.6), (F32(4.0), F32(4.84), 0, 0), ampx=9)
    sky = crreject.sky_mode(scis, dqs, badinpdq=39)
    guess = wf3rej.initial_guess_minimum if initgues == "minimum" else wf3rej.initial_guess_median
    ave, var = guess(scis, dqs, efac=efac, sky=sky, noise=noise, scalense=30.0, badinpdq=39)
    kw = dict(efac=efac, sky=sky, sigmas=(F32(6.5), F32(5.5), F32(4.5)), radius=2.1, thresh=0.5, scalense=30.0)

    def run():
        a, v = ave.copy(), var.copy()
        kw2 = dict(noise=noise, badinpdq=39, initgues=initgues, out=(a, v))
        out = wf3rej.reject(scis, dqs, scis, ave=a, var=v, **kw2, **kw)
        assert out[0] is a and out[1] is v
        return out

    got, ref = _both(monkeypatch, run)
    for k in range(3):
        _same(got[k], ref[k])
    for a, b in zip(got[3], ref[3], strict=True):
        _same(a, b)
    assert got[4] == ref[4] > 0


@pytest.mark.parametrize("nx", [16, 19, 7])
def test_crmask(monkeypatch, nx):
    rng = np.random.default_rng(nx)
    dq = rng.choice(np.array([0, 4, 8192, 8192 | 32, 2], np.uint16), (9, nx))
    rej = rng.random((9, nx)) < 0.4
    got, ref = _both(monkeypatch, lambda: acsrej.apply_crmask(dq, rej))
    _same(got, ref)
    got, ref = _both(monkeypatch, lambda: wf3rej.crmask_writeback(dq, rej))
    _same(got, ref)
    if nx % 8:
        _same(got[:, 8 * (nx // 8) :], dq[:, 8 * (nx // 8) :])
