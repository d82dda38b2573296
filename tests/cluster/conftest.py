"""Fixtures for the batch tests: the kit's CRDS cache and stand-in calacs.e, inputs, and
a real ``dask scheduler`` with two ``dask worker`` processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import kit


@pytest.fixture(scope="session")
def kit_env(tmp_path_factory) -> dict[str, str]:
    """Environment for the tasks: the kit's CRDS cache and the stand-in calacs.e on PATH.

    The ``CRDS_*_URI=none`` settings tell CRDS that no server-side locations exist (the
    serverless, read-only cache the kit provides).
    """
    root = tmp_path_factory.mktemp("kit")
    cache = kit.build_crds_cache(root / "crds")
    bindir = kit.fake_calacs(root / "bin")
    env = {"CRDS_PATH": str(cache), "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    env.update({f"CRDS_{k}_URI": "none" for k in ("CONFIG", "MAPPING", "REFERENCE", "PICKLE")})
    return env


@pytest.fixture
def inputs(tmp_path):
    """inputs(names) -> file: URI of a directory with those datasets' raw files."""

    def make(names):
        return f"file:{kit.write_inputs(tmp_path / 'in', names)}"

    return make


def messages(out: Path) -> dict[str, list[str]]:
    """{state: [datasets]} of an output tree (states with no dataset left out)."""
    root = Path(out) / "messages"
    tree = {d.name: sorted(p.name for p in d.iterdir()) for d in root.iterdir() if d.is_dir()} if root.is_dir() else {}
    return {k: v for k, v in tree.items() if v}


def message(out: Path, state: str, dataset: str) -> dict:
    return json.loads((Path(out) / "messages" / state / dataset).read_text())


def calacs_runs(log: Path) -> list[tuple[str, int, int]]:
    """(dataset, pid, parent pid = Dask worker pid) of each stand-in calacs.e run."""
    if not log.is_file():
        return []
    return [(a, int(b), int(c)) for a, b, c in (line.split() for line in log.read_text().splitlines())]


def run_cli(*args, env=None, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "caldp.cli.batch", *map(str, args)],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class DaskProcesses:
    """A scheduler and workers started as subprocesses (``python -m dask …``)."""

    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp, self.env = tmp, {**os.environ, **env}
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.address = ""

    def _spawn(self, *argv) -> subprocess.Popen:
        log = open(self.tmp / f"dask-{len(self.procs)}.log", "w")  # noqa: SIM115 -- closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "dask", *argv],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def start_scheduler(self) -> str:
        sfile = self.tmp / "scheduler.json"
        self._spawn(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-address",
            "127.0.0.1:0",
            "--scheduler-file",
            str(sfile),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sfile.is_file() and sfile.stat().st_size:
                self.address = json.loads(sfile.read_text())["address"]
                return self.address
            time.sleep(0.1)
        raise RuntimeError("the dask scheduler did not start")

    def start_worker(self, memory_mb: int = 3072, nthreads: int = 1) -> subprocess.Popen:
        w = self._spawn(
            "worker",
            self.address,
            "--host",
            "127.0.0.1",
            "--nthreads",
            str(nthreads),
            "--no-nanny",
            "--no-dashboard",
            "--memory-limit",
            f"{memory_mb}MiB",
            "--resources",
            f"memory={memory_mb}",
        )
        self.workers.append(w)
        return w

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s") as c:
            c.wait_for_workers(n, timeout=60)

    def stop(self) -> None:
        """Kill the processes we started (their own sessions), workers first."""
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.fixture(scope="module")
def dask_processes(tmp_path_factory):
    """A scheduler and two workers (3 GiB, ``memory=3072``, one thread) on 127.0.0.1, shared by
    a test module and stopped after it."""
    d = DaskProcesses(tmp_path_factory.mktemp("dask"), {})
    try:
        d.start_scheduler()
        for _ in range(2):
            d.start_worker()
        d.wait_for_workers(2)
        yield d
    finally:
        d.stop()
