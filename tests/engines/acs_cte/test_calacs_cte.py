"""calacs with PCTECORR = PERFORM on the simulator's small CTE association (``acs-wfc-cte-asn``):
products, keywords, what the correction changes, and missing CTE references."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits
from scipy import ndimage

from caldp.engines.acs.calacs import calacs
from caldp.engines.acs.context import MissingReference
from caldp.sim.core import simulate


@pytest.fixture(scope="module")
def sim_cte(tmp_path_factory):
    root = tmp_path_factory.mktemp("acs_cte_sim")
    res = simulate(root / "sim", modes=("acs-wfc-cte-asn",), size="small", truth=True)
    ds = res.datasets[0]
    env = {"jref": str(res.crds_cache / "references" / "hst") + "/"}
    out = root / "out"
    out.mkdir()
    written = calacs(next(ds.input_path.glob("*_asn.fits")), outdir=out, env=env, keep_intermediates=True)
    return {"ds": ds, "env": env, "out": out, "written": {p.name for p in written}, "root": root, "crds_env": res.env}


def test_products(sim_cte):
    names = sim_cte["written"]
    for suffix in ("_flc.fits", "_flt.fits", "_blc_tmp.fits", "_blv_tmp.fits"):
        assert sum(n.endswith(suffix) for n in names) == 2, suffix
    assert {"jcsc01010_crc.fits", "jcsc01010_crj.fits", "jcsc01010_crc_tmp.fits"} <= names


def test_keywords(sim_cte):
    out = sim_cte["out"]
    for name in ("jcsc01a1q_flc.fits", "jcsc01010_crc.fits"):
        h = fits.getheader(out / name)
        assert h["PCTECORR"] == "COMPLETE"
        assert h["CTE_NAME"] == "Par/Serial PixelCTE 2023" and h["CTE_VER"] == "3.0"
        hist = [str(c) for c in h["HISTORY"]]
        for card in (
            "CORRTYPE parallel CTE correction type",
            "CORRTYPE serial - Amp A CTE correction type",
            "PCTENFOR            5 Number of iter in forward model",
            "PCTETRSH  -1.000000000000E+01 CTE over subtraction threshold",
            "PCTERNOI  4.3000002E+00 Amp 'A' read noise clip limit (from CCDTAB).",
            "PCTECORR complete ...",
        ):
            assert card in hist, card
        assert "_drk" in h["DARKFILE"] and "_dkc" in h["DRKCFILE"]
    assert fits.getheader(out / "jcsc01010_crc.fits")["ROOTNAME"] == "JCSC01010_CRC_TMP"
    # the _flc branch subtracts the CTE-corrected dark (the simulator's is 0.96 × DARKFILE)
    for flc, flt in (("jcsc01a1q_flc.fits", "jcsc01a1q_flt.fits"), ("jcsc01010_crc.fits", "jcsc01010_crj.fits")):
        ratio = fits.getval(out / flc, "MEANDARK", "SCI") / fits.getval(out / flt, "MEANDARK", "SCI")
        assert ratio == pytest.approx(0.96, rel=1e-3)
    for name in ("jcsc01a1q_flt.fits", "jcsc01010_crj.fits"):
        h = fits.getheader(out / name)
        assert h["PCTECORR"] == "PERFORM" and "CTE_NAME" not in h


def test_correction_moves_charge_back_into_sources(sim_cte):
    """The CTE step conserves charge, changes pixels by more than 1 e⁻ only near bright pixels (sources,
    cosmic rays and their trails), and shrinks the trail asymmetry behind stars: amp A reads out through
    the top row, so the parallel trail lies below a star; after correction the rows below hold less
    excess charge than before."""
    out = sim_cte["out"]
    blv = fits.getdata(out / "jcsc01a1q_blv_tmp.fits", "SCI").astype(np.float64)
    blc = fits.getdata(out / "jcsc01a1q_blc_tmp.fits", "SCI").astype(np.float64)
    d = blc - blv
    assert abs(d.sum()) < 1e-3 * blv.sum()
    bright = blv > np.median(blv) + 150
    near = ndimage.maximum_filter(bright, size=(2 * 61 + 1, 2 * 41 + 1))
    big = np.abs(d) > 1.0
    assert big.sum() > 100
    assert (big & ~near).sum() <= 0.02 * big.sum()

    # bright peaks (stars and cosmic rays): charge taken out of the rows below and the columns to the
    # right (the trail sides of amp A), not out of the other sides
    med = np.median(blv)
    peaks = (blv == ndimage.maximum_filter(blv, 9)) & (blv > med + 300)
    ys, xs = np.nonzero(peaks)
    ny, nx = blv.shape
    keep = (ys > 20) & (ys < ny - 20) & (xs > 20) & (xs < nx - 20)
    ys, xs = ys[keep], xs[keep]
    assert ys.size >= 20

    def removed(dy0, dy1, dx0, dx1):
        return float(np.median([-d[y + dy0 : y + dy1, x + dx0 : x + dx1].sum() for y, x in zip(ys, xs, strict=True)]))

    below, above = removed(-12, -3, 0, 1), removed(4, 13, 0, 1)
    right, left = removed(0, 1, 4, 13), removed(0, 1, -12, -3)
    assert below > 0.3 and abs(above) < below / 3
    assert right > 0.3 and abs(left) < right / 3


def test_missing_pctetab_fails_before_any_work(sim_cte, tmp_path):
    src = sim_cte["ds"].input_path
    inp = tmp_path / "in"
    shutil.copytree(src, inp)
    for raw in inp.glob("*_raw.fits"):
        with fits.open(raw, mode="update") as h:
            h[0].header["PCTETAB"] = "jref$nothere_cte.fits"
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MissingReference, match="PCTETAB"):
        calacs(next(inp.glob("*_asn.fits")), outdir=out, env=sim_cte["env"])
    assert not list(out.iterdir())


def test_sim_mode_and_bestrefs(sim_cte, tmp_path):
    """The simulator's CTE mode names PCTETAB and DRKCFILE with PCTECORR = PERFORM, and CRDS bestrefs on
    its cache assigns the same files (rmaps for both types)."""
    from caldp.bestrefs import assign_bestrefs

    work = tmp_path / "blank"
    shutil.copytree(sim_cte["ds"].input_path, work)
    raw = sorted(work.glob("*_raw.fits"))[0]
    with fits.open(raw, mode="update") as h:
        hdr = h[0].header
        assert hdr["PCTECORR"] == "PERFORM"
        expected = {k: hdr[k] for k in ("PCTETAB", "DRKCFILE", "DARKFILE")}
        assert expected["PCTETAB"].endswith("_cte.fits") and expected["DRKCFILE"].endswith("_dkc.fits")
        for k in expected:
            hdr[k] = "N/A"
    assigned = assign_bestrefs([raw], sim_cte["crds_env"])
    for k, v in expected.items():
        assert assigned[raw.name].get(k) == v, k


def test_drkcfile_of_the_wrong_shape(sim_cte, tmp_path):
    """A CTE dark that does not cover the science area: EngineError naming the file, no product left."""
    from caldp.engines.common.errors import EngineError

    refdir = tmp_path / "refs"
    shutil.copytree(sim_cte["env"]["jref"], refdir)
    dkc = next(refdir.glob("*_dkc.fits"))
    with fits.open(dkc) as h:
        hdus = [x.copy() for x in h]
    for x in hdus[1:]:
        if x.data is not None:
            x.data = x.data[:100, :100]
        else:
            x.header["NPIX1"], x.header["NPIX2"] = 100, 100
    fits.HDUList(hdus).writeto(dkc, overwrite=True)
    out = tmp_path / "out"
    out.mkdir()
    asn = next(sim_cte["ds"].input_path.glob("*_asn.fits"))
    with pytest.raises(EngineError) as exc:
        calacs(asn, outdir=out, env={"jref": str(refdir) + "/"})
    assert dkc.name in str(exc.value)
    assert not list(out.iterdir()), list(out.iterdir())
