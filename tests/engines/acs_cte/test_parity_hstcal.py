"""PCTECORR against calacs.e (needs HSTCAL on PATH): the CTE correction of calacs.e's own
``_blv_tmp`` must give its ``_blc_tmp`` bit for bit (SCI, ERR; DQ untouched)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from caldp.engines.acs import pctecorr as P
from caldp.engines.acs.pctetab import read_pctetab
from caldp.engines.acs.tables import read_ccdtab

from .cte_synth import run_hstcal

pytestmark = [
    pytest.mark.hstcal,
    pytest.mark.skipif(shutil.which("calacs.e") is None, reason="calacs.e not on PATH"),
]


@pytest.fixture(scope="module")
def hstcal_run(cte_small, tmp_path_factory):
    run = tmp_path_factory.mktemp("acs_cte_hstcal")
    for f in cte_small["asn"].parent.iterdir():
        shutil.copy(f, run / f.name)
    r = run_hstcal(["calacs.e", "-s", "--nthreads", "2", cte_small["asn"].name], run, cte_small["refdir"])
    assert r.returncode == 0, r.stdout[-3000:]
    return run


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
