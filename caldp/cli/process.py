"""caldp-process: calibrate one HST dataset end to end.

    caldp-process <dataset> [input_uri] [output_uri] [config] [--engine builtin|hstcal|auto]

As CALDP: input ``file:<dir>`` (default ``file:.``), ``s3://bucket/prefix`` or
``astroquery:``; output ``file:<dir>`` (default ``file:.``), ``s3://…`` or ``none``; config
``caldp-config-onsite|offsite|aws|local`` or a KEY=VALUE file. Products land in
``<output>/data/<instrument>/<dataset>/``; status in ``<output>/messages/<state>/<dataset>``.
The process exits with CALDP's exit codes.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..config import NAMED_CONFIGS, caldp_home, default_config, resolve_config
from ..datasets import Dataset
from ..engines import ENGINE_NAMES
from ..exit_codes import ExitCode
from ..messages import ERROR, PROCESSED, MessageTree
from ..pipeline import process_dataset
from ..storage import Store, open_store, split_uri
from ..tasks.records import Job
from ..tasks.status import mark_submitted, messages_store
from .common import CONSOLE, SAFE_NAME, finish, setup_logging, where

log = logging.getLogger("caldp.process")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # CMDLINE_ERROR, not argparse's 2 by accident
        self.print_usage(sys.stderr)
        raise SystemExit(finish(ExitCode.CMDLINE_ERROR, message))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="caldp-process", description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", help="ipppssoot, e.g. j8cb010b0 (association) or j8cb01u2q (exposure)")
    p.add_argument("input_uri", nargs="?", default="file:.", help="file:<dir>, s3://bucket/prefix or astroquery:")
    p.add_argument("output_uri", nargs="?", default="file:.", help="file:<dir>, s3://bucket/prefix or none")
    p.add_argument(
        "config",
        nargs="?",
        default=None,
        help=f"{', '.join(NAMED_CONFIGS)} or a KEY=VALUE file "
        "(default: caldp-config-local if CRDS_PATH is set, else caldp-config-onsite)",
    )
    p.add_argument(
        "--engine",
        default="builtin",
        choices=ENGINE_NAMES,
        help="builtin NumPy engines, hstcal executables, or auto (hstcal when on PATH)",
    )
    p.add_argument("--workdir", default=None, help="scratch directory (default: $CALDP_HOME, else system temp)")
    p.add_argument("--keep-intermediates", action="store_true", help="keep _blv_tmp/_crj_tmp products")
    p.add_argument("--no-stage2", action="store_true", help="skip drizzling (stage 2)")
    p.add_argument("--no-previews", action="store_true", help="skip preview images")
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show the whole log live (-vv: also debug lines and Dask's own log)",
    )
    return p


def _error_message(job: Job, code: ExitCode, reason: str) -> None:
    """Record a failure found before the graph ran (bad command line)."""
    if not SAFE_NAME.match(job.dataset):
        return
    try:
        store = messages_store(job)
    except ValueError:
        store = Store(".")
    try:
        MessageTree(store).set_state(
            job.dataset, ERROR, exit_code=int(code), exit_name=code.name, step="cmdline", reason=reason, products=[]
        )
    except OSError:
        MessageTree(Store(".")).set_state(
            job.dataset, ERROR, exit_code=int(code), exit_name=code.name, step="cmdline", reason=reason, products=[]
        )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    config = args.config or default_config()
    job = Job(
        dataset=args.dataset.strip().lower(),
        input_uri=args.input_uri,
        output_uri=args.output_uri,
        config=config,
        engine=args.engine,
    )
    try:
        dataset = Dataset.parse(args.dataset)
        dataset.instrument  # noqa: B018 -- raises for unknown/unsupported instruments
        split_uri(args.input_uri)
        if split_uri(args.input_uri)[0] == "none":
            raise ValueError("input cannot be none")
        split_uri(args.output_uri)
        resolve_config(config)
        home = caldp_home()  # scratch files go here when set (CALDP's CALDP_HOME)
    except ValueError as exc:
        _error_message(job, ExitCode.CMDLINE_ERROR, str(exc))
        return finish(ExitCode.CMDLINE_ERROR, str(exc))

    scratch_root = Path(tempfile.mkdtemp(prefix=f"caldp-{dataset.name}-", dir=args.workdir or home))
    job = Job(
        dataset=dataset.name,
        input_uri=args.input_uri,
        output_uri=args.output_uri,
        config=config,
        engine=args.engine,
        staging_uri=f"file:{scratch_root / 'staging'}",
        workdir=str(scratch_root / "work"),
        keep_intermediates=args.keep_intermediates,
        stage2=not args.no_stage2,
        previews=not args.no_previews,
    )
    log.info(
        "caldp-process %s: input %s, output %s, config %s, engine %s",
        dataset,
        args.input_uri,
        args.output_uri,
        config,
        args.engine,
        extra=CONSOLE,
    )
    try:
        try:
            mark_submitted(job)
        except OSError as exc:
            log.warning("cannot write the submitted message: %s", exc)
        record = process_dataset(job)
    finally:
        if not os.environ.get("CALDP_KEEP_SCRATCH"):
            shutil.rmtree(scratch_root, ignore_errors=True)
    for w in record.warnings:
        log.warning("%s", w)
    _summary(record)
    if record.failure:
        return finish(record.failure.code, f"{record.failure.step}: {record.failure.reason}")
    return finish(ExitCode.SUCCESS)


def _summary(record) -> None:
    """The closing lines: outcome, wall and peak memory, and where the products, previews, log and
    message are."""
    from ..tasks.upload import output_prefix

    job = record.job
    wall = sum(t.wall for t in record.timings)
    peak = max((t.peak_rss_mb for t in record.timings), default=0.0)
    state = ERROR if record.failure else PROCESSED
    lines = [f"{job.dataset}: {state} in {wall:.1f} s, peak RSS {peak:.0f} MB"]
    if split_uri(job.output_uri)[0] != "none":
        try:
            out = open_store(job.output_uri)
            prefix = output_prefix(record)
            if record.ok:
                lines.append(f"  products  {where(out, prefix)}/")
                if job.previews:
                    lines.append(f"  previews  {where(out, prefix + '/previews')}/")
            lines.append(f"  log       {where(out, prefix + '/logs/process.txt')}")
        except ValueError:
            pass
    try:
        lines.append(f"  message   {where(messages_store(job), f'messages/{state}/{job.dataset}')}")
    except ValueError:
        pass
    print("\n".join(lines), file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
