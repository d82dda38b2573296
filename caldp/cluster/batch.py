"""Many datasets on a Dask cluster: each one the graph caldp-process runs.

:func:`run_batch` plans the batch (skipping datasets already in ``datasets-processed``
unless forced), estimates each dataset's memory rung (:mod:`caldp.cluster.memory`), marks
them submitted, submits one ``caldp.pipeline.dataset_graph`` per dataset to the cluster
from :mod:`caldp.cluster.factory`, and follows the futures as they finish: a dataset
whose worker died (``KilledWorker``) or that ran out of memory is resubmitted once on the
next memory rung, then recorded as CONTAINER_MEMORY_ERROR / CALDP_MEMORY_ERROR. The tasks
write the messages tree themselves; the driver writes a message only for a dataset whose
graph never reached its upload (a worker killed every time).

>>> parse_datasets("# list\\nj8cb010b0\\n\\n  ICD901010  # a comment\\nbad!\\n")
Traceback (most recent call last):
...
caldp.cluster.batch.DatasetsFileError: 1 invalid line(s):
  line 5: 'bad!': invalid dataset name 'bad!': expected an HST ipppssoot like j8cb010b0 (9 characters, \
instrument letter first)
>>> parse_datasets("# list\\nj8cb010b0\\n\\n  ICD901010  # a comment\\n")
['j8cb010b0', 'icd901010']
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import resolve_config
from ..datasets import Dataset
from ..exit_codes import ExitCode, is_memory_error
from ..messages import ERROR, PROCESSED, SYNCED, MessageTree, iso_utc
from ..pipeline import dataset_graph
from ..storage import open_store, split_uri
from ..sysexit import describe
from ..tasks.records import Job, StepRecord
from ..tasks.status import mark_submitted, messages_store
from . import memory
from .factory import ClusterHandle, ClusterOptions, kind_of, start_cluster, worker_memory_capacity

log = logging.getLogger(__name__)

#: Environment forwarded from the submitter to every task (through Job.env).
FORWARD_PREFIXES = ("CRDS_",)
FORWARD_NAMES = (
    "jref",
    "iref",
    "oref",
    "lref",
    "nref",
    "uref",
    "uref_linux",
    "CSYS_VER",
    "AWSDPVER",
    "AWSYSVER",
    "CRDSBUCKET",
    "CALDP_MAST_URL",
)
SKIPPED = "skipped"  # summary state of a dataset already processed (``--resume``)


class DatasetsFileError(ValueError):
    """Invalid lines in a datasets list: ``problems`` = [(line number, text, reason)]."""

    def __init__(self, problems: list[tuple[int, str, str]]):
        self.problems = problems
        lines = "\n".join(f"  line {n}: {text!r}: {reason}" for n, text, reason in problems)
        super().__init__(f"{len(problems)} invalid line(s):\n{lines}")


def parse_datasets(text: str) -> list[str]:
    """Dataset names from a DATASETS.txt text: one per line, ``#`` comments and blank lines
    ignored, duplicates dropped (first kept). Every invalid line is reported at once."""
    names: list[str] = []
    seen: dict[str, int] = {}
    problems = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            ds = Dataset.parse(line)
            ds.instrument  # noqa: B018 -- raises for unknown or unsupported instruments
        except ValueError as exc:
            problems.append((n, line, str(exc)))
            continue
        if ds.name in seen:
            log.warning("line %d: %s repeats line %d; processing it once", n, ds.name, seen[ds.name])
            continue
        seen[ds.name] = n
        names.append(ds.name)
    if problems:
        raise DatasetsFileError(problems)
    return names


def read_datasets(path: str | os.PathLike) -> list[str]:
    """:func:`parse_datasets` of a file."""
    return parse_datasets(Path(path).read_text())


def forwarded_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The submitter's CRDS settings, reference directories and version stamps, which every
    task gets whatever worker runs it (values ``None``/empty are left out).

    >>> forwarded_env({"CRDS_PATH": "/c", "jref": "/c/r/", "HOME": "/root", "CRDS_MODE": "None"})
    {'CRDS_PATH': '/c', 'jref': '/c/r/'}
    """
    environ = os.environ if environ is None else environ
    return {
        k: v
        for k, v in environ.items()
        if (k.startswith(FORWARD_PREFIXES) or k in FORWARD_NAMES) and v not in ("", "None")
    }


@dataclass(slots=True)
class _Entry:
    """One dataset in flight."""

    job: Job
    estimate: memory.Estimate
    rung: int | None  # memory resource requested by calibrate (None: not annotated)
    attempts: int = 0
    history: list[str] = field(default_factory=list)


