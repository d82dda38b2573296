"""caldp-batch: calibrate many HST datasets as Dask graphs on any cluster.

    caldp-batch DATASETS.txt [--input URI] [--output URI] [--config C]
                [--cluster inprocess|local|tcp://HOST:PORT|fargate|ec2] [--workers N]
                [--threads-per-worker T] [--memory-limit M] [--retries N] [--resume|--force]

DATASETS.txt holds one ipppssoot per line (``#`` comments, blank lines ignored). Each dataset
runs the caldp-process graph (fetch → calibrate → preview → upload); status is the messages
tree under the output. Exit status 0 only if every dataset is processed; CMDLINE_ERROR (2)
for a bad command line or datasets list; GENERIC_ERROR (1) if any dataset failed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..config import NAMED_CONFIGS, default_config
from ..engines import ENGINE_NAMES
from ..exit_codes import ExitCode
from .common import add_log_file, finish, setup_logging, where

log = logging.getLogger("caldp.batch")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # CMDLINE_ERROR, not argparse's 2 by accident
        self.print_usage(sys.stderr)
        raise SystemExit(finish(ExitCode.CMDLINE_ERROR, message))


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="caldp-batch",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("datasets", help="file of dataset names (ipppssoot), one per line")
    p.add_argument("--input", default="file:.", help="file:<dir>, s3://bucket/prefix or astroquery: (default file:.)")
    p.add_argument("--output", default="file:.", help="file:<dir>, s3://bucket/prefix or none (default file:.)")
    p.add_argument(
        "--config",
        default=None,
        help=f"{', '.join(NAMED_CONFIGS)} or a KEY=VALUE file "
        "(default: caldp-config-local if CRDS_PATH is set, else caldp-config-onsite)",
    )
    p.add_argument("--engine", default="builtin", choices=ENGINE_NAMES)
    p.add_argument("--cluster", default="inprocess", help="inprocess, local, tcp://HOST:PORT, fargate or ec2")
    p.add_argument("--workers", type=int, default=None, help="workers to start (local, cloud) or wait for (tcp)")
    p.add_argument("--threads-per-worker", type=int, default=None)
    p.add_argument("--memory-limit", default=None, help="memory per worker, e.g. 4GB (default: shared equally)")
    p.add_argument(
        "--retries",
        type=int,
        default=1,
        help="resubmissions of a dataset whose worker died or ran out of memory, each on the next "
        "memory rung (default 1)",
    )
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        dest="force",
        action="store_false",
        default=False,
        help="skip datasets already in datasets-processed (default)",
    )
    again.add_argument("--force", dest="force", action="store_true", help="process every dataset again")
    p.add_argument(
        "--workdir", default=None, help="staging and scratch root (a shared filesystem for multi-host tcp:// clusters)"
    )
    p.add_argument("--staging", default=None, help="staging URI (s3://bucket/prefix for fargate/ec2)")
    p.add_argument(
        "--env",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for every task (repeatable)",
    )
    p.add_argument("--keep-intermediates", action="store_true")
    p.add_argument("--no-stage2", action="store_true", help="skip drizzling (stage 2)")
    p.add_argument("--no-previews", action="store_true", help="skip preview images")
    p.add_argument("--no-progress", action="store_true", help="no progress line")
    cloud = p.add_argument_group("fargate / ec2 (also from CALDP_* environment variables)")
    cloud.add_argument("--image", default=None, help="worker image (CALDP_CLUSTER_IMAGE)")
    cloud.add_argument("--region", default=None, help="AWS region (AWS_DEFAULT_REGION)")
    cloud.add_argument("--worker-cpu", type=int, default=None, help="Fargate CPU units per worker (1024 = 1 vCPU)")
    cloud.add_argument("--worker-mem", type=int, default=None, help="memory per cloud worker, MB")
    cloud.add_argument("--adapt-min", type=int, default=None, help="adaptive scaling: minimum workers")
    cloud.add_argument("--adapt-max", type=int, default=None, help="adaptive scaling: maximum workers")
    cloud.add_argument("--instance-type", default=None, help="EC2 worker instance type")
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show the whole log live above the progress bar (-vv: also debug lines and Dask's own log)",
    )
    return p


@contextlib.contextmanager
def batch_log(output_uri: str, batch_id: str, dataset: str) -> Iterator[str]:
    """Log everything of this batch (INFO and up, Dask's included) to ``logs/<batch_id>.txt``
    beside the messages tree (written live on local disk, uploaded at the end to S3); yields
    where it is, or "" if it cannot be written."""
    from ..tasks.records import Job
    from ..tasks.status import messages_store

    key = f"logs/{batch_id}.txt"
    try:
        store = messages_store(Job(dataset=dataset, output_uri=output_uri))
        root = getattr(store, "root", None)
        if root is not None:
            local = root / key
            local.parent.mkdir(parents=True, exist_ok=True)
        else:
            fd, name = tempfile.mkstemp(prefix=f"caldp-{batch_id}-", suffix=".txt")
            os.close(fd)
            local = Path(name)
        handler = add_log_file(local)
    except Exception as exc:  # noqa: BLE001 -- no batch log is not worth stopping the batch for
        log.warning("no batch log: %s", exc)
        yield ""
        return
    try:
        yield where(store, key)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
        if root is None:
            try:
                store.put_file(local, key)
            except Exception as exc:  # noqa: BLE001
                log.warning("could not upload the batch log to %s: %s", where(store, key), exc)
            local.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = setup_logging(args.verbose, steps=False)
    from ..cluster.batch import DatasetsFileError, new_batch_id, read_datasets, run_batch
    from ..cluster.factory import ClusterOptions, kind_of

    try:
        names = read_datasets(args.datasets)
    except DatasetsFileError as exc:
        print(f"caldp-batch: {args.datasets}: {exc}", file=sys.stderr)
        return finish(ExitCode.CMDLINE_ERROR, f"invalid datasets list {args.datasets}")
    except OSError as exc:
        return finish(ExitCode.CMDLINE_ERROR, f"cannot read {args.datasets}: {exc}")
    if not names:
        return finish(ExitCode.CMDLINE_ERROR, f"no datasets in {args.datasets}")
    if args.retries < 0:
        return finish(ExitCode.CMDLINE_ERROR, "--retries must be >= 0")
    try:
        kind_of(args.cluster)
    except ValueError as exc:
        return finish(ExitCode.CMDLINE_ERROR, str(exc))
    opts = ClusterOptions(
        image=args.image,
        region=args.region,
        worker_cpu=args.worker_cpu,
        worker_mem_mb=args.worker_mem,
        adapt_min=args.adapt_min,
        adapt_max=args.adapt_max,
        instance_type=args.instance_type,
    )
    config = args.config or default_config()
    batch_id = new_batch_id()
    with batch_log(args.output, batch_id, names[0]) as log_at:
        log.info(
            "caldp-batch %s: %d datasets, input %s, output %s, config %s, engine %s, cluster %s",
            batch_id,
            len(names),
            args.input,
            args.output,
            config,
            args.engine,
            args.cluster,
        )
        outcome = _run(args, names, config, opts, batch_id, console, run_batch)
        if isinstance(outcome, int):  # a bad option, already reported
            return outcome
        result = outcome
    print(result.table(), flush=True)
    for label, value in (("report", result.report), ("batch log", log_at)):
        if value:
            print(f"{label + ':':11s}{value}", file=sys.stderr)
    out = _products_root(args.output)
    if out:
        print(f"{'products:':11s}{out}/data/<instrument>/<dataset>/ (previews/, logs/process.txt)", file=sys.stderr)
    if result.ok:
        return finish(ExitCode.SUCCESS)
    failed = [r for r in result.summary if r["state"] not in ("datasets-processed", "skipped")]
    names_by_code = ", ".join(f"{r['dataset']} {r['exit_code']}" for r in failed[:20])
    return finish(
        ExitCode.GENERIC_ERROR,
        f"{len(failed)} of {len(result.summary)} datasets failed: {names_by_code}" + (" …" if len(failed) > 20 else ""),
    )


def _products_root(output_uri: str) -> str:
    from ..storage import open_store, split_uri

    if split_uri(output_uri)[0] == "none":
        return ""
    try:
        return where(open_store(output_uri)).rstrip("/")
    except ValueError:
        return ""


def _run(args, names, config, opts, batch_id, console, run_batch):
    """run_batch with the command line's options; the result, or an exit status for a bad option."""
    try:
        return run_batch(
            names,
            input_uri=args.input,
            output_uri=args.output,
            config=config,
            engine=args.engine,
            cluster=args.cluster,
            workers=args.workers,
            threads_per_worker=args.threads_per_worker,
            memory_limit=args.memory_limit,
            retries=args.retries,
            force=args.force,
            workdir=args.workdir,
            staging_uri=args.staging,
            progress=not args.no_progress,
            stage2=not args.no_stage2,
            previews=not args.no_previews,
            keep_intermediates=args.keep_intermediates,
            env=dict(args.env),
            cluster_options=opts,
            console=console,
            batch_id=batch_id,
        )
    except ValueError as exc:
        return finish(ExitCode.CMDLINE_ERROR, str(exc))


if __name__ == "__main__":
    sys.exit(main())
