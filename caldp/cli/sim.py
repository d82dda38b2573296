"""caldp-sim: write simulated HST datasets, their references and a CRDS cache.

``caldp-sim OUTDIR [--modes a,b] [--size small|full] [--seed N] [--count N] [--tar] [--truth]``
prints one line per dataset (name, mode, path) and then the ``export`` lines that point CRDS and
HSTCAL at the simulated cache.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from caldp.sim import MODES, SIZES

    p = argparse.ArgumentParser(prog="caldp-sim", description=__doc__.split("\n\n")[0])
    p.add_argument("outdir", help="output directory (inputs/, crds_cache/, datasets.txt)")
    p.add_argument(
        "--modes",
        default="acs-wfc-asn",
        help=f"comma-separated modes or 'all' (default acs-wfc-asn; choose from {', '.join(MODES)})",
    )
    p.add_argument("--size", choices=SIZES, default="small", help="small = a real subarray mode, full = full frame")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    p.add_argument("--count", type=int, default=1, help="datasets per mode (distinct names)")
    p.add_argument("--tar", action="store_true", help="write <ipppssoot>.tar.gz instead of a directory")
    p.add_argument("--truth", action="store_true", help="also write noiseless truth images under OUTDIR/truth/")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return p


def main(argv: list[str] | None = None) -> int:
    from caldp.sim import MODES, simulate

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    modes = MODES if args.modes.strip() == "all" else tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if args.count < 1:
        print("caldp-sim: --count must be at least 1", file=sys.stderr)
        return 2
    try:
        result = simulate(
            Path(args.outdir).absolute(),
            modes=modes,
            size=args.size,
            seed=args.seed,
            count=args.count,
            tar=args.tar,
            truth=args.truth,
        )
    except ValueError as exc:
        print(f"caldp-sim: {exc}", file=sys.stderr)
        return 2
    for ds in result.datasets:
        print(f"{ds.name}  {ds.mode}  {ds.input_path}")
    print(f"# datasets listed in {result.datasets_txt}; CRDS cache {result.crds_cache}")
    for key, value in result.env.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