@dataclass(slots=True)
class BatchResult:
    """The outcome of a batch: one summary row per dataset, in the order given."""

    summary: list[dict]
    wall: float = 0.0
    dashboard: str | None = None
    cluster: str = ""
    batch_id: str = ""
    submit_seconds: float = 0.0  # planning, submitted messages and graph submission (not the cluster's start)
    cluster_start_seconds: float = 0.0
    run_seconds: float = 0.0  # from the first submission to the last dataset's end
    report: str = ""  # where report.html was written ("" if it was not)

    @property
    def ok(self) -> bool:
        """True when every dataset is processed (now or by an earlier batch)."""
        return all(row["state"] in (PROCESSED, SKIPPED) for row in self.summary)

    def counts(self) -> Counter:
        return Counter(row["state"] for row in self.summary)

    def table(self) -> str:
        """The summary as a fixed-width text table, with a totals line."""
        head = ("dataset", "instrument", "state", "exit code", "wall s", "peak MB", "products", "tries", "rung MB")
        rows = [head]
        for r in self.summary:
            rows.append(
                (
                    r["dataset"],
                    r["instrument"],
                    r["state"],
                    r["exit_code"] or "",
                    _num(r["wall"], "{:.1f}"),
                    _num(r["peak_rss_mb"], "{:.0f}"),
                    str(len(r["products"] or [])),
                    str(r.get("attempts", 0)),
                    _num(r.get("memory_mb"), "{:.0f}"),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        right = {4, 5, 6, 7, 8}
        lines = []
        for row in rows:
            cells = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
            lines.append("  ".join(cells).rstrip())
        lines.insert(1, "  ".join("-" * w for w in widths))
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts().items()))
        lines.append(f"{len(self.summary)} datasets in {self.wall:.1f} s: {counts or 'nothing to do'}")
        return "\n".join(lines)


def _num(value, fmt: str) -> str:
    return "" if value is None else fmt.format(value)


class _Progress:
    """A live one-line progress report on a terminal (a line every few seconds otherwise).

    With a `console` (an object with ``status(text, final)`` and ``tty``, such as the console
    of caldp's commands, which keeps log lines above the bar) the bar is drawn through it;
    otherwise on `stream`.
    """

    def __init__(self, total: int, enabled: bool, stream=None, console=None):
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.console = console
        if console is not None:
            self.tty = enabled and bool(console.tty)
        else:
            self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.shown = -1  # datasets finished when the bar was last drawn
        self.counts: Counter = Counter()
        self.retries = 0

    def update(self, state: str | None = None, *, retried: bool = False, final: bool = False) -> None:
        if state:
            self.counts[state] += 1
        self.retries += retried
        if not self.enabled:
            return
        now = time.perf_counter()
        done = sum(self.counts.values())
        if final and not self.tty and done == self.shown:
            return  # the last line already says it
        if not (self.tty or final or now - self.last >= 5.0):
            return
        self.last, self.shown = now, done
        width = 30
        filled = int(width * done / self.total) if self.total else width
        text = (
            f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
            f"processed {self.counts[PROCESSED]} error {self.counts[ERROR]} retried {self.retries} "
            f"| {now - self.t0:.0f} s"
        )
        if self.console is not None:
            self.console.status(text, final)
            return
        if self.tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _staging_layout(
    kind: str, output_uri: str, workdir: str | None, staging_uri: str | None, batch_id: str
) -> tuple[str, str, Path | None]:
    """(staging URI, per-task scratch root, local directory the batch created and removes)."""
    if staging_uri:
        base = staging_uri.rstrip("/")
        staging = f"{base}/{batch_id}"
        if kind in ("fargate", "ec2") and not base.startswith("s3://"):
            raise ValueError(f"a {kind} cluster needs an s3:// staging prefix, not {staging_uri!r}")
        scratch = "" if kind in ("fargate", "ec2") else str(Path(workdir or tempfile.gettempdir()) / "caldp-work")
        return staging, scratch, None
    if kind in ("fargate", "ec2"):
        if not output_uri.startswith("s3://"):
            raise ValueError(
                f"a {kind} cluster needs an s3:// staging prefix (--staging s3://bucket/prefix) or an s3:// output"
            )
        return f"{output_uri.rstrip('/')}/caldp-staging/{batch_id}", "", None
    root = Path(workdir).absolute() / batch_id if workdir else Path(tempfile.mkdtemp(prefix=f"caldp-{batch_id}-"))
    root.mkdir(parents=True, exist_ok=True)
    if kind == "tcp" and not workdir:
        log.warning("staging in %s: workers on other hosts need --workdir on a shared filesystem", root)
    return f"file:{root / 'staging'}", str(root / "work"), root


