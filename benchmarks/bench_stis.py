"""caldp-calstis against HSTCAL's cs0.e on the STIS simulator modes (whole processes, as users time them).

    python benchmarks/bench_stis.py [--modes stis-ccd-image,stis-ccd-spec,stis-mama-image,stis-mama-echelle]
        [--size full] [--runs 5] [--seed 1] [--workdir /tmp/bench_stis] [--keep] [--sc2dcorr]

Simulates one dataset of each mode (full size: the CCD 1062×1044 with overscan, CR-SPLIT=2 for
the image, the G430L spectrum with its wavecal; the MAMA 1024² image and E140M echelle with its
wavecal), then times ``caldp-calstis <root>_raw.fits`` and ``cs0.e <root>_raw.fits`` started in a
fresh copy of the inputs each time (neither overwrites its products), with ``oref`` from the
simulation. ``--runs`` pairs alternate per mode (caldp first, then cs0.e first, …), after one
untimed run of each. Python byte code is cached under the work directory (``PYTHONPYCACHEPREFIX``;
``PYTHONDONTWRITEBYTECODE`` is dropped), as an installed caldp runs from its ``.pyc`` files.

Each run is measured from outside as bench_process.py measures: wall from start to exit, CPU =
user + sys of the child (and anything it waited for, from ``wait4``) and peak RSS/PSS of the process
tree (psutil, sampled every 20 ms). One JSON line per run, then a JSON summary per mode with
the medians, ``wall_ratio`` = caldp wall / cs0.e wall (issues 18/19's goal: ≤ 1/3, peak RSS ≤ 1 GB)
and the load average (1 min) before and after the mode's runs.
``--sc2dcorr`` runs the echelle mode with SC2DCORR = PERFORM (the scattered-light correction, the
archive's default for echelle data; the sim keeps it OMIT): the raw's references are assigned by
bestrefs first (the seven scattered-light tables), as tests/engines/stis/test_scatter.py does.
cs0.e is taken from PATH or /opt/hstcal/bin. Never collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench_process import median_of, timed  # same folder: one way of timing a process

HSTCAL_BIN = Path("/opt/hstcal/bin")
MODES = ("stis-ccd-image", "stis-ccd-spec", "stis-mama-image", "stis-mama-echelle")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated STIS simulator modes")
    p.add_argument("--size", default="full", choices=("small", "full"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runs", type=int, default=5, help="alternating runs of each (medians printed)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/bench_stis"))
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--sc2dcorr", action="store_true", help="echelle with SC2DCORR = PERFORM (bestrefs first)")
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise SystemExit(f"unknown mode(s) {', '.join(unknown)}: choose from {', '.join(MODES)}")

    from caldp import sim

    bindir = Path(sys.executable).parent
    path = os.pathsep.join([str(bindir), os.environ.get("PATH", "")])
    cs0 = shutil.which("cs0.e", path=path) or shutil.which("cs0.e", path=str(HSTCAL_BIN))
    if cs0 is None:
        raise SystemExit("cs0.e not found on PATH or in /opt/hstcal/bin")
    mine = shutil.which("caldp-calstis", path=path)
    if mine is None:
        raise SystemExit("caldp-calstis not installed (pip install -e .)")

    work = args.workdir
    if work.exists():
        shutil.rmtree(work)
    try:
        for mode in modes:
            bench_mode(sim, mode, args, work / mode, {"caldp-calstis": mine, "cs0.e": cs0}, path)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def bench_mode(sim, mode: str, args, work: Path, programs: dict[str, str], path: str) -> None:
    """Simulate `mode`, time both programs alternately on fresh copies, print runs and a summary."""
    t0 = time.perf_counter()
    result = sim.simulate(work / "sim", modes=(mode,), size=args.size, seed=args.seed)
    sim_s = time.perf_counter() - t0
    (ds,) = result.datasets
    raw = f"{ds.name}_raw.fits"
    if args.sc2dcorr and mode == "stis-mama-echelle":
        from astropy.io import fits

        from caldp.bestrefs import assign_bestrefs

        assign_bestrefs([ds.input_path / raw], {**result.env, "CRDS_READONLY_CACHE": "1"})
        with fits.open(ds.input_path / raw, mode="update") as h:
            h[0].header["SC2DCORR"] = "PERFORM"
    env = {**os.environ, **result.env, "PATH": path}
    # Python as installed packages run: byte code cached (here outside the source tree), not
    # compiled from source on every start (PYTHONDONTWRITEBYTECODE would add ~0.2 s per call).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work.parent / "pycache")
    commands = {name: [exe, raw] for name, exe in programs.items()}
    for name in commands:  # untimed warm-up: byte code written, files in the page cache
        run_dir = work / f"warm-{name}"
        shutil.copytree(ds.input_path, run_dir)
        timed(commands[name], cwd=run_dir, env=env, log=work / f"warm-{name}.log")
        shutil.rmtree(run_dir, ignore_errors=True)
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {name: [] for name in commands}
    for k in range(args.runs):
        order = list(commands) if k % 2 == 0 else list(commands)[::-1]
        for name in order:
            run_dir = work / f"run-{k}-{name}"
            shutil.copytree(ds.input_path, run_dir)  # products go beside the input: start clean
            given = {q.name for q in run_dir.iterdir()}
            try:
                row = timed(commands[name], cwd=run_dir, env=env, log=work / f"run-{k}-{name}.log")
                made = sorted(q.name for q in run_dir.iterdir() if q.name not in given)
            finally:
                shutil.rmtree(run_dir, ignore_errors=True)
            runs[name].append(row)
            print(json.dumps({"bench": mode, "command": name, "run": k, **row, "products": made}), flush=True)
    caldp, ref = median_of(runs["caldp-calstis"]), median_of(runs["cs0.e"])
    summary = {
        "bench": mode + (" SC2DCORR" if args.sc2dcorr and mode == "stis-mama-echelle" else ""),
        "size": args.size,
        "dataset": ds.name,
        "raw_mb": round((ds.input_path / raw).stat().st_size / 2**20, 1),
        "sim_s": round(sim_s, 1),
        "runs": args.runs,
        "caldp-calstis": caldp,
        "cs0.e": ref,
        "wall_ratio": round(caldp["wall_s"] / ref["wall_s"], 3),
        "cpu_ratio": round(caldp["cpu_s"] / ref["cpu_s"], 3),
        "goal": "wall_ratio <= 0.333, caldp peak RSS <= 1024 MB",
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(summary), flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
