"""calstis7 (X2DCORR, first order): the array steps on tiny images (straight traces, flux, the
dispersion relation, the heliocentric factor, bars, off-image pixels, Interp2D's float order) and
parity with cs0.e's ``_sx2``, ``_x2d`` and ``_w2d_tmp`` on stis-ccd-spec (marked hstcal)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.errors import EngineError
from caldp.engines.common.hstio import read_exposure, write_exposure
from caldp.engines.stis import x2d as X
from caldp.engines.stis.x2d_io import calstis7

from ..wfc3_uvis.productdiff import ulp_diff

F32 = np.float32


def _geometry(nx=64, ny=40, *, slope=0.0, hfactor=1.0, angle=X.REF_ANGLE, bars=()):
    """A linear dispersion (1 Å/pixel, CRVAL1 5000 Å at column nx/2) and a trace of `slope`."""
    coord = X.Coord(1, ny / 2.0, (nx, ny), (nx / 2.0, ny / 2.0), (5000.0, 0.0), (1.0, 0.05))
    coeff = np.zeros(10)
    coeff[0] = nx / 2.0 + 1.0 - 5000.0  # one-indexed, as DISPTAB
    coeff[1] = 1.0
    disp = [X.DispRow(ny / 2.0, 2, coeff, "REF")]
    trace = [X.TraceRow(nx / 2.0, ny / 2.0, slope * (np.arange(nx) - nx / 2.0))]
    slit = X.Slit((0.2, 50.0), (0.0, 0.0), angle, tuple(b[0] for b in bars), tuple(b[1] for b in bars))
    return X.Geometry(coord, disp, trace, X.Iac(), slit, 0.0, (1.0, 1.0), (0.0, 0.0), (0.0, 0.0), 0.0, hfactor)


def _ridge(nx, ny, y_of_x, sigma=1.2, amp=100.0):
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    return (amp * np.exp(-0.5 * ((yy - y_of_x(xx)) / sigma) ** 2)).astype(F32)


def _centroids(img, rows):
    seg = img[rows].astype(float)
    y = np.arange(rows.start, rows.stop)[:, None]
    return (seg * y).sum(axis=0) / seg.sum(axis=0)


def test_tilted_trace_comes_out_straight():
    nx, ny, slope = 64, 40, 0.05
    geo = _geometry(nx, ny, slope=slope)
    sci = _ridge(nx, ny, lambda x: ny / 2.0 + slope * (x - nx / 2.0))
    before = _centroids(sci, slice(8, 33))
    out, _, dq = X.x2dcorr(sci, np.ones_like(sci), np.zeros(sci.shape, np.uint16), geo)
    after = _centroids(out, slice(8, 33))[2:-2]
    assert np.ptp(before) > 2.5  # the input ridge climbs ~3 rows
    assert np.ptp(after) < 0.05 and abs(after.mean() - ny / 2.0) < 0.05
    assert not dq[5:35, 2:-2].any()


def test_constant_is_kept_and_flux_conserved():
    nx, ny = 48, 30
    geo = _geometry(nx, ny, slope=0.03)
    sci = np.full((ny, nx), F32(7.25))
    err = np.full((ny, nx), F32(2.0))
    out, oerr, dq = X.x2dcorr(sci, err, np.zeros((ny, nx), np.uint16), geo)
    inner = (slice(3, ny - 3), slice(2, nx - 2))
    np.testing.assert_allclose(out[inner], 7.25, rtol=2e-7)
    np.testing.assert_allclose(oerr[inner], 2.0, rtol=2e-7)  # Σw·e² with Σw = 1
    # a smooth source keeps its total within the rectified area
    src = _ridge(nx, ny, lambda x: ny / 2.0 + 0.03 * (x - nx / 2.0), sigma=2.0)
    o2, _, _ = X.x2dcorr(src, np.ones_like(src), np.zeros(src.shape, np.uint16), geo)
    assert o2[:, 4:-4].sum() == pytest.approx(src[:, 4:-4].sum(), rel=2e-3)


def test_line_lands_at_its_wavelength_and_heliocentric_shift():
    nx, ny = 80, 20
    col = 30.0  # input column of a line at 5000 + (30 − 40) Å = 4990 Å
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    sci = (50.0 * np.exp(-0.5 * ((xx - col) / 1.0) ** 2)).astype(F32)

    def peak(hfactor):
        out, _, _ = X.x2dcorr(
            sci, np.ones_like(sci), np.zeros(sci.shape, np.uint16), _geometry(nx, ny, hfactor=hfactor)
        )
        v = out[ny // 2].astype(float)
        i = int(np.argmax(v))
        return i + 0.5 * (v[i - 1] - v[i + 1]) / (v[i - 1] - 2 * v[i] + v[i + 1])

    assert peak(1.0) == pytest.approx(col, abs=0.02)
    v = 30.0  # km/s: each output wavelength is divided by h = 1 − v/c to find the observed one
    h = X.helio_factor(v)
    assert h == 1.0 - v / 299792.458
    assert peak(h) - peak(1.0) == pytest.approx(4990.0 * (h - 1.0), abs=0.02)  # λ_obs·h, 1 Å/pixel


def test_off_image_and_bars_flagged():
    nx, ny = 40, 60
    geo = _geometry(nx, ny, bars=((0.5, 0.2),))
    geo.coord = X.Coord(1, ny / 2.0, (nx + 10, ny), (nx / 2.0, ny / 2.0), (5000.0, 0.0), (1.0, 0.05))
    sci = np.ones((ny, nx), F32)
    out, err, dq = X.x2dcorr(sci, sci, np.zeros((ny, nx), np.uint16), geo)
    # output columns 40..49 map to input columns 40..49: off the image
    assert (dq[:, nx + 1 :] & X.DETECTORPROB).all() and not out[:, nx + 1 :].any() and not err[:, nx + 1 :].any()
    # bar 0.5″ ± 0.1″ from CRPIX2 = 30 at 0.05″/pixel: lines 38..42 (NINT of 38 and 42)
    masked = np.flatnonzero((dq[:, 5] & X.DATAMASKED) != 0)
    assert masked.tolist() == [38, 39, 40, 41, 42]


def _interp_c(sci, err, dq, ix, iy, sdqflags=0):
    """Interp2D one point at a time with numpy scalars in C's types (Jacobian 1)."""
    iny, inx = sci.shape
    iix, iiy = int(X.nint(ix)), int(X.nint(iy))
    if not (0 <= iix <= inx - 1 and 0 <= iiy <= iny - 1):
        return F32(0), F32(0), 4
    ii = min(max(int(ix), 0), inx - 2)
    ij = min(max(int(iy), 0), iny - 2)
    q = F32(ix - ii)
    p = F32(1) - q
    s = F32(iy - ij)
    r = F32(1) - s
    pts = [(ij, ii), (ij, ii + 1), (ij + 1, ii), (ij + 1, ii + 1)]
    w = [p * r, q * r, p * s, q * s]
    bad = [bool(int(dq[y, x]) & sdqflags) for y, x in pts]
    w = [F32(0) if b else wk for wk, b in zip(w, bad, strict=True)]
    ngood = 4 - sum(bad)
    sumw = w[0] + w[1] + w[2] + w[3]
    d = 0
    for y, x in pts:
        d |= int(dq[y, x])
    if ngood == 0 or sumw <= 0:
        return sci[iiy, iix], err[iiy, iix], d
    if ngood < 4:
        w = [wk / sumw for wk in w]
    v = w[0] * sci[pts[0]] + w[1] * sci[pts[1]] + w[2] * sci[pts[2]] + w[3] * sci[pts[3]]
    e = (
        w[0] * err[pts[0]] * err[pts[0]]
        + w[1] * err[pts[1]] * err[pts[1]]
        + w[2] * err[pts[2]] * err[pts[2]]
        + w[3] * err[pts[3]] * err[pts[3]]
    )
    oe = F32(math.sqrt(float(e))) if float(e) > 0 else F32(0)
    return v, oe, d


