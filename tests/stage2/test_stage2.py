"""Stage 2 (runastrodriz) on a tiny synthetic ACS/WFC association, offline."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from caldp import stage2
from caldp.sim.calibrated import make_flt_association as make_association


def drizzle_env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}


def centroid_offsets(sci: np.ndarray, px: np.ndarray, py: np.ndarray, half: int = 4) -> np.ndarray:
    """(n, 2) first-moment centroid minus predicted position, sky-subtracted, in a (2*half+1)^2 box."""
    r = np.arange(-half, half + 1)
    ix, iy = np.rint(px).astype(int), np.rint(py).astype(int)
    ys = iy[:, None, None] + r[None, :, None]
    xs = ix[:, None, None] + r[None, None, :]
    stamps = np.nan_to_num(sci[ys, xs]) - np.nanmedian(sci)
    stamps = np.clip(stamps, 0, None)
    tot = stamps.sum(axis=(1, 2))
    cx = (stamps.sum(axis=1) * r).sum(axis=1) / tot + ix
    cy = (stamps.sum(axis=2) * r).sum(axis=1) / tot + iy
    return np.column_stack([cx - px, cy - py])


@pytest.fixture(scope="module")
def drizzled(tmp_path_factory):
    """Drizzle the association once: (association, products, seconds)."""
    asn = make_association(tmp_path_factory.mktemp("stage2") / "work")
    t0 = time.monotonic()
    products = stage2.run_stage2(
        asn.workdir, [asn.asn], instrument="acs", env=drizzle_env(asn.env), log_dir=asn.workdir / "logs"
    )
    return asn, products, time.monotonic() - t0


def test_drz_has_sci_wht_ctx(drizzled):
    asn, products, seconds = drizzled
    assert products == [asn.workdir / f"{asn.product}_drz.fits"]
    with fits.open(products[0]) as hdul:
        names = [h.name for h in hdul]
        assert {"SCI", "WHT", "CTX"} <= set(names)
        sci, wht = hdul["SCI"].data, hdul["WHT"].data
        assert sci.shape == wht.shape == hdul["CTX"].data.shape[-2:]
        assert np.isfinite(sci[wht > 0]).all() and (wht > 0).mean() > 0.8
        assert hdul[0].header["NDRIZIM"] == 2 * len(asn.members)  # 2 exposures x 2 chips
    print(f"drizzle wall time {seconds:.1f} s")


def test_stars_land_on_truth(drizzled):
    """Every simulated star's centroid in the _drz is within 0.5 px of its RA/Dec through the _drz WCS."""
    asn, products, _ = drizzled
    with fits.open(products[0]) as hdul:
        sci = hdul["SCI"].data
        w = WCS(hdul["SCI"].header)
    px, py = w.all_world2pix(asn.stars[:, 0], asn.stars[:, 1], 0)
    off = centroid_offsets(sci, px, py)
    dist = np.hypot(off[:, 0], off[:, 1])
    assert dist.max() < 0.5, dist
    # the drizzled stars are not just anywhere near: the WCS is tight
    assert np.median(dist) < 0.1


def test_cosmic_rays_rejected(drizzled):
    """The cosmic rays (x 2..4 in each input chip) are flagged by driz_cr and not in the product."""
    asn, products, _ = drizzled
    with fits.open(products[0]) as hdul:
        sci = hdul["SCI"].data
    assert np.nanmax(sci) < 5000.0 / 2  # a CR of 5000 e- in one 100 s exposure would leave >25 e-/s
    with fits.open(asn.workdir / f"{asn.members[0]}_flt.fits") as hdul:
        assert (hdul["DQ", 1].data & 4096).any() or (hdul["DQ", 2].data & 4096).any()


def test_flt_wcs_updated_and_logs(drizzled):
    asn, _, _ = drizzled
    for m in asn.members:
        assert (asn.workdir / f"{m}_flt_hlet.fits").is_file()
        with fits.open(asn.workdir / f"{m}_flt.fits") as hdul:
            for extver in (1, 2):
                hdr = hdul["SCI", extver].header
                assert hdr["WCSNAMEO"] == "OPUS"  # updatewcs archived the calibrated WCS
                assert hdr["S_REGION"].startswith("POLYGON ICRS")
                assert hdr["WCSTYPE"] and "MDRIZSKY" in hdr
    assert fits.getval(asn.workdir / f"{asn.members[0]}_raw.fits", "DRIZCORR") == "PERFORM"
    text = (asn.workdir / "logs" / f"{asn.product}_runastrodriz.log").read_text()
    assert "ASTROMETRY_APPLY_APRIORI found, setting 'align with apriori' to False" in text
    assert "ASTROMETRY_COMPUTE_APOSTERIORI found, setting 'align to gaia' to False" in text
    assert (asn.workdir / f"{asn.product}.tra").is_file()


