"""WF3REJ one chip at a time in row strips (calwf3 with parked members): the C rejection in strips
gives the whole-chip result bit for bit, also where a chain of promoted pixels crosses a strip start
(the strip is then computed again from the ring above)."""

import numpy as np
import pytest

from caldp.engines.ccd import crreject
from caldp.engines.common.kernels import load
from caldp.engines.wfc3.uvis import wf3rej
from caldp.engines.wfc3.uvis.wf3rej import NoiseModel

F32 = np.float32
pytestmark = pytest.mark.skipif(load(crreject.REJ_KERNELS) is None, reason="rejection kernels not built")


def _stack(seed, shape=(96, 33), n=2, ncr=90, level=300.0):
    rng = np.random.default_rng(seed)
    ny, nx = shape
    sky = rng.normal(level, 6.0, shape).astype(F32)
    scis, dqs = [], []
    for _ in range(n):
        s = (sky + rng.normal(0, 8.0, shape)).astype(F32)
        ys, xs = rng.integers(0, ny, ncr), rng.integers(0, nx, ncr)
        s[ys, xs] += rng.uniform(60, 5000, ncr).astype(F32)
        s[np.clip(ys + 1, 0, ny - 1), xs] += rng.uniform(0, 300, ncr).astype(F32)
        d = np.zeros(shape, np.uint16)
        d.flat[rng.integers(0, d.size, 40)] = rng.choice(np.array([2, 4, 8, 32, 8192], np.uint16), 40)
        d[np.clip(ys[:20] + 1, 0, ny - 1), xs[:20]] = 32
        scis.append(s)
        dqs.append(d)
    scis[0][5:85, 12] += 4000  # a vertical chain of flagged hits: each promoted by the one above
    dqs[0][6:85, 12] = 32
    return scis, dqs


@pytest.mark.parametrize(("nstrips", "halo"), [(2, None), (3, 0), (3, 3), (6, None)])
@pytest.mark.parametrize("minimum", [True, False])
def test_wf3rej_row_strips_equal_whole_chip(caplog, nstrips, halo, minimum):
    scis, dqs = _stack(11)
    raws = [s / F32(7.0) for s in scis]
    efac = [F32(300.0), F32(250.0)]
    noise = NoiseModel((1.5, 1.6, 1.55, 1.65), (F32(4.0), F32(4.84), F32(9.0), F32(1.0)), 13, 40)
    sky = crreject.sky_mode(scis, dqs, badinpdq=39)
    guess = None
    if not minimum:
        guess = wf3rej.initial_guess_median(scis, dqs, efac=efac, sky=sky, noise=noise, scalense=30.0, badinpdq=39)
    kw = dict(
        guess=guess, efac=efac, sky=sky, noise=noise, sigmas=(F32(6.5), F32(5.5), F32(4.5)), radius=2.1,
        thresh=0.5, scalense=30.0, badinpdq=39, minimum=minimum, scale_out=(F32(550.0), F32(600.0)),
    )  # fmt: skip
    mod = load(crreject.REJ_KERNELS)
    whole = wf3rej._reject_kernel(mod, scis, dqs, raws, **kw)
    with caplog.at_level("DEBUG", logger="caldp.engines.ccd.crreject"):
        split = wf3rej._reject_kernel(mod, scis, dqs, raws, nstrips=nstrips, halo=halo, **kw)
    if halo is not None and minimum:  # the chain crosses the strip starts
        assert "recomputed" in caplog.text
    for a, b in zip(split[:3], whole[:3], strict=True):
        assert a.tobytes() == b.tobytes()
    for a, b in zip(split[3], whole[3], strict=True):
        assert np.array_equal(a, b)
    assert split[4] == whole[4] > 0
    if minimum:
        assert whole[3][0][6:85, 12].all()


def test_strips_refuse_output_over_the_guess():
    scis, dqs = _stack(12)
    noise = NoiseModel((1.5, 1.6, 1.55, 1.65), (F32(4.0), F32(4.84), F32(9.0), F32(1.0)), 13, 0)
    efac, sky = [F32(1), F32(1)], [F32(0), F32(0)]
    guess = wf3rej.initial_guess_median(scis, dqs, efac=efac, sky=sky, noise=noise, scalense=30.0, badinpdq=39)
    with pytest.raises(ValueError, match="alias"):
        wf3rej._reject_kernel(
            load(crreject.REJ_KERNELS), scis, dqs, scis, guess=guess, efac=efac, sky=sky, noise=noise,
            sigmas=(F32(5),), radius=2.1, thresh=0.5, scalense=30.0, badinpdq=39, minimum=False, out=guess,
            nstrips=2,
        )  # fmt: skip
