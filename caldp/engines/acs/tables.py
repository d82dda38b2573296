"""ACS reference tables: CCDTAB, OSCNTAB, BPIXTAB, CRREJTAB (calib-acs-wfc.md §3.1–3.3, §5.1).

HSTCAL sources: ``lib/getccdtab.c``, ``acsccd/findover.c``, ``lib/dodqi.c``, ``acsrej/readpar.c``.
Row selection uses the wildcards of ``lib/sameint.c`` (int −1/−999, float −1.0/−999.0,
string ``ANY``); other string comparisons are exact (CCDAMP ``'ABCD'`` ≠ ``'A'``).
The CRREJTAB row choice is the same as calwf3's and is shared with the WFC3 engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common import fitsfile as ff
from ..common.crrejtab import CRRejPars, select_crrejtab
from ..common.errors import EngineError
from ..common.filecache import per_file_version
from ..common.refs import column, match_rows

AMPS = "ABCD"
F32 = np.float32

__all__ = ["CCDParams", "Overscan", "CRRejPars", "read_ccdtab", "read_oscntab", "read_bpixtab", "read_crrejtab"]


def _open_table(path: Path, keyword: str):
    """The first table extension and the primary header of `path`, parsed once per file version
    (:func:`~caldp.engines.common.filecache.per_file_version`): every imset of every exposure of a
    run asks for the same CCDTAB/OSCNTAB rows. Callers only read it."""
    if not Path(path).is_file():
        return _read_table(path, keyword)  # raises the EngineError naming file and keyword
    return per_file_version(path, ("acs-table", keyword), lambda p: _read_table(p, keyword))


def _read_table(path: Path, keyword: str):
    try:
        with ff.open(path) as hdul:
            data = hdul[1].data
            primary = hdul[0].header.copy()
    except (OSError, IndexError, ValueError, TypeError) as exc:
        raise EngineError(f"cannot read table ({exc})", file=Path(path).name, keyword=keyword) from exc
    if data is None:
        raise EngineError("table is empty", file=Path(path).name, keyword=keyword)
    return data, primary


def _require(data, names, path, keyword):
    # by name only (as `column` matches them): reading a FITS_rec column converts all its rows
    have = {n.upper() for n in data.dtype.names}
    for n in names:
        if n.upper() not in have:
            raise EngineError(f"column {n} not found", file=Path(path).name, keyword=keyword)


@dataclass(frozen=True, slots=True)
class CCDParams:
    """The CCDTAB row for one chip. Per-amp arrays are float32 in amp order A, B, C, D; amps not
    named in the science CCDAMP are 0 (``getccdtab.c``)."""

    atodgain: np.ndarray
    readnoise: np.ndarray
    ccdbias: np.ndarray
    ampx: int
    ampy: int
    atodsat: int
    saturate: F32
    overhead_postflashed: F32
    overhead_unflashed: F32


def read_ccdtab(path: Path, *, ccdamp: str, ccdgain: float, chip: int, ccdofst, nx: int) -> CCDParams:
    """Select the CCDTAB row (CCDAMP, CCDGAIN, CCDCHIP, CCDOFSTA..D; BINAXIS not used).

    CCDGAIN is compared as an integer when the column is integer (pre-SM4 tables), as float32
    otherwise. ``ampx = min(AMPX, nx)``.
    """
    data, _ = _open_table(path, "CCDTAB")
    req = ["CCDAMP", "CCDCHIP", "CCDGAIN", "AMPX", "AMPY", "ATODSAT", "SATURATE"]
    req += [f"{p}{a}" for p in ("CCDOFST", "CCDBIAS", "ATODGN", "READNSE") for a in AMPS]
    _require(data, req, path, "CCDTAB")
    gaincol = np.asarray(column(data, "CCDGAIN"))
    gain_want = int(ccdgain) if gaincol.dtype.kind in "iu" else F32(ccdgain)
    crit = {"CCDAMP": ccdamp, "CCDGAIN": gain_want, "CCDCHIP": chip}
    crit.update({f"CCDOFST{a}": int(v) for a, v in zip(AMPS, ccdofst, strict=True)})
    rows = match_rows(data, crit, file=Path(path).name, keyword="CCDTAB")
    if len(rows) == 0:
        raise EngineError(
            f"no row matches CCDAMP {ccdamp}, CCDGAIN {float(ccdgain):4.1f}, CCDCHIP {chip}, "
            f"CCDOFST {','.join(str(int(v)) for v in ccdofst)}",
            file=Path(path).name,
            keyword="CCDTAB",
        )
    row = data[rows[0]]
    used = np.array([a in ccdamp for a in AMPS])

    def amps(prefix):
        return np.where(used, np.array([F32(row[column_name(data, prefix + a)]) for a in AMPS], F32), F32(0))

    def opt(name):
        c = column(data, name)
        return F32(0) if c is None else F32(c[rows[0]])

    return CCDParams(
        atodgain=amps("ATODGN"),
        readnoise=amps("READNSE"),
        ccdbias=amps("CCDBIAS"),
        ampx=min(int(row[column_name(data, "AMPX")]), nx),
        ampy=int(row[column_name(data, "AMPY")]),
        atodsat=int(row[column_name(data, "ATODSAT")]),
        saturate=F32(row[column_name(data, "SATURATE")]),
        overhead_postflashed=opt("OVRHFLS"),
        overhead_unflashed=opt("OVRHUFLS"),
    )


def column_name(data, name: str) -> str:
    names = {n.upper(): n for n in data.dtype.names}
    return names[name.upper()]


@dataclass(frozen=True, slots=True)
class Overscan:
    """The OSCNTAB row (0-based sections; trims in pixels). ``found`` False ⇒ all zero."""

    found: bool
    trimx: tuple[int, int]
    trimy: tuple[int, int]
    biassecta: tuple[int, int]
    biassectb: tuple[int, int]
    vx: tuple[int, int]
    vy: tuple[int, int]

    @property
    def virtual(self) -> bool:
        """The image has virtual overscan (``TRIMY1`` or ``TRIMY2`` is 20)."""
        return self.found and 20 in self.trimy


NO_OVERSCAN = Overscan(False, (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0))


def read_oscntab(path: Path, *, ccdamp: str, chip: int, nx: int, ny: int, binning=(1, 1)) -> Overscan:
    """The OSCNTAB row for CCDAMP, CCDCHIP, BINX/BINY and the raw size (``FindOverscan``)."""
    data, _ = _open_table(path, "OSCNTAB")
    cols = "CCDAMP CCDCHIP BINX BINY NX NY TRIMX1 TRIMX2 TRIMY1 TRIMY2 VX1 VX2 VY1 VY2".split()
    cols += ["BIASSECTA1", "BIASSECTA2", "BIASSECTB1", "BIASSECTB2"]
    _require(data, cols, path, "OSCNTAB")
    crit = {"CCDAMP": ccdamp, "CCDCHIP": chip, "BINX": binning[0], "BINY": binning[1], "NX": nx, "NY": ny}
    rows = match_rows(data, crit, file=Path(path).name, keyword="OSCNTAB")
    if len(rows) == 0:
        return NO_OVERSCAN
    r = data[rows[0]]

    def v(name):
        return int(r[column_name(data, name)])

    return Overscan(
        True,
        (v("TRIMX1"), v("TRIMX2")),
        (v("TRIMY1"), v("TRIMY2")),
        (v("BIASSECTA1") - 1, v("BIASSECTA2") - 1),
        (v("BIASSECTB1") - 1, v("BIASSECTB2") - 1),
        (v("VX1") - 1, v("VX2") - 1),
        (v("VY1") - 1, v("VY2") - 1),
    )


@dataclass(frozen=True, slots=True)
class BadPixels:
    """Applicable BPIXTAB rows as arrays (PIX1/PIX2 1-based detector coordinates)."""

    pix1: np.ndarray
    pix2: np.ndarray
    length: np.ndarray
    axis: np.ndarray
    value: np.ndarray


def read_bpixtab(path: Path, *, ccdamp: str, ccdgain: float, chip: int) -> BadPixels:
    """Rows of BPIXTAB that apply to this chip (``dodqi.c``): CCDAMP missing/``N/A``/equal,
    CCDGAIN missing/−999/equal, CCDCHIP missing/−999/equal. AXIS ∉ {1, 2} or LENGTH ≤ 0 is fatal."""
    data, _ = _open_table(path, "BPIXTAB")
    _require(data, ["PIX1", "PIX2", "LENGTH", "AXIS", "VALUE"], path, "BPIXTAB")
    n = len(data)
    ok = np.ones(n, bool)
    amp = column(data, "CCDAMP")
    if amp is not None:
        a = np.char.strip(np.asarray(amp).astype(str))
        ok &= (a == "N/A") | (a == ccdamp)
    gain = column(data, "CCDGAIN")
    if gain is not None:
        g = np.asarray(gain, np.float64)
        ok &= (g == -999) | (F32(g) == F32(ccdgain))
    ch = column(data, "CCDCHIP")
    if ch is not None:
        c = np.asarray(ch, np.int64)
        ok &= (c == -999) | (c == chip)
    length = np.asarray(column(data, "LENGTH"), np.int64)[ok]
    axis = np.asarray(column(data, "AXIS"), np.int64)[ok]
    if np.any(length <= 0) or np.any((axis != 1) & (axis != 2)):
        raise EngineError("AXIS must be 1 or 2 and LENGTH > 0", file=Path(path).name, keyword="BPIXTAB")
    return BadPixels(
        np.asarray(column(data, "PIX1"), np.int64)[ok],
        np.asarray(column(data, "PIX2"), np.int64)[ok],
        length,
        axis,
        np.asarray(column(data, "VALUE"), np.int64)[ok],
    )


def read_crrejtab(path: Path, *, nimages: int, exptot: float) -> CRRejPars:
    """The CRREJTAB row (``acsrej/readpar.c``, same selection as calwf3's)."""
    data, _ = _open_table(path, "CRREJTAB")
    try:
        return select_crrejtab(data, nimages=nimages, exptot=exptot, file=Path(path).name)
    except EngineError as exc:
        raise EngineError(exc.message, file=Path(path).name, keyword="CRREJTAB") from None
