"""caldp-process on a COS FUV association against calcos alone on the same inputs (whole processes).

    python benchmarks/bench_cos.py [--size full] [--runs 3] [--seed 1] [--workdir /tmp/bench_cos] [--keep]

Simulates one ``cos-fuv-asn`` dataset, then times

* ``calcos``: CRDS bestrefs (caldp.bestrefs, not timed) and RANDSEED=1 on a copy of the raws, then
  the ``calcos <asn>`` process alone, as the archive runs it;
* ``caldp``: the whole ``caldp-process <asn> file:… file:… caldp-config-local`` process (fetch,
  bestrefs, calcos, previews, delivery, messages).

``--runs`` pairs alternate (calcos first, then caldp first, …). Prints one JSON line: the medians of
wall and CPU seconds and peak RSS/PSS of each process tree (MiB, measured as bench_process.py
measures), the event count, and ``overhead`` =
caldp wall / calcos wall − 1 (goal ≤ 0.10). Never collected by pytest.
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="full", choices=("small", "full"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", default="/tmp/bench_cos")
    p.add_argument("--runs", type=int, default=3, help="alternating runs of each (medians printed)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args(argv)

    from astropy.io import fits

    from caldp import sim
    from caldp.bestrefs import assign_bestrefs

    work = Path(args.workdir)
    if work.exists():
        shutil.rmtree(work)
    t0 = time.perf_counter()
    result = sim.simulate(work / "sim", modes=("cos-fuv-asn",), size=args.size, seed=args.seed)
    sim_s = time.perf_counter() - t0
    ds = result.datasets[0]
    raws = sorted(ds.input_path.glob("*_rawtag*.fits"))
    events = sum(fits.getheader(r, "EVENTS")["NAXIS2"] for r in raws)
    bindir = Path(sys.executable).parent
    env = {**os.environ, **result.env, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}

    prepared = work / "calcos-inputs"
    shutil.copytree(ds.input_path, prepared)
    copies = sorted(prepared.glob("*_rawtag*.fits"))
    assign_bestrefs(copies, result.env)
    for raw in copies:
        fits.setval(raw, "RANDSEED", value=1)

    def run_calcos(k: int) -> dict:
        direct = work / f"calcos-{k}"
        shutil.copytree(prepared, direct)  # calcos writes beside its inputs; each run starts clean
        try:
            cmd = [str(bindir / "calcos"), f"{ds.name}_asn.fits"]
            return timed(cmd, cwd=direct, env=env, log=work / f"calcos-{k}.log")
        finally:
            shutil.rmtree(direct, ignore_errors=True)

    def run_caldp(k: int) -> dict:
        out = work / f"out-{k}"
        try:
            return timed(
                [str(bindir / "caldp-process"), ds.name, f"file:{ds.input_path.parent}", f"file:{out}",
                 "caldp-config-local"],
                cwd=work,
                env={**env, "CRDS_PATH": str(result.crds_cache)},
                log=work / f"caldp-{k}.log",
            )  # fmt: skip
        finally:
            shutil.rmtree(out, ignore_errors=True)

    runs: dict[str, list[dict]] = {"calcos": [], "caldp": []}
    for k in range(args.runs):  # alternating, the order swapped every other pair
        order = ("calcos", "caldp") if k % 2 == 0 else ("caldp", "calcos")
        for name in order:
            runs[name].append((run_calcos if name == "calcos" else run_caldp)(k))
    calcos, caldp = median_of(runs["calcos"]), median_of(runs["caldp"])
    row = {
        "bench": "cos-fuv-asn",
        "size": args.size,
        "dataset": ds.name,
        "events": int(events),
        "raw_mb": round(sum(r.stat().st_size for r in raws) / 2**20, 1),
        "sim_s": round(sim_s, 1),
        "calcos": calcos,
        "caldp_process": caldp,
        "runs": args.runs,
        "overhead": round(caldp["wall_s"] / calcos["wall_s"] - 1.0, 3),
        "cpu_overhead": round(caldp["cpu_s"] / calcos["cpu_s"] - 1.0, 3),
        "load_avg": os.getloadavg()[0],
    }
    print(json.dumps(row))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
