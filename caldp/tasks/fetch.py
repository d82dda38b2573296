"""Fetch: gather a dataset's raw files into its staging area.

Inputs (CALDP's meaning): ``file:<dir>`` holding the dataset's files (``<ipppss>*``: asn,
raw, spt, ``_cal_env.txt``…) or exactly one ``<ipppss>*.tar.gz`` — directly or in
``<dir>/<ipppssoot>/``; ``s3://bucket/prefix``
holding ``<ipppssoot>.tar.gz``; ``astroquery:`` (MAST). Tarballs are extracted safely:
absolute names, ``..``, links and devices are refused (CVE-2007-4559).
"""

from __future__ import annotations

import logging
import tarfile
from pathlib import Path, PurePosixPath

from astropy.io import fits

from ..datasets import Dataset
from ..exit_codes import ExitCode
from ..storage import open_store, split_uri
from ..sysexit import CaldpError, exit_on_exception
from .records import Job, StepRecord
from .runtime import run_step, scratch, stage_out, staging_store
from .status import mark_processing

log = logging.getLogger(__name__)

INPUT_SUFFIXES = (".fits", ".txt")


def safe_extract(tarball: Path, dest: Path) -> list[Path]:
    """Extract regular files and directories only; refuse anything that could escape `dest`."""
    out = []
    with tarfile.open(tarball, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            name = PurePosixPath(m.name)
            if name.is_absolute() or ".." in name.parts:
                raise ValueError(f"unsafe member {m.name!r} in {tarball.name} (absolute path or '..')")
            if not (m.isfile() or m.isdir()):
                raise ValueError(f"unsafe member {m.name!r} in {tarball.name} (link or device)")
        for m in members:
            if m.isfile():
                target = dest / Path(*PurePosixPath(m.name).parts).name
                src = tar.extractfile(m)
                with src, open(target, "wb") as f:
                    while chunk := src.read(1 << 20):
                        f.write(chunk)
                out.append(target)
    return out


def dataset_files(names, dataset: Dataset) -> list[str]:
    """The files of `dataset` among `names`: ``<ipppss>*`` FITS and the ``_cal_env.txt``."""
    keep = []
    for n in names:
        low = Path(n).name.lower()
        if not low.startswith(dataset.ipppss):
            continue
        if low.endswith(".fits") or low == f"{dataset.name}_cal_env.txt":
            keep.append(n)
    return sorted(keep)


def gather_local(source: Path, dataset: Dataset, scratch: Path) -> list[Path]:
    if not source.is_dir():
        raise FileNotFoundError(f"input directory {source} does not exist")
    if (source / dataset.name).is_dir():  # one directory per dataset, as caldp-sim writes them
        source = source / dataset.name
    tarballs = sorted(p for p in source.glob("*.tar.gz") if p.name.lower().startswith(dataset.ipppss))
    if len(tarballs) > 1:
        raise ValueError(f"more than one input tarball for {dataset}: {', '.join(t.name for t in tarballs)}")
    if tarballs:
        log.info("Extracting inputs from %s", tarballs[0])
        files = safe_extract(tarballs[0], scratch)
        return [f for f in files if f.name in dataset_files([f.name for f in files], dataset)]
    names = dataset_files([p.name for p in source.iterdir() if p.is_file()], dataset)
    return [source / n for n in names]


def check_fits(paths: list[Path]) -> None:
    """Refuse truncated or unreadable FITS inputs before anything else reads them."""
    for p in paths:
        if p.suffix.lower() != ".fits":
            continue
        try:
            with fits.open(p, memmap=False) as hdul:
                hdul.verify("exception")
                for hdu in hdul:
                    hdu.data  # noqa: B018 -- forces the read that a truncated file fails
        except Exception as exc:
            raise ValueError(f"corrupt or truncated FITS file {p.name}: {exc}") from exc


def gather_inputs(job: Job, scratch: Path) -> list[Path]:
    """Local paths of the dataset's input files (extracted or downloaded into `scratch`)."""
    dataset = Dataset.parse(job.dataset)
    scheme, rest = split_uri(job.input_uri)
    if scheme == "file":
        with exit_on_exception(ExitCode.INPUT_TAR_FILE_ERROR, "fetch", "Failed locating or extracting inputs:"):
            files = gather_local(Path(rest), dataset, scratch)
            if not any(f.name.endswith(".fits") for f in files):
                raise FileNotFoundError(f"no input files for {dataset} in {rest} ({dataset.ipppss}*.fits or .tar.gz)")
    elif scheme == "s3":
        from .. import s3

        with exit_on_exception(ExitCode.S3_DOWNLOAD_ERROR, "fetch", f"Failed downloading {job.input_uri}:"):
            tarball = s3.download_inputs(job.input_uri, dataset.name, scratch)
        with exit_on_exception(ExitCode.INPUT_TAR_FILE_ERROR, "fetch", "Failed extracting inputs:"):
            files = safe_extract(tarball, scratch)
            tarball.unlink()
            files = [f for f in files if f.name in dataset_files([f.name for f in files], dataset)]
    elif scheme == "astroquery":
        from .. import mast

        with exit_on_exception(ExitCode.ASTROQUERY_ERROR, "fetch", "Astroquery download failed:"):
            files = mast.download_dataset(dataset.name, scratch, instrument=dataset.instrument)
    else:
        raise CaldpError(ExitCode.CMDLINE_ERROR, f"input {job.input_uri!r} must be file:, s3:// or astroquery:")
    with exit_on_exception(ExitCode.INPUT_TAR_FILE_ERROR, "fetch", "Bad input:"):
        check_fits(files)
    return files


def check_output(job: Job) -> None:
    """Fail before any work if the output cannot be written."""
    scheme = split_uri(job.output_uri)[0]
    if scheme == "none":
        return
    code = ExitCode.S3_UPLOAD_ERROR if scheme == "s3" else ExitCode.GENERIC_ERROR
    with exit_on_exception(code, "fetch", f"output {job.output_uri} is not writable:"):
        open_store(job.output_uri).check_writable()


def fetch(job: Job) -> StepRecord:
    """Dask task: inputs → ``<staging>/<dataset>/inputs/``; marks the dataset processing."""

    def body(record: StepRecord) -> StepRecord:
        check_output(job)
        mark_processing(job)
        with scratch(job, "fetch") as tmp:
            files = gather_inputs(job, tmp)
            log.info("Inputs: %s", ", ".join(f.name for f in files))
            store = staging_store(job)
            store.delete("inputs")  # a re-run replaces, never duplicates
            keys = stage_out(store, files, "inputs")
        return record.next("fetch", files=keys)

    return run_step("fetch", StepRecord(job=job, step="submitted"), body)
