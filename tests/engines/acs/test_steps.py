"""Per-pixel cases for the ACS step functions, with truth derived by hand or by a literal loop."""

import numpy as np

from caldp.engines.acs import acsrej, blevcorr, dqicorr, noise, postsm4
from caldp.engines.acs.tables import BadPixels, Overscan

F32 = np.float32


def _pars(**kw):
    base = dict(
        sigmas=(F32(6.5), F32(5.5), F32(4.5)),
        scalense=F32(30),
        crradius=F32(2.1),
        crthresh=F32(0.5556),
        badinpdq=39,
        initgues="minimum",
        skysub="none",
    )
    base.update(kw)
    return acsrej.RejPars(**base)


def _pair(shape=(12, 12), level=100.0):
    sci = [np.full(shape, level, F32), np.full(shape, level, F32)]
    err = [np.full(shape, 10.0, F32), np.full(shape, 10.0, F32)]
    dq = [np.zeros(shape, np.uint16), np.zeros(shape, np.uint16)]
    return sci, err, dq


def test_rej_cosmic_ray_hit_and_spill():
    """A 5000 e- hit in input 0 is a HIT; its right neighbour (+60 e-, above the spill threshold
    CRTHRESH²·σ²·ERR²) is a SPILL; the combination uses input 1 alone at both pixels."""
    sci, err, dq = _pair()
    sci[0][6, 6] += 5000
    sci[0][6, 7] += 60
    res = acsrej.reject(sci, err, dq, efac=[F32(1), F32(1)], pars=_pars(), exptot=F32(2), texpt=F32(2))
    assert res.rejected[0][6, 6] and res.rejected[0][6, 7]
    assert not res.rejected[1].any()
    assert res.sci[6, 6] == F32(200) and res.sci[6, 7] == F32(200)
    assert res.dq[6, 6] == 0  # not every input rejected: no CR flag in the combination
    assert res.nrej == int(res.rejected[0].sum())
    assert res.err[0, 0] == F32(-1)  # HSTCAL's marker pixel


def test_rej_input_dq_exactly_8_counts_as_rejected():
    """An input DQ of exactly 8 (DATAMASKED, not in BADINPDQ) is treated as a HIT by ACSREJ."""
    sci, err, dq = _pair()
    dq[1][3, 3] = 8
    res = acsrej.reject(sci, err, dq, efac=[F32(1), F32(1)], pars=_pars(), exptot=F32(2), texpt=F32(2))
    assert res.rejected[1][3, 3] and not res.rejected[0][3, 3]
    assert res.sci[3, 3] == F32(200)  # input 0 only, rescaled to the total exposure


def test_rej_all_inputs_bad_gives_crflag_free_zero():
    """Both inputs excluded by BADINPDQ: no input used, ave 0, ERR 0, DQ = OR of the inputs, no CR flag."""
    sci, err, dq = _pair()
    dq[0][2, 2] = dq[1][2, 2] = 4
    res = acsrej.reject(sci, err, dq, efac=[F32(1), F32(1)], pars=_pars(), exptot=F32(2), texpt=F32(2))
    assert res.sci[2, 2] == 0 and res.err[2, 2] == 0 and res.dq[2, 2] == 4


def test_rej_every_input_rejected_sets_crflag():
    sci, err, dq = _pair()
    dq[0][5, 5] = dq[1][5, 5] = 8
    res = acsrej.reject(sci, err, dq, efac=[F32(1), F32(1)], pars=_pars(), exptot=F32(2), texpt=F32(2))
    assert res.dq[5, 5] & 8192


def test_clean_bias_fit_truncates_threshold():
    """Threshold abs(int(3·s + mean)): mean 100.9, s ≤ sqrt(mean); a value of 110.5 passes the first cut
    (int(3·sqrt(100.9)+100.9) = 131) but not the read-noise cut int(3·2 + 101.x) = 107."""
    v = np.array([100.0, 101.0, 102.0, 100.6, 110.5, 101.3])
    keep = blevcorr.clean_bias_fit(v, np.ones(6, bool), 2.0)
    assert keep.tolist() == [True, True, True, True, False, True]


