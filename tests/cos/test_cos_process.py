"""COS through caldp-process: products, messages, previews, the science in the x1d, parity with calcos."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from tests.integration.conftest import message, messages

from .conftest import direct_calcos

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: Line centres must come back within this (Å): ~3 FUV pixels, ~1.4 NUV pixels; the flux's
#: mean ratio to the simulated source within FLUX_TOL (Poisson noise of ~10⁴ counts per segment
#: plus the flat's ±3 % ripple).
LINE_TOL = {"FUV": 0.04, "NUV": 0.06}
FLUX_TOL = 0.05


def _products(out, dataset):
    return sorted(p.name for p in (out / "data" / "cos" / dataset).glob("*") if p.is_file())


def test_fuv_process_succeeds(fuv):
    result, proc, out = fuv
    ds = result.datasets[0]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "EXIT - SUCCESS[0]" in proc.stderr.splitlines()[-1]
    msgs = messages(out)
    assert msgs["datasets-processed"] == [ds.name] and not msgs.get("dataset-error")
    assert message(out, "datasets-processed", ds.name)["exit_code"] == 0
    assert (out / "data" / "cos" / ds.name / "logs" / "process.txt").is_file()


def test_fuv_products_as_the_archive_delivers(fuv):
    result, proc, out = fuv
    ds = result.datasets[0]
    names = set(_products(out, ds.name))
    members = sorted(result.datasets[0].truth["exposures"])
    for m in members:
        for sfx in ("corrtag_a", "corrtag_b", "flt_a", "flt_b", "counts_a", "counts_b", "x1d", "lampflash"):
            assert f"{m}_{sfx}.fits" in names, (m, sfx, names)
        assert f"{m}.tra" in names
    for k in ("", "1", "2"):
        assert f"{ds.name}_x1dsum{k}.fits" in names
    assert f"{ds.name}_x1dsum3.fits" not in names  # only FP-POS 1 and 2 were observed


def test_fuv_observation_logs_delivered(fuv):
    """The association's _jit (a 3-s jitter table per exposure) and _jif (its 2-D histogram) are delivered
    unchanged, one extension per member named by EXPNAME (the rootname ending in ``j``)."""
    from caldp.sim import cos

    result, _, out = fuv
    ds = result.datasets[0]
    ddir = out / "data" / "cos" / ds.name
    members = sorted(ds.truth["exposures"])
    with fits.open(ddir / f"{ds.name}_jit.fits") as jit, fits.open(ddir / f"{ds.name}_jif.fits") as jif:
        assert jit[0].header["FILETYPE"] == "JIT" and jif[0].header["FILETYPE"] == "JIM"
        assert len(jit) == len(jif) == len(members) + 1
        for k, member in enumerate(members, start=1):
            tab, img = jit["JIT", k], jif["JIF", k]
            assert tab.header["EXPNAME"] == img.header["EXPNAME"] == member[:-1] + "j"
            assert tab.columns.names == [c[0] for c in cos.JIT_COLUMNS]
            seconds = tab.data["Seconds"]
            assert seconds[0] == 0 and seconds[-1] >= ds.truth["exposures"][member]["exptime"]
            assert np.all(np.diff(seconds) == cos.JIT_STEP)
            assert img.data.sum() == len(tab.data)  # every 3-s sample in the histogram
            assert np.std(tab.data["SI_V2_AVG"]) < 3 * cos.JITTER_RMS
    with fits.open(ds.input_path / f"{ds.name}_jit.fits") as src, fits.open(ddir / f"{ds.name}_jit.fits") as got:
        assert fits.FITSDiff(src, got).identical


def test_fuv_calibration_switches_complete(fuv):
    result, _, out = fuv
    ds = result.datasets[0]
    member = sorted(ds.truth["exposures"])[0]
    hdr = fits.getheader(out / "data" / "cos" / ds.name / f"{member}_x1d.fits")
    for key in (
        "DQICORR",
        "TEMPCORR",
        "GEOCORR",
        "IGEOCORR",
        "DEADCORR",
        "FLATCORR",
        "DOPPCORR",
        "HELCORR",
        "PHACORR",
        "WAVECORR",
        "BACKCORR",
        "X1DCORR",
        "FLUXCORR",
        "TDSCORR",
    ):
        assert hdr[key] == "COMPLETE", key
    assert hdr["RANDSEED"] == 1 and hdr["RANDCORR"] == "COMPLETE"


def test_fuv_tdscorr_divides_by_the_tdstab_factor(fuv):
    """NET/FLUX is FLUXTAB's sensitivity times TDSTAB's factor at the exposure's mid-time (a ~15-20 % loss
    since REF_TIME, so the flux test below fails without TDSCORR)."""
    from caldp.sim import cos

    result, _, out = fuv
    ds = result.datasets[0]
    member, info = sorted(ds.truth["exposures"].items())[0]
    t_mid = info["expstart"] + info["exptime"] / 2 / 86400.0
    with fits.open(out / "data" / "cos" / ds.name / f"{member}_x1d.fits") as hdul:
        for row in hdul[1].data:
            seg = next(s for s in cos.FUV_SEGS if s.name == row["SEGMENT"])
            w, net, flux = (row[c].astype(float) for c in ("WAVELENGTH", "NET", "FLUX"))
            good = (flux != 0) & (net > 0)
            expected = cos.sensitivity(w[good], 1291) * cos.tds_factor(seg, w[good], t_mid)
            assert np.allclose(net[good] / flux[good], expected, rtol=2e-3), row["SEGMENT"]
            assert cos.tds_factor(seg, w[good], t_mid).max() < 0.9


def test_fuv_wavecal_measures_the_fp_pos_step(fuv):
    """The lamp flash puts each FP-POS FPOFFSET*STEPSIZE pixels along; WAVECORR finds it to 1 pixel."""
    from caldp.sim import cos

    result, _, out = fuv
    ds = result.datasets[0]
    for member, info in ds.truth["exposures"].items():
        for seg in "ab":
            hdr = fits.getheader(out / "data" / "cos" / ds.name / f"{member}_corrtag_{seg}.fits", 1)
            expected = (info["fppos"] - 3) * cos.STEPSIZE["G130M"]
            assert abs(hdr[f"SHIFT1{seg.upper()}"] - expected) < 1.0, (member, seg, hdr[f"SHIFT1{seg.upper()}"])


def _check_spectrum(path, mode_name, detector):
    from caldp.sim import cos

    mode = cos.MODES[mode_name]
    with fits.open(path) as hdul:
        rows = hdul[1].data
        assert len(rows) == len(mode.segs)
        for row in rows:
            w, f = row["WAVELENGTH"].astype(float), row["FLUX"].astype(float)
            good = (row["DQ_WGT"] > 0) & (f != 0)
            truth = cos._rest_flux(mode, w)
            ratio = f[good].sum() / truth[good].sum()
            assert abs(ratio - 1) < FLUX_TOL, (row["SEGMENT"], ratio)
            for centre, _, sigma in cos.LINES[mode.opt_elem]:
                if not w[good].min() + 1 < centre < w[good].max() - 1:
                    continue
                near = good & (np.abs(w - centre) < 4 * sigma)
                cont = np.median(f[good & (np.abs(w - centre) > 5 * sigma) & (np.abs(w - centre) < 12 * sigma)])
                depth = np.clip(cont - f[near], 0, None)
                found = (w[near] * depth).sum() / depth.sum()
                assert abs(found - centre) < LINE_TOL[detector], (row["SEGMENT"], centre, found)


def test_fuv_x1dsum_recovers_source_flux_and_lines(fuv):
    result, _, out = fuv
    ds = result.datasets[0]
    _check_spectrum(out / "data" / "cos" / ds.name / f"{ds.name}_x1dsum.fits", "cos-fuv-asn", "FUV")


def test_fuv_previews(fuv):
    from PIL import Image

    result, _, out = fuv
    ds = result.datasets[0]
    prev = out / "data" / "cos" / ds.name / "previews"
    for base in [f"{m}_x1d" for m in ds.truth["exposures"]] + [f"{ds.name}_x1dsum{k}" for k in ("", "1", "2")]:
        full, thumb = prev / f"{base}.png", prev / f"{base}_thumb.png"
        assert full.is_file() and thumb.is_file(), base
        assert max(Image.open(thumb).size) == 128
        assert Image.open(full).size[0] >= 800


def test_nuv_process_and_spectrum(nuv):
    result, proc, out = nuv
    ds = result.datasets[0]
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = set(_products(out, ds.name))
    for sfx in ("corrtag", "flt", "counts", "x1d", "lampflash"):
        assert f"{ds.name}_{sfx}.fits" in names
    assert (out / "data" / "cos" / ds.name / "previews" / f"{ds.name}_x1d.png").is_file()
    _check_spectrum(out / "data" / "cos" / ds.name / f"{ds.name}_x1d.fits", "cos-nuv", "NUV")


def test_nuv_products_equal_a_direct_calcos_run(nuv, tmp_path):
    """caldp adds nothing to calcos's science: same x1d, flt, counts, corrtag as calcos alone."""
    result, _, out = nuv
    ds = result.datasets[0]
    raw = fits.getheader(out / "data" / "cos" / ds.name / f"{ds.name}_rawtag.fits")
    stamp = {k: raw[k] for k in ("CSYS_VER", "AWSDPVER", "AWSYSVER")}
    proc = direct_calcos(result, tmp_path / "direct", stamp)
    assert proc.returncode == 0, proc.stdout[-3000:]
    ignore = [
        "DATE",
        "FILENAME",
        "CSYS_VER",
        "AWSDPVER",
        "AWSYSVER",
        "PROCTIME",
        "IRAF-TLM",
        "CAL_VER",
        "CHECKSUM",
        "DATASUM",
    ]
    for sfx in ("x1d", "flt", "counts", "corrtag", "lampflash"):
        diff = fits.FITSDiff(
            str(out / "data" / "cos" / ds.name / f"{ds.name}_{sfx}.fits"),
            str(tmp_path / "direct" / f"{ds.name}_{sfx}.fits"),
            ignore_keywords=ignore,
            rtol=0,
            atol=0,
        )
        assert diff.identical, diff.report()[:3000]


