"""CRREJTAB: cosmic-ray rejection parameters (HSTCAL ``wf3rej/readpar.c``, ``wf3ir/refdata.c:crrpar_in``,
``acsrej/readpar.c``).

Shared by WF3REJ (calib-wfc3.md §R1), the IR up-the-ramp fit (§I11) and ACSREJ, which select the row
alike; each engine opens and checks the table itself (``wfc3.reffiles.read_crrejtab``,
``acs.tables.read_crrejtab``).

Row selection: ``n = min(nimages, max CRSPLIT)``; ``e`` = float32 mean exposure time (UVIS:
``f32(exptot / nimages)``; IR: the exposure time itself); among rows with CRSPLIT == n and
``f32(MEANEXP − e) ≥ 0`` the one with the smallest difference (ties → the later row). With
``irramp=True`` (IR) only rows whose IRRAMP column is true are considered. CRSIGMAS is parsed
like HSTCAL's ``strtor`` (separators ``,``, ``;``, ``/`` or blank; 1…20 values).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from .errors import EngineError
from .keywords import hdr_float
from .refs import column

log = logging.getLogger(__name__)

MAX_ITER = 20


@dataclass(frozen=True, slots=True)
class CRRejPars:
    """Parameters of the selected CRREJTAB row (floats are float32 as HSTCAL reads them)."""

    row: int  # 0-based
    crsplit: int
    meanexp: np.float32  # the table's MEANEXP of the row
    exp_in: np.float32  # the mean exposure time used for the selection (written as MEANEXP)
    scalense: np.float32
    initgues: str
    skysub: str
    crsigmas: str
    sigmas: tuple[np.float32, ...]
    crradius: np.float32
    crthresh: np.float32
    badinpdq: int
    crmask: int

    @property
    def niter(self) -> int:
        return len(self.sigmas)

    def header_keywords(self) -> dict:
        """The parameters as ACSREJ/WF3REJ record them in the combined product's primary header."""
        return {
            "INITGUES": self.initgues,
            "SKYSUB": self.skysub,
            "CRSIGMAS": self.crsigmas,
            "MEANEXP": hdr_float(self.exp_in),
            "CRRADIUS": hdr_float(self.crradius),
            "CRTHRESH": hdr_float(self.crthresh),
            "SCALENSE": hdr_float(self.scalense),
            "BADINPDQ": self.badinpdq,
            "CRMASK": bool(self.crmask),
        }


def parse_sigmas(text: str, *, file=None) -> tuple[np.float32, ...]:
    """CRSIGMAS string → float32 values (``strtor``).

    >>> [float(s) for s in parse_sigmas("6.5, 5.5;4.5")]
    [6.5, 5.5, 4.5]
    >>> parse_sigmas("6,,5")
    Traceback (most recent call last):
    ...
    caldp.engines.common.errors.EngineError: CRREJTAB: illegal CRSIGMAS string '6,,5'
    """
    s = text.strip()
    if not s:
        return ()
    out = []
    for tok in re.split(r"[,;/ ]\s*", s):
        if not tok or not (tok[0].isdigit() or tok[0] in "-."):
            raise EngineError(f"illegal CRSIGMAS string {text!r}", file=file, keyword="CRREJTAB")
        m = re.match(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", tok)
        out.append(np.float32(float(m.group(0)) if m else 0.0))
    return tuple(out)


def _col(data, name, file):
    c = column(data, name)
    if c is None:
        raise EngineError(f"column {name.upper()} does not exist", file=file, keyword="CRREJTAB")
    return np.asarray(c)


def select_crrejtab(data, *, nimages: int, exptot: float, irramp: bool = False, file=None) -> CRRejPars:
    """Select and read the CRREJTAB row.

    `exptot`: float32 total exposure time of the inputs (UVIS) or the exposure time (IR).

    >>> t = np.rec.fromarrays([[1, 2, 2], [1000., 300., 800.], [0., 0., 3.], ["minimum"] * 3, ["mode"] * 3,
    ...     ["6.5,5.5,4.5"] * 3, [2.1] * 3, [0.5] * 3, [39] * 3, [1] * 3],
    ...     names="CRSPLIT MEANEXP SCALENSE INITGUES SKYSUB CRSIGMAS CRRADIUS CRTHRESH BADINPDQ CRMASK".split())
    >>> p = select_crrejtab(t, nimages=2, exptot=700.0)
    >>> p.row, p.crsplit, float(p.exp_in), p.niter, float(p.scalense)
    (2, 2, 350.0, 3, 3.0)
    """
    crsplit = _col(data, "CRSPLIT", file).astype(np.int32)
    meanexp = _col(data, "MEANEXP", file).astype(np.float32)
    usable = np.ones(len(crsplit), dtype=bool)
    if irramp:
        usable = _col(data, "IRRAMP", file).astype(bool)
        exp_in = np.float32(exptot)
    else:
        exp_in = np.float32(np.float32(exptot) / np.float32(nimages))
    if not usable.any():
        raise EngineError("no usable rows", file=file, keyword="CRREJTAB")
    maxsplit = int(crsplit[usable].max()) if irramp else int(crsplit.max())
    if irramp:
        maxsplit = max(maxsplit, 0)
    n = min(int(nimages), maxsplit)
    diff = (meanexp - exp_in).astype(np.float32)
    ok = np.flatnonzero(usable & (crsplit == n) & (diff >= 0))
    if len(ok) == 0:
        raise EngineError(
            f"no matching CRSPLIT ({n}) and MEANEXP ({float(exp_in):g}) row", file=file, keyword="CRREJTAB"
        )
    best = ok[0]
    for i in ok[1:]:  # tiny table: HSTCAL's "diff <= mindiff" keeps the later of equal rows
        if diff[i] <= diff[best]:
            best = i
    best = int(best)
    text = str(_col(data, "CRSIGMAS", file)[best]).strip()
    sigmas = parse_sigmas(text, file=file)
    if len(sigmas) > MAX_ITER:
        raise EngineError(f"no more than {MAX_ITER} iterations permitted", file=file, keyword="CRREJTAB")
    if len(sigmas) == 0:
        raise EngineError("number of iterations is zero", file=file, keyword="CRREJTAB")
    return CRRejPars(
        row=best,
        crsplit=int(crsplit[best]),
        meanexp=np.float32(meanexp[best]),
        exp_in=exp_in,
        scalense=np.float32(_col(data, "SCALENSE", file)[best]),
        initgues=str(_col(data, "INITGUES", file)[best]).strip(),
        skysub=str(_col(data, "SKYSUB", file)[best]).strip(),
        crsigmas=text,
        sigmas=sigmas,
        crradius=np.float32(_col(data, "CRRADIUS", file)[best]),
        crthresh=np.float32(_col(data, "CRTHRESH", file)[best]),
        badinpdq=int(np.int16(_col(data, "BADINPDQ", file)[best])),
        crmask=int(_col(data, "CRMASK", file)[best]),
    )
