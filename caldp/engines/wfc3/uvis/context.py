"""What WF3CCD/WF3REJ/WF32D read from the science primary header (HSTCAL ``lib/getkeys.c``,
``lib/getgrp.c``, ``calwf3/getreffiles.c``; calib-wfc3.md §2.2), and reference-file lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ...common.errors import EngineError
from ...common.refs import is_given, resolve
from ...common.switches import Switch, read_switch

log = logging.getLogger(__name__)

UVIS_SWITCHES = (
    "DQICORR",
    "ATODCORR",
    "BLEVCORR",
    "BIASCORR",
    "FLSHCORR",
    "PCTECORR",
    "DARKCORR",
    "FLATCORR",
    "SHADCORR",
    "PHOTCORR",
    "FLUXCORR",
    "CRCORR",
    "RPTCORR",
    "EXPSCORR",
)


class MissingReference(EngineError):
    """A reference file named in the header does not exist (calwf3.e exits with 115)."""


def _need(hdr, key: str, file):
    if key not in hdr:
        raise EngineError("required keyword is missing", file=file, keyword=key)
    return hdr[key]


def _as_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().upper() in ("T", "TRUE", "1", "YES")


@dataclass(slots=True)
class UvisKeys:
    """Primary-header values of one UVIS exposure (``GetKeys``)."""

    rootname: str
    detector: str
    filter: str
    exptime: float
    expstart: float
    expend: float
    subarray: bool
    nimsets: int
    ccdamp: str
    ccdgain: float
    ccdofst: tuple[int, int, int, int]
    flashdur: float
    flashsta: str
    switches: dict[str, Switch] = field(default_factory=dict)

    def perform(self, name: str) -> bool:
        return self.switches.get(name) is Switch.PERFORM


def read_keys(primary, *, file) -> UvisKeys:
    """Parse the primary header; EngineError naming the keyword for anything missing or invalid."""
    det = str(_need(primary, "DETECTOR", file)).strip()
    if det not in ("UVIS", "IR"):
        raise EngineError(f"DETECTOR = {det} is invalid", file=file, keyword="DETECTOR")
    try:
        exptime = float(_need(primary, "EXPTIME", file))
        expstart = float(_need(primary, "EXPSTART", file))
        expend = float(_need(primary, "EXPEND", file))
    except (TypeError, ValueError) as exc:
        raise EngineError(f"invalid exposure time keyword ({exc})", file=file) from None
    if exptime < 0:
        raise EngineError(f"exposure time is invalid: {exptime:14.6g}", file=file, keyword="EXPTIME")
    nextend = int(primary.get("NEXTEND", 3))
    nimsets = nextend // 3
    if nimsets < 1:
        raise EngineError(f"NEXTEND = {nextend}; must be at least 3", file=file, keyword="NEXTEND")
    ccdamp = str(_need(primary, "CCDAMP", file)).strip().upper()
    if not ccdamp or any(c not in "ABCD" for c in ccdamp):
        raise EngineError(f"CCDAMP = `{ccdamp}' is invalid", file=file, keyword="CCDAMP")
    try:
        ccdgain = float(_need(primary, "CCDGAIN", file))
    except (TypeError, ValueError):
        raise EngineError("CCDGAIN is not a number", file=file, keyword="CCDGAIN") from None
    switches = {name: read_switch(primary, name) for name in UVIS_SWITCHES}
    return UvisKeys(
        rootname=str(_need(primary, "ROOTNAME", file)).strip(),
        detector=det,
        filter=str(_need(primary, "FILTER", file)).strip(),
        exptime=exptime,
        expstart=expstart,
        expend=expend,
        subarray=_as_bool(_need(primary, "SUBARRAY", file)),
        nimsets=nimsets,
        ccdamp=ccdamp,
        ccdgain=ccdgain,
        ccdofst=tuple(int(primary.get(f"CCDOFST{a}", 3)) for a in "ABCD"),
        flashdur=float(primary.get("FLASHDUR", 1.0)),
        flashsta=str(_need(primary, "FLASHSTA", file)).strip(),
        switches=switches,
    )


@dataclass(frozen=True, slots=True)
class GroupKeys:
    """Per-imset keywords (``GetGrp``)."""

    chip: int
    ltv: tuple[float, float]
    ltm: tuple[float, float]
    bin: tuple[int, int]
    sdqflags: int
    ncombine: int


def read_group(sci_hdr) -> GroupKeys:
    ncombine = int(sci_hdr.get("NCOMBINE", 1))
    if ncombine < 1:
        log.warning("NCOMBINE = %d, reset to one.", ncombine)
        ncombine = 1
    sdq = int(sci_hdr.get("SDQFLAGS", 65535))
    return GroupKeys(
        chip=int(sci_hdr.get("CCDCHIP", 1)),
        ltv=(float(sci_hdr.get("LTV1", 0.0)), float(sci_hdr.get("LTV2", 0.0))),
        ltm=(float(sci_hdr.get("LTM1_1", 1.0)), float(sci_hdr.get("LTM2_2", 1.0))),
        bin=(int(sci_hdr.get("BINAXIS1", 1)), int(sci_hdr.get("BINAXIS2", 1))),
        sdqflags=sdq & 0xFFFF,
        ncombine=ncombine,
    )


def reference(primary, keyword: str, env: Mapping[str, str] | None, *, required: bool = True) -> Path | None:
    """The path named by `keyword`; MissingReference if given but absent (or absent and `required`)."""
    value = primary.get(keyword)
    if not is_given(value):
        if required:
            raise MissingReference(f"reference file is not given ({value!r})", keyword=keyword)
        return None
    path = resolve(str(value), env, keyword=keyword)
    if not path.is_file():
        raise MissingReference("reference file not found", file=path, keyword=keyword)
    return path
