"""Golden values for the UVIS step functions, worked out by hand from calib-wfc3.md."""

import math

import numpy as np

from caldp.engines.wfc3.uvis import blevcorr, darkcorr, dqicorr, flatcorr, fluxcorr, fullwell, noise, sinkcorr
from caldp.engines.wfc3.uvis.geometry import AmpRegion, amp_regions

F32 = np.float32


def test_error_init_double_division():
    """§U2: ERR = f32(sqrt(f64(f32(v + r²))) / f64(g)) — a double division, not float32."""
    sci = np.array([[2617.0]], F32)
    g, r, b = F32(1.55), F32(3.11), F32(2500.0)
    err = noise.init_error(sci, boundary=1, gain=(g, g), readnoise=(r, r), bias=(b, b))
    v = F32((sci[0, 0] - b) * g)
    expected = F32(math.sqrt(float(F32(v + F32(r * r)))) / float(g))
    assert err[0, 0] == expected
    # negative signal is clipped to 0 -> readnoise only
    err = noise.init_error(np.array([[2000.0]], F32), boundary=1, gain=(g, g), readnoise=(r, r), bias=(b, b))
    assert err[0, 0] == F32(math.sqrt(float(F32(r * r))) / float(g))


def test_error_init_uses_slot_by_column():
    sci = np.full((1, 4), 2600.0, F32)
    err = noise.init_error(sci, boundary=3, gain=(1.0, 4.0), readnoise=(0.0001, 2.0), bias=(2500.0, 2400.0))
    assert err[0, 2] == F32(math.sqrt(float(F32(100 + F32(F32(0.0001) ** 2)))))
    assert err[0, 3] == F32(math.sqrt(800 + 4) / 4)
    assert noise.noise_boundary(2048, 25.0, (25, 25, 30, 30), 4206) == 2103


def test_clean_fit_values_high_side_only():
    """§U5.1: only high outliers go; sd is capped at sqrt(mean); then 2·rn above the new mean."""
    v = np.array([100.0, 40.0, 100.0, 101.0, 250.0, 99.0])
    mask, nrej = blevcorr.clean_fit_values(v, np.ones(6, bool), F32(0.2))
    # mean 115, sd 62.4 -> capped at sqrt(115)=10.72; 3.5 sd + mean = 152.5 -> 250 rejected.
    # new mean (100+40+100+101+99)/5 = 88; 2*0.2 + 88 = 88.4 -> 100, 100, 101, 99 rejected; 40 (low) kept.
    assert mask.tolist() == [False, True, False, False, False, False]
    assert nrej == 5


def test_blev_serial_fit_evaluated_at_input_row():
    """§U5 quirk: the fit in output line numbers is evaluated at the raw row number (19-row shift)."""
    ny, nx = 30, 12
    trimy1 = 5
    sizey = ny - trimy1
    sci = np.zeros((ny, nx), F32)
    rows = np.arange(ny)
    # overscan column 0..1: bias = 1000 + 2*(output line) for the science rows
    for r in range(trimy1, ny):
        sci[r, 0:2] = 1000.0 + 2.0 * (r - trimy1)
    sci[:, 2:] = 5000.0
    dq = np.zeros((ny, nx), np.uint16)
    region = AmpRegion("A", 0, 0, 2, nx, trimy1, ny)
    amp = blevcorr.AmpBias(
        region=region, biassect=(0, 1, 0, 0), vx=(0, 0), vy=(0, 0), readnoise=F32(1000.0), ccdbias=2500.0
    )
    out, res = blevcorr.blevcorr(sci, dq, [amp], sdqflags=31743, dodrift=False, trimy1=trimy1)
    mid = sizey // 2
    # fit: intercept = 1000 + 2*mid, slope 2 (in output lines); evaluated at raw row r -> (r - mid)*2 + intercept
    for r in (trimy1, 17, ny - 1):
        bias_r = (r - mid) * 2.0 + (1000.0 + 2.0 * mid)
        assert out[r, 5] == F32(5000.0 - bias_r)
    # rows outside [begy, endy) and the overscan columns are untouched
    assert out[0, 5] == 5000.0 and out[10, 0] == sci[10, 0]
    assert math.isclose(res.levels["A"], float(np.mean((rows[trimy1:] - mid) * 2.0 + 1000.0 + 2.0 * mid)))


def test_blev_parallel_drift_slope():
    ny, nx = 20, 40
    sci = np.zeros((ny, nx), F32)
    cols = np.arange(nx)
    sci[0:5, :] = 100.0 + 0.5 * cols  # virtual overscan rows
    dq = np.zeros((ny, nx), np.uint16)
    s = blevcorr.parallel_drift_slope(sci, dq, vx=(10, 30), vy=(0, 5), sdqflags=31743, rn=F32(100.0))
    assert s == 0.5


def test_bias_sections_choice():
    c, d = (2078, 2099), (2105, 2126)
    assert blevcorr.bias_sections((5, 21), (4183, 4199), c, d, xhalf=0, numamps=2) == (2078, 2099, 0, 0)
    assert blevcorr.bias_sections((5, 21), (4183, 4199), c, d, xhalf=0, numamps=1) == (2078, 2099, 2105, 2126)
    assert blevcorr.bias_sections((5, 21), (0, 0), (0, 0), (0, 0), xhalf=0, numamps=1) == (5, 21, 0, 0)
    assert blevcorr.bias_sections((0, 0), (40, 60), (0, 0), (0, 0), xhalf=0, numamps=1) == (40, 60, 0, 0)


