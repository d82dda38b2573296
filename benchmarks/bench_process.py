"""Whole processes as users time them: caldp-process end to end, and the drop-ins against HSTCAL.

Every case is a command started as a subprocess and timed from outside: wall from start to exit,
CPU (user + sys of the process and the children it waited for) and the peak RSS of the whole
process tree (psutil, sampled every 20 ms) and its peak PSS (every 0.2 s). Runs alternate
between the two commands of a case, each on a fresh copy of the inputs, and the table shows medians.

    python benchmarks/bench_process.py [--workdir DIR] [--runs 3] [--cases process,acs,uvis,ir,acs-sub] [--keep]

Cases (full-size caldp.sim data unless said):

- ``process``: ``caldp-process`` on the ACS/WFC CR-SPLIT=2 association, stage 2 the fast way
  (default) against ``CALDP_STAGE2=runastrodriz`` (the ``python -m drizzlepac.runastrodriz``
  command CALDP runs); builtin stage 1, previews included.
- ``acs``: ``caldp-calacs`` vs ``calacs.e`` on the same association.
- ``uvis``: ``caldp-calwf3`` vs ``calwf3.e``, WFC3/UVIS CR-SPLIT=2 association.
- ``ir``: ``caldp-calwf3`` vs ``calwf3.e``, WFC3/IR exposure (NSAMP 14).
- ``acs-sub``: ``caldp-calacs`` vs ``calacs.e``, ACS/WFC1A-512 subarray association (the
  simulator's ``small`` size; it has no 2K subarray).

HSTCAL is taken from PATH or /opt/hstcal/bin; without it the drop-in cases are skipped. The
machine may be shared: compare CPU as well as wall, and several runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HSTCAL_BIN = Path("/opt/hstcal/bin")
#: case -> (sim mode, size, caldp command, reference command) where a command is a list or "process"
CASES = {
    "process": ("acs-wfc-asn", "full", "process", "process-runastrodriz"),
    "acs": ("acs-wfc-asn", "full", ["caldp-calacs"], ["calacs.e"]),
    "uvis": ("wfc3-uvis-asn", "full", ["caldp-calwf3"], ["calwf3.e"]),
    "ir": ("wfc3-ir", "full", ["caldp-calwf3"], ["calwf3.e"]),
    "acs-sub": ("acs-wfc-asn", "small", ["caldp-calacs"], ["calacs.e"]),
}


@dataclass
class Run:
    wall: float
    cpu: float
    peak_mib: float
    rc: int
    peak_pss_mib: float = 0.0


def tree_rss(proc: psutil.Process, pss: bool = False) -> int:
    """RSS (or PSS) of `proc` and all its descendants, bytes (processes that vanish count 0).

    RSS counts pages a forked child shares with its parent once per process, so a tree of forks
    (caldp-process's stage-2 child, AstroDrizzle's workers) sums to more than it holds; PSS splits
    each shared page among its sharers and sums to what the tree really uses (Linux only).
    """
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_full_info().pss if pss else p.memory_info().rss
        except (psutil.Error, AttributeError):
            pass
    return total


def measure(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> Run:
    """Run `cmd` to completion; wall, CPU and the process tree's peak RSS, measured from outside."""
    with open(log, "w") as out:
        t0 = time.perf_counter()
        popen = psutil.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=out)
        peak = peak_pss = 0
        done = threading.Event()

        def sample():
            nonlocal peak, peak_pss
            n = 0
            while not done.is_set():
                peak = max(peak, tree_rss(popen))
                if n % 10 == 0:  # reading smaps is slower: every 0.2 s
                    peak_pss = max(peak_pss, tree_rss(popen, pss=True))
                n += 1
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(popen.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        popen.returncode = os.waitstatus_to_exitcode(status)
    return Run(wall, usage.ru_utime + usage.ru_stime, peak / 2**20, popen.returncode, peak_pss / 2**20)


def timed(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> dict:
    """:func:`measure` for the other benchmarks: wall and CPU seconds, peak RSS/PSS of the tree (MiB)
    as a dict; a command that fails stops the benchmark with its log's tail."""
    run = measure(cmd, cwd, env, log)
    if run.rc:
        sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"{cmd[0]} exited {run.rc} (log {log})")
    return {
        "wall_s": round(run.wall, 3),
        "cpu_s": round(run.cpu, 3),
        "peak_rss_mb": round(run.peak_mib, 1),
        "peak_pss_mb": round(run.peak_pss_mib, 1),
    }


def median_of(rows: list[dict]) -> dict:
    """Each figure's median over the runs."""
    return {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}


def simulate(base: Path, mode: str, size: str):
    """The simulated dataset of `mode`/`size` under `base` (made once): (SimResult, dataset)."""
    from caldp import sim

    out = base / f"sim-{mode}-{size}"
    res = sim.simulate(out, modes=(mode,), size=size)
    return res, res.datasets[0]


def command_for(kind, ds, run_dir: Path) -> tuple[list[str], Path, dict[str, str]]:
    """(argv, cwd, extra env) of one run of `kind` on a fresh copy of the dataset's inputs."""
    inputs = run_dir / "inputs"
    shutil.copytree(ds.input_path, inputs / ds.name)
    if isinstance(kind, str):  # caldp-process
        extra = {"CALDP_STAGE2": "runastrodriz" if kind.endswith("runastrodriz") else "fast"}
        argv = ["caldp-process", ds.name, f"file:{inputs}", f"file:{run_dir / 'out'}", "caldp-config-local"]
        return argv, run_dir, extra
    asn = inputs / ds.name / f"{ds.name}_asn.fits"
    target = asn.name if asn.is_file() else f"{ds.name}_raw.fits"
    return [*kind, target], inputs / ds.name, {}


def label(kind) -> str:
    if isinstance(kind, str):
        return "caldp-process" + (" (CALDP_STAGE2=runastrodriz)" if kind.endswith("runastrodriz") else "")
    return kind[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=None, help="where data and runs go (default: a temp dir)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each command (alternating)")
    ap.add_argument("--cases", default="process,acs,uvis,ir,acs-sub", help=f"comma list of {', '.join(CASES)}")
    ap.add_argument("--keep", action="store_true", help="keep the workdir")
    args = ap.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(cases) - set(CASES)
    if unknown:
        ap.error(f"unknown cases: {', '.join(sorted(unknown))}")
    base = args.workdir or Path(tempfile.mkdtemp(prefix="bench-process-"))
    base.mkdir(parents=True, exist_ok=True)
    path = os.environ.get("PATH", "")
    if shutil.which("calacs.e") is None and HSTCAL_BIN.is_dir():
        path = f"{HSTCAL_BIN}{os.pathsep}{path}"
    rows = []
    try:
        for case in cases:
            mode, size, mine, ref = CASES[case]
            if not isinstance(ref, str) and shutil.which(ref[0], path=path) is None:
                print(f"# {case}: {ref[0]} not found, skipped", flush=True)
                continue
            res, ds = simulate(base, mode, size)
            env = {**os.environ, **res.env, "PATH": path}
            results: dict[str, list[Run]] = {label(mine): [], label(ref): []}
            for i in range(args.runs):
                order = (mine, ref) if i % 2 == 0 else (ref, mine)
                for kind in order:
                    run_dir = base / "runs" / f"{case}-{i}-{'ref' if kind is ref else 'caldp'}"
                    shutil.rmtree(run_dir, ignore_errors=True)
                    run_dir.mkdir(parents=True)
                    cmd, cwd, extra = command_for(kind, ds, run_dir)
                    run = measure(cmd, cwd, {**env, **extra}, run_dir / "command.log")
                    results[label(kind)].append(run)
                    print(
                        json.dumps({"case": case, "command": label(kind), "run": i, **run.__dict__}, default=float),
                        flush=True,
                    )
                    if run.rc != 0:
                        print(f"# {' '.join(cmd)} exited {run.rc}; see {run_dir / 'command.log'}", flush=True)
                    if not args.keep:
                        shutil.rmtree(run_dir, ignore_errors=True)
            med = {
                k: (
                    statistics.median(r.wall for r in v),
                    statistics.median(r.cpu for r in v),
                    statistics.median(r.peak_mib for r in v),
                    statistics.median(r.peak_pss_mib for r in v),
                )
                for k, v in results.items()
            }
            a, b = med[label(mine)], med[label(ref)]
            rows.append((case, ds.name, label(mine), a, label(ref), b, a[0] / b[0]))
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"\n# medians of {args.runs} alternating runs; load average at the end {load:.1f}")
    print("# peak RSS / PSS: of the whole process tree (RSS counts a fork's shared pages once per process)")
    print(
        "| case | dataset | caldp command | wall | CPU | peak RSS / PSS "
        "| reference | wall | CPU | peak RSS / PSS | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case, name, la, a, lb, b, ratio in rows:
        print(
            f"| {case} | {name} | {la} | {a[0]:.1f} s | {a[1]:.1f} s | {a[2]:.0f} / {a[3]:.0f} MiB "
            f"| {lb} | {b[0]:.1f} s | {b[1]:.1f} s | {b[2]:.0f} / {b[3]:.0f} MiB | {ratio:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
