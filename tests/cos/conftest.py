"""Fixtures for COS end to end: small simulated datasets, one caldp-process run each (module scope).

The FUV association is the expensive one (calcos writes four 16384x1024 images per exposure
and segment), so it is run once and shared by every FUV assertion; the NUV exposure (1024x1274
images) serves the comparisons with a direct calcos run and the bad-input cases.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import run_process


def simulate(root: Path, mode: str, seed: int):
    from caldp import sim

    return sim.simulate(root, modes=(mode,), size="small", seed=seed, truth=True)


def process(result, out: Path, dataset: str | None = None, inputs: Path | None = None):
    ds = result.datasets[0]
    inputs = inputs or ds.input_path.parent
    proc = run_process(
        dataset or ds.name,
        f"file:{inputs}",
        f"file:{out}",
        "caldp-config-local",
        env={"CRDS_PATH": str(result.crds_cache)},
    )
    return proc


@pytest.fixture(scope="session")
def fuv(tmp_path_factory):
    """(sim result, caldp-process result, output dir) of a small cos-fuv-asn (2 FP-POS, A+B)."""
    root = tmp_path_factory.mktemp("cos_fuv")
    result = simulate(root / "sim", "cos-fuv-asn", seed=5)
    out = root / "out"
    return result, process(result, out), out


@pytest.fixture(scope="session")
def nuv(tmp_path_factory):
    """(sim result, caldp-process result, output dir) of a small cos-nuv G185M exposure."""
    root = tmp_path_factory.mktemp("cos_nuv")
    result = simulate(root / "sim", "cos-nuv", seed=6)
    out = root / "out"
    return result, process(result, out), out


def direct_calcos(result, workdir: Path, stamp: dict | None = None) -> subprocess.CompletedProcess:
    """The archive's way without caldp: crds bestrefs on a copy of the raws, RANDSEED=1, ``calcos`` there.

    `stamp`: primary-header keywords to set in the raws first (the version keywords caldp stamps)."""
    from astropy.io import fits

    from caldp.bestrefs import assign_bestrefs

    ds = result.datasets[0]
    shutil.copytree(ds.input_path, workdir)
    raws = sorted(workdir.glob("*_rawtag*.fits"))
    assign_bestrefs(raws, result.env)
    for raw in raws:
        with fits.open(raw, mode="update") as hdul:
            hdul[0].header["RANDSEED"] = 1
            hdul[0].header.update(stamp or {})
    target = next(iter(sorted(workdir.glob("*_asn.fits"))), raws[0])
    calcos = Path(sys.executable).with_name("calcos")
    return subprocess.run(
        [str(calcos), target.name],
        cwd=workdir,
        env={**result.env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="session")
def nuv_image(tmp_path_factory):
    """(sim result, caldp-process result, output dir) of a small cos-nuv-image MIRRORA exposure."""
    root = tmp_path_factory.mktemp("cos_nuv_image")
    result = simulate(root / "sim", "cos-nuv-image", seed=7)
    out = root / "out"
    return result, process(result, out), out
