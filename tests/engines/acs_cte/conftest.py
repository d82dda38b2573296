import pytest

from caldp.sim.core import simulate

from .cte_synth import add_cte_to_dataset


@pytest.fixture(scope="session")
def cte_small(tmp_path_factory):
    """The simulator's small ACS/WFC CR-SPLIT association (WFC1A-512) with PCTECORR=PERFORM and
    the synthetic PCTETAB/DRKCFILE in its reference directory."""
    root = tmp_path_factory.mktemp("acs_cte_small")
    res = simulate(root / "sim", modes=("acs-wfc-asn",), size="small")
    ds = res.datasets[0]
    refdir = res.crds_cache / "references" / "hst"
    asn = add_cte_to_dataset(ds.input_path, refdir, root / "in")
    return {"asn": asn, "refdir": refdir, "env": {"jref": str(refdir) + "/"}}
