"""Threads of the builtin engines: chips, amps, row strips, reads or products at once.

The C kernels, NumPy and file I/O release the GIL, so two threads use two cores. Each item's
arithmetic is the same as in one thread (no array is written by two calls), so the products are
bit-identical whatever the thread count.

One setting for every engine: the environment variable ``CALDP_THREADS`` (read at each call; 1
runs everything in the calling thread, e.g. for profiling or when an outer scheduler already runs
one dataset per core), by default ``min(2, os.cpu_count())``.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

log = logging.getLogger(__name__)

DEFAULT_THREADS = 2


def thread_count() -> int:
    """Threads to use: ``CALDP_THREADS`` if set to a positive integer, else ``min(2, cpu_count)``.

    >>> os.environ["CALDP_THREADS"] = "1"; thread_count()
    1
    >>> del os.environ["CALDP_THREADS"]; 1 <= thread_count() <= DEFAULT_THREADS
    True
    """
    value = os.environ.get("CALDP_THREADS", "").strip()
    if value:
        try:
            n = int(value)
        except ValueError:
            log.warning("CALDP_THREADS=%r is not an integer; using the default", value)
        else:
            return max(1, n)
    return max(1, min(DEFAULT_THREADS, os.cpu_count() or 1))


_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_LOCK = threading.Lock()
_INSIDE = threading.local()


def _pool(workers: int) -> ThreadPoolExecutor:
    """One long-lived pool (recreated only when the thread count changes): the same few threads
    serve every map, so glibc keeps to a few malloc arenas; a fresh pool per map let the heap of a
    process calibrating several datasets grow past 1 GB."""
    global _POOL, _POOL_SIZE
    with _LOCK:
        if _POOL is None or _POOL_SIZE != workers:
            if _POOL is not None:
                _POOL.shutdown(wait=True)
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="caldp-engine")
            _POOL_SIZE = workers
        return _POOL


def _run(fn, x):
    _INSIDE.active = True
    try:
        return fn(x)
    finally:
        _INSIDE.active = False


def parallel_map(fn, items, *, max_workers: int | None = None) -> list:
    """``[fn(x) for x in items]`` on up to :func:`thread_count` (and `max_workers`) threads,
    results in the order of `items`; the first exception (in item order) is raised once every
    call has ended. A map called from inside a map runs in its caller's thread.

    >>> parallel_map(lambda x: x * x, range(5))
    [0, 1, 4, 9, 16]
    >>> parallel_map(lambda x: parallel_map(lambda y: x * y, range(3)), range(3))
    [[0, 0, 0], [0, 1, 2], [0, 2, 4]]
    >>> parallel_map(lambda x: x + 1, range(5), max_workers=2)
    [1, 2, 3, 4, 5]
    """
    items = list(items)
    limit = thread_count() if max_workers is None else min(max_workers, thread_count())
    workers = min(len(items), limit)
    if workers <= 1 or getattr(_INSIDE, "active", False):
        return [fn(x) for x in items]
    pool = _pool(thread_count())
    if workers == len(items):
        futures = [pool.submit(_run, fn, x) for x in items]
        wait(futures)
        return [f.result() for f in futures]
    # fewer workers than items: each worker takes every `workers`-th item, in order
    groups = [list(range(k, len(items), workers)) for k in range(workers)]
    futures = [pool.submit(_run, lambda idx: [_call(fn, items[i]) for i in idx], g) for g in groups]
    wait(futures)
    results: list = [None] * len(items)
    for g, f in zip(groups, futures, strict=True):
        for i, outcome in zip(g, f.result(), strict=True):
            results[i] = outcome
    for outcome in results:  # first exception in item order
        if isinstance(outcome, _Failure):
            raise outcome.exc
    return results


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException):
        self.exc = exc


def _call(fn, x):
    try:
        return fn(x)
    except Exception as exc:  # every item runs; the first failure is raised by parallel_map
        return _Failure(exc)
