"""STIS C kernels (caldp/engines/stis/_kernels.c) against their NumPy references, bit for bit."""

import struct
from functools import partial

import numpy as np
import pytest

from caldp.engines.common import kernels
from caldp.engines.stis import basic2d, binning, doppcorr, fftpack, waveshift

F32 = np.float32


@pytest.fixture
def both(monkeypatch):
    """Call f(*args) with the C kernel, then with the NumPy reference (arguments copied for each)."""
    if not kernels.enabled():
        pytest.skip("CALDP_KERNELS asks for the NumPy path")
    assert kernels.load("caldp.engines.stis._kernels") is not None, "the STIS C kernels were not built"

    def run(f, *args):
        c_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        c = f(*c_args)
        monkeypatch.setenv("CALDP_KERNELS", "numpy")
        try:
            py_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            py = f(*py_args)
        finally:
            monkeypatch.delenv("CALDP_KERNELS")
        return (c, c_args), (py, py_args)

    return run


def _bits(x):
    """Every float as its bit pattern (NaN == NaN, -0.0 != 0.0), arrays as bytes and dtype."""
    if isinstance(x, np.ndarray):
        return (x.dtype.str, x.shape, x.tobytes())
    if isinstance(x, float):
        return struct.pack("<d", x)
    if isinstance(x, tuple | list):
        return tuple(_bits(v) for v in x)
    return x


def _images(shape, seed, *, nan=False):
    rng = np.random.default_rng(seed)
    sci = rng.normal(20.0, 30.0, shape).astype(F32)
    err = np.abs(rng.normal(5.0, 2.0, shape)).astype(F32)
    err[rng.random(shape) < 0.02] = 0.0
    err[rng.random(shape) < 0.02] = -1.0
    sci[rng.random(shape) < 0.01] = 0.0
    if nan:
        sci[rng.random(shape) < 0.001] = np.nan
        err[rng.random(shape) < 0.001] = np.nan
    dq = rng.choice(np.array([0, 0, 0, 4, 16, 512, 8192], np.uint16), shape)
    return sci, err, dq


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (300, 257), (1024, 1024)])
@pytest.mark.parametrize("nan", [False, True])
def test_good_stats_kernel_equals_numpy(both, shape, nan):
    sci, err, dq = _images(shape, seed=shape[0], nan=nan)
    for sdq in (0, 4, 31743, 65535):
        (c, _), (py, _) = both(basic2d.good_stats, sci, err, dq, sdq)
        assert _bits(tuple(c)) == _bits(tuple(py))


def test_good_stats_by_hand():
    """ERR ≤ 0 with SCI > 0 is skipped, with SCI ≤ 0 it counts with S/N 0; means are sum / n."""
    sci = np.array([[4.0, 3.0, -2.0, 8.0]], F32)
    err = np.array([[2.0, 0.0, 0.0, 1.0]], F32)
    dq = np.array([[0, 0, 0, 4]], np.uint16)
    st = basic2d.good_stats(sci, err, dq, 4)
    assert st.n == 2 and (st.sci_min, st.sci_max, st.sci_mean) == (-2.0, 4.0, 1.0)
    assert (st.err_min, st.err_max, st.snr_min, st.snr_max, st.snr_mean) == (0.0, 2.0, 0.0, 2.0, 1.0)


