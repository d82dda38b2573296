"""The threaded ACS engine gives the same bits whatever the thread count and strip size."""

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.acs import acsrej
from caldp.engines.acs.calacs import calacs
from caldp.engines.common import threads

F32 = np.float32


def _inputs(seed=5, shape=(41, 23), n=3):
    rng = np.random.default_rng(seed)
    sky = rng.normal(120.0, 6.0, shape).astype(F32)
    scis, errs, dqs = [], [], []
    for _ in range(n):
        s = (sky + rng.normal(0, 8.0, shape)).astype(F32)
        ys, xs = rng.integers(0, shape[0], 12), rng.integers(0, shape[1], 12)
        s[ys, xs] += rng.uniform(300, 5000, 12).astype(F32)  # cosmic rays
        d = np.zeros(shape, np.uint16)
        d.flat[rng.integers(0, d.size, 15)] = rng.choice(np.array([2, 4, 8, 32, 256], np.uint16), 15)
        scis.append(s)
        errs.append(np.sqrt(np.maximum(s, 0) + F32(25)).astype(F32))
        dqs.append(d)
    return scis, errs, dqs


@pytest.mark.parametrize("initgues", ["minimum", "median"])
def test_reject_same_for_any_strips_and_threads(monkeypatch, initgues):
    scis, errs, dqs = _inputs()
    pars = acsrej.RejPars(
        sigmas=(F32(6.5), F32(5.5), F32(4.5)),
        scalense=F32(30),
        crradius=F32(2.1),
        crthresh=F32(0.5556),
        badinpdq=39,
        initgues=initgues,
        skysub="mode",
    )
    results = []
    for rows, nthreads in ((1000, 1), (3, 1), (3, 2), (7, 2), (1, 2)):
        monkeypatch.setattr(acsrej, "STRIP_ROWS", rows)
        monkeypatch.setenv("CALDP_THREADS", str(nthreads))
        results.append(
            acsrej.reject(scis, errs, dqs, efac=[F32(1), F32(1.5), F32(1)], pars=pars, exptot=F32(3.5), texpt=F32(3.5))
        )
    ref = results[0]
    assert ref.nrej > 0
    for r in results[1:]:
        assert r.sci.tobytes() == ref.sci.tobytes()
        assert r.err.tobytes() == ref.err.tobytes()
        assert r.dq.tobytes() == ref.dq.tobytes()
        assert r.nrej == ref.nrej
        assert all(np.array_equal(a, b) for a, b in zip(r.rejected, ref.rejected, strict=True))


def test_thread_count_from_env(monkeypatch):
    monkeypatch.setenv("CALDP_THREADS", "3")
    assert threads.thread_count() == 3
    monkeypatch.setenv("CALDP_THREADS", "0")
    assert threads.thread_count() == 1
    monkeypatch.setenv("CALDP_THREADS", "many")
    assert 1 <= threads.thread_count() <= threads.DEFAULT_THREADS


@pytest.mark.parametrize("max_workers", [None, 2])
def test_parallel_map_raises_first_error_after_all_calls(monkeypatch, max_workers):
    monkeypatch.setenv("CALDP_THREADS", "2")
    done = []

    def fn(x):
        done.append(x)
        if x in (1, 2, 4):
            raise ValueError(x)
        return x

    with pytest.raises(ValueError, match="1"):
        threads.parallel_map(fn, range(6), max_workers=max_workers)
    assert sorted(done) == [0, 1, 2, 3, 4, 5]
    assert threads.parallel_map(lambda x: 2 * x, range(7), max_workers=max_workers) == [0, 2, 4, 6, 8, 10, 12]


def test_calacs_products_same_with_one_and_two_threads(mini, tmp_path, monkeypatch):
    outs = {}
    for n in (1, 2):
        monkeypatch.setenv("CALDP_THREADS", str(n))
        out = tmp_path / f"t{n}"
        out.mkdir()
        calacs(mini["asn"], outdir=out, env=mini["env"], keep_intermediates=True)
        outs[n] = out
    names = sorted(p.name for p in outs[1].glob("*.fits"))
    assert names == sorted(p.name for p in outs[2].glob("*.fits"))
    assert any(n.endswith("_crj.fits") for n in names)
    for name in names:
        with fits.open(outs[1] / name) as a, fits.open(outs[2] / name) as b:
            assert len(a) == len(b)
            for ha, hb in zip(a, b, strict=True):
                if ha.data is None or not hasattr(ha.data, "tobytes"):
                    continue
                assert ha.data.tobytes() == hb.data.tobytes(), (name, ha.name, ha.ver)
