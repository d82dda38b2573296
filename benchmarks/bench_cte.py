"""Benchmark pixel-based CTE correction: the whole process of caldp's drop-in command against HSTCAL's
on the same full-frame CTE association (PCTECORR = PERFORM), alternating runs, medians.

    python benchmarks/bench_cte.py --instrument acs|wfc3 [--workdir DIR] [--repeat N] [--threads T] [--keep]

Each run is a fresh process in a fresh copy of the inputs (HSTCAL never overwrites products):
``caldp-calacs <asn>`` and ``calacs.e --nthreads T <asn>`` (``jref`` pointing at the simulated
references). Wall time, CPU time (user + system of the child) and peak RSS (``ru_maxrss`` of the
child) are taken per run; one JSON line per run and a summary line with the medians and the speed-up
are printed. The machine may be shared: compare CPU as well as wall.

Inputs: caldp.sim's ``acs-wfc-asn`` at full size with PCTECORR = PERFORM and the synthetic PCTETAB
and CTE-corrected dark of caldp.sim.cte (``--inputs DIR`` reuses a directory made earlier).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_acs_inputs(workdir: Path) -> tuple[Path, Path]:
    """(inputs directory holding the association, reference directory)."""
    from astropy.io import fits

    from caldp.sim import cte
    from caldp.sim.core import simulate
    from caldp.sim.fitsutil import write

    res = simulate(workdir / "sim", modes=("acs-wfc-asn",), size="full")
    refdir = res.crds_cache / "references" / "hst"
    ds = res.datasets[0]
    inputs = workdir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    for f in Path(ds.input_path).iterdir():
        shutil.copy(f, inputs / f.name)
    write(cte.pctetab_hdus(), refdir / "benchcte_cte.fits")
    dark = None
    for raw in sorted(inputs.glob("*_raw.fits")):
        with fits.open(raw, mode="update") as h:
            dark = str(h[0].header["DARKFILE"]).split("$")[1]
            if str(h[0].header.get("PCTECORR", "OMIT")).strip().upper() != "PERFORM":
                h[0].header["PCTECORR"] = "PERFORM"
                h[0].header["PCTETAB"] = "jref$benchcte_cte.fits"
                h[0].header["DRKCFILE"] = "jref$" + dark.replace("_drk", "_dkc")
    dkc = refdir / dark.replace("_drk", "_dkc")
    if not dkc.exists():
        with fits.open(refdir / dark) as d:
            write(cte.ctedark_hdus(d), dkc)
    return inputs, refdir


def make_wfc3_inputs(workdir: Path) -> tuple[Path, Path]:
    """caldp.sim's ``wfc3-uvis-cte-asn`` at full size (trailed pixels; PCTETAB, BIACFILE, DRKCFILE)."""
    from caldp.sim.core import simulate

    res = simulate(workdir / "sim", modes=("wfc3-uvis-cte-asn",), size="full")
    inputs = workdir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    for f in Path(res.datasets[0].input_path).iterdir():
        shutil.copy(f, inputs / f.name)
    return inputs, res.crds_cache / "references" / "hst"


INSTRUMENTS = {
    # instrument: (input maker, caldp command, HSTCAL command, reference env var)
    "acs": (make_acs_inputs, "caldp-calacs", "calacs.e", "jref"),
    "wfc3": (make_wfc3_inputs, "caldp-calwf3", "calwf3.e", "iref"),
}


def hstcal_thread_args(instrument: str, threads: int) -> list[str]:
    """calacs.e takes ``--nthreads``; calwf3.e's CTE step uses every CPU unless given ``-1``."""
    if instrument == "wfc3":
        return ["-1"] if threads == 1 else []
    return ["--nthreads", str(threads)]


def run_once(cmd: list[str], inputs: Path, workdir: Path, env: dict) -> dict:
    """Run `cmd` on a fresh copy of `inputs`; wall, CPU and peak RSS of the child."""
    run = Path(tempfile.mkdtemp(dir=workdir, prefix="run-"))
    for f in inputs.iterdir():
        if f.name.endswith(("_asn.fits", "_raw.fits", "_spt.fits")):
            shutil.copy(f, run / f.name)
    asn = next(run.glob("*_asn.fits"))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd + [asn.name], cwd=run, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else ""
    products = sorted(p.name for p in run.glob("*_f?c.fits")) + sorted(p.name for p in run.glob("*_crc.fits"))
    shutil.rmtree(run, ignore_errors=True)
    return {
        "cmd": cmd[0],
        "rc": proc.returncode,
        "wall_s": round(wall, 2),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
        "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
        "cte_products": products,
        **({"stderr": err[-500:]} if proc.returncode else {}),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instrument", choices=sorted(INSTRUMENTS), required=True)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--inputs", type=Path, default=None, help="reuse inputs made by an earlier run (with --refs)")
    ap.add_argument("--refs", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each program (alternating)")
    ap.add_argument("--threads", type=int, default=2, help="threads of both programs")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--no-hstcal", action="store_true", help="time caldp only")
    args = ap.parse_args(argv)
    make, mine, theirs, refvar = INSTRUMENTS[args.instrument]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"bench-cte-{args.instrument}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.inputs:
            inputs, refdir = args.inputs, args.refs
        else:
            inputs, refdir = make(workdir)
        env = dict(os.environ, CALDP_THREADS=str(args.threads), **{refvar: str(refdir) + "/"})
        hstcal = shutil.which(theirs) or shutil.which(theirs, path="/opt/hstcal/bin")
        cmds = [[mine]]
        if hstcal and not args.no_hstcal:
            cmds.append([hstcal, *hstcal_thread_args(args.instrument, args.threads)])
        results: dict[str, list[dict]] = {c[0]: [] for c in cmds}
        for k in range(args.repeat):
            for cmd in cmds if k % 2 == 0 else cmds[::-1]:
                r = run_once(cmd, inputs, workdir, env)
                results[cmd[0]].append(r)
                print(json.dumps({"instrument": args.instrument, "run": k, **r}), flush=True)
        summary = {"instrument": args.instrument, "threads": args.threads, "repeat": args.repeat}
        for name, rs in results.items():
            ok = [r for r in rs if r["rc"] == 0]
            key = Path(name).name
            if ok:
                summary[key] = {m: statistics.median(r[m] for r in ok) for m in ("wall_s", "cpu_s", "peak_rss_mb")}
        a, b = summary.get(mine), summary.get(Path(hstcal).name) if hstcal else None
        if a and b:
            summary["speedup_wall"] = round(b["wall_s"] / a["wall_s"], 2)
            summary["speedup_cpu"] = round(b["cpu_s"] / a["cpu_s"], 2)
        print(json.dumps({"summary": summary}), flush=True)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
