"""Structure of the simulated raw files: extensions, shapes, the keywords HSTCAL needs."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from caldp import sim
from caldp.datasets import IPPPSSOOT_RE, Dataset

#: calib-acs-wfc.md §2.4 / calib-wfc3.md §2.2 (incl. the ones whose absence HSTCAL silently mishandles)
ACS_KEYS = (
    "ROOTNAME",
    "DETECTOR",
    "EXPTIME",
    "EXPSTART",
    "EXPEND",
    "SUBARRAY",
    "CCDAMP",
    "NEXTEND",
    "IMAGETYP",
    "DARKTIME",
    "CCDGAIN",
    "JWROTYPE",
    "CCDOFSTA",
    "SATUFILE",
    "CRREJTAB",
    "OSCNTAB",
    "BPIXTAB",
    "DFLTFILE",
    "LFLTFILE",
    "FILTER1",
    "FILTER2",
    "DATE-OBS",
    "TIME-OBS",
)
UVIS_KEYS = (
    "ROOTNAME",
    "DETECTOR",
    "FILTER",
    "EXPTIME",
    "EXPSTART",
    "EXPEND",
    "SUBARRAY",
    "NEXTEND",
    "CCDAMP",
    "CCDGAIN",
    "FLASHSTA",
    "FLASHDUR",
    "EXPFLAG",
    "SNKCFILE",
    "SATUFILE",
    "BIASFILE",
)
IR_KEYS = (
    "ROOTNAME",
    "DETECTOR",
    "FILTER",
    "EXPTIME",
    "EXPSTART",
    "SUBARRAY",
    "NEXTEND",
    "CCDGAIN",
    "NSAMP",
    "SAMP_SEQ",
    "SUBTYPE",
    "NLINFILE",
    "ZSIGCORR",
    "NLINCORR",
)
SHAPES = {
    "acs-wfc-asn": (512, 536),
    "acs-wfc": (512, 536),
    "acs-hrc-asn": (512, 531),
    "wfc3-uvis-asn": (512, 537),
    "wfc3-ir": (266, 266),
    "wfc3-ir-asn": (266, 266),
}


def _dataset(sim_small, mode):
    return next(d for d in sim_small.datasets if d.mode == mode)


def test_names_are_valid_and_distinct(sim_small):
    names = [d.name for d in sim_small.datasets]
    assert len(set(names)) == len(names) == len(sim.MODES)
    for d in sim_small.datasets:
        assert IPPPSSOOT_RE.match(d.name) and Dataset.parse(d.name).instrument == d.instrument
        assert Dataset.parse(d.name).is_association == d.mode.endswith("-asn")
    assert sim_small.datasets_txt.read_text().split() == names


@pytest.mark.parametrize("mode", list(SHAPES))
def test_raw_structure(sim_small, mode):
    ds = _dataset(sim_small, mode)
    raws = sorted(ds.input_path.glob("*_raw.fits"))
    assert len(raws) == (2 if mode.endswith("-asn") else 1)
    for raw in raws:
        assert (raw.parent / raw.name.replace("_raw", "_spt")).is_file()
        with fits.open(raw) as hdul:
            prim = hdul[0].header
            keys = ACS_KEYS if ds.instrument == "acs" else IR_KEYS if prim["DETECTOR"] == "IR" else UVIS_KEYS
            missing = [k for k in keys if k not in prim]
            assert not missing, missing
            assert prim["NEXTEND"] == len(hdul) - 1
            per = 5 if prim["DETECTOR"] == "IR" else 3
            assert (len(hdul) - 1) % per == 0
            sci = [h for h in hdul if h.name == "SCI"]
            for h in sci:
                assert h.data.shape == SHAPES[mode] and h.data.dtype == np.uint16
                assert h.header["BZERO"] == 32768 and h.header["BUNIT"] == "COUNTS"
                for k in ("LTV1", "LTV2", "CCDCHIP", "SDQFLAGS", "CRPIX1", "CD1_1", "CRVAL1", "WCSNAME"):
                    assert k in h.header, k
            err = hdul["ERR", 1]
            assert err.header["NAXIS"] == 0 and err.header["NPIX1"] == SHAPES[mode][1]
            if prim["DETECTOR"] == "IR":
                assert prim["NSAMP"] == len(sci) >= 4
                times = [hdul["SCI", v].header["SAMPTIME"] for v in range(1, len(sci) + 1)]
                assert times == sorted(times, reverse=True) and times[-1] == 0.0  # EXTVER 1 = last read
                assert hdul["TIME", 1].header["PIXVALUE"] == times[0]
            for key, value in prim.items():
                if key.endswith(("FILE", "TAB")) and key != "ASN_TAB" and value not in ("N/A", "NONE"):
                    assert value.startswith("jref$" if ds.instrument == "acs" else "iref$"), (key, value)
                    name = value.split("$")[1]
                    assert (sim_small.crds_cache / "references" / "hst" / name).is_file()


def test_association_tables(sim_small):
    """ACS and WFC3 CR-SPLIT/dither/repeat associations (COS's FP-POS ones are checked in tests/cos)."""
    kinds = {"wfc3-ir-asn": "DTH", "wfc3-ir-rpt-asn": "RPT"}
    for ds in sim_small.datasets:
        if not ds.mode.endswith("-asn") or ds.instrument not in ("acs", "wfc3"):
            continue
        tab = fits.getdata(ds.input_path / f"{ds.name}_asn.fits", 1)
        types = [t.strip() for t in tab["MEMTYPE"]]
        kind = kinds.get(ds.mode, "CRJ")
        assert types[-1] == f"PROD-{kind}" and tab["MEMNAME"][-1].strip().lower() == ds.name
        assert all(t == f"EXP-{kind}" for t in types[:-1])
        raw = ds.input_path / f"{tab['MEMNAME'][0].strip().lower()}_raw.fits"
        if kind == "CRJ":
            assert fits.getval(raw, "CRCORR") == "PERFORM" and fits.getval(raw, "CRSPLIT") == 2
        assert fits.getval(raw, "RPTCORR") == ("PERFORM" if kind == "RPT" else "OMIT")


def test_pixels_carry_the_effects(sim_small):
    """Overscan at the bias level, sky above it, stars, cosmic rays that differ between CR-SPLITs."""
    ds = _dataset(sim_small, "acs-wfc-asn")
    a, b = (fits.getdata(p, ("SCI", 1)).astype(float) for p in sorted(ds.input_path.glob("*_raw.fits")))
    prescan, science = a[:, 2:22], a[:, 24:]
    assert abs(np.median(prescan) - 2210.0) < 5
    sky_dn = 0.25 * 200 / 2.02
    assert abs(np.median(science) - np.median(prescan) - sky_dn) < 0.25 * sky_dn
    diff = a[:, 24:] - b[:, 24:]
    assert (diff > 500).sum() > 20 and (diff < -500).sum() > 20  # cosmic rays land differently
    truth = ds.truth
    exp = truth["exposures"][sorted(truth["exposures"])[0]]
    assert exp["chips"][0]["n_cr"] > 50 and exp["chips"][0]["n_saturated"] > 0
    x, y = np.array(exp["chips"][0]["x"]), np.array(exp["chips"][0]["y"])
    rate = np.array(truth["rate"])
    inside = (x > 3) & (x < 509) & (y > 3) & (y < 509) & (rate > 500)
    assert inside.any()
    xi, yi = np.rint(x[inside]).astype(int), np.rint(y[inside]).astype(int)
    assert np.all(science[yi, xi] > np.median(science) + 50)


def test_ir_ramp(sim_small):
    ds = _dataset(sim_small, "wfc3-ir")
    with fits.open(next(ds.input_path.glob("*_raw.fits"))) as hdul:
        n = hdul[0].header["NSAMP"]
        reads = np.stack([hdul["SCI", v].data.astype(float) for v in range(n, 0, -1)])  # time order
    border = np.ones(reads.shape[1:], bool)
    border[5:-5, 5:-5] = False
    reads -= np.median(reads[:, border], axis=1)[:, None, None]  # reference-pixel level of each read
    sci = reads[:, 5:-5, 5:-5]
    ramp = np.median(sci - sci[0], axis=(1, 2))
    assert np.all(np.diff(ramp)[1:] > 0)  # sky accumulates (the first read comes after 0.85 s)
    jumps = np.diff(sci, axis=0)
    assert (jumps[1:] - np.median(jumps[1:], axis=0) > 500).sum() > 5  # cosmic rays mid-ramp


def test_wcs_consistent_across_dithers(sim_small):
    """The same star lands at the same sky position in both dithered IR exposures."""
    from astropy.wcs import WCS

    ds = _dataset(sim_small, "wfc3-ir-asn")
    truth = ds.truth
    roots = sorted(truth["exposures"])
    raws = {r: fits.getheader(ds.input_path / f"{r}_raw.fits", ("SCI", 1)) for r in roots}
    sky = []
    for r in roots:
        c = truth["exposures"][r]["chips"][0]
        w = WCS(raws[r])
        # truth positions are on the trimmed science grid; raw CRPIX includes the 5-pixel border
        ra, dec = w.wcs_pix2world(np.array(c["x"]) + 5, np.array(c["y"]) + 5, 0)
        sky.append((ra, dec))
    # the raw WCS is the linear (OPUS) part of the simulated distortion model (caldp.sim.distortion):
    # within 2 IR pixels of the truth; the exact check goes through stwcs (tests/sim/test_distortion.py)
    two_px = 2 * 0.1283 / 3600
    np.testing.assert_allclose(sky[0][0], truth["ra"], atol=two_px / np.cos(np.deg2rad(np.mean(truth["dec"]))))
    np.testing.assert_allclose(sky[1][1], truth["dec"], atol=two_px)
    dx = np.array(truth["exposures"][roots[1]]["chips"][0]["x"]) - np.array(
        truth["exposures"][roots[0]]["chips"][0]["x"]
    )
    assert np.allclose(dx, np.median(dx), atol=0.15) and abs(dx[0]) > 5  # distortion varies a little over 10 px
