"""The MAST replay server and small FITS files for it to serve."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from .replay import FIXTURES, MastReplay

FITS_SIZE = 8640  # what the recorded product lists say for the files the tests download


def make_fits(path: Path) -> Path:
    """A 3-block FITS file named like an HST product (asn: a table; others: an 8x8 image)."""
    name = path.name
    root = name.split("_")[0]
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "HST"
    primary.header["ROOTNAME"] = root.upper()
    primary.header["FILENAME"] = name
    if name.endswith("_asn.fits"):
        ext = fits.BinTableHDU.from_columns([
            fits.Column(name="MEMNAME", format="14A", array=[root.upper()]),
            fits.Column(name="MEMTYPE", format="14A", array=["PROD-CRJ"]),
            fits.Column(name="MEMPRSNT", format="L", array=[True]),
        ])
    else:
        ext = fits.ImageHDU(np.arange(64, dtype=np.uint16).reshape(8, 8), name="SCI")
    fits.HDUList([primary, ext]).writeto(path, overwrite=True)
    assert path.stat().st_size == FITS_SIZE
    return path


def recorded_names(dataset: str, sizes: int = FITS_SIZE) -> list[str]:
    """Files of `dataset` whose recorded size is the test file size (the ones tests serve)."""
    rows = json.loads((FIXTURES / dataset / "products.json").read_text())["data"]
    return sorted(r["productFilename"] for r in rows if r["size"] == sizes)


@pytest.fixture(scope="session")
def mast_server():
    server = MastReplay().start()
    yield server
    server.stop()


@pytest.fixture
def replay(mast_server, monkeypatch, tmp_path_factory):
    """The replay server with every recorded dataset's input files served, no errors, and
    ``CALDP_MAST_URL`` pointing at it."""
    files = tmp_path_factory.mktemp("mast-files")
    for dataset in ("j8cb010b0", "idn604snq", "lcxv13050", "o8jp01010"):
        mast_server.serve(*(make_fits(files / n) for n in recorded_names(dataset)))
    mast_server.errors.clear()
    mast_server.requests.clear()
    monkeypatch.setenv("CALDP_MAST_URL", mast_server.url)
    yield mast_server
    mast_server.errors.clear()
