"""caldp-report: (re)build ``<output>/report.html`` from an output tree's messages and metrics.

    caldp-report OUTPUT [--to FILE]

OUTPUT is the output tree a batch (or caldp-process runs) wrote: a directory, ``file:<dir>``,
``s3://bucket/prefix``, or a local copy made by ``caldp-sync``. The page is built from
``messages/`` and each dataset's ``logs/process_metrics.txt`` alone and written as
``OUTPUT/report.html`` (``--to`` writes it elsewhere: previews and logs are then linked
relative to OUTPUT's own place only if FILE sits in OUTPUT).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..exit_codes import ExitCode
from ..report import REPORT_KEY, collect, render, summary_line
from ..storage import open_store
from ..sysexit import describe
from .common import finish, setup_logging, where


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="caldp-report",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("output", help="output tree: a directory, file:<dir> or s3://bucket/prefix")
    p.add_argument("--to", default=None, help=f"write the page here instead of OUTPUT/{REPORT_KEY}")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        store = open_store(args.output)
    except ValueError as exc:
        return finish(ExitCode.CMDLINE_ERROR, str(exc))
    try:
        report = collect(store)
        if not report.rows:
            return finish(ExitCode.CMDLINE_ERROR, f"no messages under {where(store, 'messages')}")
        page = render(report)
        if args.to:
            Path(args.to).write_text(page, encoding="utf-8")
            target = str(Path(args.to).absolute())
        else:
            store.write_text(REPORT_KEY, page)
            target = where(store, REPORT_KEY)
    except Exception as exc:  # noqa: BLE001 -- one clear line, not a traceback
        return finish(ExitCode.GENERIC_ERROR, describe(exc))
    print(summary_line(report))
    print(f"Report: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
