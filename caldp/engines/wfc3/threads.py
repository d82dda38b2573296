"""A small thread map for the WFC3 engines: the two UVIS chips, two CR-SPLIT members or three
WF32D products at once. NumPy and FITS I/O release the GIL, so two threads use two cores.

``MAX_THREADS`` bounds every map (1 = everything in the calling thread, e.g. for profiling, or
when an outer scheduler already runs one dataset per core). ``EXPOSURE_THREADS`` bounds the maps over
whole exposures (CR-SPLIT members in WF3CCD, products in WF32D): each of those holds an exposure and
its reference chips, so two at once cost ~200 MB more for a full-frame pair; the default keeps them
sequential and runs only the two chips of WF3REJ (the largest stage, strip-sized temporaries) at once.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, wait

MAX_THREADS = 2
EXPOSURE_THREADS = 1


def parallel_map(fn, items, *, max_workers: int | None = None) -> list:
    """``[fn(x) for x in items]`` on up to ``MAX_THREADS`` threads, results in the order of `items`;
    the first exception is raised once every call has ended.

    >>> parallel_map(lambda x: x * x, range(5))
    [0, 1, 4, 9, 16]
    """
    items = list(items)
    workers = min(len(items), max_workers or MAX_THREADS, MAX_THREADS, os.cpu_count() or 1)
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, x) for x in items]
        wait(futures)
        return [f.result() for f in futures]
