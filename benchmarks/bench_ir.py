"""Benchmark the builtin WFC3/IR engine (WF3IR) against calwf3.e on a full-frame MULTIACCUM exposure.

Prints one JSON line per WF3IR step (from the engine's DEBUG ``timing`` records), one for the
whole caldp call and — when ``calwf3.e`` is on PATH (or --hstcal-bin is given) — one for calwf3.e:
``{"engine", "step", "shape", "wall_s", "cpu_s", "peak_rss_mib"}``; per-step peak RSS is the
process peak so far. Each engine runs ``--repeat`` times; the line reports the median wall time.

Input: an existing raw file (``--raw`` with ``--iref``), the simulator's full ``wfc3-ir`` data set
(``--sim``, NSAMP=14), or by default the synthetic full-frame kit of the tests (NSAMP=16).
``--threads N`` sets CALDP_THREADS for the caldp runs, ``--numpy`` runs the NumPy reference
implementation instead of the C kernels (CALDP_KERNELS=numpy).

    python benchmarks/bench_ir.py --workdir /tmp/bench_ir
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class _Timings(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.rows = []

    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("timing "):
            step, *kv = msg[len("timing ") :].rsplit(" ", 3)
            vals = dict(x.split("=") for x in kv)
            self.rows.append((step, float(vals["wall"]), float(vals["cpu"]), float(vals["maxrss_mb"])))


def _input(args, workdir: Path) -> tuple[Path, str]:
    if args.raw:
        return Path(args.raw), args.iref
    if args.sim:
        from caldp.sim import simulate

        res = simulate(workdir / "sim", modes=("wfc3-ir",), size="full", seed=1)
        d = res.datasets[0]
        raw = next(f for f in d.input_path.iterdir() if f.name.endswith("_raw.fits"))
        return raw, res.env["iref"]
    from caldp.sim import ir, simulate  # the former test kit: full frame with the ramp cases

    res = simulate(workdir / "kit", modes=("wfc3-ir",), size="full", seed=1, nsamp=args.nsamp, quirks=ir.QUIRKS)
    d = res.datasets[0]
    return d.input_path / f"{d.name}_raw.fits", res.env["iref"]


def run_caldp(raw: Path, iref: str, outdir: Path, env=None) -> tuple[float, float, float, list]:
    """Run the engine in a child process (clean RSS); returns wall, cpu, peak RSS (MiB), step rows."""
    code = (
        "import json, logging, sys, time, resource\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from benchmarks.bench_ir import _Timings\n"
        "h = _Timings(); lg = logging.getLogger('caldp.engines.wfc3.ir.wf3ir'); lg.setLevel(logging.DEBUG)\n"
        "lg.addHandler(h)\n"
        "from caldp.engines.wfc3.ir.wf3ir import wf3ir\n"
        "w, c = time.perf_counter(), time.process_time()\n"
        f"wf3ir({str(raw)!r}, outdir={str(outdir)!r}, env={{'iref': {iref!r}}})\n"
        "w, c = time.perf_counter() - w, time.process_time() - c\n"
        "print(json.dumps([w, c, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, h.rows]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return tuple(json.loads(r.stdout.strip().splitlines()[-1]))


def run_hstcal(exe: str, raw: Path, iref: str, outdir: Path) -> tuple[float, float, float]:
    """calwf3.e under ``/usr/bin/time``: wall, CPU (user + sys) and peak RSS (MiB) of that process alone."""
    shutil.copy(raw, outdir)
    timer = shutil.which("time", path="/usr/bin:/bin")
    cmd = [timer, "-f", "TIMING %e %U %S %M", exe, raw.name] if timer else [exe, raw.name]
    w = time.perf_counter()
    r = subprocess.run(cmd, cwd=outdir, env=dict(os.environ, iref=iref), capture_output=True, text=True, check=True)
    w = time.perf_counter() - w
    line = next((x for x in r.stderr.splitlines() if x.startswith("TIMING ")), None)
    if line is None:
        return w, float("nan"), float("nan")
    e, u, s, m = line.split()[1:]
    return float(e), float(u) + float(s), float(m) / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--raw", help="an existing IR _raw.fits (with --iref)")
    ap.add_argument("--iref", help="reference directory (trailing slash)")
    ap.add_argument("--sim", action="store_true", help="use caldp.sim's full wfc3-ir data set")
    ap.add_argument("--nsamp", type=int, default=16, help="reads of the synthetic kit (default 16)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hstcal-bin", default=None, help="directory holding calwf3.e")
    ap.add_argument("--threads", type=int, default=None, help="CALDP_THREADS for the caldp runs (default: engine's)")
    ap.add_argument("--numpy", action="store_true", help="CALDP_KERNELS=numpy: the NumPy reference, no C kernels")
    ap.add_argument("--no-hstcal", action="store_true", help="time caldp only")
    args = ap.parse_args(argv)
    child_env = dict(os.environ)
    if args.threads:
        child_env["CALDP_THREADS"] = str(args.threads)
    if args.numpy:
        child_env["CALDP_KERNELS"] = "numpy"
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_ir_"))
    workdir.mkdir(parents=True, exist_ok=True)
    raw, iref = _input(args, workdir)
    from astropy.io import fits

    h = fits.getheader(raw)
    shape = [int(h["NSAMP"]), *fits.getdata(raw, ("SCI", 1)).shape]
    runs = []
    for i in range(args.repeat):
        out = workdir / f"caldp{i}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        runs.append(run_caldp(raw, iref, out, child_env))
        shutil.rmtree(out, ignore_errors=True)  # ~200 MB of products per run
    best = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    for step, w, c, rss in best[3]:
        print(
            json.dumps(
                {
                    "engine": "caldp",
                    "step": step,
                    "shape": shape,
                    "wall_s": round(w, 3),
                    "cpu_s": round(c, 3),
                    "peak_rss_mib": round(rss, 1),
                }
            )
        )
    caldp_wall = statistics.median(r[0] for r in runs)
    print(
        json.dumps(
            {
                "engine": "caldp",
                "step": "total",
                "shape": shape,
                "wall_s": round(caldp_wall, 3),
                "cpu_s": round(best[1], 3),
                "peak_rss_mib": round(max(r[2] for r in runs), 1),
            }
        )
    )
    exe = None if args.no_hstcal else shutil.which("calwf3.e", path=args.hstcal_bin or os.environ.get("PATH"))
    if exe:
        hr = []
        for i in range(args.repeat):
            out = workdir / f"hstcal{i}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            hr.append(run_hstcal(exe, raw, iref, out))
            shutil.rmtree(out, ignore_errors=True)
        hw = statistics.median(r[0] for r in hr)
        print(
            json.dumps(
                {
                    "engine": "calwf3.e",
                    "step": "total",
                    "shape": shape,
                    "wall_s": round(hw, 3),
                    "cpu_s": round(statistics.median(r[1] for r in hr), 3),
                    "peak_rss_mib": round(max(r[2] for r in hr), 1),
                }
            )
        )
        print(json.dumps({"ratio_wall_caldp_over_hstcal": round(caldp_wall / hw, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
