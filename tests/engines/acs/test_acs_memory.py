"""ACSREJ's CR mask written over the members' DQ in place (the driver's own arrays): same values."""

from __future__ import annotations

import numpy as np
import pytest

from caldp.engines.acs import acsrej


@pytest.mark.parametrize("kernels", ["c", "numpy"])
def test_apply_crmask_in_place_equals_copy(monkeypatch, kernels):
    if kernels == "numpy":
        monkeypatch.setenv("CALDP_KERNELS", "numpy")
    rng = np.random.default_rng(5)
    dq = rng.integers(0, 65536, (4, 9)).astype(np.uint16)
    rejected = rng.random((4, 9)) < 0.5
    expect = acsrej.apply_crmask(dq, rejected)
    assert expect is not dq and not np.array_equal(expect, dq)
    work = dq.copy()
    got = acsrej.apply_crmask(work, rejected, in_place=True)
    assert got is work
    assert np.array_equal(got, expect)
    readonly = dq.copy()
    readonly.flags.writeable = False
    out = acsrej.apply_crmask(readonly, rejected, in_place=True)
    assert out is not readonly and np.array_equal(out, expect)
