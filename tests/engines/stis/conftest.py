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


@pytest.fixture
def cs0(stis_small):
    """HSTCAL's cs0.e and the environment it runs in (``oref`` of the simulation): (exe, env);
    the test is skipped where HSTCAL is not installed."""
    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    return exe, {**os.environ, **stis_small.env, "PATH": os.pathsep.join([HSTCAL_BIN, os.environ.get("PATH", "")])}