def test_drizcorr_omit_skips(tmp_path, caplog):
    asn = make_association(tmp_path / "w", drizcorr="OMIT")
    caplog.set_level("INFO", logger="caldp.stage2")
    out = stage2.run_stage2(asn.workdir, [asn.asn], instrument="acs", env=drizzle_env(asn.env), log_dir=tmp_path)
    assert out == []
    assert not list(asn.workdir.glob("*_drz.fits"))
    assert "DRIZCORR=OMIT" in caplog.text


def test_missing_mdriztab_is_a_one_line_error(tmp_path):
    asn = make_association(tmp_path / "w")
    (asn.workdir / "ref" / "synth_mdz.fits").unlink()
    with pytest.raises(stage2.Stage2Error, match="MDRIZTAB jref\\$synth_mdz.fits not found") as exc:
        stage2.run_stage2(asn.workdir, [asn.asn], instrument="acs", env=drizzle_env(asn.env), log_dir=tmp_path)
    assert "\n" not in str(exc.value)


def test_broken_input_raises_with_reason(tmp_path, caplog):
    """An _flt without EXPNAME (which drizzlepac's sky-cell lookup needs) fails in runastrodriz."""
    asn = make_association(tmp_path / "w", nx=48, ny=32, nstars=2)
    flt = asn.workdir / f"{asn.members[1]}_flt.fits"
    with fits.open(flt, mode="update") as hdul:
        del hdul["SCI", 1].header["EXPNAME"]
    with pytest.raises(stage2.Stage2Error) as exc:
        stage2.run_stage2(asn.workdir, [asn.asn], instrument="acs", env=drizzle_env(asn.env), log_dir=tmp_path)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "EXPNAME" in msg and "jsyn01010_runastrodriz.log" in msg
    assert "last lines of" in caplog.text and "Traceback" in caplog.text  # the log's tail reaches caldp's log
    assert not list(asn.workdir.glob("*_drz.fits"))


def test_runaway_run_is_stopped(tmp_path):
    asn = make_association(tmp_path / "w", nx=48, ny=32, nstars=2)
    with pytest.raises(stage2.Stage2Error, match="timed out after 0 s"):
        stage2.run_stage2(
            asn.workdir, [asn.asn], instrument="acs", env=drizzle_env(asn.env), log_dir=tmp_path, timeout=0.01
        )


def test_offline_env_keeps_enabled_switch():
    env = stage2.drizzle_env({"ASTROMETRY_COMPUTE_APOSTERIORI": "on", "HTTPS_PROXY": "http://p:1"})
    assert env["ASTROMETRY_COMPUTE_APOSTERIORI"] == "on"
    assert env["ASTROMETRY_APPLY_APRIORI"] == env["ASTROMETRY_STEP_CONTROL"] == "off"
    assert env["HTTPS_PROXY"] == "http://p:1"  # online when asked to be


def test_association_members(tmp_path):
    asn = make_association(tmp_path / "w", nx=32, ny=32, nstars=1)
    exposures, products = stage2.association_members(asn.workdir / asn.asn)
    assert exposures == list(asn.members) and products == [asn.product]
    assert stage2.input_raw(asn.workdir, asn.asn) == Path(asn.workdir / f"{asn.members[0]}_raw.fits")


def test_single_exposure_with_flc_makes_drz_and_drc(tmp_path):
    """An unassociated ``_raw`` input: runastrodriz drizzles its ``_flt`` and, since an ``_flc`` exists, a ``_drc``."""
    asn = make_association(tmp_path / "w", nx=64, ny=48, nstars=4, dithers=((0.0, 0.0),), flc=True)
    root = asn.members[0]
    out = stage2.run_stage2(
        asn.workdir, [f"{root}_raw.fits"], instrument="acs", env=drizzle_env(asn.env), log_dir=tmp_path
    )
    assert sorted(p.name for p in out) == [f"{root}_drc.fits", f"{root}_drz.fits"]
    for p in out:
        with fits.open(p) as hdul:
            assert {"SCI", "WHT", "CTX"} <= {h.name for h in hdul}
            sci, w = hdul["SCI"].data, WCS(hdul["SCI"].header)
        px, py = w.all_world2pix(asn.stars[:, 0], asn.stars[:, 1], 0)
        assert np.hypot(*centroid_offsets(sci, px, py).T).max() < 0.5
    assert (tmp_path / f"{root}_runastrodriz.log").is_file()


def test_offline_env_fails_http_at_once():
    """Any HTTP(S) request from the drizzle subprocess is refused at once, not left waiting on a network."""
    import subprocess
    import sys

    code = (
        "import urllib.request, sys\n"
        "try:\n"
        "    urllib.request.urlopen('https://mast.stsci.edu/api/v0.1/', timeout=30)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc); sys.exit(3)\n"
    )
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code], env=stage2.drizzle_env(dict(os.environ)), capture_output=True, text=True
    )
    assert proc.returncode == 3 and "refused" in proc.stdout.lower(), proc.stdout + proc.stderr
    assert time.monotonic() - t0 < 10
