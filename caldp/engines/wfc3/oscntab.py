"""OSCNTAB: overscan geometry of one chip (HSTCAL ``pkg/wfc3/lib/wf3ccd/findover.c``).

Shared by the UVIS (calib-wfc3.md §U5) and IR (§I1) engines.

- UVIS: row = first with CCDAMP, CCDCHIP, BINX, BINY equal (NX/NY **not** used).
- IR: row = first with CCDAMP, CCDCHIP, NX, NY equal (binning not used).

VX/VY/BIASSECT values are converted from 1-based to 0-based (−1). For UVIS subarrays
(SUBARRAY=T) the virtual overscan (TRIMY, TRIMX3/4, VX/VY, BIASSECTC/D) is zeroed and the
physical overscan inside the subarray is worked out from LTV1 (``offsetx``):

- ``offsetx > 0`` (subarray starts in the leading overscan): ``trimx1 = min(offsetx, TRIMX1)``,
  ``trimx2 = max(0, nx − trimx1 − cx1)``, BIASSECTA shifted by ``cx0``;
- else if it reaches the trailing overscan: ``trimx2 = (nx − offsetx) − cx1`` and BIASSECTB is
  taken from the table's **A** columns shifted by ``cx0`` (sic), clipped to the image;
- else no overscan at all (``has_overscan`` False).

with ``cx1 = NX − TRIMX2 − TRIMX1`` and ``cx0 = TRIMX1 − offsetx`` (table NX).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.errors import EngineError
from ..common.refs import match_rows
from .reffiles import check_table, read_table, table_derived

_INT_COLS = (
    "CCDCHIP",
    "BINX",
    "BINY",
    "NX",
    "NY",
    "TRIMX1",
    "TRIMX2",
    "TRIMX3",
    "TRIMX4",
    "TRIMY1",
    "TRIMY2",
    "VX1",
    "VX2",
    "VX3",
    "VX4",
    "VY1",
    "VY2",
    "VY3",
    "VY4",
    "BIASSECTA1",
    "BIASSECTA2",
    "BIASSECTB1",
    "BIASSECTB2",
    "BIASSECTC1",
    "BIASSECTC2",
    "BIASSECTD1",
    "BIASSECTD2",
)


@dataclass(frozen=True, slots=True)
class Overscan:
    """Overscan geometry of one chip. ``vx``/``vy``/``biassect*`` are 0-based column/row numbers."""

    row: int
    trimx: tuple[int, int, int, int]
    trimy: tuple[int, int]
    vx: tuple[int, int, int, int]
    vy: tuple[int, int, int, int]
    biassecta: tuple[int, int]
    biassectb: tuple[int, int]
    biassectc: tuple[int, int]
    biassectd: tuple[int, int]
    has_overscan: bool = True


def _as_table(data) -> np.ndarray:
    names = {n.upper(): n for n in data.dtype.names}
    missing = [c for c in ("CCDAMP", *_INT_COLS) if c not in names]
    if missing:
        raise EngineError(f"table lacks columns {', '.join(missing)}", keyword="OSCNTAB")
    amp = np.char.strip(np.asarray(data[names["CCDAMP"]]).astype(str))
    out = np.empty(len(data), dtype=[("CCDAMP", amp.dtype)] + [(c, np.int32) for c in _INT_COLS])
    out["CCDAMP"] = amp
    for c in _INT_COLS:
        out[c] = np.asarray(data[names[c]]).astype(np.int32)
    return out


def select_oscntab(
    data,
    *,
    ccdamp: str,
    ccdchip: int,
    detector: str = "UVIS",
    binaxis=(1, 1),
    nx: int,
    ny: int,
    subarray: bool = False,
    offsetx: float = 0.0,
    file=None,
) -> Overscan:
    """Pick and interpret the OSCNTAB row (`data`: the table's FITS_rec or a structured array).

    `nx`, `ny` are the science image size; `offsetx` its LTV1 (UVIS subarrays only).

    >>> cols = dict.fromkeys(_INT_COLS, [0]); cols.update(CCDCHIP=[1], BINX=[1], BINY=[1], NX=[4206], NY=[2070],
    ...     TRIMX1=[25], TRIMX2=[25], TRIMX3=[30], TRIMX4=[30], TRIMY1=[19], BIASSECTA1=[6], BIASSECTA2=[22],
    ...     BIASSECTB1=[4184], BIASSECTB2=[4200], BIASSECTC1=[2079], BIASSECTC2=[2100], BIASSECTD1=[2106],
    ...     BIASSECTD2=[2127], VX1=[2076], VX2=[2100], VY1=[1], VY2=[18])
    >>> t = np.rec.fromarrays([["ABCD"]] + [cols[c] for c in _INT_COLS], names=("CCDAMP",) + _INT_COLS)
    >>> o = select_oscntab(t, ccdamp="ABCD", ccdchip=1, nx=4206, ny=2070)
    >>> o.trimx, o.trimy, o.biassectc, o.vy[:2]
    ((25, 25, 30, 30), (19, 0), (2078, 2099), (0, 17))
    >>> t.CCDAMP[0] = "A"
    >>> s = select_oscntab(t, ccdamp="A", ccdchip=1, nx=537, ny=512, subarray=True, offsetx=25)
    >>> s.trimx, s.trimy, s.biassecta, s.biassectc, s.has_overscan
    ((25, 0, 0, 0), (0, 0), (5, 21), (0, 0), True)
    """
    return _select(
        _as_table(data),
        ccdamp=ccdamp,
        ccdchip=ccdchip,
        detector=detector,
        binaxis=binaxis,
        nx=nx,
        ny=ny,
        subarray=subarray,
        offsetx=offsetx,
        file=file,
    )


def _select(table, *, ccdamp, ccdchip, detector, binaxis, nx, ny, subarray, offsetx, file) -> Overscan:
    """:func:`select_oscntab` on a table already converted by :func:`_as_table`."""
    ir = detector.upper() == "IR"
    crit = {"CCDAMP": ccdamp.strip(), "CCDCHIP": int(ccdchip)}
    if ir:
        crit.update(NX=int(nx), NY=int(ny))
    else:
        crit.update(BINX=int(binaxis[0]), BINY=int(binaxis[1]))
    rows = match_rows(table, crit, file=file, keyword="OSCNTAB")
    if len(rows) == 0:
        wanted = ", ".join(f"{k}={v}" for k, v in crit.items())
        raise EngineError(f"could not find appropriate row ({wanted})", file=file, keyword="OSCNTAB")
    i = int(rows[0])
    r = {c: int(table[i][c]) for c in _INT_COLS}

    def pair(name):
        return (r[f"{name}1"] - 1, r[f"{name}2"] - 1)

    if ir or not subarray:
        return Overscan(
            row=i,
            trimx=(r["TRIMX1"], r["TRIMX2"], r["TRIMX3"], r["TRIMX4"]),
            trimy=(r["TRIMY1"], r["TRIMY2"]),
            vx=tuple(r[f"VX{k}"] - 1 for k in range(1, 5)),
            vy=tuple(r[f"VY{k}"] - 1 for k in range(1, 5)),
            biassecta=pair("BIASSECTA"),
            biassectb=pair("BIASSECTB"),
            biassectc=pair("BIASSECTC"),
            biassectd=pair("BIASSECTD"),
        )
    # UVIS subarray: no virtual overscan; locate the physical overscan inside the subarray.
    tx1 = int(nx - offsetx)
    cx1 = r["NX"] - r["TRIMX2"] - r["TRIMX1"]
    cx0 = int(r["TRIMX1"] - offsetx)
    a1, a2 = r["BIASSECTA1"] - 1, r["BIASSECTA2"] - 1
    zero = (0, 0)
    if offsetx > 0:
        trimx1 = int(offsetx) if offsetx < r["TRIMX1"] else r["TRIMX1"]
        tx2 = int(nx - trimx1) - cx1
        return Overscan(
            row=i,
            trimx=(trimx1, max(tx2, 0), 0, 0),
            trimy=zero,
            vx=(0,) * 4,
            vy=(0,) * 4,
            biassecta=(max(a1 - cx0, 0), a2 - cx0),
            biassectb=zero,
            biassectc=zero,
            biassectd=zero,
        )
    if cx1 < tx1 <= r["NX"]:
        b0, b1 = a1 - cx0, a2 - cx0
        if b0 >= nx:
            b0 = b1 = 0
        if b1 >= nx:
            b1 = nx - 1
        return Overscan(
            row=i,
            trimx=(0, tx1 - cx1, 0, 0),
            trimy=zero,
            vx=(0,) * 4,
            vy=(0,) * 4,
            biassecta=zero,
            biassectb=(b0, b1),
            biassectc=zero,
            biassectd=zero,
        )
    return Overscan(
        row=i,
        trimx=(0, 0, 0, 0),
        trimy=zero,
        vx=(0,) * 4,
        vy=(0,) * 4,
        biassecta=zero,
        biassectb=zero,
        biassectc=zero,
        biassectd=zero,
        has_overscan=False,
    )


def read_oscntab(path: str | Path, *, detector: str = "UVIS", **criteria) -> Overscan:
    """Open OSCNTAB `path`, check FILETYPE/DETECTOR and select the row (see select_oscntab)."""
    path = Path(path)
    try:
        primary, data = read_table(path)
        check_table(primary, filetype="OVERSCAN", keyword="OSCNTAB", file=path.name, detector=detector)
        if data is None or len(data) == 0:
            raise EngineError("table is empty", file=path.name, keyword="OSCNTAB")
        args = {"binaxis": (1, 1), "subarray": False, "offsetx": 0.0, **criteria}
        return _select(table_derived(path, "OSCNTAB", _as_table), detector=detector, file=path.name, **args)
    except EngineError as exc:
        if exc.file is None:
            raise EngineError(exc.message, file=path.name, keyword="OSCNTAB") from None
        raise
    except (OSError, IndexError, KeyError, ValueError, TypeError) as exc:
        raise EngineError(f"cannot read table ({exc})", file=path.name, keyword="OSCNTAB") from exc
