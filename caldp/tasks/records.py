"""Small picklable records the tasks hand each other (never pixels).

A :class:`Job` says what to do with one dataset; each task returns a :class:`StepRecord`
naming the files it left in the dataset's staging area (keys relative to the dataset's
staging prefix), how long it took, and — if anything failed — the :class:`Failure`. A
failed record flows through the later tasks unchanged, so a failed dataset never breaks
the graph; the upload task reports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..datasets import Dataset
from ..exit_codes import ExitCode


@dataclass(frozen=True, slots=True)
class Job:
    """One dataset to process, and how."""

    dataset: str
    input_uri: str = "file:."
    output_uri: str = "file:."
    config: str = "caldp-config-onsite"
    engine: str = "builtin"
    staging_uri: str = ""  # per-batch staging root; the dataset's area is <staging>/<dataset>/
    workdir: str = ""  # local scratch root on whichever worker runs a task ("" = system temp)
    keep_intermediates: bool = False
    stage2: bool = True
    previews: bool = True
    messages_uri: str = ""  # where messages/ lives ("" = the output, or . for output none)
    env: tuple[tuple[str, str], ...] = ()  # extra environment (e.g. CRDS_PATH from the submitter)

    @property
    def instrument(self) -> str:
        return Dataset.parse(self.dataset).instrument


@dataclass(frozen=True, slots=True)
class Failure:
    code: ExitCode
    step: str
    reason: str


@dataclass(frozen=True, slots=True)
class StepTiming:
    step: str
    wall: float
    cpu: float
    peak_rss_mb: float
    worker: str = ""


@dataclass(frozen=True, slots=True)
class StepRecord:
    job: Job
    step: str
    files: tuple[str, ...] = ()
    failure: Failure | None = None
    timings: tuple[StepTiming, ...] = ()
    warnings: tuple[str, ...] = ()  # non-fatal problems, e.g. CREATE_PREVIEWS_ERROR
    info: tuple[tuple[str, str], ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.failure is None

    def next(self, step: str, **changes) -> StepRecord:
        return dataclasses.replace(self, step=step, **changes)
