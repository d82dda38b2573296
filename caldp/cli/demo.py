"""caldp-demo: simulate a few small HST datasets and calibrate them end to end.

Writes ``./caldp-demo/`` (or DIR): the simulated inputs and CRDS cache, then the output
tree with products, previews, logs, messages and ``report.html``; prints where everything is.
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
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show the whole log live (-vv: also debug lines and Dask's own log)",
    )
    args = p.parse_args(argv)

    from .. import sim
    from ..cluster.batch import new_batch_id, run_batch
    from .batch import batch_log
    from .common import setup_logging

    console = setup_logging(args.verbose, steps=False)
    root = Path(args.directory).absolute()
    out = root / "output"
    modes = tuple(args.modes.split(","))
    batch_id = new_batch_id()
    with batch_log(f"file:{out}", batch_id, "j00000000") as log_at:
        t0 = time.perf_counter()
        result = sim.simulate(root / "sim", modes=modes, size=args.size, seed=1)
        print(
            f"Simulated {len(result.datasets)} datasets ({', '.join(modes)}, {args.size}) in "
            f"{time.perf_counter() - t0:.1f} s -> {root / 'sim'}",
            file=sys.stderr,
            flush=True,
        )
        os.environ.update(result.env)
        batch = run_batch(
            [d.name for d in result.datasets],
            input_uri=f"file:{root / 'sim' / 'inputs'}",
            output_uri=f"file:{out}",
            config="caldp-config-local",
            engine=args.engine,
            cluster="inprocess",
            force=True,
            workdir=str(root / "work"),
            console=console,
            batch_id=batch_id,
        )
    print(batch.table())
    print(where_to_look(root, out, batch.summary, batch.report, log_at))
    return 0 if batch.ok else 1


def where_to_look(root: Path, out: Path, summary: list[dict], report: str, log_at: str) -> str:
    """What the demo made and where, relative to `root`, widest first."""

    def rel(path) -> str:
        p = Path(path)
        return str(p.relative_to(root)) + ("/" if p.is_dir() else "") if p.is_relative_to(root) else str(p)

    entries = []
    if report:
        entries.append((rel(report), "the batch report: open it in a browser"))
    for row in summary:
        ddir = out / "data" / row["instrument"] / row["dataset"]
        what = (
            "products, previews/ (JPEG), logs/process.txt"
            if row["state"] == "datasets-processed"
            else (f"{row['state']} ({row['exit_code']}): see logs/process.txt")
        )
        entries.append((rel(ddir), what))
    entries.append((rel(out / "messages"), "one status file per dataset, in the directory named after its state"))
    if log_at:
        entries.append((rel(log_at), "the batch's whole log"))
    entries.append((rel(root / "sim"), "the simulated raw inputs and CRDS cache"))
    width = max(len(e[0]) for e in entries) + 2
    lines = [f"\nThe demo made, under {root}:"]
    lines += [f"  {path:{width}s}{what}" for path, what in entries]
    if report:
        lines.append(f"Open file://{report} in a browser; `caldp-report {out}` rebuilds it.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
