"""CCDTAB: the CCD parameters row for one chip (HSTCAL ``pkg/wfc3/lib/getccdtab.c``).

Shared by the UVIS (calib-wfc3.md §U1) and IR (§I1) engines. The row is the first whose
CCDAMP (exact string, e.g. ``ABCD``), CCDGAIN (float32), CCDCHIP, CCDOFSTA..D and
BINAXIS1/2 equal the science values, with the ``lib/sameint.c`` wildcards (int −1/−999,
float −1.0/−999.0, string ``ANY``). From it:

- gain, read noise and default bias of the amps **named in CCDAMP** (0 for the others);
- ``mean_gain`` = float32 ``(((gA + gB) + gC) + gD) / 4`` over **all four** ATODGN columns;
- ``ampx`` = AMPX, limited to the image width for UVIS (``dimx``), unchanged for IR.

IR callers pass ``ccdamp="ABCD"`` and ``ccdofst=(0, 0, 0, 0)`` (§I1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.errors import EngineError
from ..common.refs import match_rows
from .reffiles import check_table, read_table, table_derived

log = logging.getLogger(__name__)

AMPS = "ABCD"
_REQUIRED = (
    "CCDAMP",
    "CCDCHIP",
    "CCDGAIN",
    "BINAXIS1",
    "BINAXIS2",
    *(f"CCDOFST{a}" for a in AMPS),
    *(f"CCDBIAS{a}" for a in AMPS),
    *(f"ATODGN{a}" for a in AMPS),
    *(f"READNSE{a}" for a in AMPS),
    "AMPX",
    "AMPY",
    "SATURATE",
)


@dataclass(frozen=True, slots=True)
class CCDParams:
    """Values of the selected CCDTAB row. Per-amp arrays are float32 in amp order A, B, C, D."""

    row: int  # 0-based table row
    ccdamp: str
    atodgain: np.ndarray
    readnoise: np.ndarray
    ccdbias: np.ndarray
    mean_gain: np.float32
    ampx: int
    ampy: int
    saturate: np.float32
    pedigree: str = ""

    def amp_slots(self, chip: int) -> tuple[int, int]:
        """Amp indices (0=A … 3=D) of the left/right halves of a UVIS chip (§U1).

        >>> p = CCDParams(0, "ABCD", *(np.zeros(4, np.float32),) * 3, np.float32(1), 2048, 0, np.float32(0))
        >>> p.amp_slots(2), p.amp_slots(1)
        ((2, 3), (0, 1))
        """
        return (2, 3) if chip == 2 else (0, 1)


def _as_table(data) -> np.ndarray:
    """A structured array with HSTCAL's column types (int32, float32, stripped strings)."""
    names = {n.upper(): n for n in data.dtype.names}
    missing = [c for c in _REQUIRED if c not in names]
    if missing:
        raise EngineError(f"table lacks columns {', '.join(missing)}", keyword="CCDTAB")
    cols, dtypes = [], []
    for c in _REQUIRED:
        col = np.asarray(data[names[c]])
        if c == "CCDAMP":
            col = np.char.strip(col.astype(str))
            dtypes.append((c, col.dtype))
        elif c in ("CCDGAIN", "SATURATE") or c.startswith(("CCDBIAS", "ATODGN", "READNSE")):
            col = col.astype(np.float32)
            dtypes.append((c, np.float32))
        else:
            col = col.astype(np.int32)
            dtypes.append((c, np.int32))
        cols.append(col)
    out = np.empty(len(data), dtype=dtypes)
    for (c, _), col in zip(dtypes, cols, strict=True):
        out[c] = col
    if "PEDIGREE" in names:
        ped = np.char.strip(np.asarray(data[names["PEDIGREE"]]).astype(str))
        out = _with_pedigree(out, ped)
    return out


def _with_pedigree(table: np.ndarray, ped: np.ndarray) -> np.ndarray:
    dt = table.dtype.descr + [("PEDIGREE", ped.dtype)]
    out = np.empty(len(table), dtype=dt)
    for n in table.dtype.names:
        out[n] = table[n]
    out["PEDIGREE"] = ped
    return out