@pytest.mark.parametrize("sdqflags", [0, 31743])
def test_interp2d_matches_the_c_order_bit_for_bit(sdqflags):
    rng = np.random.default_rng(4)
    sci = rng.normal(100, 30, (9, 11)).astype(F32)
    err = rng.uniform(1, 9, (9, 11)).astype(F32)
    dq = rng.choice([0, 0, 0, 16, 512], (9, 11)).astype(np.uint16)
    dq[4:6, 4:6] = 512  # a patch where all four neighbours are flagged
    ix = np.concatenate([rng.uniform(-1.2, 11.3, 400), [4.4, 4.6]])
    iy = np.concatenate([rng.uniform(-1.2, 9.3, 400), [4.3, 4.7]])
    s, e, d = X.interp2d(sci, err, dq, ix, iy, sdqflags)
    for k in range(ix.size):
        cs, ce, cd = _interp_c(sci, err, dq, ix[k], iy[k], sdqflags)
        assert (s[k], e[k], int(d[k])) == (cs, ce, cd), k


def test_interp_disp_and_adjust():
    a = X.DispRow(100.0, 2, np.array([10.0, 2.0] + [0.0] * 8))
    b = X.DispRow(300.0, 3, np.array([20.0, 4.0, 1.0] + [0.0] * 7))
    mid = X.interp_disp([a, b], 150.0)
    assert mid.ncoeff == 3 and mid.coeff[:3].tolist() == [12.5, 2.5, 0.25]
    assert X.interp_disp([a, b], 50.0).coeff[0] == 10.0 and X.interp_disp([a, b], 400.0).coeff[0] == 20.0
    adj = X.adjust_disp(a, 0.5, X.Iac(np.array([2.0, 4.0]), np.array([1.0, 8.0])), 1.5)
    assert adj.coeff[:2].tolist() == [10.0 + 1.0 + 0.5 + 2.0 + 1.5, 4.0]


