"""WF3REJ's CR mask written over the inputs' DQ when the caller gives them up (no copy)."""

from __future__ import annotations

import numpy as np
import pytest

from caldp.engines.wfc3.uvis import wf3rej


@pytest.mark.parametrize("kernels", ["c", "numpy"])
def test_crmask_in_place_equals_copy(monkeypatch, kernels):
    if kernels == "numpy":
        monkeypatch.setenv("CALDP_KERNELS", "numpy")
    rng = np.random.default_rng(7)
    dq = rng.integers(0, 65536, (5, 13)).astype(np.uint16)  # NX = 13: column 8..12 keep their value
    crbit = rng.random((5, 13)) < 0.5
    expect = wf3rej.crmask_writeback(dq, crbit)
    assert expect is not dq
    work = dq.copy()
    got = wf3rej.crmask_writeback(work, crbit, in_place=True)
    assert got is work
    assert np.array_equal(got, expect)
    assert not np.array_equal(expect, dq)  # the mask changed something
    readonly = dq.copy()
    readonly.flags.writeable = False
    assert np.array_equal(wf3rej.crmask_writeback(readonly, crbit, in_place=True), expect)
