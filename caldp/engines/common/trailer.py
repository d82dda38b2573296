"""Trailer (``.tra``) files: the log of a calibration run, one per exposure and product.

HSTCAL writes ``<root>.tra`` next to its products. :func:`capture` collects the log
records the engine emits in the current thread (Dask runs several datasets in one process,
each in its own thread) so they can be written to the trailer files afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path


class _ThreadCapture(logging.Handler):
    def __init__(self, thread_id: int):
        super().__init__(logging.DEBUG)
        self.thread_id = thread_id
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread_id:
            return
        stamp = time.strftime("%d-%b-%Y %H:%M:%S", time.gmtime(record.created))
        prefix = "" if record.levelno < logging.WARNING else f"{record.levelname}: "
        self.lines.append(f"{stamp} {prefix}{record.getMessage()}")


@contextlib.contextmanager
def capture(logger_name: str = "caldp.engines"):
    """Collect this thread's log lines from `logger_name` and below; yields the list."""
    logger = logging.getLogger(logger_name)
    handler = _ThreadCapture(threading.get_ident())
    old_level = logger.level
    logger.addHandler(handler)
    # Trailer files need INFO even when the application logs at WARNING.
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def write_trailer(path: Path, lines: list[str], *, append: bool = True) -> Path:
    """Append (or write) trailer lines to `path`."""
    path = Path(path)
    with open(path, "a" if append else "w") as f:
        for line in lines:
            f.write(line.rstrip("\n") + "\n")
    return path
