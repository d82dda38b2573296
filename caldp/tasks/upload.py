"""Upload: deliver products, previews and logs to the output tree; final message.

Output tree (file: or s3://): ``data/<instrument>/<ipppssoot>/`` with the products and
trailers, ``env/<ipppssoot>_cal_env.txt``, ``logs/process.txt`` (the whole log) and
``logs/process_metrics.txt`` (wall, CPU, peak RSS, exit status), ``previews/``; then
``messages/datasets-processed/<ipppssoot>`` or ``messages/dataset-error/<ipppssoot>``.
A failed dataset delivers its logs, never products.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..exit_codes import ExitCode, explain
from ..storage import open_store, split_uri
from .records import Failure, StepRecord
from .runtime import failure_from, run_step, scratch, stage_in, staging_store
from .status import mark_final

log = logging.getLogger(__name__)


def output_prefix(record: StepRecord) -> str:
    return f"data/{record.job.instrument}/{record.job.dataset}"


def metrics_text(record: StepRecord) -> str:
    code = record.failure.code if record.failure else ExitCode.SUCCESS
    lines = [f"Dataset: {record.job.dataset}", f"Exit status: {int(code)}", f"Exit name: {code.name}"]
    total_wall = sum(t.wall for t in record.timings)
    total_cpu = sum(t.cpu for t in record.timings)
    peak = max((t.peak_rss_mb for t in record.timings), default=0.0)
    lines += [f"Elapsed (wall clock) time (seconds): {total_wall:.3f}",
              f"CPU time (seconds): {total_cpu:.3f}",
              f"Maximum resident set size (MiB): {peak:.1f}"]
    for t in record.timings:
        lines.append(f"Step {t.step}: wall {t.wall:.3f} s, cpu {t.cpu:.3f} s, peak RSS {t.peak_rss_mb:.1f} MiB"
                     + (f", worker {t.worker}" if t.worker else ""))
    for w in record.warnings:
        lines.append(f"Warning: {w}")
    return "\n".join(lines) + "\n"


def _deliver(record: StepRecord, final: StepRecord) -> list[str]:
    job = record.job
    out = open_store(job.output_uri)
    prefix = output_prefix(record)
    staging = staging_store(job)
    delivered: list[str] = []
    if record.ok:
        with scratch(job, "upload") as tmp:
            for key in record.files:
                dest = f"{prefix}/{_sub(key)}{Path(key).name}"
                local = stage_in(staging, [key], tmp)[0]
                # a file: output on the staging filesystem gets a hard link (the staging copy is deleted)
                out.put_file(local, dest, link=True)
                local.unlink()
                delivered.append(dest)
    logs = [staging.read_text(k) for k in sorted(staging.list("logs"))]
    text = "".join(logs) + explain(final.failure.code if final.failure else ExitCode.SUCCESS) + "\n"
    out.write_text(f"{prefix}/logs/process.txt", text)
    out.write_text(f"{prefix}/logs/process_metrics.txt", metrics_text(final))
    return delivered


def upload(record: StepRecord) -> StepRecord:
    """Dask task: deliver what the dataset produced and write its final message."""
    job = record.job
    scheme = split_uri(job.output_uri)[0]
    code = ExitCode.S3_UPLOAD_ERROR if scheme == "s3" else ExitCode.GENERIC_ERROR

    def body(rec: StepRecord) -> StepRecord:
        if scheme != "none":
            _deliver(rec, rec)
        return rec.next("upload")

    t0 = time.perf_counter()
    result = run_step("upload", record, body, code, run_if_failed=True)
    if not record.ok and result.failure is not record.failure:
        # Delivering a failed dataset's logs failed too: report the original failure.
        result = result.next("upload", failure=record.failure,
                             warnings=result.warnings + (f"logs not delivered: {result.failure.reason}",))
    elif not result.ok and record.ok:  # the upload itself failed: report it, deliver the logs if we can
        log.error("upload failed after %.1f s: %s", time.perf_counter() - t0, result.failure.reason)
        if scheme != "none":
            try:
                _deliver(result.next("upload", files=()), result)  # logs only, no products
            except Exception:  # noqa: BLE001 -- the output is unreachable; the message says why
                pass
    products = [] if not result.ok else [f"{output_prefix(result)}/{_sub(k)}{Path(k).name}" for k in result.files]
    try:
        mark_final(result, products)
    except Exception as exc:
        result = result.next("upload", failure=result.failure or failure_from(exc, "upload", code))
    if result.ok:
        staging_store(job).delete("")  # the staging area has served its purpose
    return result


def _sub(key: str) -> str:
    name = Path(key).name
    if name.endswith("_cal_env.txt"):
        return "env/"
    if name.endswith(".log"):  # e.g. <root>_runastrodriz.log
        return "logs/"
    return "previews/" if key.startswith("previews/") else ""


__all__ = ["upload", "Failure"]
