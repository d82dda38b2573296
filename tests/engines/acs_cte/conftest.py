import pytest

from caldp.sim.core import simulate


@pytest.fixture(scope="session")
def cte_small(tmp_path_factory):
    """The simulator's small ACS/WFC CTE association (``acs-wfc-cte-asn``, WFC1A-512): PCTECORR=PERFORM,
    CTE trails in the pixels, the synthetic PCTETAB and DRKCFILE in its reference directory."""
    root = tmp_path_factory.mktemp("acs_cte_small")
    res = simulate(root / "sim", modes=("acs-wfc-cte-asn",), size="small")
    return {"asn": res.datasets[0].asn, "refdir": res.refdir, "env": {"jref": str(res.refdir) + "/"}}
