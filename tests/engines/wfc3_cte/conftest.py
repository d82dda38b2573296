"""Fixtures for the WFC3/UVIS pixel-based CTE tests: a synthetic PCTETAB and small columns."""

from __future__ import annotations

import pytest

from caldp.engines.wfc3.uvis.pctetab import read_pctetab
from caldp.sim.cte_wfc3 import write_pctetab


@pytest.fixture(scope="session")
def pctetab_path(tmp_path_factory):
    return write_pctetab(tmp_path_factory.mktemp("cte") / "sim_cte.fits", {"DESCRIP": "test PCTETAB"})


@pytest.fixture(scope="session")
def model(pctetab_path):
    return read_pctetab(pctetab_path)
