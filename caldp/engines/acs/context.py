"""Header values and reference files an ACS CCD run needs (HSTCAL ``acsinit.c``, ``getflags.c``,
``sciflags.c``, ``refexist.c``; calib-acs-wfc.md §2.3–2.4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..common.errors import EngineError
from ..common.refs import is_dummy, is_given, resolve
from ..common.switches import Switch, read_switch

SM4MJD = 54962.0
CYCLE24 = 57662.0
SWITCHES = (
    "DQICORR",
    "ATODCORR",
    "BIASCORR",
    "BLEVCORR",
    "SINKCORR",
    "PCTECORR",
    "CRCORR",
    "RPTCORR",
    "DARKCORR",
    "FLSHCORR",
    "FLATCORR",
    "SHADCORR",
    "PHOTCORR",
    "EXPSCORR",
)


class MissingReference(EngineError):
    """A reference file a step needs is not given or does not exist (calacs.e exit status 115)."""


@dataclass(slots=True)
class AcsKeys:
    """Primary-header values read once per exposure."""

    file: str
    rootname: str
    detector: str
    ccdamp: str
    ccdgain: float
    ccdofst: tuple[int, int, int, int]
    expstart: float
    exptime: float
    subarray: bool
    aperture: str
    jwrotype: str
    darktime: float
    flashdur: float
    flashsta: str
    targname: str
    obstype: str
    filter1: str
    filter2: str
    lrfwave: float
    switches: dict[str, Switch] = field(default_factory=dict)

    def perform(self, name: str) -> bool:
        return self.switches.get(name) is Switch.PERFORM


def _req(hdr, key, file):
    if key not in hdr:
        raise EngineError("required keyword is missing", file=file, keyword=key)
    return hdr[key]


def read_keys(primary, *, file: str) -> AcsKeys:
    """Read the keywords HSTCAL requires (missing ⇒ EngineError naming file and keyword) and the
    ones it silently defaults (CCDGAIN 1, CCDOFSTx 3, DARKTIME 0, JWROTYPE blank)."""
    for key in ("ROOTNAME", "DETECTOR", "EXPTIME", "EXPSTART", "EXPEND", "SUBARRAY", "CCDAMP"):
        _req(primary, key, file)
    inst = str(primary.get("INSTRUME", "ACS")).strip().upper()
    if not inst.startswith("ACS"):
        raise EngineError(f"INSTRUME = {inst!r} is not ACS", file=file, keyword="INSTRUME")
    det = str(primary["DETECTOR"]).strip().upper()
    if det not in ("WFC", "HRC"):
        raise EngineError(
            f"DETECTOR = {det!r} is not a CCD this engine calibrates (WFC, HRC)", file=file, keyword="DETECTOR"
        )
    sub = primary["SUBARRAY"]
    if isinstance(sub, str):
        sub = sub.strip().upper() in ("T", "TRUE", "YES")
    return AcsKeys(
        file=file,
        rootname=str(primary["ROOTNAME"]).strip(),
        detector=det,
        ccdamp=str(primary["CCDAMP"]).strip(),
        ccdgain=float(primary.get("CCDGAIN", 1.0)),
        ccdofst=tuple(int(primary.get(f"CCDOFST{a}", 3)) for a in "ABCD"),
        expstart=float(primary["EXPSTART"]),
        exptime=float(primary["EXPTIME"]),
        subarray=bool(sub),
        aperture=str(primary.get("APERTURE", "")).strip(),
        jwrotype=str(primary.get("JWROTYPE", "")).strip().upper(),
        darktime=float(primary.get("DARKTIME", 0.0)),
        flashdur=float(primary.get("FLASHDUR", 0.0)),
        flashsta=str(primary.get("FLASHSTA", "")).strip(),
        targname=str(primary.get("TARGNAME", "")).strip(),
        obstype=str(primary.get("OBSTYPE", "")).strip(),
        filter1=str(primary.get("FILTER1", "N/A")).strip(),
        filter2=str(primary.get("FILTER2", "N/A")).strip(),
        lrfwave=float(primary.get("LRFWAVE", -1.0)),
        switches={s: read_switch(primary, s) for s in SWITCHES},
    )


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference file named by a keyword: its path, and whether its PEDIGREE is DUMMY."""

    keyword: str
    path: Path | None
    dummy: bool = False


def reference(primary, keyword: str, env: Mapping[str, str], *, file: str, optional: bool = False, reader=None) -> Ref:
    """Resolve `keyword` (``jref$x.fits``). Missing/blank ⇒ MissingReference; ``N/A`` ⇒ MissingReference
    unless `optional` (then a Ref with path None)."""
    if keyword not in primary or str(primary[keyword]).strip() == "":
        raise MissingReference("reference file keyword is missing", file=file, keyword=keyword)
    value = primary[keyword]
    if not is_given(value):
        if optional:
            return Ref(keyword, None)
        raise MissingReference("reference file is N/A", file=file, keyword=keyword)
    path = resolve(value, env, keyword=keyword)
    if not path.is_file():
        raise MissingReference("reference file not found", file=path, keyword=keyword)
    dummy = False
    if reader is not None:
        dummy = is_dummy(reader(path, keyword=keyword))
    return Ref(keyword, path, dummy)
