"""WF3REJ on tiny arrays: sky mode, minimum guess asymmetry, iterations vs a literal transcription."""

import numpy as np
import pytest

from caldp.engines.ccd import crreject
from caldp.engines.wfc3.uvis import wf3rej
from caldp.engines.wfc3.uvis.wf3rej import NoiseModel

from .rej_reference import reject_reference

F32 = np.float32


def _stack(seed, ny=24, nx=19, nimg=2, ncr=12, nbad=15):
    rng = np.random.default_rng(seed)
    base = rng.normal(60, 3, (ny, nx)).astype(F32)
    base[8:11, 5:8] += 400  # a "star"
    imgs, dqs = [], []
    for _ in range(nimg):
        img = (base * 2 + rng.normal(0, 4, (ny, nx))).astype(F32)
        dq = np.zeros((ny, nx), np.uint16)
        ys, xs = rng.integers(0, ny, ncr), rng.integers(0, nx, ncr)
        img[ys, xs] += rng.uniform(50, 3000, ncr).astype(F32)
        img[np.clip(ys + 1, 0, ny - 1), xs] += rng.uniform(0, 200, ncr).astype(F32)
        by, bx = rng.integers(0, ny, nbad), rng.integers(0, nx, nbad)
        dq[by, bx] = rng.choice([2, 4, 16, 32, 512, 8, 1024], nbad).astype(np.uint16)
        # bad pixels right next to CRs (the order-dependent cases)
        dq[ys[:4], np.clip(xs[:4] + 1, 0, nx - 1)] = 16
        dq[np.clip(ys[4:8] + 1, 0, ny - 1), xs[4:8]] = 32
        imgs.append(img)
        dqs.append(dq)
    return imgs, dqs


@pytest.mark.parametrize("seed", range(6))
def test_reject_matches_literal_transcription(seed):
    imgs, dqs = _stack(seed)
    efac = [F32(300.0), F32(300.0)]
    noise = NoiseModel((1.5, 1.6, 1.5, 1.6), (F32(2.0) ** 2, F32(2.2) ** 2, 0, 0), ampx=9)
    sky = crreject.sky_mode(imgs, dqs, badinpdq=39)
    ave, var = wf3rej.initial_guess_minimum(imgs, dqs, efac=efac, sky=sky, noise=noise, scalense=30.0, badinpdq=39)
    kw = dict(
        efac=efac, sky=sky, sigmas=(F32(6.5), F32(5.5), F32(4.5)), radius=2.1, thresh=0.5, scalense=30.0, badinpdq=39
    )
    got = wf3rej.reject(imgs, dqs, imgs, ave=ave, var=var, noise=noise, **kw)
    ref = reject_reference(
        imgs, dqs, imgs, ave=ave, var=var, gain=(1.5, 1.6), nse=(F32(4.0), F32(2.2) ** 2), ampx=9, **kw
    )
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_array_equal(got[2], ref[2])
    for a, b in zip(got[3], ref[3], strict=True):
        np.testing.assert_array_equal(a, b)
    assert got[4] == ref[4]
    assert got[4] > 0


def test_minimum_guess_slot_asymmetry():
    """Slot 0 takes (0, 0) from a bad input that is lower; slot 1 ignores a bad lower input after image 0."""
    img0 = np.array([[100.0, 100.0]], F32)
    img1 = np.array([[10.0, 10.0]], F32)
    dq0 = np.zeros((1, 2), np.uint16)
    dq1 = np.array([[4, 4]], np.uint16)
    noise = NoiseModel((1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 0.0), ampx=1)
    ave, var = wf3rej.initial_guess_minimum(
        [img0, img1], [dq0, dq1], efac=[F32(10), F32(10)], sky=[F32(0), F32(0)], noise=noise, scalense=0.0, badinpdq=4
    )
    # column 0 (slot 0): val 1.0 < 10.0 but input bad -> (0, 0); column 1 (slot 1): keeps image 0 -> 10.0
    assert ave.tolist() == [[0.0, 10.0]]
    assert var[0, 0] == 0 and var[0, 1] == F32(F32(100.0) / F32(100.0))