@pytest.mark.parametrize("border", [0, 3])
@pytest.mark.parametrize("ds", [[0.0, 0.0, 0.1, 0.25, 0.0, 0.3, 0.35, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
def test_dopp_conv_kernel_equals_numpy(both, border, ds):
    sci, err, dq = _images((37, 64), seed=7, nan=True)
    ds = np.array(ds, F32)
    d0 = (ds.size - 1) // 2
    (_, c), (_, py) = both(doppcorr.dopp_conv, sci, err, dq, ds, d0, border)
    for a, b in zip(c[:3], py[:3], strict=True):
        assert _bits(a) == _bits(b)


def test_dopp_conv_kernel_equals_numpy_on_the_sims_smearing(both):
    """The full-size MAMA reference size and a smearing function as make_dopp writes it."""
    ds, d0 = doppcorr.make_dopp(60500.30231481482, 6.4, 5760.0, 60500.3, 600.0, 1)
    sci, err, dq = _images((64, 2048), seed=3)
    (_, c), (_, py) = both(doppcorr.dopp_conv, sci, err, dq, ds, d0, 0)
    for a, b in zip(c[:3], py[:3], strict=True):
        assert _bits(a) == _bits(b)


@pytest.mark.parametrize(
    ("x0", "y0", "bx", "by", "shape"), [(0, 0, 2, 2, (16, 16)), (3, 5, 2, 3, (7, 9)), (1, 0, 4, 1, (32, 5))]
)
@pytest.mark.parametrize("avg", [False, True])
def test_bin2d_kernel_equals_numpy(both, x0, y0, bx, by, shape, avg):
    sci, err, dq = _images((32, 32), seed=11, nan=True)
    (c, _), (py, _) = both(partial(binning.bin2d, avg=avg), sci, err, dq, x0, y0, bx, by, shape)
    assert _bits(list(c)) == _bits(list(py))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6, 8, 12, 16, 18, 32, 48, 96, 128, 1024])
@pytest.mark.parametrize("forward", [True, False])
def test_cfft_kernel_equals_numpy(both, n, forward):
    rng = np.random.default_rng(n)
    re = rng.normal(0.0, 100.0, (5, n)).astype(F32)
    im = rng.normal(0.0, 100.0, (5, n)).astype(F32)
    (c, _), (py, _) = both(partial(fftpack.cfft, forward=forward), re, im)
    assert _bits(list(c)) == _bits(list(py))


def test_fft2d_and_ifft2d_kernel_equal_numpy(both):
    """The 2-D transforms calstis4 runs on echelle wavecals (lines, then columns of a transposed view)."""
    rng = np.random.default_rng(5)
    re = rng.normal(0.0, 10.0, (64, 256)).astype(F32)
    im = np.zeros_like(re)
    for f in (fftpack.fft2d, fftpack.ifft2d):
        (c, _), (py, _) = both(f, re, im)
        assert _bits(list(c)) == _bits(list(py))


@pytest.mark.parametrize("seed", range(6))
def test_sum_between_kernel_equals_python(both, seed):
    """Template pixels narrower and wider than the output pixels, output edges starting below and
    running past the template (the loop stops there), as SumSpec and ESumSpec call it."""
    rng = np.random.default_rng(seed)
    nelem = int(rng.integers(1, 400))
    centres = np.cumsum(rng.uniform(0.01, 3.0, nelem)) + 1000.0
    edges, flux = waveshift.lamp_edges(centres, rng.uniform(0.0, 50.0, nelem))
    nwl = int(rng.integers(1, 300))
    start = edges[0] - rng.uniform(-5.0, 20.0)
    wl_edges = start + np.cumsum(np.r_[0.0, rng.uniform(0.05, 4.0, nwl)])
    for wle in (wl_edges, list(wl_edges)):
        (c, _), (py, _) = both(waveshift.sum_between, edges, flux, wle, nwl)
        assert _bits(c) == _bits(py)


def test_eval_inv_disp_kernel_equals_python(both):
    """Newton from a near estimate, the echelle search (estimate far off, slope not positive), first
    order, too few coefficients, and a slope that vanishes: (wavelength, status) identical."""
    from caldp.engines.stis import waveshift_echelle as we

    c = [-58000.0, 1.4e-2, -1.0e-9, 0.5, 3.0e-4, 2.0e-8, 1.0e-7, 1.0e-14, -1.0e-5]
    rng = np.random.default_rng(1)
    cases = []
    for ncoeff in (1, 2, 3, 5, 7, 9, 10):
        for m in (1.0, 86.0, 101.0, 124.0):
            for est in (1425.0, 1100.0, 5000.0, -3.0):
                for pixel in rng.uniform(-200.0, 1300.0, 4):
                    cases.append((c, ncoeff, m, float(pixel), est))
    cases.append(([0.0] * 9, 3, 101.0, 10.0, 1400.0))  # slope 0
    near = [-1000.0, 1.0 / 101.0, 1.0e-9, 0.25, 1.0e-5, 1.0e-9, 1.0e-10, 1.0e-16, 1.0e-6]  # Newton only
    for ncoeff in (2, 3, 8, 9):
        for pixel in rng.uniform(0.0, 1024.0, 8):
            cases.append((near, ncoeff, 101.0, float(pixel), 1425.0))
    cases.append((np.array(c), 7, 101.0, 10.0, 1400.0))  # coefficients as an array
    for cc, ncoeff, m, pixel, est in cases:
        for tol in (1e-6, 1e-3):
            (c_out, _), (py_out, _) = both(we.eval_inv_disp, cc, ncoeff, m, pixel, est, tol)
            assert _bits(tuple(c_out)) == _bits(tuple(py_out)), (ncoeff, m, pixel, est)


@pytest.mark.parametrize(
    ("inshape", "outshape", "rows"), [((4, 4), (8, 8), None), ((16, 8), (32, 32), (5, 27)), ((3, 5), (12, 10), (0, 12))]
)
def test_unbin2d_kernel_equals_numpy(both, inshape, outshape, rows):
    """Bilinear expansion of a low-order flat (extrapolated edges, NaN where ERR's sum goes negative)."""
    sci, err, dq = _images(inshape, seed=inshape[0], nan=True)
    err = (err - 2.0).astype(F32)  # negative weights at the extrapolated edges can make ERR's sum negative
    (c, _), (py, _) = both(partial(binning.unbin2d, rows=rows), sci, err, dq, outshape)
    assert _bits(list(c)) == _bits(list(py))


@pytest.mark.parametrize("initgues", ["minimum", "median"])
@pytest.mark.parametrize("skysub", ["mode", "none"])
@pytest.mark.parametrize("nimgs", [2, 3])
def test_ocrreject_kernels_equal_numpy(both, initgues, skysub, nimgs):
    """OCRREJECT with the per-pixel tests and sums in C and in NumPy: combined SCI/ERR/DQ, the inputs'
    DQ with the rejections, the count and the skies identical (cosmic rays, bad pixels, negative sky)."""
    from caldp.engines.stis import ocrreject

    rng = np.random.default_rng(nimgs)
    shape = (120, 90)
    truth = rng.normal(40.0, 15.0, shape).astype(F32)
    scis, dqs = [], []
    for _ in range(nimgs):
        img = (truth + rng.normal(0.0, 4.0, shape)).astype(F32)
        hits = rng.random(shape) < 0.01
        img[hits] += rng.uniform(50.0, 3000.0, int(hits.sum())).astype(F32)
        img[rng.random(shape) < 0.002] = -30.0
        scis.append(img)
        dqs.append(rng.choice(np.array([0, 0, 0, 0, 4, 16, 256], np.uint16), shape))
    pars = ocrreject.Pars(initgues, skysub, "6.5,5.5,4.5", (F32(6.5), F32(5.5), F32(4.5)), 300.0, F32(1.5),
                          F32(0.6), F32(30.0), 39, 1)  # fmt: skip

    def run(*arrays):
        res = ocrreject.ocrreject(
            list(arrays[:nimgs]), list(arrays[nimgs:]), efac=[300.0] * nimgs, noise=[F32(5.5)] * nimgs,
            gain=[F32(1.0)] * nimgs, pars=pars,
        )  # fmt: skip
        return [res.sci, res.err, res.dq, *res.out_dqs, res.nrej, *(float(v) for v in res.skies), float(res.skysum)]

    (c, _), (py, _) = both(run, *scis, *dqs)
    assert _bits(c) == _bits(py)
    assert c[4 + nimgs - 1] > 0  # something was rejected


def test_calstis1_arithmetic_kernels_equal_numpy(both):
    """Noise, bias/dark subtraction, flat division (zeros, NaN) and the flat product, in place."""
    sci, err, dq = _images((211, 173), seed=21, nan=True)
    rs, re_, rd = _images((211, 173), seed=22, nan=True)
    flat = rs.copy()
    flat[::7, ::5] = 0.0
    flat[3, 4] = -0.0

    def noise(s):
        return basic2d.init_error_ccd(s, bias=F32(1510.5), gain=F32(4.016), readnoise=F32(7.3))

    (c, _), (py, _) = both(noise, sci)
    assert _bits(c) == _bits(py)
    for f, ref in ((basic2d.subtract, rs), (basic2d.divide, flat), (basic2d.multiply, rs)):
        (_, c), (_, py) = both(f, sci, err, dq, ref, re_, rd)
        assert _bits(list(c[:3])) == _bits(list(py[:3])), f.__name__


@pytest.mark.parametrize("sdqflags", [0, 4, 31743])
def test_interp2d_kernel_equals_numpy(both, sdqflags):
    """Points inside, on the edges and off the image, neighbours flagged (renormalised weights, all four
    flagged: the nearest pixel), negative variances, as 1-D and 2-D point arrays."""
    from caldp.engines.stis import x2d

    sci, err, dq = _images((57, 83), seed=sdqflags, nan=True)
    err[::9, ::4] = -err[::9, ::4]
    dq[10:12, 20:22] = 4
    rng = np.random.default_rng(sdqflags + 1)
    ix = rng.uniform(-2.0, 85.0, (40, 300))
    iy = rng.uniform(-2.0, 59.0, (40, 300))
    ix[0, :5] = [0.0, 82.0, 82.4999, 82.5, -0.5]
    iy[0, :5] = [0.0, 56.0, 56.4999, 1.0, -0.4999]
    ix[1, :4], iy[1, :4] = [20.5, 21.0, 20.2, 20.9], [10.5, 11.0, 10.9, 10.1]
    for pts in ((ix, iy), (ix[3], iy[3])):
        (c, _), (py, _) = both(partial(x2d.interp2d, sdqflags=sdqflags), sci, err, dq, *pts)
        assert _bits(list(c)) == _bits(list(py))


@pytest.mark.parametrize("case", ["plain", "negative", "nan", "high", "overflow"])
def test_sky_level_kernels_equal_numpy(both, case):
    """OCRREJECT's sky (mode of the DQ == 0 pixels' histogram): the same float32 value."""
    from caldp.engines.stis import ocrreject

    rng = np.random.default_rng(len(case))
    sci = rng.normal(35.0, 8.0, (300, 200)).astype(F32)
    dq = rng.choice(np.array([0, 0, 0, 16, 512], np.uint16), sci.shape)
    if case == "negative":
        sci -= F32(60.0)
        sci[5, 5] = -5000.0
    if case == "nan":
        sci[rng.random(sci.shape) < 0.01] = np.nan
        sci[0, 0] = np.inf
    if case == "high":  # beyond the histogram's top
        sci[rng.random(sci.shape) < 0.001] = 1.0e6
    if case == "overflow":
        sci[rng.random(sci.shape) < 0.001] = 3.0e38

    def sky(s, d):  # a NaN (an overflowing sum) makes the mean NaN (inf): both ways stop alike
        try:
            with np.errstate(over="ignore"):  # NumPy's float32 sum warns as it overflows
                return float(ocrreject.sky_level(s, d))
        except (ValueError, OverflowError) as exc:
            return f"{type(exc).__name__}: {exc}"

    (c, _), (py, _) = both(sky, sci, dq)
    assert _bits(c) == _bits(py)
    assert isinstance(c, str) == (case in ("nan", "overflow"))


@pytest.mark.parametrize("shape", [(2, 2), (12, 18), (36, 48), (64, 256), (256, 96)])
@pytest.mark.parametrize("threads", ["1", "2"])
def test_fft2d_kernel_equals_numpy_with_zero_lines(both, monkeypatch, shape, threads):
    """fft2d/ifft2d in C (lines in groups of vector lanes, columns gathered in blocks, a group of +0.0
    lines given the first one's transform, one or two threads) against the NumPy passes; line counts
    that are not a multiple of the lane count, -0.0 lines (not taken for zero)."""
    monkeypatch.setenv("CALDP_THREADS", threads)
    rng = np.random.default_rng(shape[0])
    re = rng.normal(0.0, 10.0, shape).astype(F32)
    im = rng.normal(0.0, 1.0, shape).astype(F32)
    re[: shape[0] // 3] = 0.0
    im[: shape[0] // 3] = 0.0
    re[-3:] = 0.0
    im[-3:] = 0.0
    re[-1] = -0.0
    for f in (fftpack.fft2d, fftpack.ifft2d):
        (c, _), (py, _) = both(f, re, im)
        assert _bits(list(c)) == _bits(list(py))


def test_product_shift_kernel_equals_numpy(both):
    from caldp.engines.stis import scatter

    rng = np.random.default_rng(2)
    a = [rng.normal(0.0, 1e3, (16, 24)).astype(F32) for _ in range(4)]
    a[0][0, :3] = [np.nan, np.inf, -0.0]
    (c, _), (py, _) = both(scatter.product_shift, *a)
    assert _bits(list(c)) == _bits(list(py))


@pytest.mark.parametrize("descending", [False, True])
def test_interpolate_run_kernel_equals_python(both, descending):
    """Sequential searches from the last index (up and down), values beyond both ends, knots hit
    exactly, NaN, repeated abscissae (a vertical pair gives 0), with and without the bounds."""
    from caldp.engines.stis import scatter

    rng = np.random.default_rng(4)
    x = np.cumsum(rng.uniform(0.0, 2.0, 60))
    x[10] = x[9]
    y = rng.normal(0.0, 5.0, 60)
    if descending:
        x, y = x[::-1].copy(), y[::-1].copy()
    xs = np.concatenate([rng.uniform(x.min() - 5, x.max() + 5, 200), x[::7], [np.nan], np.sort(rng.uniform(0, 50, 50))])
    for begin in (0, 5, 59):
        for bounds in (None, (float(x.min()), float(x.max()))):
            (c, _), (py, _) = both(scatter.interpolate_run, xs, begin, x, y, bounds)
            assert _bits(c[0]) == _bits(py[0]) and c[1] == py[1]


@pytest.mark.parametrize("last", [False, True])
def test_spread_kernel_equals_reference(both, last):
    """The echelle scattering spread in C against the C-ordered reference loop and the NumPy version
    (3 orders on a 64-column image, rows reaching off both edges of the image)."""
    from caldp.engines.stis import scatter as S

    rng = np.random.default_rng(6)
    nx, ny, nel = 64, 40, 21
    orders = [100, 101, 102]
    i1 = (S.NSBIG - nx) // 2
    wave = [1400.0 + 10 * k + 0.01 * np.arange(nx) for k in range(3)]
    ys = np.array([-0.7, 18.0, 38.3])
    rows = S.Rows(
        orders,
        wave,
        [np.ones(nx, F32)] * 3,
        [np.ones(nx, F32)] * 3,
        [(ys[k] + 0.02 * np.arange(nx)).astype(F32) for k in range(3)],
    )
    values = np.exp(-0.5 * ((np.arange(nel) - nel // 2) / 4.0) ** 2) * 1e-2
    sc = S.Scatter([(m, values) for m in orders], np.ones(1, F32), np.ones(1, F32), [], [1400.0], [1400.0])
    wbig = np.zeros((3, S.NSBIG), F32)
    for k in range(3):
        wbig[k] = (wave[k][0] + 0.01 * (np.arange(S.NSBIG) - i1)).astype(F32)
    blaze = rng.uniform(0.5, 1.0, (3, S.NSBIG)).astype(F32)
    fbig = rng.uniform(0.0, 100.0, (3, S.NSBIG)).astype(F32)
    args = (rows, sc, wbig, blaze, fbig, 3.0, 1.0, (ny, nx), last)
    (c, _), (py, _) = both(S._spread, *args)
    ref = S.spread_reference(*args)
    assert _bits(list(c)) == _bits(list(py)) == _bits(list(ref))
    assert c[0].any() and (c[2].any() == last)


def test_wave_row_kernel_equals_python(both, caplog):
    """x1d_echelle.wavelengths: the columns' evalInvDisp loop in C against the per-column calls
    (start from CENWAVE, then the previous good wavelength; heliocentric factor or none)."""
    from caldp.engines.stis import x1d_echelle

    c = [-58000.0, 1.4e-2, -1.0e-9, 0.5, 3.0e-4, 2.0e-8, 1.0e-7, 1.0e-14, -1.0e-5]
    near = [-1000.0, 1.0 / 101.0, 1.0e-9, 0.25, 1.0e-5, 1.0e-9, 1.0e-10, 1.0e-16, 1.0e-6]
    for coeff, ncoeff, m in ((near, 9, 101), (near, 3, 101), (c, 7, 86), (c, 9, 124), ([0.0] * 9, 3, 101), (c, 10, 1)):
        for hfactor in (None, 1.0000123):
            for ltm, ltv in (((1.0, 1.0), (0.0, 0.0)), ((2.0, 1.0), (3.5, 0.0))):
                (a, _), (b, _) = both(x1d_echelle.wavelengths, coeff, ncoeff, m, 1425, 97, ltm, ltv, hfactor)
                assert _bits(a) == _bits(b), (ncoeff, m, hfactor, ltm)


@pytest.mark.parametrize("cols", [(0, 96), (24, 72), (5, 6), (3, 50), (10, 10)])
@pytest.mark.parametrize("threads", ["1", "2"])
def test_ifft2d_columns_kernel_equals_numpy(both, monkeypatch, cols, threads):
    """The inverse transform's column pass on a range of columns only: those columns' bits are the
    whole transform's."""
    monkeypatch.setenv("CALDP_THREADS", threads)
    rng = np.random.default_rng(cols[0])
    re = rng.normal(0.0, 10.0, (64, 96)).astype(F32)
    im = rng.normal(0.0, 10.0, (64, 96)).astype(F32)
    (c, _), (py, _) = both(fftpack.ifft2d_columns, re, im, *cols)
    assert _bits(list(c)) == _bits(list(py))
    full = fftpack.ifft2d_numpy(re, im)
    assert _bits(list(c)) == _bits([np.ascontiguousarray(a[:, cols[0] : cols[1]]) for a in full])


@pytest.mark.parametrize("backord", [0, 1])
@pytest.mark.parametrize("nbck", [1, 2, 5, 22])
def test_back_clip_kernel_equals_numpy(both, backord, nbck):
    """The background boxes' clipped fits per column: outliers clipped pass by pass, flagged points,
    columns with every point flagged or one point left, NaN samples, a sloped background."""
    from caldp.engines.stis import x1d

    rng = np.random.default_rng(nbck + 10 * backord)
    nx = 300
    pts = []
    for p in range(nbck):
        yy = (100.0 + p + 0.01 * np.arange(nx)).astype(np.float64)
        sci = (5.0 + 0.3 * yy + rng.normal(0.0, 2.0, nx)).astype(F32).astype(np.float64)
        hit = rng.random(nx) < 0.08
        sci[hit] += rng.uniform(50.0, 500.0, int(hit.sum()))
        sci[rng.random(nx) < 0.005] = np.nan
        flagged = rng.random(nx) < 0.2
        flagged[:10] = True
        pts.append((yy, sci, flagged))

    def run(points):
        k = x1d.load(x1d.KERNELS)
        if k is None:
            return x1d.back_clip_numpy(points, nx, backord)
        out = np.zeros((5, nx))
        dq = np.zeros(nx, np.uint16)
        yy = np.ascontiguousarray(np.stack([q[0] for q in points]))
        sc = np.ascontiguousarray(np.stack([q[1] for q in points]))
        fl = np.ascontiguousarray(np.stack([q[2] for q in points]), np.uint8)
        k.back_clip(yy, sc, fl, len(points), nx, backord, x1d.MAX_CLIP, x1d.X1D_BAD_BACKGROUND, out, dq)
        return x1d.Background(out[0], out[1], out[2], out[3], out[4], dq)

    (c, _), (py, _) = both(run, pts)
    for name in ("bck0", "bck1", "vbck0", "vbck1", "ebck", "dqbck"):
        assert _bits(getattr(c, name)) == _bits(getattr(py, name)), name


@pytest.mark.parametrize("ncoeff", [2, 7, 9])
@pytest.mark.parametrize(("ltm", "ltv"), [(1.0, 0.0), (0.5, 3.25)])
def test_edge_wavelengths_kernel_equals_numpy(both, ncoeff, ltm, ltv):
    """ESumSpec's PixToWl chain over the pixel edges: wave_row order by order against the orders side
    by side in NumPy (Newton from the previous edge; a far estimate for the first edge searches)."""
    from caldp.engines.stis import waveshift_echelle as we

    c = np.zeros(10)
    c[1] = 1 / 1.5625
    c[0] = 512.5 - 101 * 1425.0 * c[1]
    c[2:9] = [1e-11, 0.3, -0.02, 1e-6, -2e-9, 1e-16, 1e-4]
    disp = we.Disp(c, ncoeff, coeff_save=c.copy())
    orders = list(range(86, 126, 3))
    for cenwave in (1425, 1978):
        (a, _), (b, _) = both(we.edge_wavelengths, disp, orders, ltm, ltv, cenwave, 300)
        assert _bits(a) == _bits(b)
