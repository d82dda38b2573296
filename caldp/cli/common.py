"""What every caldp command shares: logging set-up and exit-code reporting."""

from __future__ import annotations

import logging
import re
import sys

from ..exit_codes import ExitCode, explain

SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr; only CLIs configure logging (library code never does)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("distributed", "bokeh", "tornado", "asyncio", "botocore", "s3fs", "aiobotocore", "urllib3",
                  "fsspec", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def finish(code: ExitCode, reason: str | None = None) -> int:
    """Print the final lines CALDP's logs end with; return the process status."""
    if reason:
        print(f"caldp: {code.name}: {reason}", file=sys.stderr)
    print(explain(code), file=sys.stderr)
    return int(code)
