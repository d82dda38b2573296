"""caldp-demo: simulate a few small HST datasets and calibrate them end to end.

Writes ``./caldp-demo/`` (or DIR): the simulated inputs and CRDS cache, then the output
tree with products, previews, logs and messages; prints where everything is.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

DEFAULT_MODES = ("acs-wfc-asn", "wfc3-uvis-asn", "wfc3-ir")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="caldp-demo", description=__doc__.split("\n\n")[0])
    p.add_argument("directory", nargs="?", default="caldp-demo")
    p.add_argument("--modes", default=",".join(DEFAULT_MODES), help="simulator modes (comma separated)")
    p.add_argument("--size", default="small", choices=("small", "full"))
    p.add_argument("--engine", default="builtin", choices=("builtin", "hstcal", "auto"))
    args = p.parse_args(argv)

    from .. import sim
    from ..cluster.batch import run_batch
    from .common import setup_logging

    setup_logging()
    root = Path(args.directory).absolute()
    t0 = time.perf_counter()
    result = sim.simulate(root / "sim", modes=tuple(args.modes.split(",")), size=args.size, seed=1)
    print(f"Simulated {len(result.datasets)} datasets in {time.perf_counter() - t0:.1f} s -> {root / 'sim'}")
    os.environ.update(result.env)
    out = root / "output"
    batch = run_batch(
        [d.name for d in result.datasets], input_uri=f"file:{root / 'sim' / 'inputs'}", output_uri=f"file:{out}",
        config="caldp-config-local", engine=args.engine, cluster="inprocess", force=True,
        workdir=str(root / "work"),
    )
    print(batch.table())
    for row in batch.summary:
        ddir = out / "data" / row["instrument"] / row["dataset"]
        print(f"{row['dataset']}: {row['state']} -> {ddir}")
        for f in sorted((ddir / "previews").glob("*.jpg")) if (ddir / "previews").is_dir() else []:
            print(f"    preview {f}")
    print(f"Messages: {out / 'messages'}   (ls it: one file per dataset, in the directory of its state)")
    return 0 if batch.ok else 1


if __name__ == "__main__":
    sys.exit(main())