def _plan(names: list[str], job_kwargs: dict, force: bool, rungs) -> tuple[list[_Entry], dict[str, dict]]:
    """Jobs to run, and the summary rows of datasets skipped as already processed."""
    probe = Job(dataset=names[0] if names else "j00000000", **job_kwargs)
    tree = MessageTree(messages_store(probe))
    done = set() if force else set(tree.datasets_in(PROCESSED)) | set(tree.datasets_in(SYNCED))
    skipped: dict[str, dict] = {}
    entries = []
    for name in names:
        if name in done:
            msg = tree.read(name)
            meta = msg.metadata if msg else {}
            skipped[name] = _row(
                Job(dataset=name, **job_kwargs),
                SKIPPED,
                meta.get("exit_name", "SUCCESS"),
                meta.get("wall"),
                meta.get("peak_rss_mb"),
                meta.get("products", []),
                0,
                None,
                "",
            )
            continue
        job = Job(dataset=name, **job_kwargs)
        est = memory.estimate(name, memory.local_input_bytes(job.input_uri, name), rungs)
        entries.append(_Entry(job, est, est.rung_mb))
    return entries, skipped


def _row(job: Job, state: str, exit_name: str | None, wall, peak, products, attempts: int, rung, reason: str) -> dict:
    return dict(
        dataset=job.dataset,
        instrument=job.instrument,
        state=state,
        exit_code=exit_name,
        wall=None if wall is None else round(float(wall), 3),
        peak_rss_mb=None if peak is None else round(float(peak), 1),
        products=list(products or []),
        attempts=attempts,
        memory_mb=rung,
        reason=reason,
    )


def _record_row(entry: _Entry, record: StepRecord) -> dict:
    tree = MessageTree(messages_store(entry.job))
    msg = tree.read(entry.job.dataset)
    meta = msg.metadata if msg else {}
    state = msg.state if msg else (PROCESSED if record.ok else ERROR)
    code = record.failure.code if record.failure else ExitCode.SUCCESS
    wall = sum(t.wall for t in record.timings)
    peak = max((t.peak_rss_mb for t in record.timings), default=None)
    reason = f"{record.failure.step}: {record.failure.reason}" if record.failure else ""
    return _row(entry.job, state, code.name, wall, peak, meta.get("products", []), entry.attempts, entry.rung, reason)


def _fail_unfinished(entry: _Entry, code: ExitCode, step: str, reason: str) -> dict:
    """A dataset whose graph never reached upload: write its dataset-error message here."""
    tree = MessageTree(messages_store(entry.job))
    try:
        tree.set_state(
            entry.job.dataset,
            ERROR,
            finished=iso_utc(),
            exit_code=int(code),
            exit_name=code.name,
            step=step,
            reason=reason,
            products=[],
            attempts=entry.attempts,
            memory_mb=entry.rung,
        )
    except Exception as exc:  # noqa: BLE001 -- the summary still reports it
        log.error("%s: cannot write the dataset-error message: %s", entry.job.dataset, describe(exc))
    return _row(entry.job, ERROR, code.name, None, None, [], entry.attempts, entry.rung, f"{step}: {reason}")


def _killed_step(exc: BaseException) -> str:
    key = str(getattr(exc, "task", "") or getattr(exc, "key", "") or "")
    return key.split("-", 1)[0] if "-" in key else "calibrate"


