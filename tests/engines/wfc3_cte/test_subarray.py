"""WF3CTE on UVIS subarrays (calwf3 3.7 ``wf3cte.c``/``subtools.c``) without HSTCAL: placement in the
full chip, the overscan test and its message, the BIACFILE section, the prescan bias, and the small
simulated CTE association (UVIS2-C512C-SUB with its 25 prescan columns) through caldp-process:
``_flc``/``_crc``/``_drc`` and their previews delivered, trails behind sources shrink."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.errors import EngineError
from caldp.engines.wfc3.calwf3 import calwf3
from caldp.engines.wfc3.uvis import ctesub
from caldp.engines.wfc3.uvis import pctecorr as P
from tests.integration.conftest import message, messages, run_process

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _hdr(ltv1, ltv2=0.0, chip=2):
    return fits.Header({"CCDCHIP": chip, "LTV1": ltv1, "LTV2": ltv2, "LTM1_1": 1.0, "LTM2_2": 1.0})


def test_placement_of_c512c_with_prescan():
    pl = ctesub.placement(_hdr(25.0), (512, 537))
    assert (pl.start, pl.finish, pl.x0, pl.y0, pl.ccdchip) == (0, 537, 0, 0, 2)
    assert pl.has_physical_overscan


def test_subarray_without_prescan_is_refused_with_calwf3s_message():
    pl = ctesub.placement(_hdr(0.0), (512, 512))  # science pixels only: starts at column 25
    assert not pl.has_physical_overscan
    with pytest.raises(EngineError, match=r"Subarray not taken with physical overscan \(25 537\)"):
        ctesub.check_placement(pl, "x_raw.fits")


def test_amp_b_d_subarray_reaching_the_right_prescan_skips_the_virtual_overscan():
    # last 512 science columns of the chip + the 25 trailing prescan columns: raw column 3609 on
    pl = ctesub.placement(_hdr(25.0 - 3609, 0.0, chip=1), (512, 537))
    assert (pl.start, pl.finish) == (3609, 4146)
    assert pl.has_physical_overscan  # 4146 + 60 > 4206 − 25
    assert (pl.x0, pl.y0, pl.ccdchip) == (3609 + 60, 19, 1)  # chip 1's empty chip has LTV2 = 19
    ctesub.check_placement(pl, "x_raw.fits")
    # the same columns one pixel short of the prescan: no overscan
    assert not ctesub.placement(_hdr(25.0 - 3608, 0.0, chip=1), (512, 512)).has_physical_overscan


def test_biac_section_same_size_full_frame_and_straddling():
    cols = np.tile(np.arange(4206, dtype=np.float32), (2070, 1))
    rows = np.tile(np.arange(2070, dtype=np.float32)[:, None], (1, 4206))
    full = (cols + 10000 * rows, np.ones_like(cols), np.zeros(cols.shape, np.int16))
    full_corner = ctesub.corner(25.0, 0.0)
    pl = ctesub.placement(_hdr(25.0 - 100, -7.0), (20, 40))  # raw column 100, row 7
    s, e, d = ctesub.biac_section(pl, full, full_corner, file="b.fits")
    np.testing.assert_array_equal(s, full[0][7:27, 100:140])
    pl = ctesub.placement(_hdr(25.0 - 2050, 0.0), (3, 50))  # crosses column 2072: 23 columns, then +60
    s, _, _ = ctesub.biac_section(pl, full, full_corner, file="b.fits")
    expect = np.r_[np.arange(2050, 2073), np.arange(2073, 2100) + 60]
    np.testing.assert_array_equal(s[0], expect.astype(np.float32))
    pl = ctesub.placement(_hdr(25.0 - 2500, 0.0), (3, 10))  # amp D: shifted by 60 as a whole
    s, _, _ = ctesub.biac_section(pl, full, full_corner, file="b.fits")
    np.testing.assert_array_equal(s[0], np.arange(2560, 2570, dtype=np.float32))
    same = tuple(a[:20, :40] for a in full)  # a reference of the subarray's own size and corner
    pl = ctesub.placement(_hdr(25.0), (20, 40))
    s, _, _ = ctesub.biac_section(pl, same, ctesub.corner(25.0, 0.0), file="b.fits")
    np.testing.assert_array_equal(s, same[0])
    with pytest.raises(EngineError, match="BIACFILE"):
        ctesub.biac_section(ctesub.placement(_hdr(25.0 - 4000), (20, 400)), full, full_corner, file="b.fits")


def test_sub1d_error_and_dq_combination():
    s, e, d = ctesub.subtract_biac(
        np.full((2, 2), 10, np.float32),
        np.full((2, 2), 3, np.float32),
        np.array([[0, 4], [0, 0]], np.int16),
        np.full((2, 2), 1.5, np.float32),
        np.full((2, 2), 4, np.float32),
        np.array([[128, 0], [0, 0]], np.int16),
    )
    assert s.dtype == e.dtype == np.float32 and d.dtype == np.int16
    np.testing.assert_array_equal(s, 8.5)
    np.testing.assert_array_equal(e, 5.0)
    np.testing.assert_array_equal(d, [[128, 4], [0, 0]])


def test_prescan_bias_uses_masked_prescan_pixels_only():
    rng = np.random.default_rng(1)
    ny, nx = 300, 120
    sub = (2500.0 + rng.normal(0, 3, (ny, nx))).astype(np.float32)
    sub[10, 7] = 9000.0  # an outlier in the prescan: clipped
    pl = ctesub.placement(_hdr(25.0), (ny, nx))
    cd, ab = ctesub._full_chips(pl, sub)
    mask = P.make_raz(*ctesub._full_chips(pl, np.ones((ny, nx), bool), bool))
    bias = ctesub.prescan_bias(P.make_raz(cd, ab), mask)
    assert bias[1:].tolist() == [0.0, 0.0, 0.0]  # amps D, A, B hold no pixel
    pre = sub[:, 5:25]
    assert abs(float(bias[0]) - float(np.median(pre))) < 0.5
    assert float(bias[0]) < float(pre.mean())  # the outlier did not count


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from caldp import sim

    root = tmp_path_factory.mktemp("uvis_cte_sub")
    res = sim.simulate(root / "sim", modes=("wfc3-uvis-cte-asn",), size="small", seed=6)
    return root, res


def test_subarray_without_overscan_stops_before_any_product(small, tmp_path):
    from caldp import sim

    _, res = small
    ds = res.datasets[0]
    for f in ds.input_path.iterdir():
        shutil.copy(f, tmp_path)
    for raw in tmp_path.glob("*_raw.fits"):  # cut off the 25 prescan columns: LTV1 = 0
        with fits.open(raw, mode="update") as h:
            h["SCI", 1].data = np.ascontiguousarray(h["SCI", 1].data[:, 25:])
            h["SCI", 1].header["LTV1"] = 0.0
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(EngineError, match=r"physical overscan \(25 537\)"):
        calwf3(tmp_path / f"{ds.name}_asn.fits", outdir=tmp_path, env=dict(sim.crds_env(res.crds_cache)))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.fixture(scope="module")
def processed(small):
    root, res = small
    out = root / "out"
    proc = run_process(
        res.datasets[0].name,
        f"file:{res.datasets[0].input_path.parent}",
        f"file:{out}",
        "caldp-config-local",
        env={"CRDS_PATH": str(res.crds_cache)},
    )
    return res.datasets[0].name, proc, out / "data" / "wfc3" / res.datasets[0].name, out


def test_process_delivers_cte_products_and_previews(processed):
    name, proc, data, out = processed
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert messages(out)["datasets-processed"] == [name]
    assert message(out, "datasets-processed", name)["exit_code"] == 0
    members = sorted(p.name[:9] for p in data.glob("*_raw.fits"))
    assert len(members) == 2
    want = [f"{m}_{s}" for m in members for s in ("flt", "flc")] + [f"{name}_{s}" for s in ("crj", "crc", "drz", "drc")]
    for stem in want:
        assert (data / f"{stem}.fits").is_file(), stem
        if not stem.endswith("crj"):  # CALDP previews no WFC3 crj
            for suffix in (".jpg", "_thumb.jpg"):
                assert (data / "previews" / f"{stem}{suffix}").stat().st_size > 0, stem
    assert not list(data.glob("*_tmp.fits"))


def test_flc_keywords_and_flt_untouched(processed):
    name, _, data, _ = processed
    m = sorted(p.name[:9] for p in data.glob("*_raw.fits"))[0]
    flc, flt = fits.getheader(data / f"{m}_flc.fits"), fits.getheader(data / f"{m}_flt.fits")
    assert flc["PCTECORR"] == "COMPLETE" and flt["PCTECORR"] == "PERFORM"
    assert fits.getval(data / f"{name}_crc.fits", "PCTECORR") == "COMPLETE"
    assert flc["CTE_NAME"].startswith("PixelCTE 2019") and 2.0 < flc["PCTEFRAC"] < 3.0
    assert 3.75 <= flc["PCTERNOI"] <= 9.75
    for key in ("PCTENFOR", "PCTENPAR", "PCTETLEN", "PCTETRSH", "CTEDATE0", "CTEDATE1"):
        assert key in flc


@pytest.mark.parametrize("kind", ["flc", "crc"])
def test_trails_behind_sources_shrink(processed, kind):
    name, _, data, _ = processed
    m = sorted(p.name[:9] for p in data.glob("*_raw.fits"))[0]
    stem = {"flc": (f"{m}_flt", f"{m}_flc"), "crc": (f"{name}_crj", f"{name}_crc")}[kind]
    before, after = (fits.getdata(data / f"{s}.fits", ("SCI", 1)).astype(np.float64) for s in stem)
    med = np.median(before)
    sig = 1.4826 * np.median(np.abs(before - med))
    core = before > med + 30 * sig
    trail = np.zeros_like(core)
    for k in range(1, 6):  # amp C reads out at row 0: charge trails to higher rows
        trail[k:] |= core[:-k]
    trail &= ~core
    far = ~(core | trail)
    for k in range(1, 12):
        far[k:] &= ~core[:-k]
        far[:-k] &= ~core[k:]
    diff = after - before
    assert core.sum() >= {"flc": 50, "crc": 5}[kind] and trail.sum() >= 5 * {"flc": 50, "crc": 5}[kind]
    assert diff[core].mean() > 1.0  # charge given back to the sources
    assert diff[trail].mean() < -0.2  # taken out of their trails
    assert abs(diff[far].mean()) < 0.1 * abs(diff[trail].mean())  # the sky barely moves


def _copy_sim(small, dest):
    root, res = small
    shutil.copytree(root / "sim", dest, ignore=shutil.ignore_patterns("out"))
    return res.datasets[0].name, dest / "crds_cache", dest / "inputs"


def _no_cprof(cache, inputs):
    pcte = sorted((cache / "references" / "hst").glob("*_cte.fits"))[0]
    with fits.open(pcte) as h:
        fits.HDUList([x for x in h if x.name != "CPROF"]).writeto(pcte, overwrite=True)
    return pcte.name


def _no_prescan(cache, inputs):
    for raw in inputs.rglob("*_raw.fits"):
        with fits.open(raw, mode="update") as h:
            h["SCI", 1].data = np.ascontiguousarray(h["SCI", 1].data[:, 25:])
            h["SCI", 1].header["LTV1"] = 0.0
    return "physical overscan"


@pytest.mark.parametrize("breaker", [_no_cprof, _no_prescan])
def test_bad_cte_input_is_a_stage1_error_with_nothing_delivered(small, tmp_path, breaker):
    from tests.integration.test_process_bad_input import assert_failed

    name, cache, inputs = _copy_sim(small, tmp_path / "sim")
    text = breaker(cache, inputs)
    out = tmp_path / "out"
    proc = run_process(name, f"file:{inputs}", f"file:{out}", "caldp-config-local", env={"CRDS_PATH": str(cache)})
    assert_failed(proc, out, name, 23, "STAGE1_ERROR", text)
