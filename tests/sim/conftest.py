"""Shared simulated data for the simulator tests (small, seeded, written once per session)."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def sim_small(tmp_path_factory):
    """Every mode at small size, seed 5, with truth."""
    from caldp import sim

    return sim.simulate(
        tmp_path_factory.mktemp("sim_small"),
        modes=sim.MODES,
        size="small",
        seed=5,
        truth=True,
    )


def hstcal_available(exe: str) -> bool:
    return shutil.which(exe, path=os.pathsep.join(["/opt/hstcal/bin", os.environ.get("PATH", "")])) is not None
