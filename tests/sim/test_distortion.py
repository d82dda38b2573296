"""Distortion references in the simulated CRDS cache (caldp.sim.distortion): bestrefs assigns them,
the raws carry PA_V3 and the OPUS WCS, and the model is strong enough that ignoring it shows."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.bestrefs import assign_bestrefs

KEYS = ("IDCTAB", "NPOLFILE", "D2IMFILE", "DGEOFILE")
#: mode -> the distortion types CRDS assigns for its detector (crds/hst/specs rmap_relevance)
EXPECTED = {
    "acs-wfc-asn": {"IDCTAB", "NPOLFILE", "D2IMFILE", "DGEOFILE"},
    "acs-hrc-asn": {"IDCTAB", "NPOLFILE", "DGEOFILE"},
    "wfc3-uvis-asn": {"IDCTAB", "NPOLFILE", "D2IMFILE"},
    "wfc3-ir": {"IDCTAB"},
}


def test_bestrefs_assigns_distortion_refs(sim_small, tmp_path):
    raws, want = [], {}
    for ds in sim_small.datasets:
        if ds.mode not in EXPECTED:
            continue
        work = tmp_path / ds.name
        shutil.copytree(ds.input_path, work)
        for raw in sorted(work.glob("*_raw.fits")):
            with fits.open(raw, mode="update") as hdul:
                hdr = hdul[0].header
                assert 0.0 <= hdr["PA_V3"] < 360.0
                present = {k for k in KEYS if hdr.get(k, "N/A") != "N/A"}
                assert present == EXPECTED[ds.mode], (ds.mode, present)
                want[raw] = {k: hdr[k] for k in KEYS}
                for k in present:
                    hdr[k] = "N/A"
            raws.append(raw)
    assert len(EXPECTED) == len({r.parent.name for r in raws})
    assign_bestrefs(raws, sim_small.env)
    for raw in raws:
        hdr = fits.getheader(raw)
        assert {k: hdr[k] for k in KEYS} == want[raw], raw


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_reference_formats_and_strength(sim_small, mode):
    """stwcs reads the references; across the exposure the distorted WCS departs from the linear one
    by more than the 0.5 px stage 2 must reach (so a run ignoring the model would miss it)."""
    from stwcs import updatewcs
    from stwcs.wcsutil import HSTWCS

    ds = next(d for d in sim_small.datasets if d.mode == mode)
    raw = sorted(ds.input_path.glob("*_raw.fits"))[0]
    refdir = sim_small.env["jref"]
    with fits.open(raw) as src:
        prim = src[0].header.copy()
        for k in KEYS:
            if prim.get(k, "N/A") != "N/A":
                prim[k] = refdir + prim[k].split("$", 1)[1]
        prim["ROOTNAME"] = "TEST"
        hdus = [fits.PrimaryHDU(header=prim)]
        for h in src[1:]:
            if h.header["EXTNAME"] == "SCI":
                zeros = np.broadcast_to(np.uint8(0), h.data.shape)  # stwcs compares the size with NPOLFILE's
                hdus.append(fits.ImageHDU(data=zeros, header=h.header.copy()))
    hdul = fits.HDUList(hdus)
    updatewcs.updatewcs([hdul], checkfiles=False, use_db=False)
    sci = hdul[1].header
    assert sci["WCSNAME"].startswith("IDC_") and sci["A_ORDER"] == 4 and sci["IDCSCALE"] > 0
    names = [h.name for h in hdul]
    assert ("WCSDVARR" in names) == ("NPOLFILE" in EXPECTED[mode])
    assert ("D2IMARR" in names) == ("D2IMFILE" in EXPECTED[mode])
    w = HSTWCS(hdul, ext=1)
    ny, nx = hdul[1].data.shape
    yy, xx = np.mgrid[0:ny:16, 0:nx:16]
    xy = np.c_[xx.ravel(), yy.ravel()].astype(float)
    lin = w.wcs_world2pix(w.all_pix2world(xy, 0), 0)
    shift = np.hypot(*(lin - xy).T)
    assert shift.max() - shift.min() > 0.5, (mode, shift.min(), shift.max())
