"""Shared scaffolding of the STIS engine tests: caldp-process on one simulated dataset, cs0.e runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.engines.stis.conftest import cs0_exe, cs0_run_env
from tests.integration.conftest import run_process


def process_builtin(sim_result, ds, tmp_path: Path) -> Path:
    """caldp-process (local config) on simulated dataset `ds` of `sim_result`, read from its input
    directory and written under ``tmp_path/out``; requires success and stage 1 by the builtin engine.
    Returns the dataset's product directory."""
    out = tmp_path / "out"
    proc = run_process(
        ds.name,
        f"file:{ds.input_path.parent}",
        f"file:{out}",
        "caldp-config-local",
        env={"CRDS_PATH": str(sim_result.crds_cache)},
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    prod = out / "data" / "stis" / ds.name
    assert "Stage 1 with the builtin engine" in (prod / "logs" / "process.txt").read_text()
    return prod


def cs0_env(sim_env: dict) -> tuple[str, dict]:
    """cs0.e and the environment it runs in with a simulation's references (`sim_env`, its ``oref``);
    the test is skipped where HSTCAL is not installed."""
    exe = cs0_exe()
    if exe is None:
        pytest.skip("cs0.e not on PATH")
    return exe, cs0_run_env(sim_env)


def run_cs0(exe: str, env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``cs0.e args`` in `cwd`; requires success and returns the finished process."""
    proc = subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:]
    return proc
