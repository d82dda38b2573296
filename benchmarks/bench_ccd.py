"""Benchmark the builtin calacs on a full-size ACS/WFC CR-SPLIT=2 association, against calacs.e.

Prints one JSON line per stage (wall, CPU, peak RSS of the process during the stage) and a
total line, then calacs.e's total on the same inputs when it is on PATH (or in /opt/hstcal/bin).

    python benchmarks/bench_ccd.py [--workdir DIR] [--source synth|sim] [--keep] [--repeat N] [--threads T]

``--repeat`` runs the builtin engine N times on the same inputs (stage lines of the first run only)
and prints each total plus the median; ``--threads`` sets ``CALDP_THREADS`` (default: the engine's
default, ``min(2, cpu_count)``). The machine may be shared: compare CPU as well as wall.

``synth`` uses the test kit in tests/engines/acs/synth.py (post-SM4 full frame, DS_INT, gain 2);
``sim`` uses caldp.sim's ``acs-wfc-asn`` at full size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class RssSampler:
    """Peak RSS of this process, sampled every 10 ms between start() and stop()."""

    def __init__(self):
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = None

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(0.01)

    def start(self):
        self.peak = self.proc.memory_info().rss
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.proc.memory_info().rss)


@contextlib.contextmanager
def measured(name: str, records: list):
    sampler = RssSampler()
    sampler.start()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = sampler.stop()
        rec = {"stage": name, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "peak_rss_mb": round(peak / 2**20, 1)}
        records.append(rec)
        print(json.dumps(rec), flush=True)


def make_inputs(workdir: Path, source: str) -> tuple[Path, dict]:
    """Write the inputs in a child process (keeps this process's RSS baseline clean)."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.bench_ccd import _make; "
        f"a, e = _make(__import__('pathlib').Path({str(workdir)!r}), {source!r}); print(json.dumps([str(a), e]))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    asn, env = json.loads(r.stdout.strip().splitlines()[-1])
    return Path(asn), env


def _make(workdir: Path, source: str) -> tuple[Path, dict]:
    if source == "sim":
        from caldp.sim import simulate

        res = simulate(workdir / "sim", modes=("acs-wfc-asn",), size="full", seed=1)
        ip = Path(res.datasets[0].input_path)
        asn = sorted(ip.glob("*_asn.fits"))[0] if ip.is_dir() else ip
        return asn, dict(res.env)
    from caldp.sim import simulate  # the former test kit: full frame post-SM4 with sink pixels

    res = simulate(workdir / "synth", modes=("acs-wfc-asn",), size="full", seed=1, quirks=("sinks",))
    return res.datasets[0].input_path / f"{res.datasets[0].name}_asn.fits", dict(res.env)


def run_hstcal(asn: Path, env: dict, workdir: Path) -> dict | None:
    exe = shutil.which("calacs.e") or (
        "/opt/hstcal/bin/calacs.e" if Path("/opt/hstcal/bin/calacs.e").exists() else None
    )
    if exe is None:
        return None
    run = workdir / "hstcal"
    run.mkdir()
    for f in asn.parent.glob("*.fits"):
        shutil.copy(f, run)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([exe, asn.name], cwd=run, env=dict(os.environ, **env), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "stage": "calacs.e total",
        "rc": r.returncode,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--source", choices=("synth", "sim"), default="synth")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--repeat", type=int, default=1, help="runs of the builtin engine (median reported)")
    ap.add_argument("--threads", type=int, default=None, help="CALDP_THREADS for the builtin engine")
    args = ap.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_ccd_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        asn, env = make_inputs(workdir, args.source)
        from caldp.engines.acs import calacs as driver

        if args.threads is not None:
            os.environ["CALDP_THREADS"] = str(args.threads)
        records: list = []
        totals = []
        for run in range(max(1, args.repeat)):
            driver.STAGE_HOOK = (lambda name: measured(name, records)) if run == 0 else None
            out = workdir / f"caldp{run}"
            out.mkdir()
            sampler = RssSampler()
            sampler.start()
            t0, c0 = time.perf_counter(), time.process_time()
            driver.calacs(asn, outdir=out, env=env)
            total = {
                "stage": "caldp total",
                "run": run + 1,
                "threads": os.environ.get("CALDP_THREADS", "default"),
                "wall_s": round(time.perf_counter() - t0, 3),
                "cpu_s": round(time.process_time() - c0, 3),
                "peak_rss_mb": round(sampler.stop() / 2**20, 1),
            }
            driver.STAGE_HOOK = None
            print(json.dumps(total), flush=True)
            totals.append(total)
            shutil.rmtree(out, ignore_errors=True)
        if len(totals) > 1:
            total = {
                "stage": "caldp median",
                "wall_s": statistics.median(t["wall_s"] for t in totals),
                "cpu_s": statistics.median(t["cpu_s"] for t in totals),
                "peak_rss_mb": max(t["peak_rss_mb"] for t in totals),
            }
            print(json.dumps(total), flush=True)
        hst = run_hstcal(asn, env, workdir)
        if hst is not None:
            print(json.dumps(hst), flush=True)
            print(
                json.dumps({"stage": "ratio caldp/calacs.e wall", "value": round(total["wall_s"] / hst["wall_s"], 3)})
            )
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
