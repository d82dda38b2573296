"""What every caldp command shares: the console, logging set-up and exit-code reporting.

The console is quiet by default: one line per step per dataset at most (records logged with
``extra=CONSOLE``), warnings and errors, and whatever the command prints as its summary.
Everything else goes to the files the commands keep (a dataset's ``logs/process.txt``, a
batch's log). ``-v`` shows caldp's own log live; ``-vv`` adds debug lines and Dask's chatter
(``distributed.*`` INFO), which is otherwise never on the console.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

from ..exit_codes import ExitCode, explain

SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Third-party loggers kept at WARNING everywhere (their INFO is of no use even in a log file).
NOISY = ("bokeh", "tornado", "asyncio", "botocore", "s3fs", "aiobotocore", "urllib3", "fsspec", "matplotlib", "PIL")
#: Loggers whose INFO goes to log files but reaches the console only at ``-vv``.
CHATTY = ("distributed", "dask")


class Console(logging.Handler):
    """The terminal: log lines the verbosity lets through, and a live status line (a progress
    bar) kept below them, so the two never share a line.

    ``status(text)`` redraws the live line in place on a terminal; elsewhere (a pipe, CI) it
    prints `text` as a line of its own.
    """

    def __init__(self, verbosity: int = 0, stream=None, *, steps: bool = True):
        super().__init__(logging.DEBUG)
        self.verbosity = verbosity
        self.steps = steps  # show the one-line-per-step records (caldp-batch shows a progress bar instead)
        self._stream = stream
        self._live = ""
        self._lock = threading.RLock()
        self._quiet = logging.Formatter("%(levelname)s: %(message)s")
        self._plain = logging.Formatter("%(message)s")
        self._full = logging.Formatter(LOG_FORMAT)

    @property
    def stream(self):
        return self._stream or sys.stderr  # looked up late: pytest swaps sys.stderr per test

    @property
    def tty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def wants(self, record: logging.LogRecord) -> bool:
        chatty = record.name.split(".", 1)[0] in CHATTY
        if record.name == "py.warnings":  # a Python warning raised inside Dask (e.g. "Port 8787 is already in use")
            chatty = any(f"{os.sep}{name}{os.sep}" in record.getMessage() for name in CHATTY)
            if chatty:
                return self.verbosity >= 2
        if chatty and record.levelno < logging.WARNING:
            return self.verbosity >= 2
        if record.levelno >= logging.WARNING or self.verbosity >= 1:
            return True
        return self.steps and bool(getattr(record, "console", False))

    def emit(self, record: logging.LogRecord) -> None:
        if not self.wants(record):
            return
        try:
            if self.verbosity >= 1:
                text = self._full.format(record)
            elif record.levelno >= logging.WARNING:
                text = self._quiet.format(record)
            else:
                text = self._plain.format(record)
            self.write_line(text)
        except Exception:  # noqa: BLE001 -- logging must never raise
            self.handleError(record)

    def write_line(self, text: str) -> None:
        """A line above the live status line (which is redrawn after it)."""
        with self._lock:
            stream = self.stream
            if self._live and self.tty:
                stream.write("\r\033[K")
            stream.write(text + "\n")
            if self._live and self.tty:
                stream.write(self._live)
            stream.flush()

    def status(self, text: str, final: bool = False) -> None:
        """Show `text` as the live line; `final` leaves it in place and ends the line."""
        with self._lock:
            stream = self.stream
            if self.tty:
                stream.write("\r\033[K" + text + ("\n" if final else ""))
                self._live = "" if final else text
            else:
                stream.write(text + "\n")
            stream.flush()


CONSOLE = {"console": True}  # ``log.info(..., extra=CONSOLE)``: this INFO line belongs on the default console


def setup_logging(verbose: int | bool = 0, *, steps: bool = True) -> Console:
    """Configure logging for a command (only CLIs do; library code never sets levels or handlers).

    The root logger takes INFO (what the per-dataset and batch log files keep; DEBUG for caldp at
    ``-vv``); the console shows what `verbose` asks for (see :class:`Console`). Python warnings
    become log records. Calling it again replaces the console installed before.
    """
    verbosity = int(verbose)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, Console)]:
        root.removeHandler(old)
    console = Console(verbosity, steps=steps)
    root.addHandler(console)
    root.setLevel(logging.INFO)
    logging.getLogger("caldp").setLevel(logging.DEBUG if verbosity >= 2 else logging.NOTSET)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in CHATTY:
        # If Dask configured its logging before us it gave "distributed" its own stderr handler;
        # route its records through ours instead (Dask adds none once the root has a handler).
        logger = logging.getLogger(name)
        for h in list(logger.handlers):
            if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) in (sys.stderr, sys.stdout):
                logger.removeHandler(h)
        logger.propagate = True
    logging.captureWarnings(True)
    return console


def add_log_file(path, level: int = logging.INFO) -> logging.Handler:
    """Also log everything at `level` and above to `path` (a batch's log); returns the handler."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    return handler


def where(store, key: str = "") -> str:
    """A key of a store as a person would type it: a local path, or the s3:// URI."""
    root = getattr(store, "root", None)
    if root is not None:
        return str(root / key) if key else str(root)
    return f"{store.uri.rstrip('/')}/{key}" if key else store.uri


def finish(code: ExitCode, reason: str | None = None) -> int:
    """Print the final lines CALDP's logs end with; return the process status."""
    if reason:
        print(f"caldp: {code.name}: {reason}", file=sys.stderr)
    print(explain(code), file=sys.stderr)
    return int(code)