def test_minimum_guess_slot1_takes_bad_image0():
    img0 = np.array([[50.0, 50.0]], F32)
    dq0 = np.array([[4, 4]], np.uint16)
    img1 = np.array([[80.0, 80.0]], F32)
    noise = NoiseModel((1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 0.0), ampx=1)
    ave, _ = wf3rej.initial_guess_minimum(
        [img0, img1],
        [dq0, np.zeros((1, 2), np.uint16)],
        efac=[F32(1), F32(1)],
        sky=[F32(0), F32(0)],
        noise=noise,
        scalense=0.0,
        badinpdq=4,
    )
    # slot 0: image 0 bad -> 0; image 1 (80) not < 0 -> stays 0. slot 1: image 0 taken despite DQ -> 50.
    assert ave.tolist() == [[0.0, 50.0]]


def test_sky_mode_by_hand():
    """Values 10.3 (x60) and 11.7 (x40) and one 12.2: min 10, mean int(10.89+1)=11, max 12, 1000 bins of width 1.

    Bins: h=trunc(v-10): 0 (60), 1 (40), 2 (1) -> peak at bin 0 -> bin centre 10.5.
    """
    img = np.array([10.3] * 60 + [11.7] * 40 + [12.2], F32).reshape(1, -1)
    dq = np.zeros_like(img, np.uint16)
    assert crreject.sky_mode([img], [dq], badinpdq=0) == [F32(10.5)]
    # Parabolic case: bins 4 (10), 5 (30), 6 (20) with min 0 -> 5 + 0.5 + 0.5*(20-10)/(20+10) = 5.6666665
    img = np.array([0.5] + [4.5] * 10 + [5.5] * 30 + [6.5] * 20, F32).reshape(1, -1)
    assert crreject.sky_mode([img], [np.zeros_like(img, np.uint16)], badinpdq=0) == [F32(5.0 + 0.5 + 0.5 * 10 / 30)]


def test_crmask_writeback_stops_at_multiple_of_8():
    dq = np.full((1, 10), 8192, np.uint16)
    out = wf3rej.crmask_writeback(dq, np.zeros((1, 10), bool))
    assert out.tolist() == [[0] * 8 + [8192, 8192]]


@pytest.mark.parametrize("block_rows", [1, 2, 3, 5])
def test_reject_strips_match_whole_image(block_rows):
    """Strip processing (HITs carried across strip borders) equals the literal transcription."""
    imgs, dqs = _stack(3, ny=31, ncr=40)
    efac = [F32(300.0), F32(300.0)]
    noise = NoiseModel((1.5, 1.6, 1.5, 1.6), (F32(2.0) ** 2, F32(2.2) ** 2, 0, 0), ampx=9)
    sky = crreject.sky_mode(imgs, dqs, badinpdq=39)
    ave, var = wf3rej.initial_guess_minimum(imgs, dqs, efac=efac, sky=sky, noise=noise, scalense=30.0, badinpdq=39)
    kw = dict(
        efac=efac, sky=sky, sigmas=(F32(6.5), F32(5.5), F32(4.5)), radius=2.1, thresh=0.5, scalense=30.0, badinpdq=39
    )
    got = wf3rej.reject(imgs, dqs, imgs, ave=ave, var=var, noise=noise, block_rows=block_rows, **kw)
    ref = reject_reference(
        imgs, dqs, imgs, ave=ave, var=var, gain=(1.5, 1.6), nse=(F32(4.0), F32(2.2) ** 2), ampx=9, **kw
    )
    for k in range(3):
        np.testing.assert_array_equal(got[k], ref[k])
    for a, b in zip(got[3], ref[3], strict=True):
        np.testing.assert_array_equal(a, b)
    assert got[4] == ref[4] > 0
    # results written over the initial guess itself (what combine does)
    a2, v2 = ave.copy(), var.copy()
    inplace = wf3rej.reject(imgs, dqs, imgs, ave=a2, var=v2, noise=noise, block_rows=block_rows, out=(a2, v2), **kw)
    assert inplace[0] is a2 and inplace[1] is v2
    for k in range(3):
        np.testing.assert_array_equal(inplace[k], ref[k])
