"""Fixtures for running caldp-process as a subprocess on simulated data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sim_acs(tmp_path_factory):
    """One small simulated ACS/WFC CR-SPLIT association and its CRDS cache."""
    from caldp import sim

    return sim.simulate(tmp_path_factory.mktemp("sim_acs"), modes=("acs-wfc-asn",), size="small", seed=3)


def run_process(*args, env=None, cwd=None, timeout=600):
    """Run ``python -m caldp`` (caldp-process); returns the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("CALDP_SIMULATE_ERROR", None) if env is None or "CALDP_SIMULATE_ERROR" not in env else None
    return subprocess.run([sys.executable, "-m", "caldp", *map(str, args)], env=full_env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def messages(out: Path) -> dict[str, list[str]]:
    """{state: [datasets]} of an output tree's messages/ directory."""
    root = Path(out) / "messages"
    if not root.is_dir():
        return {}
    return {d.name: sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) for d in root.iterdir()
            if d.is_dir()}


def message(out: Path, state: str, dataset: str) -> dict:
    return json.loads((Path(out) / "messages" / state / dataset).read_text())