def _mark_all_submitted(jobs: list[Job]) -> None:
    """Write the submitted messages, several at a time (an S3 messages tree is slow per file)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        for job, result in zip(jobs, pool.map(_try_mark, jobs), strict=True):
            if result:
                log.warning("%s: cannot write the submitted message: %s", job.dataset, result)


def _try_mark(job: Job) -> str:
    try:
        mark_submitted(job)
        return ""
    except Exception as exc:  # noqa: BLE001
        return describe(exc)


def run_batch(
    datasets: list[str],
    *,
    input_uri: str,
    output_uri: str,
    config: str,
    engine: str = "builtin",
    cluster: str = "inprocess",
    workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | None = None,
    retries: int = 1,
    force: bool = False,
    workdir: str | None = None,
    staging_uri: str | None = None,
    progress: bool = True,
    stage2: bool = True,
    previews: bool = True,
    keep_intermediates: bool = False,
    env: Mapping[str, str] | None = None,
    client=None,
    cluster_options: ClusterOptions | None = None,
    rungs: tuple[int, ...] = memory.RUNGS_MB,
    stream=None,
    console=None,
    batch_id: str | None = None,
    report: bool = True,
) -> BatchResult:
    """Process `datasets` on a Dask cluster; return the batch's summary.

    `cluster` is ``inprocess``, ``local``, ``tcp://HOST:PORT``, ``fargate`` or ``ec2``
    (:mod:`caldp.cluster.factory`), or pass a connected distributed `client`. `env` adds to
    the environment forwarded from this process (:func:`forwarded_env`). `retries`: how many
    times a dataset whose worker died or ran out of memory is resubmitted, each time on the
    next memory rung. `force` redoes datasets already processed. ValueError for a bad
    dataset name, URI, config or cluster.

    `console` (see :class:`_Progress`) draws the progress bar below the log lines; otherwise
    it goes to `stream` (default stderr). `report` writes ``report.html`` (:mod:`caldp.report`)
    beside the messages tree at the end.
    """
    t0 = time.perf_counter()
    stream = stream or sys.stderr
    names = list(dict.fromkeys(Dataset.parse(d).name for d in datasets))
    for name in names:
        Dataset.parse(name).instrument  # noqa: B018 -- ValueError for unsupported instruments
    for uri in (input_uri, output_uri):
        split_uri(uri)
    if split_uri(input_uri)[0] == "none":
        raise ValueError("input cannot be none")
    job_env = {**forwarded_env(), **dict(env or {})}
    resolve_config(config, {**os.environ, **job_env})  # fail now, not on every worker
    opts = cluster_options or ClusterOptions()
    opts.cluster = cluster if client is None else "client"
    opts.workers, opts.threads_per_worker = workers or opts.workers, threads_per_worker or opts.threads_per_worker
    opts.memory_limit = memory_limit or opts.memory_limit
    opts.worker_env = {**job_env, **opts.worker_env}
    opts.data_uris = (input_uri, output_uri, staging_uri or output_uri)  # cloud workers get S3 access to these
    kind = kind_of(cluster) if client is None else "client"
    batch_id = batch_id or new_batch_id()
    staging, scratch, own_root = _staging_layout(kind, output_uri, workdir, staging_uri, batch_id)
    job_kwargs = dict(
        input_uri=input_uri,
        output_uri=output_uri,
        config=config,
        engine=engine,
        staging_uri=staging,
        workdir=scratch,
        keep_intermediates=keep_intermediates,
        stage2=stage2,
        previews=previews,
        env=tuple(sorted(job_env.items())),
    )
    t_plan = time.perf_counter()
    entries, skipped = _plan(names, job_kwargs, force, rungs)
    plan_seconds = time.perf_counter() - t_plan
    if skipped:
        log.info("Resuming: %d of %d datasets already processed (use --force to redo them)", len(skipped), len(names))
    rows: dict[str, dict] = dict(skipped)
    result = BatchResult([], cluster=cluster if client is None else "client", batch_id=batch_id)
    handle = None
    try:
        if entries:
            if client is not None:
                handle = ClusterHandle(client, None, "client", worker_memory_capacity(client))
            else:
                handle = start_cluster(opts)
            result.dashboard = handle.dashboard_link
            if progress:
                text = (
                    f"caldp-batch {batch_id}: {len(entries)} datasets on {result.cluster}; "
                    f"dashboard: {result.dashboard or 'none'}"
                )
                if console is not None:
                    console.write_line(text)
                else:
                    print(text, file=stream, flush=True)
            log.info("Dask dashboard: %s", result.dashboard)
            bar = _Progress(len(entries), progress, stream, console)
            if bar.tty:
                bar.update()  # an empty bar at once, so a terminal shows the batch has started
            result.cluster_start_seconds = time.perf_counter() - t_plan - plan_seconds
            t_submit = time.perf_counter()
            rows.update(
                _run(
                    entries,
                    handle,
                    retries,
                    rungs,
                    bar,
                    lambda: _submitted(result, plan_seconds + time.perf_counter() - t_submit),
                )
            )
            result.run_seconds = time.perf_counter() - t_submit
    finally:
        if handle is not None and client is None:
            handle.close()
        _cleanup(staging, own_root)
    result.summary = [rows[n] for n in names]
    result.wall = time.perf_counter() - t0
    if report and names:
        result.report = _write_report(Job(dataset=names[0], **job_kwargs))
    return result


def new_batch_id() -> str:
    """``batch-<UTC time>-<6 hex>``: names the batch's staging area and its log."""
    return f"batch-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def _write_report(probe: Job) -> str:
    """``report.html`` beside the messages tree; its location, or "" if it could not be written."""
    from ..report import REPORT_KEY, write_report

    try:
        store = messages_store(probe)
        write_report(store)
    except Exception as exc:  # noqa: BLE001 -- a missing report must not fail the batch
        log.warning("could not write %s: %s", REPORT_KEY, describe(exc))
        return ""
    root = getattr(store, "root", None)
    return str(root / REPORT_KEY) if root is not None else f"{store.uri.rstrip('/')}/{REPORT_KEY}"