# ----------------------------------------------------------------------------------- parity


def _keys_equal(a: fits.Header, b: fits.Header, skip=()) -> list:
    ignore = {"DATE", "ORIGIN", "IRAF-TLM", "HISTORY", "COMMENT", "", "CAL_VER", "FILENAME", "BITPIX", *skip}
    bad = []
    for key in set(a) | set(b):
        if key in ignore:
            continue
        va, vb = a.get(key), b.get(key)
        if isinstance(va, float) or isinstance(vb, float):
            same = va is not None and vb is not None and float(va) == float(vb)
        else:
            same = va == vb
        if not same:
            bad.append((key, va, vb))
    return bad


def compare_x2d(mine, ref, *, skip=()) -> dict:
    """Max ulp of SCI/ERR, DQ mismatches and keyword differences (every keyword but dates and
    history), per extension; the HISTORY of the primary headers compared too."""
    res = {"max_ulp": 0, "dq": 0, "keys": [], "history": True}
    with fits.open(mine) as a, fits.open(ref) as b:
        assert len(a) == len(b)
        res["keys"] += _keys_equal(a[0].header, b[0].header, skip)
        res["history"] = [str(h) for h in a[0].header["HISTORY"]] == [str(h) for h in b[0].header["HISTORY"]]
        for ha, hb in zip(a[1:], b[1:], strict=True):
            assert ha.data.shape == hb.data.shape
            if hb.header["EXTNAME"] == "DQ":
                res["dq"] += int(np.count_nonzero(ha.data.astype(int) != hb.data.astype(int)))
            else:
                res["max_ulp"] = max(res["max_ulp"], ulp_diff(ha.data, hb.data)[0])
            res["keys"] += [(hb.header["EXTNAME"], *k) for k in _keys_equal(ha.header, hb.header, skip)]
    return res


