"""calstis4 steps on small arrays: a known shift of a lamp spectrum and of the occulting bars is
recovered, FLAGCR flags a cosmic ray and nothing else, the cross-correlation peak and the spline
follow their formulas."""

from __future__ import annotations

import numpy as np
import pytest

from caldp.engines.stis import calstis11, flagcr, spatialshift, waveshift


def _lamp(x, centres, sigma=1.3):
    out = np.full(x.shape, 0.5)
    for c in centres:
        out = out + 100.0 * np.exp(-0.5 * ((x - c) / sigma) ** 2)
    return out


@pytest.mark.parametrize("shift", [-3.3, 0.0, 2.4])
def test_wave_shift_recovers_a_known_shift(shift):
    """Template lines at pixels c (crval 5000 Å at crpix 99.5, 2 Å/pix); the image has them at c + shift."""
    nx, ny = 200, 30
    cdelt, crpix, crval = 2.0, 99.5, 5000.0
    centres = np.array([31.0, 58.0, 90.0, 117.0, 150.0, 171.0])
    wl = np.arange(4700.0, 5300.0, 0.25)
    flux = _lamp((wl - crval) / cdelt + crpix, centres, sigma=0.6)
    edges, flux = waveshift.lamp_edges(wl, flux)
    row = _lamp(np.arange(nx, dtype=float), centres + shift).astype(np.float32)
    sci = np.repeat(row[None, :], ny, axis=0)
    dq = np.zeros(sci.shape, np.uint16)
    got = waveshift.wave_shift(
        sci,
        dq,
        sdqflags=31743,
        cols=(5, nx - 6),
        rows=(5, ny - 6),
        crpix=crpix,
        crval=crval,
        cdelt=cdelt,
        slitwidth=1.0,
        edges=edges,
        flux=flux,
        wl_range=21,
    )
    assert got == pytest.approx(shift, abs=0.05)


def test_xc_peak_is_the_parabola_vertex():
    """A cross correlation that is a parabola with its vertex 0.3 right of the middle gives 0.3."""
    tspec = np.zeros(41)
    tspec[20] = 1.0
    x = np.arange(41, dtype=float)
    v = 100.0 - (x - 20.3) ** 2  # xc[j] = v[15 + j]: vertex at j = 5.3, the middle is 5
    qv = np.zeros(41, np.int16)
    got = waveshift.xc_peak(v, qv, tspec, 11, 31743)
    assert got == pytest.approx(0.3, abs=1e-12)


def test_scale_one_trims_and_falls_back():
    assert waveshift.scale_one(20, 1.0, 128) == (20, 107)
    assert waveshift.scale_one(20, 2.0, 128) == (10, 117)
    assert waveshift.scale_one(100, 1.0, 128) == (0, 127)  # trim too large: the whole axis


def test_flag_cr_flags_only_the_hit():
    rng = np.random.default_rng(4)
    sci = (50.0 + rng.normal(0.0, 2.0, (60, 8))).astype(np.float32)
    sci[25, 3] += 400.0
    dq = np.zeros(sci.shape, np.uint16)
    n = flagcr.flag_cr(sci, dq, sdqflags=31743, nsigma_cr=5.0, nsigma_illum=3.0, mad_reject=5.0, min_mad=1.0)
    assert n == 1 and dq[25, 3] == 8192 and np.count_nonzero(dq) == 1


def test_clean_mean_small_columns():
    """One value: itself; two: the smaller and their difference."""
    vals = np.array([[3.0, 7.0], [9.0, 5.0]], np.float32)
    sel = np.array([[True, True], [False, True]])
    n, mean, std = flagcr.clean_mean(vals, sel, 1.0, 5.0)
    assert n.tolist() == [1, 2] and mean.tolist() == [3.0, 5.0] and std.tolist() == [0.0, 2.0]


