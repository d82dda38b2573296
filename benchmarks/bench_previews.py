"""Benchmark previews of a full-size ACS/WFC association: 2 ``_flt`` + ``_crj`` + ``_drz``.

Writes the four products (two 4096x2048 chips with SCI/ERR/DQ; a 4300x4300 drz with
SCI/WHT/CTX and NaN outside a rotated footprint) unless --products gives existing files, then
times :func:`caldp.tasks.preview.create_previews` (best of --repeat) and prints one JSON line:
``{"step", "products", "shape", "workers", "wall_s", "best_s", "cpu_s", "loadavg", "peak_rss_mib",
"previews"}``; ``cpu_s`` is the process CPU time of the best run (all threads), which stays
meaningful on a loaded machine, where wall time doesn't.

    python benchmarks/bench_previews.py --workdir /tmp/bench_previews
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from caldp.tasks.preview import create_previews

NX, NY = 4096, 2048
NDRZ = 4300


def sky(rng: np.random.Generator, shape: tuple[int, int], nstars: int) -> np.ndarray:
    """Sky + read noise + point-like stars (one bright pixel and its 4 neighbours), float32."""
    img = rng.normal(60.0, 8.0, shape).astype(np.float32)
    ys = rng.integers(1, shape[0] - 1, nstars)
    xs = rng.integers(1, shape[1] - 1, nstars)
    flux = (rng.pareto(1.2, nstars) * 200.0).astype(np.float32)
    img[ys, xs] += flux
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        img[ys + dy, xs + dx] += flux * np.float32(0.3)
    return img


def write_exposure(path: Path, rng: np.random.Generator) -> None:
    hdus = [fits.PrimaryHDU(header=fits.Header({"INSTRUME": "ACS", "DETECTOR": "WFC"}))]
    for extver, chip in ((1, 2), (2, 1)):
        sci = sky(rng, (NY, NX), 20000)
        dq = np.zeros((NY, NX), np.int16)
        dq[:, rng.integers(0, NX, 6)] = 4  # bad columns
        dq[rng.integers(0, NY, 3000), rng.integers(0, NX, 3000)] = 8192  # CR hits
        for name, data in (("SCI", sci), ("ERR", np.sqrt(np.abs(sci))), ("DQ", dq)):
            h = fits.ImageHDU(data, name=name, ver=extver)
            h.header["CCDCHIP"] = chip
            hdus.append(h)
    fits.HDUList(hdus).writeto(path, overwrite=True)


def write_drz(path: Path, rng: np.random.Generator) -> None:
    sci = sky(rng, (NDRZ, NDRZ), 40000) / np.float32(1000.0)
    y, x = np.mgrid[0:NDRZ, 0:NDRZ]
    c = NDRZ / 2
    th = np.deg2rad(20.0)
    u = (x - c) * np.cos(th) + (y - c) * np.sin(th)
    v = -(x - c) * np.sin(th) + (y - c) * np.cos(th)
    outside = (np.abs(u) > 2048) | (np.abs(v) > 2048)
    sci[outside] = np.nan
    wht = np.where(outside, 0, 2000).astype(np.float32)
    ctx = np.where(outside, 0, 3).astype(np.int32)
    hdus = [
        fits.PrimaryHDU(header=fits.Header({"INSTRUME": "ACS", "DETECTOR": "WFC"})),
        fits.ImageHDU(sci, name="SCI"),
        fits.ImageHDU(wht, name="WHT"),
        fits.ImageHDU(ctx, name="CTX"),
    ]
    fits.HDUList(hdus).writeto(path, overwrite=True)


def make_products(workdir: Path, seed: int = 1) -> list[Path]:
    rng = np.random.default_rng(seed)
    names = ["jbench01q_flt.fits", "jbench02q_flt.fits", "jbench010_crj.fits"]
    paths = [workdir / n for n in names] + [workdir / "jbench010_drz.fits"]
    for p in paths[:3]:
        if not p.exists():
            write_exposure(p, rng)
    if not paths[3].exists():
        write_drz(paths[3], rng)
    return paths


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="where the products are written (default: a temp dir)")
    ap.add_argument("--products", type=Path, nargs="*", help="existing products instead of synthetic ones")
    ap.add_argument("--instrument", default="acs")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_previews_"))
    workdir.mkdir(parents=True, exist_ok=True)
    products = args.products or make_products(workdir)
    times, cpus = [], []
    for i in range(args.repeat):
        outdir = workdir / f"previews{i}"
        outdir.mkdir(exist_ok=True)
        t0, c0 = time.perf_counter(), time.process_time()
        made = create_previews(products, outdir, instrument=args.instrument, workers=args.workers)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    with fits.open(products[0]) as hdul:
        shape = list(hdul[1].data.shape)
    print(
        json.dumps(
            {
                "step": "create_previews",
                "products": [p.name for p in products],
                "shape": shape,
                "workers": args.workers,
                "wall_s": [round(t, 3) for t in times],
                "best_s": round(min(times), 3),
                "cpu_s": round(cpus[times.index(min(times))], 3),
                "loadavg": round(os.getloadavg()[0], 2),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "previews": len(made),
            }
        )
    )


if __name__ == "__main__":
    main()