@pytest.mark.hstcal
@pytest.mark.parametrize(
    "label, src, ref",
    [
        ("crj", "crj", "sx2"),
        ("crj", "fwv_tmp", "w2d_tmp"),
        ("flt", "flt", "x2d"),
        ("flux", "crj", "sx2"),
        ("fluxflt", "flt", "x2d"),
    ],
)
def test_parity_with_cs0(cs0_spec, tmp_path, label, src, ref):
    """calstis7 on cs0.e's own input (its _crj with the wavecal's SHIFTA1/2, its _fwv_tmp, its
    two-imset _flt) against cs0.e's product: 0 ulp, DQ and every keyword equal."""
    name, runs, env = cs0_spec
    work = runs[label]
    out = calstis7(read_exposure(work / f"{name}_{src}.fits"), env)
    mine = tmp_path / f"{name}_{ref}.fits"
    out.primary["CAL_VER"] = "x"
    write_exposure(out, mine)
    # cs4 writes SHIFTA1/2 and WAVECORR into _w2d_tmp after cs7 (and its history)
    skip = ("SHIFTA1", "SHIFTA2", "WAVECORR") if ref == "w2d_tmp" else ()
    res = compare_x2d(mine, work / f"{name}_{ref}.fits", skip=skip)
    assert res["max_ulp"] == 0 and res["dq"] == 0 and res["keys"] == [], res
    assert res["history"] or ref == "w2d_tmp"
    with fits.open(work / f"{name}_{ref}.fits") as h:
        assert h[0].header["X2DCORR"] == "COMPLETE" and len(h) == (7 if ref == "x2d" else 4)
        if ref != "w2d_tmp":
            assert h[0].header["HELCORR"] == "COMPLETE" and h["SCI", 1].header["SHIFTA1"] != 0.0
        if label.startswith("flux"):
            assert h[0].header["FLUXCORR"] == "COMPLETE" and h["SCI", 1].header["BUNIT"].startswith("erg")
            assert 0 < float(np.nanmedian(h["SCI", 1].data)) < 1e-10  # erg/s/cm²/Å/arcsec², not counts


def test_unsupported_switches_stop(tmp_path):
    from caldp import sim

    s = sim.simulate(tmp_path / "sim", modes=["stis-ccd-spec"], size="small", seed=5)
    (ds,) = s.datasets
    exp = read_exposure(ds.input_path / f"{ds.name}_raw.fits")
    exp.primary["SGEOCORR"] = "PERFORM"
    with pytest.raises(EngineError, match="SGEOCORR"):
        calstis7(exp, s.env)
    exp.primary["SGEOCORR"] = "OMIT"
    exp.primary.update({"FLUXCORR": "PERFORM", "PHOTTAB": "N/A"})  # FLUXCORR needs PHOTTAB
    with pytest.raises(EngineError, match="PHOTTAB"):
        calstis7(exp, s.env)
    exp.primary["FLUXCORR"] = "OMIT"
    exp.primary["CENWAVE"] = 5216
    with pytest.raises(EngineError, match="SDCTAB.*CENWAVE 5216|CENWAVE 5216"):
        calstis7(exp, s.env)


