"""caldp-batch --cluster tcp://… against a real ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1; the last test SIGKILLs a worker in the middle of a calibration
(the cluster is shared by the module, in this order)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from astropy.io import fits

from . import kit
from .conftest import calacs_runs, messages, run_cli


def _cli_args(listfile, src, out, tmp_path, kit_env, address, *extra):
    return [
        listfile,
        "--input",
        src,
        "--output",
        f"file:{out}",
        "--config",
        "caldp-config-local",
        "--engine",
        "hstcal",
        "--cluster",
        address,
        "--no-stage2",
        "--no-previews",
        "--workdir",
        tmp_path / "work",
        "--env",
        f"PATH={kit_env['PATH']}",
        *extra,
    ]


def _expected_files(out: Path, name: str) -> list[str]:
    ddir = out / "data" / "acs" / name
    return sorted(str(p.relative_to(ddir)) for p in ddir.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Two small simulated ACS/WFC exposures and their CRDS cache (caldp.sim)."""
    sim = pytest.importorskip("caldp.sim", reason="the simulator caldp.sim is not available")
    return sim.simulate(tmp_path_factory.mktemp("sim"), modes=("acs-wfc",), size="small", seed=5, count=2)


def test_simulated_batch_on_a_scheduler_and_two_workers(simulated, tmp_path, dask_processes):
    """Real calibration (builtin engine, CRDS bestrefs on the simulator's cache) of
    simulator datasets through caldp-batch --cluster tcp://…; then --resume skips them."""
    names = [d.name for d in simulated.datasets]
    listfile = tmp_path / "datasets.txt"
    listfile.write_text("# simulated ACS/WFC exposures\n\n" + "\n".join(names) + "\n")
    out = tmp_path / "out"
    inputs = f"file:{Path(simulated.datasets[0].input_path).parent}"
    argv = [
        listfile,
        "--input",
        inputs,
        "--output",
        f"file:{out}",
        "--config",
        "caldp-config-local",
        "--cluster",
        dask_processes.address,
        "--no-stage2",
        "--workdir",
        tmp_path / "work",
    ]
    proc = run_cli(*argv, env=simulated.env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "dashboard: http://127.0.0.1:" in proc.stderr
    assert "2 datasets-processed" in proc.stdout.splitlines()[-1]
    assert proc.stderr.rstrip().endswith("EXIT - SUCCESS[0]: Processing completed successfully.")
    assert messages(out) == {"datasets-processed": sorted(names)}
    for name in names:
        ddir = out / "data" / "acs" / name
        flt = ddir / f"{name}_flt.fits"
        assert fits.getval(flt, "FLATCORR") == "COMPLETE" and fits.getval(flt, "BUNIT", ext=1) == "ELECTRONS"
        assert (ddir / "previews" / f"{name}_flt.jpg").is_file()
        assert "Step calibrate" in (ddir / "logs" / "process_metrics.txt").read_text()
    assert not list((tmp_path / "work").iterdir()), "staging and scratch removed"

    again = run_cli(*argv, env=simulated.env)
    assert again.returncode == 0 and again.stdout.splitlines()[-1].endswith(": 2 skipped")


def test_worker_killed_mid_batch(kit_env, inputs, tmp_path, dask_processes):
    cluster = dask_processes
    names = kit.dataset_names(3)
    listfile = tmp_path / "datasets.txt"
    listfile.write_text("\n".join(names) + "\n")
    out = tmp_path / "out"
    log = tmp_path / "calacs.log"
    argv = _cli_args(
        listfile,
        inputs(names),
        out,
        tmp_path,
        kit_env,
        cluster.address,
        "--env",
        f"FAKE_CALACS_LOG={log}",
        "--env",
        "FAKE_CALACS_SLEEP=1.5",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "caldp.cli.batch", *map(str, argv)],
        env={**os.environ, **kit_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not calacs_runs(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        victim_dataset, _, victim_pid = calacs_runs(log)[0]
        assert victim_pid in {w.pid for w in cluster.workers}
        os.kill(victim_pid, signal.SIGKILL)  # mid-calibration: the stand-in sleeps 1.5 s
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    assert messages(out) == {"datasets-processed": names}, "every dataset processed, one message each"
    runs = calacs_runs(log)
    assert sorted({d for d, _, _ in runs}) == names
    rerun = [ppid for d, _, ppid in runs if d == victim_dataset]
    assert len(rerun) == 2 and rerun[0] == victim_pid and rerun[1] != victim_pid, "reran on the other worker"
    for n in names:
        files = _expected_files(out, n)
        assert files == sorted(
            [f"{n}.tra", f"{n}_flt.fits", f"{n}_raw.fits", "logs/process.txt", "logs/process_metrics.txt"]
        ), files
