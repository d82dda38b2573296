import pytest

from caldp.sim import acs
from caldp.sim.core import simulate


def sim_dataset(root, *, size="small", quirks=("sinks",), mjd=None) -> dict:
    """The simulator's ACS/WFC CR-SPLIT association (``acs-wfc-asn``; small = the WFC1A-512 subarray)
    with `quirks`: its association, members, product, references (``env``) and detector set-up."""
    res = simulate(root, modes=("acs-wfc-asn",), size=size, quirks=quirks, mjd=mjd)
    ds = res.datasets[0]
    refdir = res.crds_cache / "references" / "hst"
    members = sorted(p.name[: -len("_raw.fits")] for p in ds.input_path.glob("*_raw.fits"))
    return {
        "asn": ds.input_path / f"{ds.name}_asn.fits",
        "members": members,
        "product": ds.name,
        "env": {"jref": str(refdir) + "/"},
        "refdir": refdir,
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
