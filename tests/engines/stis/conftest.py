"""A small stis-ccd-image dataset, simulated once per session."""

from __future__ import annotations

import os
import shutil

import pytest

HSTCAL_BIN = "/opt/hstcal/bin"


def hstcal_path() -> str:
    """PATH with HSTCAL's programs first, as the parity tests run them."""
    return os.pathsep.join([HSTCAL_BIN, os.environ.get("PATH", "")])


def cs0_exe() -> str | None:
    return shutil.which("cs0.e", path=hstcal_path())


def cs0_run_env(sim_env: dict) -> dict:
    """The environment cs0.e runs in: this one, a simulation's references (`sim_env`, its ``oref``)
    and HSTCAL first on PATH."""
    return {**os.environ, **sim_env, "PATH": hstcal_path()}


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
    return exe, cs0_run_env(stis_small.env)


@pytest.fixture(scope="session")
def cs0_spec(tmp_path_factory):
    """cs0.e -s on stis-ccd-spec small (X2DCORR, HELCORR, X1DCORR): with CR-SPLIT (→ _sx2, _sx1,
    _w2d_tmp) and with CRCORR=OMIT (→ a two-imset _flt, _x2d, _x1d), each also with FLUXCORR:
    (name, {label: dir}, env)."""
    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    import shutil
    import subprocess

    from astropy.io import fits

    from caldp import sim

    base = tmp_path_factory.mktemp("x2d")
    s = sim.simulate(base / "sim", modes=["stis-ccd-spec"], size="small", seed=5)
    (ds,) = s.datasets
    env = cs0_run_env(s.env)
    runs = {}
    flux = {"FLUXCORR": "PERFORM", "TDSTAB": "N/A"}  # the shared TDSTAB is the imaging format
    for label, extra in (
        ("crj", {}),
        ("flt", {"CRCORR": "OMIT"}),
        ("flux", flux),
        ("fluxflt", {**flux, "CRCORR": "OMIT"}),
    ):
        work = base / label
        shutil.copytree(ds.input_path, work)
        with fits.open(work / f"{ds.name}_raw.fits", mode="update") as f:
            f[0].header.update({"X2DCORR": "PERFORM", "HELCORR": "PERFORM", **extra})
        proc = subprocess.run([exe, "-s", f"{ds.name}_raw.fits"], cwd=work, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-2000:]
        runs[label] = work
    return ds.name, runs, s.env
