"""PCTECORR against calacs.e (needs HSTCAL on PATH): the CTE correction of calacs.e's own
``_blv_tmp`` must give its ``_blc_tmp`` bit for bit (SCI, ERR; DQ untouched), and caldp's calacs
must give every product of the CTE association (``_flc``, ``_crc``, their temporaries, ``_flt``,
``_crj``) with 0 ulp difference, identical DQ and equal keywords."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.acs import pctecorr as P
from caldp.engines.acs.calacs import calacs
from caldp.engines.acs.pctetab import read_pctetab
from caldp.engines.acs.tables import read_ccdtab

from ..wfc3_uvis import productdiff

pytestmark = [
    pytest.mark.hstcal,
    pytest.mark.skipif(shutil.which("calacs.e") is None, reason="calacs.e not on PATH"),
]


@pytest.fixture(scope="module")
def hstcal_run(cte_small, tmp_path_factory):
    run = tmp_path_factory.mktemp("acs_cte_hstcal")
    for f in cte_small["asn"].parent.iterdir():
        shutil.copy(f, run / f.name)
    run_calacs_e(run, cte_small["asn"].name, cte_small["refdir"], timeout=900)
    return run


def run_calacs_e(cwd, asn_name, refdir, *, timeout):
    """calacs.e on the association `asn_name` in `cwd` with jref = `refdir`; it must succeed."""
    env = dict(os.environ, jref=str(refdir) + "/")
    cmd = ["calacs.e", "-s", "--nthreads", "2", asn_name]
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-3000:]


def correct_like_calacs(blv, refdir, kernels):
    ph = fits.getheader(blv)
    model = read_pctetab(refdir / str(ph["PCTETAB"]).split("$")[1])
    out = {}
    with fits.open(blv) as h:
        for e in range(1, ph["NEXTEND"] // 3 + 1):
            sci, err = h["SCI", e].data.astype(np.float32), h["ERR", e].data.astype(np.float32)
            chip = h["SCI", e].header["CCDCHIP"]
            ccd = read_ccdtab(
                refdir / str(ph["CCDTAB"]).split("$")[1],
                ccdamp=ph["CCDAMP"].strip(),
                ccdgain=ph["CCDGAIN"],
                chip=chip,
                ccdofst=[ph.get(f"CCDOFST{a}", 3) for a in "ABCD"],
                nx=sci.shape[1],
            )
            P.correct_chip(
                sci,
                err,
                chip=chip,
                ccdamp=ph["CCDAMP"].strip(),
                ampx=ccd.ampx,
                readnoise=dict(zip("ABCD", ccd.readnoise, strict=True)),
                model=model,
                expstart=ph["EXPSTART"],
                overrides={},
                kernels=kernels,
            )
            out[e] = (sci, err)
    return out


def test_cte_step_bit_identical(hstcal_run, cte_small):
    kernels = P.kernels()
    for blv in sorted(hstcal_run.glob("*_blv_tmp.fits")):
        blc = blv.with_name(blv.name.replace("_blv_tmp", "_blc_tmp"))
        mine = correct_like_calacs(blv, cte_small["refdir"], kernels)
        with fits.open(blc) as ref, fits.open(blv) as raw:
            for e, (sci, err) in mine.items():
                assert np.count_nonzero(ref["SCI", e].data != raw["SCI", e].data) > 1000
                np.testing.assert_array_equal(
                    sci.view(np.uint32), ref["SCI", e].data.astype(np.float32).view(np.uint32)
                )
                np.testing.assert_array_equal(
                    err.view(np.uint32), ref["ERR", e].data.astype(np.float32).view(np.uint32)
                )


PRODUCTS = ("_flc", "_flt", "_blc_tmp", "_blv_tmp")
COMBINED = ("_crc", "_crj", "_crc_tmp", "_crj_tmp")


def assert_products_identical(hst, mine, members, prod):
    names = [f"{m}{s}.fits" for m in members for s in PRODUCTS] + [f"{prod}{s}.fits" for s in COMBINED]
    for name in names:
        d = productdiff.compare(str(mine / name), str(hst / name))
        assert d["ext"], name
        for ext, v in d["ext"].items():
            assert isinstance(v, dict), (name, ext, v)
            if ext.startswith("DQ"):
                assert v["dq_mismatch"] == 0, (name, ext, v)
            else:
                assert v["max_ulp"] == 0, (name, ext, v)
        assert d["keywords"] == [], (name, d["keywords"])


def _caldp_run(asn_dir, refdir, out):
    out.mkdir()
    asn = next(asn_dir.glob("*_asn.fits"))
    for f in asn_dir.iterdir():
        if f.name.endswith(("_raw.fits", "_spt.fits", "_asn.fits")):
            shutil.copy(f, out / f.name)
    calacs(out / asn.name, outdir=out, env={"jref": str(refdir) + "/"}, keep_intermediates=True)
    return asn.name[: -len("_asn.fits")]


def test_products_bit_identical_small(hstcal_run, cte_small, tmp_path):
    prod = _caldp_run(cte_small["asn"].parent, cte_small["refdir"], tmp_path / "caldp")
    members = sorted(p.name[: -len("_raw.fits")] for p in cte_small["asn"].parent.glob("*_raw.fits"))
    assert_products_identical(hstcal_run, tmp_path / "caldp", members, prod)


@pytest.mark.slow
def test_products_bit_identical_full_frame(tmp_path):
    """Full frame post-SM4: two chips, four amps, serial and parallel passes (~2 min of calacs.e)."""
    from caldp.sim.core import simulate

    res = simulate(tmp_path / "sim", modes=("acs-wfc-cte-asn",), size="full")
    ds = res.datasets[0]
    refdir = res.crds_cache / "references" / "hst"
    hst = tmp_path / "hstcal"
    hst.mkdir()
    for f in ds.input_path.iterdir():
        shutil.copy(f, hst / f.name)
    run_calacs_e(hst, next(hst.glob("*_asn.fits")).name, refdir, timeout=1800)
    prod = _caldp_run(ds.input_path, refdir, tmp_path / "caldp")
    assert_products_identical(
        hst, tmp_path / "caldp", [m for m in sorted(p.name[:9] for p in hst.glob("*_raw.fits"))], prod
    )