def test_nuv_image_process_and_preview(nuv_image):
    """MIRRORA imaging: flt/counts/corrtag, an image preview, and the sources' counts in the flt."""
    from caldp.sim import cos

    result, proc, out = nuv_image
    ds = result.datasets[0]
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddir = out / "data" / "cos" / ds.name
    names = set(_products(out, ds.name))
    for sfx in ("corrtag", "flt", "counts"):
        assert f"{ds.name}_{sfx}.fits" in names
    assert f"{ds.name}_x1d.fits" not in names
    assert (ddir / "previews" / f"{ds.name}_flt.jpg").is_file()
    assert (ddir / "previews" / f"{ds.name}_flt_thumb.jpg").is_file()
    with fits.open(ddir / f"{ds.name}_flt.fits") as hdul:
        assert hdul[0].header["FLATCORR"] == "COMPLETE" and hdul[0].header["OBSTYPE"] == "IMAGING"
        rate = hdul["SCI"].data.astype(float)
    exptime = cos.MODES["cos-nuv-image"].exptime["small"]
    for x, y, frac in cos.IMAGE_SOURCES:
        box = rate[int(y) - 8 : int(y) + 9, int(x) - 8 : int(x) + 9].sum()
        expected = cos.MODES["cos-nuv-image"].flux * frac
        assert abs(box - expected) < 5 * np.sqrt(expected / exptime) + 0.05 * expected, (x, y, box, expected)
