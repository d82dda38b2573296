"""The engine interface: how caldp runs an instrument's stage-1 calibration.

An engine takes the files CALDP hands the calibration program (the association table
if there is one, else the raw exposures), in a work directory that holds the raw files
and receives the products, plus the calibration environment (``jref``/``iref``… and the
dataset's ``_cal_env.txt`` settings). Engines never see a URI.

- ``builtin``: caldp's NumPy engines (ACS, WFC3) and the ``calcos`` package (COS).
- ``hstcal``: the HSTCAL executables (``calacs.e``, ``calwf3.e``, ``cs0.e``) and ``calcos``,
  run as CALDP runs them.
- ``auto``: ``hstcal`` where its executable is on PATH, else ``builtin``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Stage1Request:
    """What a stage-1 engine is asked to do (a small picklable record)."""

    instrument: str
    files: tuple[Path, ...]
    workdir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    keep_intermediates: bool = False


class Engine(abc.ABC):
    """A stage-1 calibration engine."""

    name: str = "engine"

    @abc.abstractmethod
    def supports(self, instrument: str) -> bool:
        """True if this engine can calibrate `instrument` here."""

    @abc.abstractmethod
    def run_stage1(self, request: Stage1Request) -> list[Path]:
        """Calibrate; write products into ``request.workdir``; return the new files.

        Raises :class:`caldp.engines.common.EngineError` (or any exception) on failure;
        the caller maps it to STAGE1_ERROR.
        """
