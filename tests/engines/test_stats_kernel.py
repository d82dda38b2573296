"""The shared statistics pass: C kernel == NumPy reference, and HSTCAL doStat semantics by hand."""

import numpy as np
import pytest

from caldp.engines.common import kernels, stats
from caldp.engines.wfc3.ir.statistics import ir_statistics


def _images(shape, seed):
    rng = np.random.default_rng(seed)
    sci = rng.normal(100.0, 30.0, shape).astype(np.float32)
    err = np.abs(rng.normal(5.0, 2.0, shape)).astype(np.float32)
    err[rng.random(shape) < 0.01] = 0.0
    err[rng.random(shape) < 0.01] = -1.0
    dq = rng.choice(np.array([0, 0, 0, 4, 16, 512, 8192], np.uint16), shape)
    return sci, err, dq


def _both(monkeypatch, *args):
    if not kernels.enabled():
        pytest.skip("CALDP_KERNELS asks for the NumPy path")
    assert kernels.load("caldp.engines.common._kernels") is not None, "the C kernels were not built"
    c = stats.good_pixel_stats(*args)
    monkeypatch.setenv("CALDP_KERNELS", "numpy")
    py = stats.good_pixel_stats(*args)
    monkeypatch.delenv("CALDP_KERNELS")
    return c, py


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (300, 257), (1030, 1024)])
def test_kernel_equals_numpy_bit_for_bit(monkeypatch, shape):
    sci, err, dq = _images(shape, seed=shape[0])
    for sdq in (0, 4, 31743, 65535):
        c, py = _both(monkeypatch, sci, err, dq, sdq)
        assert c == py  # every float64 field identical, sums sequential in both


def test_sequential_sum_is_hstcal_order(monkeypatch):
    """Pairwise and sequential float64 sums differ here; HSTCAL adds in raster order."""
    sci = np.array([[1e8, 1.0, -1e8, 1.0]] * 3, np.float32) + np.float32(0.25)
    err = np.ones_like(sci)
    dq = np.zeros(sci.shape, np.uint16)
    c, py = _both(monkeypatch, sci, err, dq, 0)
    seq = 0.0
    for v in sci.ravel().astype(np.float64):
        seq += v
    assert c.sci_sum == py.sci_sum == seq


def test_hand_worked_values(monkeypatch):
    sci = np.array([[4.0, -2.0, 7.0], [1.0, 8.0, 3.0]], np.float32)
    err = np.array([[2.0, 1.0, 0.0], [0.5, 2.0, 1.0]], np.float32)
    dq = np.array([[0, 0, 0], [0, 16, 1]], np.uint16)  # 16 is serious; 1 is not in SDQFLAGS=16
    for g in _both(monkeypatch, sci, err, dq, 16):
        # good: 4/2, -2/1, 1/0.5, 3/1 (7 has ERR 0, 8 has DQ 16)
        assert g.n == 4
        assert (g.sci_min, g.sci_max, g.sci_sum) == (-2.0, 4.0, 6.0)
        assert (g.err_min, g.err_max, g.err_sum) == (0.5, 2.0, 4.5)
        assert (g.snr_min, g.snr_max, g.snr_sum) == (-2.0, 3.0, 5.0)
    s = stats.image_statistics(sci, err, dq, 16)
    assert s["SCI"]["GOODMEAN"] == 1.5 and s["SCI"]["SNRMEAN"] == 1.25 and s["ERR"]["GOODMEAN"] == 1.125


def test_no_good_pixels(monkeypatch):
    sci = np.ones((4, 4), np.float32)
    for g in _both(monkeypatch, sci, np.zeros_like(sci), np.zeros((4, 4), np.uint16), 0):
        assert g.n == 0
    assert stats.image_statistics(sci, np.zeros_like(sci), np.zeros((4, 4), np.uint16), 0)["SCI"]["NGOODPIX"] == 0


def test_ir_keeps_hstcal_swap(monkeypatch):
    sci, err, dq = _images((64, 64), seed=3)
    s = ir_statistics(sci[2:-2, 2:-2], err[2:-2, 2:-2], dq[2:-2, 2:-2], 31743)  # a non-contiguous section
    g = stats.good_pixel_stats(
        np.ascontiguousarray(sci[2:-2, 2:-2]), err[2:-2, 2:-2].copy(), dq[2:-2, 2:-2].copy(), 31743
    )
    assert s["SCI"]["SNRMAX"] == float(np.float32(g.err_max))
    assert s["ERR"]["GOODMAX"] == float(np.float32(g.snr_max))


def test_wrong_sizes_raise():
    k = kernels.load("caldp.engines.common._kernels")
    if k is None:
        pytest.skip("CALDP_KERNELS asks for the NumPy path")
    with pytest.raises(ValueError, match="err"):
        k.good_stats(np.zeros(4, np.float32), np.zeros(3, np.float32), np.zeros(4, np.uint16), 0)
