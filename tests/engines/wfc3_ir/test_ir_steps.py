"""WF3IR step functions on tiny hand-made arrays: resistant mean, ramp fit, CR/spike/saturation cases."""

from __future__ import annotations

import numpy as np
import pytest

from caldp.engines.wfc3.ir import crcorr
from caldp.engines.wfc3.ir.blevcorr import reference_pixels, resistant_mean
from caldp.engines.wfc3.ir.darkcorr import select_dark
from caldp.engines.wfc3.ir.nlincorr import correct_read

F32 = np.float32
PARS = crcorr.RampPars(thresh=F32(4.0), dqignore=256, gain=F32(2.5), rate_units=False, counts_out=False)


def test_resistant_mean_hand_worked():
    """Values 1…9 plus an outlier 100: round 1 (median 5.5, MAD 2.5/0.6745) drops 100; round 2 keeps 1…9."""
    x = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 100], F32)
    m, s = resistant_mean(x, 3.0)
    assert float(m) == 5.0
    assert float(s) > 0


def test_resistant_mean_constant_and_mad_zero():
    """All equal but one: MAD = 0 falls back to mean(|dev|)/0.8; the outlier is rejected."""
    x = np.array([7.0] * 9 + [50.0], F32)
    assert float(resistant_mean(x)[0]) == 7.0


def test_reference_pixel_order():
    """Quadrant order: upper-left, lower-left, lower-right, upper-right (rows bottom→top within each)."""
    a = np.arange(16 * 16, dtype=F32).reshape(16, 16)
    ref = reference_pixels(a, (1, 2), (13, 14), (2, 2))
    assert ref[0] == a[8, 1] and ref[1] == a[8, 2]
    assert ref[2 * 6] == a[2, 1]  # quad 2 starts after 6 rows × 2 columns of quad 1
    assert ref[-1] == a[13, 14]
    assert ref.size == 12 * 4


def _ramp(rate, times, *, jumps=(), rn=20.0, seed=0, n=1):
    """Counts (P=n, N) for a linear ramp plus jumps {sample: amplitude}, and its noise model σ."""
    rng = np.random.default_rng(seed)
    t = np.tile(np.asarray(times, F32), (n, 1))
    y = (rate * t).astype(np.float64)
    for k, amp in dict(jumps).items():
        y[:, k:] += amp
    y = y + rng.normal(0, 0.0, y.shape)
    sig = np.sqrt(rn**2 + np.abs(y) * 2.5) / 2.5
    return y.astype(F32), sig.astype(F32), t


def _fit(y, s, t, q, pars):
    """``fit_pixels`` on pixel-major test arrays (the engine passes sample-major ones)."""
    return crcorr.fit_pixels(y.T, s.T, t.T, q.T, pars)


TIMES = [0.0] + [2.93 + 10 * k for k in range(9)]


def test_linear_ramp_gives_its_slope():
    """Case: one interval, no rejections — the fitted rate is the slope; SAMP = N, TIME = t_last."""
    y, s, t = _ramp(12.5, TIMES)
    q = np.zeros(y.shape, np.uint16)
    sci, err, samp, tim, qf = _fit(y, s, t, q, PARS)
    assert sci[0] == pytest.approx(12.5, rel=1e-5)
    assert err[0] > 0
    assert samp[0] == len(TIMES)
    assert tim[0] == pytest.approx(TIMES[-1])
    assert not qf.any()


def test_cr_jump_flagged_and_rate_unbiased():
    """Case: a CR between samples 4 and 5 — sample 5 gets CRHIT, the rate ignores the jump."""
    y, s, t = _ramp(8.0, TIMES, jumps={5: 3000.0})
    q = np.zeros(y.shape, np.uint16)
    sci, err, samp, tim, qf = _fit(y, s, t, q, PARS)
    assert qf[0, 5] & crcorr.CR
    assert sci[0] == pytest.approx(8.0, rel=1e-4)
    # CR intervals share their end point: SAMP = (4 + 1) + (5 − 1)
    assert samp[0] == 9
    qd, out_dq, unstable = crcorr.finish_flags(qf, np.zeros(1, np.uint16))
    assert (qd[0, 5:] & crcorr.CR).all() and not (qd[0, :5] & crcorr.CR).any()
    assert not unstable[0]


def test_saturated_read_fitted_from_earlier_reads():
    """Case: saturation from sample 6 on (DQ 256, in BADINPDQ) — the fit uses samples 1…5 only."""
    y, s, t = _ramp(20.0, TIMES)
    y[0, 6:] = 40000.0
    q = np.zeros(y.shape, np.uint16)
    q[0, 6:] = 256
    sci, err, samp, tim, qf = _fit(y, s, t, q, PARS)
    assert sci[0] == pytest.approx(20.0, rel=1e-5)
    assert samp[0] == 6
    assert tim[0] == pytest.approx(TIMES[5])


def test_too_many_crs_unstable():
    """Case: four CRs — the fourth becomes HIGH_CURVATURE; the pixel is UNSTABLE in the output."""
    y, s, t = _ramp(5.0, TIMES, jumps={2: 4000.0, 4: 2500.0, 6: 5000.0, 8: 3000.0})
    q = np.zeros(y.shape, np.uint16)
    sci, err, samp, tim, qf = _fit(y, s, t, q, PARS)
    assert (qf[0] & crcorr.HICURV).any()
    qd, out_dq, unstable = crcorr.finish_flags(qf, np.zeros(1, np.uint16))
    assert out_dq[0] & 32


def test_vectorised_rows_are_independent():
    """Many pixels at once give the same answers as one at a time (clean and CR rows mixed)."""
    y1, s1, t1 = _ramp(3.0, TIMES, n=3)
    y2, s2, t2 = _ramp(9.0, TIMES, jumps={3: 2000.0}, n=2)
    y, s, t = np.vstack([y1, y2]), np.vstack([s1, s2]), np.vstack([t1, t2])
    q = np.zeros(y.shape, np.uint16)
    q[1, 7] = 16  # a flagged (not ignored) sample: lenient path
    both = _fit(y, s, t, q, PARS)
    for i in range(len(y)):
        one = _fit(y[i : i + 1], s[i : i + 1], t[i : i + 1], q[i : i + 1], PARS)
        for a, b in zip(both, one, strict=True):
            np.testing.assert_array_equal(a[i], b[0])


def test_nlincorr_and_saturation():
    """Below NODE: F·(1 + c1·F); above: SATPIXEL and unchanged."""
    sci = np.array([[1000.0, 45000.0]], F32)
    coef = [np.zeros((1, 2), F32), np.full((1, 2), 1e-6, F32)]
    out, dq, nsat = correct_read(
        sci, np.zeros((1, 2), np.uint16), coef, np.full((1, 2), 40000, F32), np.zeros((1, 2), np.uint16)
    )
    assert out[0, 0] == F32(F32(1000.0) * F32(1.001))
    assert out[0, 1] == sci[0, 1] and dq[0, 1] == 256 and nsat == 1


def test_select_dark():
    assert select_dark([43.0, 33.0, 23.0], 23.005, "SPARS10")[:2] == ("MATCH", 3)
    assert select_dark([43.0, 33.0], 20.0, "SPARS10")[0] == "NONE"