def test_fit_line_evaluated_at_raw_rows():
    """doBlev fits against output rows j − ny//2 and subtracts at raw rows (trimy1 offset)."""
    sci = np.zeros((6, 5), F32)
    sci[:, 0] = sci[:, 1] = [0, 0, 10, 12, 14, 16]  # overscan columns 0-1; rows 2.. are the science rows
    dq = np.zeros_like(sci, np.uint16)
    osc = Overscan(True, (2, 0), (2, 0), (0, 1), (0, 0), (0, 0), (0, 0))
    sections = blevcorr.amp_sections("HRC", "C", 1, ampx=0, ampy=0, osc=osc, shape=sci.shape)
    out, fits_, meanblev = blevcorr.do_blev(
        sci, dq, sections, trimy1=2, sdqflags=0, readnoise=[5] * 4, default_bias=0.0
    )
    # fit: level(j) = 14 + 2·(j − 2) at output rows j = 0..3; evaluated at raw rows r = 2..5: 14 + 2·(r − 2)
    assert fits_[0].slope == 2.0 and fits_[0].intercept == 14.0
    assert out[2:, 3].tolist() == [-14.0, -16.0, -18.0, -20.0]
    assert out[:2, 2:].tolist() == [[0.0] * 3] * 2
    assert float(meanblev) == 17.0


def test_cross_talk_matches_literal_in_place_loop():
    rng = np.random.default_rng(3)
    img = rng.normal(1000, 300, (3, 9)).astype(F32)
    ref = img.copy()
    for j in range(ref.shape[1]):
        ref[:, j] = ref[:, j] + (ref[:, ref.shape[1] - 1 - j].astype(np.float64) * 9.1e-5).astype(F32)
    assert np.array_equal(postsm4.cross_talk(img), ref)


def test_bias_level_drops_outliers_by_mean_absolute_deviation():
    a = np.full((40, 30), 5.0)
    a[:, :24] += np.tile([0.5, -0.5], 20)[:, None]
    a[7, 3] = 500.0  # far beyond 6 mean absolute deviations
    good = np.ones(40, bool)
    good[0] = False  # a bad row is not used at all
    keep = np.ones((40, 24), bool)
    keep[0] = False
    keep[7, 3] = False
    truth = a[:, :24][keep].mean()
    assert abs(postsm4.bias_level(a, good) - truth) < 1e-12


def test_bpixtab_clipped_and_placeholder():
    rows = BadPixels(np.array([3]), np.array([1]), np.array([10]), np.array([1]), np.array([32]))
    dq = dqicorr.apply_bpixtab(np.zeros((2, 5), np.uint16), rows, (0.0, 0.0))
    assert dq.tolist() == [[0, 0, 32, 32, 32], [0, 0, 0, 0, 0]]


def test_single_amp_wfc_row_needs_full_width_ampx():
    """CCDAMP=A: with AMPX=0 the whole row uses slot B (gain 0) — HSTCAL refuses; AMPX ≥ width uses A."""
    g = [2.0, 0.0, 0.0, 0.0]
    r = [4.0, 0.0, 0.0, 0.0]
    bad = noise.amp_layout("WFC", 1, g, r, ampx=0, ampy=0, ltv=(24, 20), shape=(120, 224))
    assert not bad.check((120, 224))
    ok = noise.amp_layout("WFC", 1, g, r, ampx=224, ampy=0, ltv=(24, 20), shape=(120, 224))
    assert ok.check((120, 224)) and ok.ampx == 224
    sci, _ = noise.to_electrons(np.ones((120, 224), F32), np.zeros((120, 224), F32), ok)
    assert np.all(sci == 2.0)
