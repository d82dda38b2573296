"""What every task does around its work: staging, logging, timing, failures.

Tasks may run on any worker. Each one copies what it needs from the dataset's staging
area into local scratch, works there, and puts its results back — hard links when staging
is on the same local filesystem, so handing work on costs almost nothing. Each task writes
its own log file into the staging area (``logs/<step>.txt``); upload concatenates them into
``process.txt``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..exit_codes import ExitCode
from ..storage import Store, open_store
from ..sysexit import CaldpError, describe
from .records import Failure, Job, StepRecord, StepTiming

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def staging_store(job: Job) -> Store:
    """The staging area of this job's dataset."""
    base = job.staging_uri or f"file:{Path(tempfile.gettempdir(), 'caldp-staging')}"
    store = open_store(base)
    return open_store(f"{store.uri.rstrip('/')}/{job.dataset}") if base.startswith("s3://") else Store(
        store.root / job.dataset
    )


def scratch_dir(job: Job, step: str) -> Path:
    root = Path(job.workdir) if job.workdir else Path(tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"caldp-{job.dataset}-{step}-", dir=root))


def stage_in(store: Store, keys: Iterable[str], local_dir: Path, *, link: bool = True) -> list[Path]:
    """Bring staged files into `local_dir`: hard links for local staging when `link` (use
    ``link=False`` for files the task will modify in place)."""
    out = []
    for key in keys:
        dest = local_dir / Path(key).name
        src = getattr(store, "root", None)
        if src is not None and (Path(src) / key).exists():
            try:
                if not link:
                    raise OSError("copy requested")
                os.link(Path(src) / key, dest)
            except OSError:
                shutil.copyfile(Path(src) / key, dest)
        else:
            store.get_file(key, dest)
        out.append(dest)
    return out


def stage_out(store: Store, files: Iterable[Path], prefix: str) -> tuple[str, ...]:
    """Put local files into the staging area under `prefix`; returns their keys.

    Every caller stages files from its scratch directory, which is discarded right after, so a
    local staging area gets hard links (no bytes copied: a COS association's products are ~3 GB);
    S3 staging uploads. Re-running a step overwrites its keys (idempotent); nothing is duplicated.
    """
    keys = []
    for f in files:
        key = f"{prefix}/{f.name}"
        store.put_file(f, key, link=True)
        keys.append(key)
    return tuple(keys)


class _ThreadLog(logging.Handler):
    """Collects this thread's log records (datasets share a process under Dask threads)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.thread = threading.get_ident()
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record):
        if record.thread == self.thread:
            self.lines.append(self.format(record))


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs`` 5), so a task measures its own peak
    rather than the worker's lifetime peak; False where the kernel doesn't allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak RSS since the last reset (``VmHWM``), MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_step(step: str, record: StepRecord, body: Callable[[StepRecord], StepRecord],
             default_code: ExitCode = ExitCode.GENERIC_ERROR, *, run_if_failed: bool = False) -> StepRecord:
    """Run one task body with timing, log capture and failure mapping.

    A record that already failed passes through untouched (unless `run_if_failed`, for
    the upload that must report it). Any exception becomes a Failure with the step's
    default exit code (a CaldpError keeps its own).
    """
    if not record.ok and not run_if_failed:
        return record
    handler = _ThreadLog()
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    if root.getEffectiveLevel() > logging.INFO:  # logs/process.txt wants INFO
        root.setLevel(logging.INFO)
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    per_task_peak = reset_peak_rss()
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = None
    try:
        log.info("%s: %s on %s", record.job.dataset, step, platform.node())
        try:
            result = body(record)
        except Exception as exc:
            failure = failure_from(exc, step, default_code)
            log.error("%s: %s", failure.code.name, failure.reason)
            result = record.next(step, failure=failure)
    finally:
        child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (time.thread_time() - cpu0) + (child1.ru_utime + child1.ru_stime) - (child0.ru_utime + child0.ru_stime)
        own = peak_rss_mb() if per_task_peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        rss = max(own, child1.ru_maxrss / 1024.0)
        timing = StepTiming(step, time.perf_counter() - wall0, cpu, rss, platform.node())
        if result is not None and result.ok:  # the console's one line for this step (``extra`` marks it)
            log.info("%s: %-9s done in %5.1f s (CPU %.1f s, peak RSS %.0f MB)", record.job.dataset, step,
                     timing.wall, timing.cpu, timing.peak_rss_mb, extra={"console": True})
        root.removeHandler(handler)
        root.setLevel(old_level)
    try:
        staging_store(record.job).write_text(f"logs/{_log_order(step)}-{step}.txt", "\n".join(handler.lines) + "\n")
    except Exception as exc:  # a lost log is not worth failing a dataset for
        log.warning("could not save the %s log: %s", step, describe(exc))
    return result.next(result.step, timings=result.timings + (timing,))


@contextlib.contextmanager
def scratch(job: Job, step: str) -> Iterator[Path]:
    """A local scratch directory for one task, removed afterwards."""
    path = scratch_dir(job, step)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


_STEPS = ("fetch", "calibrate", "preview", "upload")


def _log_order(step: str) -> int:
    return _STEPS.index(step) + 1 if step in _STEPS else 9


def failure_from(exc: BaseException, step: str, default: ExitCode) -> Failure:
    if isinstance(exc, CaldpError):
        return Failure(exc.code, exc.step or step, exc.reason)
    if isinstance(exc, MemoryError):
        return Failure(ExitCode.CALDP_MEMORY_ERROR, step, f"MemoryError {describe(exc)}")
    return Failure(default, step, describe(exc))
