"""Bad STIS CCD input: wrong-shape or wrong-detector references, missing or invalid raw keywords,
references that do not exist → an EngineError naming the file and the keyword, nothing written;
through caldp-process: STAGE1_ERROR, a dataset-error message, no product delivered."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.common.errors import EngineError
from caldp.engines.stis.calstis import calstis
from tests.integration.conftest import run_process

REF_KEYS = ("BIASFILE", "DARKFILE", "PFLTFILE")


def _crop(path, key):
    """Keep the reference's lower-left 512x512 (the small science subarray sits at rows 449-576)."""
    with fits.open(path, mode="update") as h:
        for hdu in h[1:]:
            if hdu.data is not None:
                hdu.data = np.ascontiguousarray(hdu.data[:512, :512])
            else:
                hdu.header["NPIX1"], hdu.header["NPIX2"] = 512, 512
    return "size mismatch: reference 512x512 does not cover the science image"


def _mama(path, key):
    fits.setval(path, "DETECTOR", value="FUV-MAMA")
    return "reference file is for DETECTOR = FUV-MAMA, the science data's DETECTOR is CCD"


@pytest.fixture
def setup(stis_small, tmp_path):
    """A copy of the raw and an ``oref`` of links to the simulated references; returns
    (raw path, env, break_ref(keyword, how) → message, output directory)."""
    (ds,) = stis_small.datasets
    src = ds.input_path / f"{ds.name}_raw.fits"
    raw = tmp_path / "in" / src.name
    raw.parent.mkdir()
    shutil.copy(src, raw)
    oref = tmp_path / "oref"
    oref.mkdir()
    refdir = stis_small.env["oref"]
    for p in sorted(Path(refdir).iterdir()):
        (oref / p.name).symlink_to(p)
    env = {**stis_small.env, "oref": f"{oref}/"}

    def break_ref(key, how):
        name = fits.getval(raw, key).split("$", 1)[1]
        (oref / name).unlink()
        shutil.copy(f"{refdir}{name}", oref / name)
        return how(oref / name, key)

    out = tmp_path / "out"
    out.mkdir()
    return raw, env, break_ref, out


def _fails(raw, env, out, keyword, file, text):
    with pytest.raises(EngineError) as info:
        calstis(raw, outdir=out, env=env)
    err = info.value
    assert err.keyword == keyword and err.file == file and text in err.message, str(err)
    assert not [p.name for p in out.iterdir() if p.suffix == ".fits"]
    return err


@pytest.mark.parametrize("key", REF_KEYS)
@pytest.mark.parametrize("how", [_crop, _mama])
def test_wrong_reference_shape_or_detector(setup, key, how):
    raw, env, break_ref, out = setup
    text = break_ref(key, how)
    _fails(raw, env, out, key, fits.getval(raw, key), text)


@pytest.mark.parametrize("key", ["DETECTOR", "CCDAMP", "CCDGAIN", "CCDOFFST", "BINAXIS1", "BINAXIS2"])
def test_missing_raw_keyword(setup, key):
    """cs0.e stops for DETECTOR and CCDAMP; it takes the others as 1 (a CCDOFFST of 1 then has no
    CCDTAB row); here each is named."""
    raw, env, _, out = setup
    with fits.open(raw, mode="update") as h:
        del h[0].header[key]
    _fails(raw, env, out, key, raw.name, "required keyword missing")


@pytest.mark.parametrize("value", ["X", "AD", 3])
def test_invalid_ccdamp(setup, value):
    raw, env, _, out = setup
    fits.setval(raw, "CCDAMP", value=value)
    _fails(raw, env, out, "CCDAMP", raw.name, "is invalid")


@pytest.mark.parametrize("key", ["BIASFILE", "DARKFILE", "PFLTFILE", "CCDTAB", "CRREJTAB", "IMPHTTAB"])
def test_reference_not_found_before_any_pixel(setup, key, caplog):
    raw, env, _, out = setup
    fits.setval(raw, key, value="oref$nothere_ref.fits")
    caplog.set_level(logging.INFO, logger="caldp.engines.stis")
    err = _fails(raw, env, out, key, "oref$nothere_ref.fits", "not found or can't open")
    assert "nothere_ref.fits" in err.message  # the path looked at
    assert not [r for r in caplog.records if r.name.startswith("caldp.engines.stis.")]  # no step ran


def test_every_missing_reference_is_named(setup):
    raw, env, _, out = setup
    with fits.open(raw, mode="update") as h:
        h[0].header["DARKFILE"] = "oref$nodark_drk.fits"
        h[0].header["IMPHTTAB"] = "N/A"
    err = _fails(raw, env, out, "DARKFILE", "oref$nodark_drk.fits", "not found or can't open")
    assert "also missing: IMPHTTAB N/A" in err.message


def test_all_flats_blank(setup):
    raw, env, _, out = setup
    fits.setval(raw, "PFLTFILE", value="N/A")
    _fails(raw, env, out, "PFLTFILE", raw.name, "PFLTFILE, DFLTFILE and LFLTFILE are all blank")


def test_caldp_process_bad_reference_is_a_stage1_error(stis_small, tmp_path):
    from tests.integration.test_process_bad_input import assert_failed

    (ds,) = stis_small.datasets
    cache = tmp_path / "crds_cache"
    shutil.copytree(stis_small.crds_cache, cache, symlinks=True)
    bias = fits.getval(ds.input_path / f"{ds.name}_raw.fits", "BIASFILE").split("$", 1)[1]
    _crop(cache / "references" / "hst" / bias, "BIASFILE")
    out = tmp_path / "out"
    proc = run_process(
        ds.name, f"file:{ds.input_path.parent}", f"file:{out}", "caldp-config-local", env={"CRDS_PATH": str(cache)}
    )
    assert_failed(proc, out, ds.name, 23, "STAGE1_ERROR", "BIASFILE")
    assert bias in proc.stderr and "size mismatch" in proc.stderr
