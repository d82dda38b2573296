"""The ACS C kernels (caldp.engines.acs._kernels) against the NumPy steps they replace: every
output bit-identical, on small random arrays with flags set, zeros, negative values and constant
reference images, and end to end (calacs on the simulated association, kernels on and off)."""

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.acs import acs2d, biascorr, darkcorr, dqicorr, flshcorr, noise, postsm4, shadcorr
from caldp.engines.acs.calacs import calacs
from caldp.engines.acs.refs import kernel_array
from caldp.engines.ccd.flatcorr import divide_flat
from caldp.engines.common.kernels import load

F32 = np.float32
U16 = np.uint16


@pytest.fixture
def kern():
    k = load("caldp.engines.acs._kernels")
    if k is None:
        pytest.skip("caldp.engines.acs._kernels not built")
    return k


def _image(rng, shape, lo=-50.0, hi=70000.0):
    return rng.uniform(lo, hi, shape).astype(F32)


def _dq(rng, shape, p=0.1):
    return np.where(rng.random(shape) < p, rng.choice([4, 16, 256, 512, 1024], shape), 0).astype(U16)


def _same(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("ampy", [0, 5])
@pytest.mark.parametrize("constant_refs", [False, True])
def test_dqicorr_bias_gain(kern, ampy, constant_refs):
    rng = np.random.default_rng(1)
    shape = (13, 17)
    sci = _image(rng, shape, 0, 70000)
    sci[0, :3] = 65535  # exactly at ATODSAT
    err = rng.uniform(0, 5, shape).astype(F32)
    dq = _dq(rng, shape)
    if constant_refs:
        bias = np.broadcast_to(F32(1000.5), shape)
        berr = np.broadcast_to(F32(0), shape)
        bdq = np.broadcast_to(U16(0), shape)
    else:
        bias, berr, bdq = _image(rng, shape, -10, 3000), rng.uniform(0, 3, shape).astype(F32), _dq(rng, shape)
    lay = noise.AmpLayout((F32(2.02), F32(1.98), F32(2.5), F32(0.5)), (F32(4),) * 4, 8, ampy)
    # NumPy reference
    d1 = dqicorr.flag_atod_saturation(sci, dq, 65535)
    n_ref = int(np.count_nonzero(d1)) - int(np.count_nonzero(dq))
    s1, e1, d1 = biascorr.subtract_bias(sci, err, d1, bias, berr, bdq)
    s1, e1 = noise.to_electrons(s1, e1, lay)
    # C
    g = tuple(float(x) for x in lay.gain)
    refs = [kernel_array(a, t) for a, t in ((bias, F32), (berr, F32), (bdq, U16))]
    # two ways: the separate ATODSAT kernel, or the flag fused into bias_gain
    s2, e2, d2 = sci.copy(), err.copy(), dq.copy()
    n0, _ = kern.atod_flag(s2, d2, s2.size, 65535)
    n1 = kern.bias_gain(s2, e2, d2, (False, 0), *refs, *shape, lay.ampx, lay.ampy, True, g)
    s3, e3, d3 = sci.copy(), err.copy(), dq.copy()
    n3 = kern.bias_gain(s3, e3, d3, (True, 65535), *refs, *shape, lay.ampx, lay.ampy, True, g)
    assert n1 - n0 == n3 - n0 == n_ref
    for a, b, c in ((s1, s2, s3), (e1, e2, e3), (d1, d2, d3)):
        _same(a, b)
        _same(a, c)


def test_gain_only_and_bad_sizes(kern):
    rng = np.random.default_rng(2)
    sci, err, dq = _image(rng, (4, 6)), rng.uniform(0, 2, (4, 6)).astype(F32), _dq(rng, (4, 6))
    lay = noise.AmpLayout((F32(1.5), F32(2.5), F32(1), F32(1)), (F32(3),) * 4, 0, 0)
    s1, e1 = noise.to_electrons(sci, err, lay)
    s2, e2 = sci.copy(), err.copy()
    kern.bias_gain(s2, e2, dq.copy(), (False, 0), None, None, None, 4, 6, 0, 0, True, tuple(map(float, lay.gain)))
    _same(s1, s2)
    _same(e1, e2)
    with pytest.raises(ValueError):
        kern.bias_gain(s2, e2, dq, (False, 0), None, None, None, 4, 7, 0, 0, True, (1.0,) * 4)


@pytest.mark.parametrize("bias_target", [False, True])
def test_fullwell_noise(kern, bias_target):
    rng = np.random.default_rng(3)
    shape = (12, 20)
    sci = _image(rng, shape, -500, 90000)
    sci[3, 4] = 0.0
    err = rng.uniform(0, 9, shape).astype(F32)
    dq = _dq(rng, shape, 0.3)
    sat_ref = rng.uniform(50000, 85000, (15, 22)).astype(F32)
    (iy0, ix0), (sy0, sx0), (ydim, xdim) = (1, 2), (3, 1), (10, 16)
    lay = noise.AmpLayout((F32(1),) * 4, (F32(3.1), F32(4.2), F32(5.3), F32(6.4)), 9, 4)
    d1 = dq.copy()
    region = (slice(iy0, iy0 + ydim), slice(ix0, ix0 + xdim))
    d1[region] |= np.where(sci[region] > sat_ref[sy0 : sy0 + ydim, sx0 : sx0 + xdim], U16(256), U16(0))
    nsat = int(np.count_nonzero(d1 & 256)) - int(np.count_nonzero(dq & 256))
    e1 = noise.init_error(sci, err, lay, bias_target=bias_target)
    rn = tuple(float(r) for r in lay.readnoise)
    geometry = (sat_ref.shape, (iy0, ix0), (sy0, sx0), (ydim, xdim))
    args = (*shape, lay.ampx, lay.ampy, rn, bias_target, *geometry)
    # the trimmed section first (it reads the untouched inputs), then in place
    sec = ((1, 2), (10, 16))
    outs = (np.empty(sec[1], F32), np.empty(sec[1], F32), np.empty(sec[1], U16))
    n_t = kern.fullwell_noise(sci, err, dq, sat_ref, *args, (*outs, *sec))
    e2, d2 = err.copy(), dq.copy()
    n = kern.fullwell_noise(sci, e2, d2, sat_ref, *args, None)
    assert n == n_t == nsat > 0
    _same(d1, d2)
    _same(e1, e2)
    cut = (slice(1, 11), slice(2, 18))
    for a, b in ((sci, outs[0]), (e1, outs[1]), (d1, outs[2])):
        _same(a[cut], b)
    with pytest.raises(ValueError):  # region outside the saturation image
        kern.fullwell_noise(
            sci, e2, d2, sat_ref, *shape, 0, 0, rn, False, sat_ref.shape, (0, 0), (6, 0), (10, 16), None
        )
    with pytest.raises(ValueError):  # output section outside the image
        kern.fullwell_noise(sci, e2, d2, None, *args, (*outs, (5, 2), (10, 16)))


def _amp_chips(rng, ny=2068, ncols=40, level=1000.0):
    """Two chips of 2·ncols columns holding the four amps: prescan near `level`, science above it,
    a few saturated rows and bright columns so the row tests and clipping have work."""
    chips = []
    for _ in range(2):
        c = (level + rng.normal(0, 4, (ny, 2 * ncols))).astype(F32)
        c[:, 24:-24] += rng.uniform(0, 400, (ny, 2 * ncols - 48)).astype(F32)
        c[rng.integers(0, ny, 15), 30] = F32(80000)
        c[rng.integers(0, ny, 10), 2 * ncols - 27] = F32(80000)
        c[100:103, :] += F32(300)  # rows off the amp mean
        chips.append(c)
    return chips  # chips[0] holds C/D, chips[1] A/B


@pytest.mark.parametrize("amp", "ABCD")
def test_bias_shift(kern, amp):
    rng = np.random.default_rng(4)
    chip = _amp_chips(rng, ncols=32)[0]
    ncols = chip.shape[1] // 2
    ref = chip.copy()
    view = postsm4.amp_view(ref, amp)[:, :ncols]
    arr, m2 = postsm4.bias_shift(view.astype(np.float64), amp)
    view[...] = arr.astype(F32)
    m2c = postsm4.bias_shift_c(kern, chip, amp, ncols)
    assert m2c == m2
    _same(ref, chip)


def test_bias_shift_pair(kern):
    rng = np.random.default_rng(9)
    chips = _amp_chips(rng, ncols=32)
    ncols = chips[0].shape[1] // 2
    alone = [c.copy() for c in chips]
    m_alone = [postsm4.bias_shift_c(kern, alone[1 if a in "AB" else 0], a, ncols) for a in "ABCD"]
    m_pair = postsm4.bias_shift_pair_c(kern, chips[1], "A", chips[1], "B", ncols)
    m_pair += postsm4.bias_shift_pair_c(kern, chips[0], "C", chips[0], "D", ncols)
    assert list(m_pair) == m_alone
    for a, b in zip(alone, chips, strict=True):
        _same(a, b)


@pytest.mark.parametrize("nx", [8, 9, 1])
def test_cross_talk(kern, nx):
    rng = np.random.default_rng(5)
    sci = _image(rng, (5, nx), -100, 60000)
    _same(postsm4.cross_talk(sci), postsm4.cross_talk_c(kern, sci.copy()))


@pytest.mark.parametrize("seed", [10, 11])
def test_destripe_prescan_stats(kern, seed):
    rng = np.random.default_rng(seed)
    ny = 300
    a = 1000.0 + rng.normal(0, 3, (ny, 30))
    a[rng.integers(0, ny, 20), rng.integers(0, 24, 20)] += 500.0  # outliers to clip
    a[rng.integers(0, ny, 5), 27] = 60000.0  # rows not used for the column means
    ref = a.copy()
    postsm4.subtract_bias_columns(ref)
    got = a.copy()
    kern.bias_columns(got, ny, 30)
    _same(ref, got)
    good = rng.random(ny) < 0.9
    assert kern.bias_level(ref, ny, 30, good.view(np.uint8)) == postsm4.bias_level(ref, good)
    none = a.copy()
    none[:, 24] = 60000.0
    with pytest.raises(ZeroDivisionError):
        postsm4.subtract_bias_columns(none.copy())
    with pytest.raises(ZeroDivisionError):
        kern.bias_columns(none, ny, 30)


def test_destripe(kern):
    rng = np.random.default_rng(6)
    chips = _amp_chips(rng)
    ncols = chips[0].shape[1] // 2
    owners = {a: chips[1] if a in "AB" else chips[0] for a in "ABCD"}
    arrays = {a: postsm4.amp_view(owners[a], a)[:, :ncols].astype(np.float64) for a in "ABCD"}
    levels, counts = postsm4.destripe(arrays)
    ref = [c.copy() for c in chips]
    for a in "ABCD":
        postsm4.amp_view(ref[1] if a in "AB" else ref[0], a)[:, :ncols] = arrays[a].astype(F32)
    levels_c, counts_c = postsm4.destripe_c(kern, owners, ncols)
    assert levels_c == levels
    assert counts_c == counts and 0 < counts[0] < chips[0].shape[0]
    for a, b in zip(ref, chips, strict=True):
        _same(a, b)


def _ref3(rng, shape, lo, hi, constant=False):
    if constant:
        return (
            np.broadcast_to(F32(lo), shape),
            np.broadcast_to(F32(0.01), shape),
            np.broadcast_to(U16(0), shape),
        )
    return rng.uniform(lo, hi, shape).astype(F32), rng.uniform(0, 0.05, shape).astype(F32), _dq(rng, shape)


@pytest.mark.parametrize("constant", [False, True])
def test_calib2d_steps(kern, constant):
    """Dark, flash, two flats (zeros included) and shading, each in place by the kernel as ACS2D
    calls it, against the NumPy steps; MEANDARK and MEANFLSH too."""
    rng = np.random.default_rng(7)
    shape = (37, 23)
    sci = _image(rng, shape, -200, 50000)
    err = rng.uniform(1, 30, shape).astype(F32)
    dq = _dq(rng, shape)
    dark = _ref3(rng, shape, 0.001, 0.05, constant)
    flash = _ref3(rng, shape, 0.5, 3.0, constant)
    pflt = _ref3(rng, shape, 0.9, 1.1, constant)
    if not constant:
        pflt[0][2, :5] = 0.0
    dflt = _ref3(rng, shape, 0.95, 1.05)
    dflt[0][7, 3] = -0.0
    shad = _ref3(rng, shape, -0.02, 0.02, constant)
    sdq = 16 | 256
    t, fdur, k = F32(1015.3), F32(12.0), float(shadcorr.shading_scale(507.0, 2))
    # NumPy
    s1, e1, d1, zsum, zn = darkcorr.darkcorr(sci, err, dq, *dark, darktime=t, sdqflags=sdq)
    meandark1 = F32(zsum.sum() / zn.sum())
    z, ze = flshcorr.scale_flash(flash[0], flash[1], fdur)
    meanflsh1 = flshcorr.mean_flash(z, flash[2], sdq)
    s1, e1, d1 = darkcorr.subtract(s1, e1, d1, z, ze, flash[2])
    s1, e1, d1 = divide_flat(s1, e1, d1, *pflt)
    s1, e1, d1 = divide_flat(s1, e1, d1, *dflt)
    s1, e1, d1 = shadcorr.shadcorr(s1, e1, d1, *shad, exptime=507.0, ncombine=2)
    # C, one step per call as acs2d does
    s2, e2, d2 = sci.copy(), err.copy(), dq.copy()
    total, n = acs2d._calib2d_c(kern, s2, e2, d2, (acs2d.STEP_DARK, float(t), *dark), sdq)
    rows = (np.zeros(shape[0]), np.zeros(shape[0], np.int64))
    acs2d._calib2d_c(kern, s2, e2, d2, (acs2d.STEP_FLASH, float(fdur), *flash), sdq, rows)
    acs2d._calib2d_c(kern, s2, e2, d2, (acs2d.STEP_FLAT, 1.0, *pflt), sdq)
    acs2d._calib2d_c(kern, s2, e2, d2, (acs2d.STEP_FLAT, 1.0, *dflt), sdq)
    acs2d._calib2d_c(kern, s2, e2, d2, (acs2d.STEP_SHADE, k, *shad), sdq)
    assert F32(total / n) == meandark1
    assert flshcorr.mean_flash_lines(rows[0], rows[1], shape[1]) == meanflsh1
    for a, b in ((s1, s2), (e1, e2), (d1, d2)):
        _same(a, b)
    assert d2[7, 3] & 512 and (constant or np.all(d2[2, :5] & 512))  # flat == ±0: CALIBDEFECT


def test_calib2d_dark_unit_time(kern):
    """DARKTIME 1: the dark is used unscaled (multk2d), all steps in one fused call."""
    rng = np.random.default_rng(8)
    shape = (6, 9)
    sci, err, dq = _image(rng, shape), rng.uniform(0, 3, shape).astype(F32), _dq(rng, shape)
    dark, flat = _ref3(rng, shape, -1, 1), _ref3(rng, shape, 0.5, 2)
    s1, e1, d1, _, _ = darkcorr.darkcorr(sci, err, dq, *dark, darktime=1.0, sdqflags=0)
    s1, e1, d1 = divide_flat(s1, e1, d1, *flat)
    s2, e2, d2 = sci.copy(), err.copy(), dq.copy()
    steps = ((0, 1.0, *dark), (2, 1.0, *flat))
    kern.calib2d(s2, e2, d2, *shape, 0, shape[0], steps, 0, None, None)
    for a, b in ((s1, s2), (e1, e2), (d1, d2)):
        _same(a, b)
    with pytest.raises(ValueError):
        kern.calib2d(s2, e2, d2, *shape, 0, shape[0], ((1, 1.0, *dark),), 0, None, None)  # flash without rows


def _products(asn, env, outdir):
    outdir.mkdir()
    calacs(asn, outdir=outdir, env=env, keep_intermediates=True)
    return sorted(p.name for p in outdir.glob("*.fits"))


@pytest.mark.parametrize("flashed", [False, True])
def test_calacs_kernels_vs_numpy(mini, flashed_asn, tmp_path, monkeypatch, flashed):
    """The whole engine with and without the C kernels: identical pixels and headers."""
    asn, env = mini["asn"], mini["env"]
    if flashed:  # FLSHCORR, SHADCORR and a delta flat on a single exposure; no SINKCORR (trim in the C pass)
        inp = tmp_path / "in"
        inp.mkdir()
        m = flashed_asn["members"][0]
        for suffix in ("raw", "spt"):
            shutil.copy(flashed_asn["asn"].parent / f"{m}_{suffix}.fits", inp)
        with fits.open(inp / f"{m}_raw.fits", mode="update") as h:
            h[0].header["SINKCORR"] = "OMIT"
        asn, env = inp / f"{m}_raw.fits", flashed_asn["env"]
    names = _products(asn, env, tmp_path / "c")
    monkeypatch.setenv("CALDP_KERNELS", "numpy")
    assert _products(asn, env, tmp_path / "numpy") == names
    for name in names:
        with fits.open(tmp_path / "c" / name) as a, fits.open(tmp_path / "numpy" / name) as b:
            assert len(a) == len(b)
            for ha, hb in zip(a, b, strict=True):
                if ha.data is not None or hb.data is not None:
                    assert np.array_equal(ha.data, hb.data, equal_nan=True), (name, ha.name, ha.ver)
                skip = ("DATE", "IRAF-TLM", "CHECKSUM", "DATASUM")
                keys = [k for k in ha.header if k not in skip and k not in ("HISTORY", "COMMENT")]
                assert [(k, ha.header[k]) for k in keys] == [(k, hb.header.get(k)) for k in keys], (name, ha.name)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_failed_background_write_rolls_back(mini, tmp_path, monkeypatch, threads):
    """A product written in the background that fails: the error surfaces and nothing is left."""
    from caldp.engines.common import outputs as mod

    real = mod.write_exposure

    def failing(exposure, path, **kw):
        if str(path).endswith("_crj.fits"):
            raise OSError("disk full")
        return real(exposure, path, **kw)

    monkeypatch.setattr(mod, "write_exposure", failing)
    monkeypatch.setenv("CALDP_THREADS", threads)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OSError, match="disk full"):
        calacs(mini["asn"], outdir=out, env=mini["env"])
    assert not list(out.iterdir())
