"""Calibrate: best references, stage 1 (calacs/calwf3/…), stage 2 (drizzle).

The calibration environment comes from the job's config (resolved where the task runs),
the dataset's ``<ipppssoot>_cal_env.txt`` settings, and CSYS_VER/AWSDPVER/AWSYSVER stamped
into the raw headers as CALDP does. Products go to ``<staging>/<dataset>/products/``.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from astropy.io import fits

from ..bestrefs import assign_bestrefs
from ..config import parse_env_lines, resolve_config
from ..engines import Stage1Request, get_engine
from ..exit_codes import ExitCode
from ..sysexit import exit_on_exception
from .records import Job, StepRecord
from .runtime import run_step, scratch, stage_in, stage_out, staging_store

log = logging.getLogger(__name__)

VERSION_KEYWORDS = ("CSYS_VER", "AWSDPVER", "AWSYSVER")
#: Intermediate files HSTCAL keeps only on request.
INTERMEDIATE_SUFFIXES = ("_blv_tmp.fits", "_crj_tmp.fits", "_blc_tmp.fits", "_crc_tmp.fits", "_rac_tmp.fits")


def calibration_env(job: Job, workdir: Path) -> dict[str, str]:
    base = {**os.environ, **dict(job.env)}
    with exit_on_exception(ExitCode.CMDLINE_ERROR, "calibrate", "Bad config:"):
        env = resolve_config(job.config, base)
    cal_env = workdir / f"{job.dataset}_cal_env.txt"
    if cal_env.is_file():
        settings = parse_env_lines(cal_env.read_text(), env)
        log.info("Applying %s: %s", cal_env.name, ", ".join(f"{k}={v}" for k, v in settings.items()))
        env.update(settings)
    return env


def raw_files(files: list[Path]) -> list[Path]:
    """CALDP's rule: every file whose name contains ``_raw``."""
    return [f for f in files if "_raw" in f.name and f.suffix == ".fits"]


def stage1_inputs(instrument: str, files: list[Path]) -> list[Path]:
    """What the stage-1 program is given: the association if any, else the raws (CALDP)."""
    assoc = [f for f in files if f.name.endswith("_asn.fits")]
    if assoc:
        return assoc
    raws = raw_files(files)
    if instrument == "stis":
        raws = [f for f in files if f.name.endswith(("_raw.fits", "_wav.fits"))]
    if instrument == "cos":
        raws = raws[:1]
    return raws


#: Where stage 2 leaves runastrodriz's log; delivered to the dataset's ``logs/``.
STAGE2_LOGS = "stage2-logs"


def stamp_versions(files: list[Path], env: dict[str, str]) -> None:
    for f in raw_files(files):
        with fits.open(f, mode="update") as hdul:
            for key in VERSION_KEYWORDS:
                hdul[0].header[key] = env.get(key, "UNDEFINED")


def product_files(workdir: Path, dataset: str, keep_intermediates: bool) -> list[Path]:
    """The files to deliver: every ``<ipppss>*`` FITS and trailer, and the _cal_env.txt."""
    ipppss = dataset[:6]
    out = []
    for p in sorted(workdir.iterdir()):
        name = p.name.lower()
        if not p.is_file() or not name.startswith(ipppss):
            continue
        if name.endswith(INTERMEDIATE_SUFFIXES) and not keep_intermediates:
            continue
        if name.endswith((".fits", ".tra", ".trl")) or name == f"{dataset}_cal_env.txt":
            out.append(p)
    return out


def _start_stage2_imports(job: Job, instrument: str, env: dict[str, str]) -> threading.Thread | None:
    """Import drizzlepac on a thread while references and stage 1 run (the fast stage 2 imports it anyway).

    Stage 1 spends its time in NumPy and C kernels, so the ~3 s import mostly uses the other core.
    """
    if not job.stage2 or instrument not in ("acs", "wfc3"):
        return None
    from .. import stage2

    try:
        if stage2.stage2_mode(env) != "fast":
            return None
    except stage2.Stage2Error:
        return None  # run_stage2 reports it
    thread = threading.Thread(target=stage2.warm_imports, name="caldp-stage2-imports", daemon=True)
    thread.start()
    return thread


def run_calibration(job: Job, workdir: Path) -> list[Path]:
    """Everything calibration does, in `workdir` (which holds the inputs). Returns products."""
    files = sorted(p for p in workdir.iterdir() if p.is_file())
    instrument = job.instrument
    env = calibration_env(job, workdir)
    stamp_versions(files, env)
    raws = raw_files(files)
    importer = _start_stage2_imports(job, instrument, env)
    with exit_on_exception(ExitCode.BESTREFS_ERROR, "bestrefs", "Failed computing or downloading reference files:"):
        if not raws:
            raise FileNotFoundError("no _raw files to assign references to")
        for raw in raws:
            if not fits.getheader(raw).get("INSTRUME"):
                raise ValueError(f"{raw.name} has no INSTRUME keyword")
        assign_bestrefs(raws, env)
    with exit_on_exception(ExitCode.STAGE1_ERROR, "stage1", "Stage 1 calibration failed:"):
        engine = get_engine(job.engine, instrument)
        inputs = stage1_inputs(instrument, files)
        log.info("Stage 1 with the %s engine on %s", engine.name, ", ".join(f.name for f in inputs))
        engine.run_stage1(Stage1Request(instrument, tuple(inputs), workdir, env, job.keep_intermediates))
    if job.stage2 and instrument in ("acs", "wfc3"):
        with exit_on_exception(ExitCode.STAGE2_ERROR, "stage2", "Stage 2 (drizzle) failed:"):
            from .. import stage2

            if importer is not None:
                importer.join()
            stage2.run_stage2(
                workdir,
                [f.name for f in stage1_inputs(instrument, files)],
                instrument=instrument,
                env=env,
                log_dir=workdir / STAGE2_LOGS,
            )
    logs = sorted((workdir / STAGE2_LOGS).glob("*.log")) if (workdir / STAGE2_LOGS).is_dir() else []
    return product_files(workdir, job.dataset, job.keep_intermediates) + logs


def calibrate(record: StepRecord) -> StepRecord:
    """Dask task: staged inputs → calibrated products in ``<staging>/<dataset>/products/``."""

    def body(record: StepRecord) -> StepRecord:
        job = record.job
        store = staging_store(job)
        with scratch(job, "calibrate") as workdir:
            stage_in(store, record.files, workdir, link=False)  # raws get updated in place
            products = run_calibration(job, workdir)
            store.delete("products")  # a re-run replaces, never duplicates
            keys = stage_out(store, products, "products")
        log.info("Products: %s", ", ".join(Path(k).name for k in keys))
        return record.next("calibrate", files=keys)

    return run_step("calibrate", record, body, ExitCode.STAGE1_ERROR)
