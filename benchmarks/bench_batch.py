"""Batch throughput: the same small simulated datasets on inprocess, and on a LocalCluster
with 1 and 2 workers; orchestration overhead; submission time of a 1,000-dataset list.

    python benchmarks/bench_batch.py [--count 16] [--modes acs-wfc] [--clusters inprocess,local1,local2]
                                     [--submit 1000] [--stage2] [--dir DIR]

Prints one JSON line per dataset (wall, peak RSS) and per run (throughput, overhead).
Overhead per dataset = (run time × worker threads − Σ dataset step walls) / datasets, where
the run time goes from the first submission to the last dataset's end (the cluster's start
and shutdown are reported apart): the time a slot was not running a step (scheduling,
transfers, messages, the tail).
Goals (issue 7): 2 workers ≥ 1.8× one worker; overhead ≤ 2 % of a dataset's time;
1,000 datasets submitted in < 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def run(names, inputs, out, cluster, workers, threads, workdir, stage2) -> dict:
    from caldp.cluster.batch import run_batch

    t0 = time.perf_counter()
    result = run_batch(
        names,
        input_uri=f"file:{inputs}",
        output_uri=f"file:{out}",
        config="caldp-config-local",
        cluster=cluster,
        workers=workers,
        threads_per_worker=threads,
        force=True,
        stage2=stage2,
        workdir=str(workdir),
        progress=False,
    )
    wall = time.perf_counter() - t0
    for row in result.summary:
        print(
            json.dumps(
                {
                    "bench": "batch-dataset",
                    "cluster": f"{cluster}{workers or ''}",
                    "dataset": row["dataset"],
                    "state": row["state"],
                    "wall": row["wall"],
                    "peak_rss_mb": row["peak_rss_mb"],
                }
            ),
            flush=True,
        )
    slots = (workers or 1) * (threads or 1)
    steps = sum(r["wall"] or 0.0 for r in result.summary)
    per_dataset = steps / len(names)
    overhead = (result.run_seconds * slots - steps) / len(names)
    return {
        "bench": "batch",
        "cluster": cluster,
        "workers": workers,
        "threads": threads,
        "datasets": len(names),
        "ok": result.ok,
        "wall": round(wall, 2),
        "submit_s": round(result.submit_seconds, 2),
        "cluster_start_s": round(result.cluster_start_seconds, 2),
        "run_s": round(result.run_seconds, 2),
        "throughput_per_min": round(60 * len(names) / result.run_seconds, 2),
        "dataset_mean_s": round(per_dataset, 2),
        "overhead_per_dataset_s": round(overhead, 2),
        "overhead_pct": round(100 * overhead / per_dataset, 1) if per_dataset else None,
    }


def submit_many(n: int, root: Path) -> dict:
    """Submission time of an n-dataset list (inputs absent: every dataset fails in fetch)."""
    from caldp.cluster.batch import parse_datasets, run_batch

    names = [f"j{i:05d}01q" for i in range(n)]
    t0 = time.perf_counter()
    parsed = parse_datasets("\n".join(names))
    parse_s = time.perf_counter() - t0
    result = run_batch(
        parsed,
        input_uri=f"file:{root / 'nothing'}",
        output_uri=f"file:{root / 'out-many'}",
        config="caldp-config-local",
        cluster="inprocess",
        threads_per_worker=2,
        force=True,
        stage2=False,
        previews=False,
        workdir=str(root / "work-many"),
        progress=False,
    )
    return {
        "bench": "batch-submit",
        "datasets": n,
        "parse_s": round(parse_s, 3),
        "submit_s": round(result.submit_seconds, 2),
        "total_s": round(result.wall, 2),
        "all_recorded": len(result.summary) == n,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=16)
    p.add_argument("--modes", default="acs-wfc")
    p.add_argument("--clusters", default="inprocess,local1,local2")
    p.add_argument("--submit", type=int, default=1000, help="datasets in the submission test (0: skip)")
    p.add_argument("--stage2", action="store_true", help="drizzle too")
    p.add_argument("--dir", default=None)
    args = p.parse_args()

    from caldp import sim

    root = Path(args.dir or tempfile.mkdtemp(prefix="caldp-bench-batch-")).absolute()
    modes = tuple(args.modes.split(","))
    t0 = time.perf_counter()
    per_mode = -(-args.count // len(modes))
    simulated = sim.simulate(root / "sim", modes=modes, size="small", seed=1, count=per_mode)
    names = [d.name for d in simulated.datasets][: args.count]
    print(json.dumps({"bench": "simulate", "datasets": len(names), "wall": round(time.perf_counter() - t0, 2)}))
    os.environ.update(simulated.env)
    for spec in args.clusters.split(","):
        if spec == "inprocess":
            cluster, workers, threads = "inprocess", None, os.cpu_count()
        else:
            cluster, workers, threads = "local", int(spec.removeprefix("local") or 1), 1
        print(
            json.dumps(
                run(
                    names,
                    root / "sim" / "inputs",
                    root / f"out-{spec}",
                    cluster,
                    workers,
                    threads,
                    root / "work",
                    args.stage2,
                )
            ),
            flush=True,
        )
    if args.submit:
        print(json.dumps(submit_many(args.submit, root)), flush=True)


if __name__ == "__main__":
    main()
