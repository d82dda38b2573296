import pytest

from caldp.sim import acs
from caldp.sim.core import simulate


def sim_dataset(root, *, size="small", quirks=("sinks",), mjd=None) -> dict:
    """The simulator's ACS/WFC CR-SPLIT association (``acs-wfc-asn``; small = the WFC1A-512 subarray)
    with `quirks`: its association, members, product, references (``env``) and detector set-up."""
    res = simulate(root, modes=("acs-wfc-asn",), size=size, quirks=quirks, mjd=mjd)
    ds = res.datasets[0]
    env = {"jref": str(res.refdir) + "/"}
    return {
        "asn": ds.asn,
        "members": ds.members,
        "product": ds.name,
        "env": env,
        "refdir": res.refdir,
        "setup": acs.setup("WFC", size),
    }


@pytest.fixture(scope="session")
def mini(tmp_path_factory):
    """The small CR-SPLIT association with sink pixels (SINKCORR = PERFORM)."""
    return sim_dataset(tmp_path_factory.mktemp("acs_mini"))


@pytest.fixture(scope="session")
def flashed_asn(tmp_path_factory):
    """The small CR-SPLIT association post-flashed, with shutter shading and a delta flat (FLSHCORR,
    SHADCORR, DFLTFILE) besides the sink pixels."""
    return sim_dataset(tmp_path_factory.mktemp("acs_flashed"), quirks=acs.QUIRKS)
