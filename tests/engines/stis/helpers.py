"""Shared scaffolding of the STIS engine tests: caldp-process on one simulated dataset."""

from __future__ import annotations

from pathlib import Path

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