def test_spline_is_exact_on_a_line():
    xa = np.array([0.0, 3.0, 7.5, 12.0])
    x = np.linspace(-2.0, 14.0, 33)
    assert np.allclose(spatialshift.spline(xa, 2.0 * xa + 1.0, x), 2.0 * x + 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shift", [-1.4, 0.0, 0.8])
def test_find_bars_recovers_a_known_shift(shift):
    """Two 9-pixel bars 40 pixels either side of crpix, moved by `shift` pixels."""
    nv, crpix, cdelt = 300, 149.0, 0.05 / 3600.0
    y = np.arange(nv, dtype=float)
    v = np.full(nv, 1000.0)
    bars = [(-2.0, 0.45), (2.0, 0.45)]
    for locn, _width in bars:
        c = crpix + locn / 0.05 + shift
        v *= 1.0 - 0.97 * 0.5 * (np.tanh((y - (c - 4.5)) / 0.5) - np.tanh((y - (c + 4.5)) / 0.5))
    qv = np.zeros(nv, np.int16)
    qv[:10] = qv[-10:] = 31743
    got, per = spatialshift.find_bars(v, qv, bars, crpix, cdelt, 21)
    assert got == pytest.approx(shift, abs=0.05)
    assert all(0.5 < w < 1.5 for _, w in per)


def test_which_slit():
    assert spatialshift.which_slit("52X0.2") == spatialshift.LONG_SLIT
    assert spatialshift.which_slit("6X0.2") == spatialshift.MEDIUM_ECHELLE_SLIT
    assert spatialshift.which_slit("0.2X0.09") == spatialshift.SHORT_ECHELLE_SLIT


def test_calstis11_subtracts_a_subarray_where_it_overlaps():
    """A 3×2 science subarray at LTV (−2, −1) inside a 8×6 wavecal (LTV 0): wavecal columns 2–4,
    rows 1–2 lose ratio × science; the rest is untouched."""
    wav = np.full((6, 8), 100.0, np.float32)
    sci = np.arange(6, dtype=np.float32).reshape(2, 3) + 1.0
    lower, upper, start = calstis11.limits_in_wav(wav.shape, sci.shape, (0.0, 0.0), (-2.0, -1.0))
    assert (lower, upper, start) == ((2, 1), (4, 2), (0, 0))
    out = calstis11.subtract_same_bin(wav, sci, 0.25, (0.0, 0.0), (-2.0, -1.0))
    expect = np.full((6, 8), 100.0, np.float32)
    expect[1:3, 2:5] -= 0.25 * sci
    assert np.array_equal(out, expect)


def test_calstis11_applies_only_to_early_hitm_ccd():
    base = {"DETECTOR": "CCD", "SCLAMP": "HITM2", "TEXPSTRT": 51000.0}
    assert calstis11.applies(base)
    assert not calstis11.applies({**base, "TEXPSTRT": 51126.0})
    assert not calstis11.applies({**base, "SCLAMP": "LINE"})
    assert not calstis11.applies({**base, "DETECTOR": "NUV-MAMA"})


def _slit(nv, centre, length_px, soft=0.7):
    y = np.arange(nv, dtype=float)
    lo, hi = centre - length_px / 2, centre + length_px / 2
    return 1000.0 * 0.5 * (np.tanh((y - lo) / soft) - np.tanh((y - hi) / soft))


@pytest.mark.parametrize("shift", [-1.2, 0.0, 1.3])
def test_xc_echelle_recovers_a_short_slit_shift(shift):
    """A 0.5″ slit (9.8 pixels at 0.0508″) whose image is `shift` pixels from crpix."""
    nv, crpix, cdelt = 128, 63.0, 0.05078 / 3600.0
    v = _slit(nv, crpix + shift, 0.5 / 0.05078)
    qv = np.zeros(nv, np.int16)
    got = spatialshift.xc_echelle(v, qv, 0.5, crpix, cdelt, 21, 31743)
    assert got == pytest.approx(shift, abs=0.1)
    assert spatialshift.xc_echelle(v, qv, 0.5, 200.0, cdelt, 21, 31743) is None  # slit off the image


@pytest.mark.parametrize("shift", [-0.8, 0.6])
def test_find_ends_recovers_a_medium_slit_shift(shift):
    """A 6″ slit (118 pixels): both ends found, their mean offset is the shift."""
    nv, crpix, cdelt = 300, 149.0, 0.05078 / 3600.0
    v = _slit(nv, crpix + shift, 6.0 / 0.05078)
    qv = np.zeros(nv, np.int16)
    got = spatialshift.find_ends(v, qv, 6.0, crpix, cdelt, 21)
    assert got == pytest.approx(shift, abs=0.1)
    qv[:] = 1  # everything flagged: no edge can be found
    assert spatialshift.find_ends(v, qv, 6.0, crpix, cdelt, 21) is None