def _submitted(result: BatchResult, seconds: float) -> None:
    result.submit_seconds = seconds
    log.info("%s: submitted in %.2f s", result.batch_id, result.submit_seconds)


def _cleanup(staging: str, own_root: Path | None) -> None:
    if os.environ.get("CALDP_KEEP_SCRATCH"):
        return
    if own_root is not None:
        shutil.rmtree(own_root, ignore_errors=True)
    elif staging.startswith("s3://"):
        try:
            open_store(staging).delete("")
        except Exception as exc:  # noqa: BLE001
            log.warning("could not remove the staging prefix %s: %s", staging, describe(exc))


def _run(
    entries: list[_Entry], handle: ClusterHandle, retries: int, rungs, bar: _Progress, on_submitted=lambda: None
) -> dict[str, dict]:
    """Submit every graph, follow them to the end, resubmit memory failures on a bigger rung."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    client = handle.client
    capacity = handle.memory_capacity_mb
    if capacity is None:
        log.warning(
            "the workers advertise no 'memory' resource: calibrations are not limited by memory "
            "(start workers with --resources memory=<MB>)"
        )
    for e in entries:
        e.rung = memory.fit_rung(e.estimate.rung_mb, capacity) if capacity is not None else None
    _mark_all_submitted([e.job for e in entries])

    def submit(batch: list[_Entry]):
        for e in batch:
            e.attempts += 1
            log.info(
                "%s: attempt %d, memory %s MB (estimated peak %d MB, %s input %.1f MB)",
                e.job.dataset,
                e.attempts,
                e.rung,
                e.estimate.peak_mb,
                "measured" if e.estimate.measured else "assumed",
                e.estimate.input_mb,
            )
        futures = client.compute(
            [dataset_graph(e.job, memory_mb=e.rung, attempt=e.attempts) for e in batch], optimize_graph=False
        )
        return dict(zip(futures, batch, strict=True))

    running = submit(entries)
    on_submitted()
    rows: dict[str, dict] = {}
    ac = as_completed(list(running))
    for fut in ac:
        entry = running.pop(fut)
        retry_rung = None
        if fut.status == "finished":
            record: StepRecord = fut.result()
            fut.release()
            if record.ok or not is_memory_error(record.failure.code) or entry.attempts > retries:
                rows[entry.job.dataset] = _record_row(entry, record)
                bar.update(rows[entry.job.dataset]["state"])
                continue
            why = f"{record.failure.code.name} in {record.failure.step}"
            retry_rung = _bigger(entry, rungs, capacity)
        else:
            exc = _exception(fut)
            fut.release()
            killed = isinstance(exc, KilledWorker)
            why = f"{type(exc).__name__}: {describe(exc)}"
            if entry.attempts > retries:
                code = ExitCode.CONTAINER_MEMORY_ERROR if killed else ExitCode.GENERIC_ERROR
                step = _killed_step(exc) if killed else "batch"
                log.error("%s: %s after %d attempt(s): %s", entry.job.dataset, code.name, entry.attempts, why)
                rows[entry.job.dataset] = _fail_unfinished(entry, code, step, why)
                bar.update(ERROR)
                continue
            retry_rung = _bigger(entry, rungs, capacity) if killed else entry.rung
        log.warning("%s: %s; resubmitting with memory %s MB", entry.job.dataset, why, retry_rung)
        entry.history.append(why)
        entry.rung = retry_rung
        new = submit([entry])
        running.update(new)
        for f in new:
            ac.add(f)
        bar.update(retried=True)
    bar.update(final=True)
    return rows


def _bigger(entry: _Entry, rungs, capacity) -> int | None:
    if entry.rung is None:
        return None
    up = memory.next_rung(entry.rung, rungs) or entry.rung
    return memory.fit_rung(up, capacity)


def _exception(fut) -> BaseException:
    try:
        exc = fut.exception()
    except BaseException as err:  # noqa: BLE001 -- cancelled futures raise here
        return err
    return exc if exc is not None else RuntimeError(f"future {fut.key} ended as {fut.status}")
