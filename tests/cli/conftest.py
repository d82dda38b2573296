"""A small simulated WFC3/IR exposure (the quickest dataset to calibrate) and a runner for the commands."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def sim_ir(tmp_path_factory):
    from caldp import sim

    return sim.simulate(tmp_path_factory.mktemp("sim_ir"), modes=("wfc3-ir",), size="small", seed=5)


def run_cli(module: str, *args, env=None, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    """``python -c 'from caldp.cli.<module> import main; main()' args`` with output captured (not a tty)."""
    code = f"import sys; from caldp.cli.{module} import main; sys.exit(main())"
    full_env = {k: v for k, v in os.environ.items() if k != "CALDP_SIMULATE_ERROR"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
