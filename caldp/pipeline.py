"""One dataset = one Dask graph: fetch → calibrate → preview → upload.

``caldp-process`` computes the graph on local threads; ``caldp-batch`` submits the same
graphs to a cluster. Graph functions only assemble delayed calls; the tasks load their own
data, and pass small records along. Keys are readable (``calibrate-j8cb010b0``).
"""

from __future__ import annotations

import dask
from dask.delayed import Delayed, delayed

from .tasks.calibrate import calibrate
from .tasks.fetch import fetch
from .tasks.preview_step import preview
from .tasks.records import Job, StepRecord
from .tasks.upload import upload

STEPS = ("fetch", "calibrate", "preview", "upload")


def dataset_graph(job: Job, *, memory_mb: float | None = None, attempt: int = 1) -> Delayed:
    """The delayed chain for one dataset; its result is the final StepRecord.

    `memory_mb` annotates the calibrate task with a ``memory`` resource so a worker never
    runs more calibrations at once than fit (see :mod:`caldp.cluster.memory`). A retry
    (`attempt` > 1) gets its own keys (``calibrate-<ds>-try2``), so the scheduler runs it
    afresh instead of handing back the previous attempt's result.

    >>> dataset_graph(Job("j8cb010b0"), attempt=2).key
    'upload-j8cb010b0-try2'
    """
    name = job.dataset if attempt <= 1 else f"{job.dataset}-try{attempt}"
    fetched = delayed(fetch, pure=False)(job, dask_key_name=f"fetch-{name}")
    if memory_mb:
        with dask.annotate(resources={"memory": memory_mb}):
            calibrated = delayed(calibrate, pure=False)(fetched, dask_key_name=f"calibrate-{name}")
    else:
        calibrated = delayed(calibrate, pure=False)(fetched, dask_key_name=f"calibrate-{name}")
    previewed = delayed(preview, pure=False)(calibrated, dask_key_name=f"preview-{name}")
    return delayed(upload, pure=False)(previewed, dask_key_name=f"upload-{name}")


def process_dataset(job: Job, *, scheduler: str = "threads") -> StepRecord:
    """Run one dataset's graph here (local threads by default) and return its final record."""
    (record,) = dask.compute(dataset_graph(job), scheduler=scheduler, optimize_graph=False)
    return record
