"""Stage 2's fast way (forked runastrodriz.process, sky cells once per file beside AstroDrizzle, 2 cores) makes
runastrodriz's products.

The same calibrated ``_flt`` files are drizzled by ``python -m drizzlepac.runastrodriz -n 1`` and by
``CALDP_STAGE2=fast``; the ``_drz`` SCI/WHT/CTX must agree within 4 float32 ulp (they are identical
when measured), the headers' WCS and the ``_flt`` files' updated keywords (SKYCELL, S_REGION, WCS
archive) must be equal.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from caldp import stage2

from .test_stage2_sim import stage1_builtin

sim = pytest.importorskip("caldp.sim", reason="caldp.sim not available")

#: Keywords runastrodriz's own clock or run writes differently every time.
VOLATILE = {"DATE", "IRAF-TLM", "FILETIME", "DRIZPARS", "UPWTIM", "UPWCSVER", "PYWCSVER"}
WCS_KEYS = ("CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CD1_1", "CD1_2", "CD2_1", "CD2_2", "CTYPE1", "CTYPE2")


def ulp_distance(a: np.ndarray, b: np.ndarray) -> int:
    """Largest distance in float32 units in the last place (NaNs must sit at the same pixels)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ia = a.view(np.int32).astype(np.int64)
    ib = b.view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, -(2**31) - ia, ia)  # sign-magnitude to a monotonic integer line
    ib = np.where(ib < 0, -(2**31) - ib, ib)
    d = np.abs(ia - ib)[~np.isnan(a)]
    return int(d.max()) if d.size else 0


def header_diff(ha: fits.Header, hb: fits.Header) -> list[str]:
    keys = (set(ha) | set(hb)) - VOLATILE - {"", "COMMENT", "HISTORY"}
    return sorted(k for k in keys if ha.get(k) != hb.get(k))


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory):
    base = tmp_path_factory.mktemp("modes")
    res = sim.simulate(base / "sim", modes=("acs-wfc-asn",), size="small")
    ds = res.datasets[0]
    env = {**os.environ, **res.env}
    asn = f"{ds.name}_asn.fits"
    calibrated = base / "calibrated"
    shutil.copytree(ds.input_path, calibrated)
    stage1_builtin(calibrated, asn, env)
    out = {}
    for mode in stage2.MODES:
        work = base / mode
        shutil.copytree(calibrated, work)
        products = stage2.run_stage2(
            work, [asn], instrument="acs", env={**env, "CALDP_STAGE2": mode}, log_dir=work / "logs"
        )
        out[mode] = (work, products)
    return ds, out


@pytest.mark.slow
def test_fast_way_makes_runastrodriz_products(both_ways):
    ds, out = both_ways
    (fast, fast_products), (ref, ref_products) = out["fast"], out["runastrodriz"]
    assert [p.name for p in fast_products] == [p.name for p in ref_products] == [f"{ds.name}_drz.fits"]
    with fits.open(fast_products[0]) as a, fits.open(ref_products[0]) as b:
        assert [h.name for h in a] == [h.name for h in b]
        for ext in ("SCI", "WHT"):
            assert ulp_distance(a[ext].data, b[ext].data) <= 4, ext
        assert np.array_equal(a["CTX"].data, b["CTX"].data)
        for ext in ("SCI", "WHT", "CTX"):
            assert [a[ext].header.get(k) for k in WCS_KEYS] == [b[ext].header.get(k) for k in WCS_KEYS]
        assert header_diff(a["SCI"].header, b["SCI"].header) == []
        assert a["SCI"].header["SKYCELL"] == b["SCI"].header["SKYCELL"]  # copied from the first _flt
        assert a[0].header["NDRIZIM"] == b[0].header["NDRIZIM"]
    flts = sorted(p.name for p in ref.glob("*_flt.fits"))
    assert flts and flts == sorted(p.name for p in fast.glob("*_flt.fits"))
    for name in flts:
        with fits.open(fast / name) as a, fits.open(ref / name) as b:
            assert [h.name for h in a] == [h.name for h in b]
            for i in range(len(a)):
                assert header_diff(a[i].header, b[i].header) == [], (name, i)
                # SKYCELL is written later than runastrodriz writes it: the cards must still be in its order
                assert list(a[i].header.keys()) == list(b[i].header.keys()), (name, i)
                if a[i].name in ("SCI", "ERR", "DQ"):
                    assert np.array_equal(a[i].data, b[i].data), (name, i)
            assert a["SCI", 1].header["SKYCELL"] == b["SCI", 1].header["SKYCELL"]
        assert (fast / name.replace(".fits", "_hlet.fits")).is_file()
    fast_log = (fast / "logs" / f"{ds.name}_runastrodriz.log").read_text()
    assert "Executing 2 parallel workers" in fast_log
    assert "[caldp] sky cells of 2 file(s)" in fast_log
    assert not (fast / stage2.SKYCELL_SNAPSHOT).exists()