def test_builtin_sx2_straight_trace_and_preview(tmp_path):
    """The builtin engine with X2DCORR=PERFORM writes _sx2 after _crj: the star's trace is one
    straight line at the output's CRPIX2, the WCS is the SDCTAB grid, and it gets an image preview."""
    from caldp import sim
    from caldp.engines.stis.calstis import calstis
    from caldp.sim import stis_spec
    from caldp.tasks.preview import preview_one, wants_preview

    s = sim.simulate(tmp_path / "sim", modes=["stis-ccd-spec"], size="small", seed=5)
    (ds,) = s.datasets
    raw = ds.input_path / f"{ds.name}_raw.fits"
    with fits.open(raw, mode="update") as f:
        f[0].header.update({"X2DCORR": "PERFORM", "HELCORR": "PERFORM"})
    (tmp_path / "out").mkdir()
    written = calstis(raw, outdir=tmp_path / "out", env=s.env)
    sx2 = tmp_path / "out" / f"{ds.name}_sx2.fits"
    assert sx2 in written
    with fits.open(sx2) as h:
        sh = h["SCI", 1].header
        assert h[0].header["X2DCORR"] == "COMPLETE" and h[0].header["HELCORR"] == "COMPLETE"
        assert (sh["CRVAL1"], sh["CD1_1"], sh["SPORDER"], sh["LTV2"]) == (
            stis_spec.CENWAVE,
            stis_spec.DISPERSION,
            1,
            0.0,
        )
        assert h["SCI", 1].data.shape == (128, 1024) and "V_HELIO" in sh
        sci = h["SCI", 1].data.astype(float)
        row = sh["CRPIX2"] - 1.0  # where the SDCTAB A2CENTER (the trace) lands, zero-indexed
        j0 = int(round(row))
        band = slice(j0 - 5, j0 + 6)
        prof = sci[band, 50:-50] - np.median(sci[:, 50:-50], axis=0)
        cen = (prof * np.arange(j0 - 5, j0 + 6)[:, None]).sum(axis=0) / prof.sum(axis=0)
        # straight (no slope along the dispersion) and where SHIFTA2 puts it
        slope = np.polyfit(np.arange(cen.size), cen, 1)[0]
        assert abs(slope) * cen.size < 0.1 and np.std(cen) < 0.1
    assert wants_preview(sx2, "stis")
    (tmp_path / "prev").mkdir()
    made = preview_one(sx2, tmp_path / "prev")
    assert sorted(p.name for p in made) == sorted([f"{ds.name}_sx2.jpg", f"{ds.name}_sx2_thumb.jpg"])


@pytest.mark.parametrize("seed", range(5))
def test_input_positions_vector_form_equals_the_line_loop(seed):
    """Every line at once (InterpDisp/InterpTrace as masks, AdjustDisp and evalDisp per line) gives
    the bits of X2DCorr7's loop over lines: several DISPTAB rows of different NCOEFF, trace rows of
    different lengths, lines below, between, on and above the rows, incidence-angle terms, a tilted
    slit, binned and offset input."""
    rng = np.random.default_rng(seed)
    nx, ny = 96, 37
    geo = _geometry(nx, ny, angle=X.REF_ANGLE + 0.3)
    disp = []
    for a2 in sorted(rng.uniform(-5.0, ny + 5.0, 4)):
        coeff = np.zeros(10)
        coeff[:9] = [nx / 2.0 + 1.0 - 5000.0, 1.0, 1e-9, 0.2, 1e-4, 1e-10, 1e-9, 1e-15, 1e-3]
        coeff[:9] *= rng.uniform(0.99, 1.01, 9)
        coeff[9] = 7.0  # past NCOEFF: copied, never used
        disp.append(X.DispRow(float(a2), int(rng.integers(2, 10)), coeff, "REF"))
    disp.append(X.DispRow(float(ny / 2.0), 3, disp[0].coeff.copy(), "REF"))
    disp.sort(key=lambda d: d.a2center)
    trace = [
        X.TraceRow(nx / 2.0, float(a2), rng.normal(0.0, 0.5, int(rng.integers(nx - 10, nx + 10))))
        for a2 in sorted(set(np.round(rng.uniform(0.0, ny, 3), 3).tolist() + [10.0]))
    ]
    iac = X.Iac(rng.normal(0.0, 0.1, 3), rng.normal(0.0, 0.1, 2))
    from dataclasses import replace

    for ltm, ltv, off in (((1.0, 1.0), (0.0, 0.0), 0.0), ((0.5, 0.5), (3.25, -1.5), 2.75)):
        g = replace(
            geo,
            disp=disp,
            trace=trace,
            iac=iac,
            delta=0.37,
            ltm=ltm,
            ltv=ltv,
            msm_slop=(0.4, 0.1),
            total_offset2=off,
            hfactor=1.0000321,
        )
        a, b = X.input_positions(g), X.input_positions_reference(g)
        for u, v in zip(a, b, strict=True):
            assert u.shape == v.shape and np.array_equal(u.view(np.int64), v.view(np.int64))
