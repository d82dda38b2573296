"""Fixtures of the container-command tests: a simulated dataset, the local S3 and MAST servers
(the s3 and mast test areas' own classes), and the container engine when one can run the image."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.mast.replay import FIXTURES, MastReplay
from tests.s3.conftest import LocalS3, small_dataset

#: The recorded MAST dataset whose responses stand in for the simulated one's.
RECORDED = "j8cb010b0"


def console_script(name: str) -> list[str]:
    """The installed console script `name` (next to this Python), else the same code through -c."""
    script = Path(sys.executable).parent / name
    if script.is_file():
        return [str(script)]
    module, func = {
        "caldp-process": ("caldp.cli.process", "main"),
        "caldp-process-aws": ("caldp.cli.process_aws", "main"),
        "caldp-image-config": ("caldp.cli.image", "config_main"),
        "caldp-image-build": ("caldp.cli.image", "build_main"),
        "caldp-image-push": ("caldp.cli.image", "push_main"),
        "caldp-docker-run-pipeline": ("caldp.cli.container", "run_pipeline_main"),
        "caldp-docker-run-container": ("caldp.cli.container", "run_container_main"),
    }[name]
    return [sys.executable, "-c", f"import sys; from {module} import {func}; sys.exit({func}())"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without CALDP/CRDS/AWS settings, plus `extra`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CRDS_", "CALDP_"))}
    return {**base, **extra}


def run(name: str, *args, env: dict, cwd, timeout: int = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*console_script(name), *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


@pytest.fixture(scope="session")
def sim_dataset(tmp_path_factory):
    """One small simulated ACS association (tarball and CRDS cache); skips without the simulator."""
    ds = small_dataset(tmp_path_factory.mktemp("containers-sim"))
    if ds.crds_cache is None:
        pytest.skip("needs the simulator (caldp.sim) for a calibratable dataset")
    return ds


@pytest.fixture(scope="session")
def sim_files(sim_dataset, tmp_path_factory) -> Path:
    """The simulated dataset's files, unpacked."""
    out = tmp_path_factory.mktemp("containers-sim-files")
    with tarfile.open(sim_dataset.tarball) as tar:
        for member in tar.getmembers():
            if member.isfile():
                target = out / Path(member.name).name
                target.write_bytes(tar.extractfile(member).read())
    return out


def recorded_fixtures_for(name: str, files: Path, dest: Path) -> Path:
    """MAST responses for the simulated dataset `name`: the recorded association's, renamed
    (association and member names) and with the simulated files' sizes."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(FIXTURES / "columnsconfig", dest / "columnsconfig")
    shutil.copy(FIXTURES / "no_results.json", dest)
    members = sorted(p.name.split("_")[0] for p in files.glob("*_raw.fits"))
    recorded_members = sorted(
        {m.group(0) for m in re.finditer(r"j8cb01u\dq", (FIXTURES / RECORDED / "products.json").read_text())}
    )
    renames = {RECORDED: name, **dict(zip(recorded_members, members, strict=False))}
    (dest / name).mkdir()
    for part in ("observations.json", "products.json"):
        text = (FIXTURES / RECORDED / part).read_text()
        for old, new in renames.items():
            text = text.replace(old, new).replace(old.upper(), new.upper())
        doc = json.loads(text)
        for row in doc["data"]:
            local = files / str(row.get("productFilename", ""))
            if row.get("productFilename") and local.is_file():
                row["size"] = local.stat().st_size
        (dest / name / part).write_text(json.dumps(doc))
    return dest


@pytest.fixture
def sim_mast(sim_dataset, sim_files, tmp_path):
    """A MAST replay server that knows the simulated dataset and serves its raw files."""
    server = MastReplay(recorded_fixtures_for(sim_dataset.name, sim_files, tmp_path / "mast-fixtures")).start()
    server.serve(*sorted(sim_files.glob("*.fits")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3():
    server = LocalS3().start()
    yield server
    server.stop()