def select_ccdtab(
    data,
    *,
    ccdamp: str,
    ccdgain: float,
    ccdchip: int,
    ccdofst=(3, 3, 3, 3),
    binaxis=(1, 1),
    dimx: int | None = None,
    file=None,
) -> CCDParams:
    """Pick the CCDTAB row for the science values (`data` is the table's FITS_rec).

    `dimx` (UVIS only) limits AMPX to the image width; pass None for IR.

    >>> t = np.rec.fromarrays(
    ...     [["ABCD", "ABCD"], [1, 2], [1.5, 1.5], [1, 1], [1, 1]] + [[3, 3]] * 4 + [[2500., 2500.]] * 4
    ...     + [[1.5, 1.5], [1.6, 1.6], [1.5, 1.5], [1.7, 1.7]] + [[3.0, 3.0]] * 4 + [[2048, 2048], [0, 0],
    ...     [65535., 65535.]], names=_REQUIRED)
    >>> p = select_ccdtab(t, ccdamp="ABCD", ccdgain=1.5, ccdchip=2, dimx=4206)
    >>> p.row, p.ampx, float(p.mean_gain), float(p.atodgain[3])
    (1, 2048, 1.5750000476837158, 1.7000000476837158)
    >>> t.CCDAMP[1] = "C"
    >>> select_ccdtab(t, ccdamp="C", ccdgain=1.5, ccdchip=2, dimx=513).atodgain.tolist()
    [0.0, 0.0, 1.5, 0.0]
    """
    return _select(
        _as_table(data),
        ccdamp=ccdamp,
        ccdgain=ccdgain,
        ccdchip=ccdchip,
        ccdofst=ccdofst,
        binaxis=binaxis,
        dimx=dimx,
        file=file,
    )


def _select(table, *, ccdamp, ccdgain, ccdchip, ccdofst, binaxis, dimx, file) -> CCDParams:
    """:func:`select_ccdtab` on a table already converted by :func:`_as_table`."""
    crit = {
        "CCDAMP": ccdamp.strip(),
        "CCDGAIN": np.float32(ccdgain),
        "CCDCHIP": int(ccdchip),
        "BINAXIS1": int(binaxis[0]),
        "BINAXIS2": int(binaxis[1]),
    }
    crit.update({f"CCDOFST{a}": int(v) for a, v in zip(AMPS, ccdofst, strict=True)})
    rows = match_rows(table, crit, file=file, keyword="CCDTAB")
    if len(rows) == 0:
        raise EngineError(
            f"no matching row for CCDCHIP {ccdchip}, CCDAMP {ccdamp}, CCDGAIN {ccdgain:g}, "
            f"CCDOFST {','.join(str(int(v)) for v in ccdofst)}, BINAXIS {binaxis[0]},{binaxis[1]}",
            file=file,
            keyword="CCDTAB",
        )
    i = int(rows[0])
    r = table[i]
    pedigree = str(r["PEDIGREE"]) if "PEDIGREE" in table.dtype.names else ""
    if pedigree.upper().startswith("DUMMY"):
        log.warning("Row %d of CCDTAB is DUMMY.", i + 1)
    used = np.array([a in ccdamp for a in AMPS])
    gains = np.array([r[f"ATODGN{a}"] for a in AMPS], np.float32)
    mean = np.float32(0)
    for g in gains:
        mean = np.float32(mean + g)
    mean = np.float32(mean / np.float32(4))
    ampx = int(r["AMPX"])
    if dimx is not None and ampx > dimx:
        ampx = int(dimx)
    return CCDParams(
        row=i,
        ccdamp=ccdamp.strip(),
        atodgain=np.where(used, gains, np.float32(0)).astype(np.float32),
        readnoise=np.where(used, np.array([r[f"READNSE{a}"] for a in AMPS], np.float32), np.float32(0)).astype(
            np.float32
        ),
        ccdbias=np.where(used, np.array([r[f"CCDBIAS{a}"] for a in AMPS], np.float32), np.float32(0)).astype(
            np.float32
        ),
        mean_gain=mean,
        ampx=ampx,
        ampy=int(r["AMPY"]),
        saturate=np.float32(r["SATURATE"]),
        pedigree=pedigree,
    )


def read_ccdtab(path: str | Path, *, detector: str = "UVIS", **criteria) -> CCDParams:
    """Open CCDTAB `path`, check FILETYPE/DETECTOR/PEDIGREE, and select the row (see select_ccdtab).

    A DUMMY CCDTAB is fatal, as in HSTCAL.
    """
    path = Path(path)
    try:
        primary, data = read_table(path)
        check_table(
            primary,
            filetype="CCD PARAMETERS",
            keyword="CCDTAB",
            file=path.name,
            detector=detector,
            dummy_fatal=True,
        )
        if data is None or len(data) == 0:
            raise EngineError("table is empty", file=path.name, keyword="CCDTAB")
        args = {"ccdofst": (3, 3, 3, 3), "binaxis": (1, 1), "dimx": None, **criteria}
        return _select(table_derived(path, "CCDTAB", _as_table), file=path.name, **args)
    except EngineError as exc:
        if exc.file is None:
            raise EngineError(exc.message, file=path.name, keyword="CCDTAB") from None
        raise
    except (OSError, IndexError, KeyError, ValueError, TypeError) as exc:
        raise EngineError(f"cannot read table ({exc})", file=path.name, keyword="CCDTAB") from exc
