"""WF3CTE on a UVIS subarray (UVIS2-C512C-SUB with its prescan, the small ``wfc3-uvis-cte-asn``)
against calwf3.e 3.7 (needs HSTCAL; ~1 min: calwf3.e runs the whole 2070×8412 RAZ image).

The ``_rac_tmp`` SCI must be bit-identical, its ERR/DQ (BIACFILE combined, ``sub1d``) equal; the
``_flc``/``_crc`` within the issue's 4 ulp (measured: 0), DQ identical, keywords equal.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from ..wfc3_uvis import productdiff
from .test_parity_hstcal import CTE_KEYS, calibrate_both

pytestmark = [
    pytest.mark.hstcal,
    pytest.mark.skipif(shutil.which("calwf3.e") is None, reason="calwf3.e not on PATH"),
]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return calibrate_both(tmp_path_factory.mktemp("wf3cte_sub"), "small")


def test_rac_tmp_identical(both):
    hst, mine, _, members = both
    for m in members:
        with fits.open(hst / f"{m}_rac_tmp.fits") as a, fits.open(mine / f"{m}_rac_tmp.fits") as b:
            assert fits.getval(hst / f"{m}_raw.fits", "SUBARRAY") is True
            np.testing.assert_array_equal(a["SCI", 1].data.view(np.int32), b["SCI", 1].data.view(np.int32))
            for ext, dt in (("ERR", np.float32), ("DQ", np.int64)):  # calwf3.e writes a constant ERR
                np.testing.assert_array_equal(
                    productdiff._arr(a[ext, 1]).astype(dt), productdiff._arr(b[ext, 1]).astype(dt)
                )


def test_flc_crc_match(both):
    hst, mine, name, members = both
    names = [f"{m}_flc.fits" for m in members] + [f"{name}_crc.fits"]
    productdiff.assert_products_match(hst, mine, names)
    for n in names:
        d = productdiff.compare(str(mine / n), str(hst / n))
        assert all(v["max_ulp"] == 0 for k, v in d["ext"].items() if not k.startswith("DQ")), (n, d["ext"])
        ha, hb = fits.getheader(hst / n), fits.getheader(mine / n)
        assert ha["PCTECORR"] == "COMPLETE"
        for key in CTE_KEYS:
            assert productdiff._same(ha.get(key), hb.get(key)), (n, key, ha.get(key), hb.get(key))


def test_flt_crj_unchanged_by_cte(both):
    hst, mine, name, members = both
    productdiff.assert_products_match(hst, mine, [f"{m}_flt.fits" for m in members] + [f"{name}_crj.fits"])