def test_unsimplified_edges_give_the_same_sky_cells(both_ways):
    """The sky-cell workers skip find_corners' polygon simplification, whose result get_sky_cells never reads."""
    from drizzlepac.haputils import cell_utils

    _, out = both_ways
    ref = out["runastrodriz"][0]
    name = sorted(p.name for p in ref.glob("*_flt.fits"))[0]
    cwd = os.getcwd()
    os.chdir(ref)
    try:
        plain = cell_utils.get_sky_cells([name])
        saved = cell_utils.simplify, cell_utils.ndimage, cell_utils.SkyFootprint.find_footprint
        cell_utils.simplify = stage2._unsimplified
        try:
            fast = cell_utils.get_sky_cells([name])
            # and as the worker runs it: footprint filters tile by tile, the footprint held as uint8
            cell_utils.ndimage = stage2._TiledNdimage()
            cell_utils.SkyFootprint.find_footprint = stage2._compact_footprint(saved[2])
            tiled = cell_utils.get_sky_cells([name])
        finally:
            cell_utils.simplify, cell_utils.ndimage, cell_utils.SkyFootprint.find_footprint = saved
    finally:
        os.chdir(cwd)
    assert plain and list(fast) == list(plain) == list(tiled)
    assert [sorted(c.members) for c in fast.values()] == [sorted(c.members) for c in plain.values()]
    assert [sorted(c.members) for c in tiled.values()] == [sorted(c.members) for c in plain.values()]


def test_unknown_mode_is_a_one_line_error(tmp_path):
    with pytest.raises(stage2.Stage2Error, match="CALDP_STAGE2='turbo'"):
        stage2.stage2_mode({"CALDP_STAGE2": "turbo"})
    assert stage2.stage2_mode({}) in ("fast", os.environ.get("CALDP_STAGE2", "fast").lower())


def test_calibrated_files_lists_flt_then_flc(tmp_path: Path):
    for name in ("ab1_flt.fits", "ab1_flc.fits", "ab2_flt.fits"):
        (tmp_path / name).touch()
    assert stage2.calibrated_files(tmp_path, "ab1_raw.fits") == ["ab1_flt.fits", "ab1_flc.fits"]


def _drizzle_in_daemon(workdir: str, asn: str, env: dict, queue) -> None:
    """In a daemonic process and a thread-pool thread, as in a Dask worker (or caldp-process's threads)."""
    from concurrent.futures import ThreadPoolExecutor

    try:
        with ThreadPoolExecutor(1) as pool:
            made = pool.submit(
                stage2.run_stage2, Path(workdir), [asn], instrument="acs", env=env, log_dir=Path(workdir) / "logs"
            ).result()
        queue.put([p.name for p in made])
    except BaseException as exc:  # reported to the test
        queue.put(f"{type(exc).__name__}: {exc}")


def test_fast_way_runs_in_a_daemonic_worker(tmp_path):
    """A Dask worker is a daemonic process running tasks on pool threads; the fast way (and AstroDrizzle's 2
    workers) must still run there."""
    import multiprocessing

    from caldp.sim.calibrated import make_flt_association as make_association

    asn = make_association(tmp_path / "w", nx=64, ny=48, nstars=4)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    env = {**os.environ, **asn.env, "CALDP_STAGE2": "fast"}
    worker = ctx.Process(target=_drizzle_in_daemon, args=(str(asn.workdir), asn.asn, env, queue), daemon=True)
    worker.start()
    result = queue.get(timeout=600)
    worker.join(60)
    assert result == [f"{asn.product}_drz.fits"], result
    log_text = (asn.workdir / "logs" / f"{asn.product}_runastrodriz.log").read_text()
    assert "Executing 2 parallel workers" in log_text
