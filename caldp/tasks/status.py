"""Status in the messages tree, written by the tasks themselves (so it survives a crash)."""

from __future__ import annotations

import logging

from ..messages import ERROR, PROCESSED, PROCESSING, SUBMITTED, MessageTree, iso_utc
from ..storage import Store, open_store, split_uri
from ..sysexit import describe
from .records import Job, StepRecord

log = logging.getLogger(__name__)


def messages_store(job: Job) -> Store:
    """Where the job's messages/ tree lives: its messages URI, else the output, else ``.``."""
    uri = job.messages_uri or job.output_uri
    if split_uri(uri)[0] == "none":
        uri = "file:."
    return open_store(uri)


def _tree(job: Job) -> MessageTree:
    return MessageTree(messages_store(job))


def mark_submitted(job: Job) -> None:
    _tree(job).set_state(
        job.dataset, SUBMITTED, submitted=iso_utc(), input=job.input_uri, output=job.output_uri, engine=job.engine
    )


def mark_processing(job: Job) -> None:
    _tree(job).set_state(job.dataset, PROCESSING, started=iso_utc())


def mark_final(record: StepRecord, products: list[str]) -> None:
    """datasets-processed or dataset-error, with the exit code, step, reason and products.

    If the messages tree cannot be written (e.g. an unwritable output directory), the
    message goes to ``./messages`` instead, so the failure is still visible.
    """
    from ..exit_codes import ExitCode

    code = record.failure.code if record.failure else ExitCode.SUCCESS
    meta = dict(
        finished=iso_utc(),
        exit_code=int(code),
        exit_name=code.name,
        step=record.failure.step if record.failure else None,
        reason=record.failure.reason if record.failure else None,
        products=products,
        warnings=list(record.warnings),
        wall=round(sum(t.wall for t in record.timings), 3),
        peak_rss_mb=round(max((t.peak_rss_mb for t in record.timings), default=0.0), 1),
    )
    state = PROCESSED if record.ok else ERROR
    try:
        _tree(record.job).set_state(record.job.dataset, state, **meta)
    except Exception as exc:
        log.error(
            "cannot write the %s message to %s (%s); writing it under ./messages",
            state,
            messages_store(record.job).uri,
            describe(exc),
        )
        MessageTree(Store(".")).set_state(record.job.dataset, state, **meta)
