"""A small stis-ccd-image dataset, simulated once per session."""

from __future__ import annotations

import os
import shutil

import pytest

HSTCAL_BIN = "/opt/hstcal/bin"


def cs0_exe() -> str | None:
    return shutil.which("cs0.e", path=os.pathsep.join([HSTCAL_BIN, os.environ.get("PATH", "")]))


@pytest.fixture(scope="session")
def stis_small(tmp_path_factory):
    from caldp import sim

    return sim.simulate(tmp_path_factory.mktemp("stis_small"), modes=["stis-ccd-image"], size="small", seed=3)
