"""Benchmark caldp.sim: wall time and peak RSS of simulating one dataset per mode.

Prints one JSON line per mode (step, size, shape, wall_s, peak_rss_mb); each mode runs in a fresh
subprocess so the peak RSS is that mode's own. Not collected by pytest.

    python benchmarks/bench_sim.py --size full --modes acs-wfc-asn,wfc3-uvis-asn
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time


def run_one(mode: str, size: str, seed: int, outdir: str) -> dict:
    from astropy.io import fits

    from caldp import sim

    t0 = time.perf_counter()
    sim.simulate(f"{outdir}/cold", modes=(mode,), size=size, seed=seed)  # includes first imports (crds, wcs)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = sim.simulate(f"{outdir}/warm", modes=(mode,), size=size, seed=seed)
    wall = time.perf_counter() - t0
    ds = res.datasets[0]
    raw = sorted(ds.input_path.glob("*_raw.fits"))[0]
    with fits.open(raw) as hdul:
        shapes = sorted({h.data.shape for h in hdul if h.name == "SCI"})
        nsci = sum(h.name == "SCI" for h in hdul)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "step": f"sim:{mode}",
        "size": size,
        "shape": [nsci, *shapes[0]],
        "exposures": len(ds.files) // 2,
        "wall_s": round(wall, 3),
        "cold_wall_s": round(cold, 3),
        "peak_rss_mb": round(peak_mb, 1),
    }


def main(argv=None) -> int:
    from caldp.sim import MODES

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=("small", "full"), default="full")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run_one(args.one, args.size, args.seed, tmp)))
        return 0
    for mode in args.modes.split(","):
        proc = subprocess.run(
            [sys.executable, __file__, "--one", mode, "--size", args.size, "--seed", str(args.seed)],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            print(json.dumps({"step": f"sim:{mode}", "size": args.size, "error": proc.stderr.strip()[-500:]}))
        else:
            print(proc.stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
