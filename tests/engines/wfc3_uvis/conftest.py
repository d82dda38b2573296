import numpy as np
import pytest
from astropy.io import fits

from caldp.sim import wfc3
from caldp.sim.core import simulate


def sim_dataset(root, *, size="mini", quirks=(), truth=False) -> dict:
    """The simulator's WFC3/UVIS CR-SPLIT association (``wfc3-uvis-asn``; mini = the full-frame layout
    scaled down, two chips and four amps): association, members, product, references (``env``), set-up
    and, with `truth`, each chip's noiseless e⁻ per exposure (imset order)."""
    res = simulate(root, modes=("wfc3-uvis-asn",), size=size, quirks=quirks, truth=truth)
    ds = res.datasets[0]
    env = {"iref": str(res.refdir) + "/"}
    out = {
        "asn": ds.asn,
        "members": ds.members,
        "product": ds.name,
        "env": env,
        "refdir": res.refdir,
        "setup": wfc3.setup("UVIS", size),
    }
    if truth:
        exp = ds.truth["exposures"][ds.members[0]]
        with fits.open(exp["truth_file"]) as h:
            out["scene"] = np.stack([h["SCI", k + 1].data * exp["exptime"] for k in range(len(h) - 1)])
    return out


def ref_path(ds, keyword: str, member: int = 0):
    """The reference file the raw header of member `member` names (``iref$…``)."""
    raw = ds["asn"].parent / f"{ds['members'][member]}_raw.fits"
    return ds["refdir"] / fits.getval(raw, keyword).split("$", 1)[1]


@pytest.fixture(scope="session")
def uvis_mini(tmp_path_factory):
    """The mini association with its truth (shared: tests copy what they change)."""
    return sim_dataset(tmp_path_factory.mktemp("uvis_mini"), truth=True)
