"""The median's sections shared with a forked child (``caldp.stage2_median``) give the serial loop's bytes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from caldp import stage2_median

createMedian = pytest.importorskip("drizzlepac.createMedian", reason="drizzlepac not installed")


def stack(nimages=3, rows=70, cols=50, seed=3):
    rng = np.random.default_rng(seed)
    images = rng.normal(100.0, 10.0, (nimages, rows, cols)).astype(np.float32)
    images[1, 5:9, 7] += 5000.0  # a cosmic ray in one image
    weights = np.full_like(images, 400.0)
    weights[2, 30:40, 10:12] = 0.0
    return images, weights


def section_loop(images, weights, rows_per_section=9, grow=1):
    """What ``_median`` does: overlapping sections through ``createMedian.min_med``, then ``_writeImage``."""
    out = np.zeros(images.shape[1:], np.float32)
    nbr = rows_per_section - 2 * grow
    nsec = -(-(images.shape[1] - 2 * grow) // nbr)
    for k in range(nsec):
        e1, e2, u1, u2 = k * nbr, k * nbr + rows_per_section, grow, grow + nbr
        if k == 0:
            u1 = 0
        if k == nsec - 1:
            e2 = min(e2, images.shape[1])
            e1 = min(e1, e2 - 2 * grow - 1)
            u2 = e2 - e1
        masks = np.less(weights[:, e1:e2], 200.0).astype(np.uint8)
        result = createMedian.min_med(
            images[:, e1:e2], weights[:, e1:e2], [5.0] * 3, [100.0] * 3, [10.0] * 3,
            weight_masks=masks, combine_grow=grow, combine_nsigma1=4, combine_nsigma2=3,
        )  # fmt: skip
        out[e1 + u1 : e1 + u2] = result[u1:u2]
    createMedian._writeImage(out, None)
    return out


def test_split_median_gives_the_serial_bytes(monkeypatch):
    images, weights = stack()
    written = []
    monkeypatch.setattr(createMedian, "_writeImage", lambda data, inputHeader=None: written.append((os.getpid(), data)))
    serial = section_loop(images, weights)
    calls = []
    real = createMedian.min_med

    def counting(*args, **kwargs):
        calls.append(os.getpid())
        return real(*args, **kwargs)

    monkeypatch.setattr(createMedian, "min_med", counting)
    split = stage2_median.split_median(lambda imgs, params: section_loop(images, weights), 2)
    got = split([], {"combine_type": "minmed"})
    assert got.tobytes() == serial.tobytes()
    assert createMedian.min_med is counting  # put back
    assert [pid for pid, _ in written] == [os.getpid(), os.getpid()]  # the child never writes
    assert len(calls) == 5  # here: the even ones of 10 sections; the child did the odd ones


def test_split_median_runs_as_it_is_for_other_combinations_or_one_core():
    seen = []
    for params, cores in (({"combine_type": "median"}, 2), ({"combine_type": "minmed"}, 1)):
        stage2_median.split_median(lambda imgs, p: seen.append(createMedian.min_med), cores)([], params)
    assert all(not isinstance(f, stage2_median._Sections) for f in seen)


def test_failing_child_fails_the_median(monkeypatch, capfd):
    images, weights = stack()
    real = createMedian.min_med
    parent = os.getpid()

    def broken(*args, **kwargs):
        if os.getpid() != parent:
            raise ValueError("bad section")
        return real(*args, **kwargs)

    monkeypatch.setattr(createMedian, "min_med", broken)
    monkeypatch.setattr(createMedian, "_writeImage", lambda data, inputHeader=None: None)
    with pytest.raises(EOFError, match="median child ended early"):
        stage2_median.split_median(lambda imgs, params: section_loop(images, weights), 2)(
            [], {"combine_type": "minmed"}
        )
    assert "bad section" in capfd.readouterr().err


def test_arrays_cross_the_pipe():
    rfd, wfd = os.pipe()
    a = np.arange(12, dtype=">f4").reshape(3, 4)
    stage2_median.send_array(wfd, a)
    stage2_median.send_array(wfd, np.zeros((0, 5), np.int16))
    os.close(wfd)
    b, c = stage2_median.receive_array(rfd), stage2_median.receive_array(rfd)
    os.close(rfd)
    assert b.dtype == a.dtype and b.tobytes() == a.tobytes() and c.shape == (0, 5)