def test_bpixtab_60_column_shift_and_unsplit_run():
    """§U3.4: x ≥ ampx shifts by the virtual columns; a run crossing the boundary is not split."""
    rows = {
        "xstart": np.array([2040, 2050]),
        "ystart": np.array([0, 1]),
        "length": np.array([10, 1]),
        "axis": np.array([1, 1]),
        "value": np.array([4, 16], np.uint16),
    }
    dq = np.zeros((3, 4206), np.uint16)
    out = dqicorr.apply_bpixtab(dq, rows, ltv=(25.0, 0.0), four_amp=True, ampx=2048, virtual_cols=60)
    # run 1 starts left of ampx: raw columns 2040+25 .. 2049+25 (crossing into the virtual region, unsplit)
    assert np.flatnonzero(out[0]).tolist() == list(range(2065, 2075))
    # pixel 2 starts right of ampx: +60 -> raw column 2050+60+25
    assert np.flatnonzero(out[1]).tolist() == [2135]


def test_overscan_only_saturation_mask_full_frame():
    regs = amp_regions("ABCD", 1, ampx=2048, ampy=0, trimx=(25, 25, 30, 30), trimy=(19, 0), nx=4206, ny=2070)
    m = dqicorr.overscan_mask((2070, 4206), regs, subarray=False)
    assert m[:19].all() and not m[19:, 25:2073].any() and m[19:, 2073:2133].all() and m[19:, 4181:].all()
    assert m[19:, :25].all() and not m[19:, 2133:4181].any()


def test_full_well_uses_map_over_mean_gain():
    sci = np.array([[100.0, 100.0, 100.0]], F32)
    smap = np.array([[151.0, 149.0, 0.0]], F32)
    reg = [AmpRegion("C", 2, 0, 0, 2, 0, 1)]
    out = fullwell.flag_full_well(sci, np.zeros((1, 3), np.uint16), smap, mean_gain=F32(1.5), regions=reg)
    assert out.tolist() == [[0, 256, 0]]  # 151/1.5 > 100; 149/1.5 < 100; column 2 outside the region


def test_sinks_walk_upstream_and_flip_for_imset2():
    m = np.zeros((8, 1), F32)
    m[5, 0] = 56000.0
    m[6, 0] = -1.0  # downstream for imset 2 (rows decrease upstream)
    m[4, 0], m[3, 0], m[2, 0] = 30.0, 9.0, 40.0
    sci = np.full((8, 1), 10.0, F32)
    dq, n = sinkcorr.flag_sinks(sci, np.zeros((8, 1), np.uint16), m, expstart=57000.0, upstream_is_up=False)
    # sink at 5, downstream 6, upstream 4 (10 <= 30), 3 not (10 > 9) but the walk continues, 2 (10 <= 40)
    assert np.flatnonzero(dq[:, 0]).tolist() == [2, 4, 5, 6]
    # the sink has not appeared yet at EXPSTART 55000 -> nothing flagged
    dq, n = sinkcorr.flag_sinks(sci, np.zeros((8, 1), np.uint16), m, expstart=55000.0, upstream_is_up=False)
    assert n == 0


def test_dark_scale_is_exptime_over_amp_gain():
    """§D1: k = f32(f32(EXPTIME)/gain_slot), applied per column slot."""
    sci = np.full((1, 2), 500.0, F32)
    dark = np.full((1, 2), 0.0123, F32)
    s, e, d, mean = darkcorr.darkcorr(
        sci,
        np.full((1, 2), 2.0, F32),
        np.zeros((1, 2), np.uint16),
        dark,
        np.zeros((1, 2), F32),
        np.zeros((1, 2), np.uint16),
        exptime=350.0,
        gain=(F32(1.5), F32(1.6)),
        ampx=1,
        sdqflags=31743,
    )
    k0, k1 = F32(F32(350.0) / F32(1.5)), F32(F32(350.0) / F32(1.6))
    assert s[0, 0] == F32(500.0) - F32(k0 * dark[0, 0]) and s[0, 1] == F32(500.0) - F32(k1 * dark[0, 1])
    assert e[0, 0] == 2.0


def test_flat_divides_by_mean_gain_scaled_flat():
    """§D2: the first flat is multiplied by f32(1/mean_gain) (mean of all four ATODGN)."""
    mean_gain = F32(F32(F32(F32(F32(1.5) + F32(1.6)) + F32(1.5)) + F32(1.7)) / F32(4))
    f, fe = flatcorr.gain_scale(np.array([[1.02]], F32), np.array([[0.01]], F32), mean_gain)
    kf = F32(F32(1.0) / mean_gain)
    assert f[0, 0] == F32(kf * F32(1.02))
    s, e, d = flatcorr.divide_flat(
        np.array([[1000.0]], F32),
        np.array([[30.0]], F32),
        np.zeros((1, 1), np.uint16),
        f,
        fe,
        np.zeros((1, 1), np.uint16),
    )
    a = F32(F32(30.0) / f[0, 0])
    b = F32(F32(F32(fe[0, 0] * F32(1000.0)) / f[0, 0]) / f[0, 0])
    assert s[0, 0] == F32(F32(1000.0) / f[0, 0]) and e[0, 0] == F32(np.sqrt(F32(a * a + b * b)))


def test_fluxcorr_ratio_from_header_precision():
    """§D5: ratio = PHTFLAM2/PHTFLAM1 from the 8-digit header values, applied in double."""
    from caldp.engines.common.keywords import hdr_float

    f1, f2 = hdr_float(F32(1.1575178e-19)), hdr_float(F32(1.1654605e-19))
    ratio = fluxcorr.flux_ratio(f1, f2)
    assert ratio == 1.1654605e-19 / 1.1575178e-19
    s, _ = fluxcorr.fluxcorr(np.array([[1234.5]], F32), np.array([[1.0]], F32), ratio=ratio)
    assert s[0, 0] == F32(1234.5 * ratio)
