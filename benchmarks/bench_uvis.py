"""Benchmark the builtin WFC3/UVIS engine against calwf3.e on a full-size CR-SPLIT=2 association.

Prints one JSON line per stage (read, wf3ccd, wf3rej, wf32d, write) and one for the total, for
caldp and — when ``calwf3.e`` is on PATH (or --hstcal-bin is given) — one for calwf3.e:
``{"engine", "step", "calls", "shape", "wall_s", "cpu_s", "peak_rss_mib"}``. A stage's peak RSS
is the highest resident size sampled while it ran (every 2 ms, from /proc/self/statm).

Input: an existing association (``--asn``, with ``--iref``), the simulator's ``wfc3-uvis-asn`` data
set (``--sim``), or, by default, the synthetic full-chip kit of the tests.

    python benchmarks/bench_uvis.py --workdir /tmp/bench_uvis
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


class RssSampler:
    """Background sampler of this process's resident set size."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def reset(self):
        self.peak = self.rss()

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()


class Stages:
    """Wraps the engine's stage functions to time them."""

    def __init__(self, sampler: RssSampler):
        self.sampler = sampler
        self.stats: dict[str, dict] = {}
        self.lock = threading.Lock()

    def wrap(self, step: str, fn):
        def inner(*args, **kwargs):
            w0, c0 = time.perf_counter(), time.process_time()
            self.sampler.reset()
            try:
                return fn(*args, **kwargs)
            finally:
                w, c = time.perf_counter() - w0, time.process_time() - c0
                peak = max(self.sampler.peak, self.sampler.rss())
                with self.lock:
                    s = self.stats.setdefault(step, {"calls": 0, "wall_s": 0.0, "cpu_s": 0.0, "peak_rss": 0})
                    s["calls"] += 1
                    s["wall_s"] += w
                    s["cpu_s"] += c
                    s["peak_rss"] = max(s["peak_rss"], peak)

        return inner


@contextlib.contextmanager
def instrumented(stages: Stages):
    from caldp.engines.common import outputs
    from caldp.engines.wfc3 import calwf3 as drv
    from caldp.engines.wfc3.uvis import rejdriver, wf3ccd, wf32d

    patches = [
        (drv, "read_exposure", "read"),
        (outputs, "write_exposure", "write"),
        (wf3ccd, "wf3ccd", "wf3ccd"),
        (rejdriver, "wf3rej", "wf3rej"),
        (wf32d, "wf32d", "wf32d"),
    ]
    saved = [(mod, name, getattr(mod, name)) for mod, name, _ in patches]
    try:
        for mod, name, step in patches:
            setattr(mod, name, stages.wrap(step, getattr(mod, name)))
        yield
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)


def run_caldp(asn: Path, iref: str, outdir: Path) -> list[dict]:
    from caldp.engines.wfc3.calwf3 import calwf3

    sampler = RssSampler()
    sampler.start()
    stages = Stages(sampler)
    outdir.mkdir(parents=True, exist_ok=True)
    w0, c0 = time.perf_counter(), time.process_time()
    with instrumented(stages):
        calwf3(asn, outdir=outdir, env={"iref": iref})
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    sampler.stop()
    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rows = []
    for step in ("read", "wf3ccd", "wf3rej", "wf32d", "write"):
        if step in stages.stats:
            s = stages.stats[step]
            rows.append(
                {
                    "engine": "caldp",
                    "step": step,
                    "calls": s["calls"],
                    "wall_s": round(s["wall_s"], 3),
                    "cpu_s": round(s["cpu_s"], 3),
                    "peak_rss_mib": round(s["peak_rss"] / 2**20, 1),
                }
            )
    rows.append(
        {
            "engine": "caldp",
            "step": "total",
            "calls": 1,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "peak_rss_mib": round(hwm / 2**20, 1),
        }
    )
    return rows


def run_hstcal(exe: str, asn: Path, iref: str, workdir: Path) -> dict:
    """calwf3.e's wall, CPU and peak RSS (through /usr/bin/time when present: a child forked from this
    large process would report this process's RSS as its own maximum)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for f in asn.parent.glob("*.fits"):
        shutil.copy(f, workdir)
    env = dict(os.environ, iref=iref)
    timer = shutil.which("time", path="/usr/bin:/bin")
    stats = workdir / "time.txt"
    cmd = [exe, asn.name]
    if timer:
        cmd = [timer, "-o", str(stats), "-f", "%e %U %S %M"] + cmd
    w0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - w0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{exe} failed with status {os.waitstatus_to_exitcode(status)}")
    cpu, rss_kib = ru.ru_utime + ru.ru_stime, ru.ru_maxrss
    if timer:
        wall_t, user, system, rss = stats.read_text().split()[-4:]
        wall, cpu, rss_kib = float(wall_t), float(user) + float(system), int(rss)
    return {
        "engine": "calwf3.e",
        "step": "total",
        "calls": 1,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_rss_mib": round(rss_kib / 1024, 1),
    }


def make_input(args, workdir: Path) -> tuple[Path, str]:
    if args.asn:
        if not args.iref:
            raise SystemExit("--asn needs --iref")
        return Path(args.asn), args.iref.rstrip("/") + "/"
    if args.sim:
        from caldp import sim

        res = sim.simulate(workdir / "sim", modes=("wfc3-uvis-asn",), size="full", seed=args.seed)
        ds = res.datasets[0]
        asn = next(Path(f) for f in ds.files if str(f).endswith("_asn.fits"))
        return asn, res.env["iref"]
    from caldp import sim  # the former test kit: full frame with sink pixels

    res = sim.simulate(workdir / "synth", modes=("wfc3-uvis-asn",), size="full", seed=args.seed, quirks=("sinks",))
    return res.datasets[0].input_path / f"{res.datasets[0].name}_asn.fits", res.env["iref"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", help="scratch directory (default: a temporary one, removed afterwards)")
    ap.add_argument("--asn", help="an existing _asn.fits (needs --iref)")
    ap.add_argument("--iref", help="directory of the iref$ references")
    ap.add_argument("--sim", action="store_true", help="use caldp.sim's full-size wfc3-uvis-asn data set")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hstcal-bin", default=None, help="directory holding calwf3.e (default: PATH)")
    ap.add_argument("--no-hstcal", action="store_true", help="skip the calwf3.e run")
    ap.add_argument("--threads", type=int, default=None, help="CALDP_THREADS for the caldp run")
    ap.add_argument("--exposure-threads", type=int, default=None, help="caldp.engines.wfc3.calwf3.EXPOSURE_THREADS")
    args = ap.parse_args(argv)
    from caldp.engines.wfc3 import calwf3 as driver

    if args.threads:
        os.environ["CALDP_THREADS"] = str(args.threads)
    if args.exposure_threads:
        driver.EXPOSURE_THREADS = args.exposure_threads
    tmp = None
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench_uvis_")
        workdir = Path(tmp.name)
    try:
        asn, iref = make_input(args, workdir)
        run = 0
        while (workdir / f"caldp_{run}").exists() or (workdir / f"hstcal_{run}").exists():
            run += 1
        rows = run_caldp(asn, iref, workdir / f"caldp_{run}")
        exe = shutil.which("calwf3.e", path=args.hstcal_bin) if args.hstcal_bin else shutil.which("calwf3.e")
        if exe and not args.no_hstcal:
            rows.append(run_hstcal(exe, asn, iref, workdir / f"hstcal_{run}"))
        for r in rows:
            r["input"] = asn.name
            print(json.dumps(r))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
