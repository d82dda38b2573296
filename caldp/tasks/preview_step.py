"""Preview task: JPEG previews of the calibrated products (see :mod:`caldp.tasks.preview`).

A failed preview never fails the dataset: it is logged and recorded as a
CREATE_PREVIEWS_ERROR warning in the metrics and the message.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..exit_codes import ExitCode
from ..sysexit import describe
from .records import StepRecord
from .runtime import run_step, scratch, stage_in, stage_out, staging_store

log = logging.getLogger(__name__)


def preview(record: StepRecord) -> StepRecord:
    """Dask task: products → ``<staging>/<dataset>/previews/``; passes the product list on."""

    def body(rec: StepRecord) -> StepRecord:
        job = rec.job
        if not job.previews:
            return rec.next("preview")
        store = staging_store(job)
        keys: list[str] = []
        try:
            from .preview import PreviewError, create_previews

            with scratch(job, "preview") as tmp:
                products = stage_in(store, [k for k in rec.files if k.endswith(".fits")], tmp)
                outdir = tmp / "previews"
                outdir.mkdir()
                store.delete("previews")  # a re-run replaces, never duplicates
                try:
                    made = create_previews(products, outdir, instrument=job.instrument)
                except PreviewError as exc:  # deliver the previews that were made
                    keys = stage_out(store, exc.made, "previews")
                    raise
                keys = stage_out(store, made, "previews")
            log.info("Previews: %s", ", ".join(Path(k).name for k in keys) or "none")
            return rec.next("preview", files=rec.files + tuple(keys))
        except Exception as exc:
            reason = f"{ExitCode.CREATE_PREVIEWS_ERROR.name}: {describe(exc)}"
            log.error("Previews failed (science products unaffected): %s", reason)
            return rec.next("preview", files=rec.files + tuple(keys), warnings=rec.warnings + (reason,))

    return run_step("preview", record, body, ExitCode.CREATE_PREVIEWS_ERROR)
