"""COS bad input: calcos's own reason as STAGE1_ERROR, a dataset-error message, no product delivered."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from tests.integration.test_process_bad_input import assert_failed

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def nuv_copy(nuv, tmp_path):
    """A private copy of the small NUV dataset (inputs and CRDS cache) to spoil."""
    result = nuv[0]
    root = result.datasets[0].input_path.parent.parent
    shutil.copytree(root, tmp_path / "sim")
    ds = result.datasets[0]
    return ds.name, tmp_path / "sim" / "inputs", tmp_path / "sim" / "crds_cache", tmp_path / "out"


def _run(name, inputs, cache, out):
    from tests.integration.conftest import run_process

    return run_process(name, f"file:{inputs}", f"file:{out}", "caldp-config-local", env={"CRDS_PATH": str(cache)})


def test_rawtag_with_no_events(nuv_copy):
    name, inputs, cache, out = nuv_copy
    raw = inputs / name / f"{name}_rawtag.fits"
    with fits.open(raw, mode="update") as hdul:
        hdul["EVENTS"] = fits.BinTableHDU(hdul["EVENTS"].data[:0], header=hdul["EVENTS"].header, name="EVENTS")
    proc = _run(name, inputs, cache, out)
    assert_failed(proc, out, name, 23, "STAGE1_ERROR", "calcos wrote only empty products")
    assert "No data in" in proc.stderr


def test_corrupt_event_table(nuv_copy):
    name, inputs, cache, out = nuv_copy
    raw = inputs / name / f"{name}_rawtag.fits"
    with fits.open(raw) as hdul:  # the events table loses its RAWY column (a table calcos cannot read)
        events = hdul["EVENTS"]
        cols = [c for c in events.columns if c.name != "RAWY"]
        bad = fits.BinTableHDU.from_columns(cols, header=events.header, name="EVENTS")
        fits.HDUList([hdul[0].copy(), bad, hdul["GTI"].copy()]).writeto(raw, overwrite=True)
    proc = _run(name, inputs, cache, out)
    assert_failed(proc, out, name, 23, "STAGE1_ERROR", "RAWY")


def test_reference_calcos_rejects(nuv_copy):
    """A FLATFILE whose FILETYPE is not a flat: calcos refuses it by name."""
    name, inputs, cache, out = nuv_copy
    raw_hdr = fits.getheader(inputs / name / f"{name}_rawtag.fits")
    flat = cache / "references" / "hst" / raw_hdr["FLATFILE"].split("$")[1]
    fits.setval(flat, "FILETYPE", value="BAD TIME INTERVALS TABLE")
    proc = _run(name, inputs, cache, out)
    assert_failed(proc, out, name, 23, "STAGE1_ERROR", "FILETYPE")
    assert not (out / "data" / "cos" / name / f"{name}_x1d.fits").exists()
    assert np.all([not p.name.endswith(".fits") for p in (out / "data").rglob("*")])
