"""IMPHTTAB photometry lookup (HSTCAL ``lib/getphttab.c``).

The science PHOTMODE (e.g. ``ACS WFC1 F606W MJD#60300.2553``) becomes an obsmode: lower
case, blanks → commas, each ``name#value`` token reduced to ``name#`` with its value kept
as a parameter. A table row matches when its OBSMODE has the same length and each of its
comma tokens occurs in the obsmode. DATACOL names either a scalar column (``PHOTFLAM``) or
a parameterised one (``PHOTFLAM1``…), interpolated linearly in the row's PARnVALUES; a
parameter outside the table's range gives −9999 unless the primary header has EXTRAP=T and
the parameter is ``mjd#`` (then the end segment is extrapolated).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import fitsfile as ff
from .errors import EngineError
from .filecache import per_file_version
from .refs import column

log = logging.getLogger(__name__)

#: Value HSTCAL returns for a parameter outside the table without extrapolation.
OUT_OF_RANGE = -9999.0


@dataclass(frozen=True, slots=True)
class Obsmode:
    text: str  # matched against OBSMODE: parameter values stripped
    params: dict[str, float]


def parse_photmode(photmode: str) -> Obsmode:
    """Split PHOTMODE into the matching obsmode and its parameter values.

    >>> parse_photmode("ACS WFC1 F606W MJD#60300.2553")
    Obsmode(text='acs,wfc1,f606w,mjd#', params={'mjd#': 60300.2553})
    """
    tokens, params = [], {}
    for tok in photmode.strip().lower().split():
        if "#" in tok:
            name, _, value = tok.partition("#")
            params[name + "#"] = float(value)
            tok = name + "#"
        tokens.append(tok)
    return Obsmode(",".join(tokens), params)


def _row_matches(row_obsmode: str, obsmode: str) -> bool:
    row = row_obsmode.strip().lower()
    if len(row) != len(obsmode):
        return False
    return all(tok in obsmode for tok in row.split(",") if tok)


def _bounds(n: int, index: float) -> tuple[int, int]:
    """Bracketing element indices around floor(index), clamped to the end segments."""
    i0 = min(max(int(math.floor(index)), 0), n - 2)
    return i0, i0 + 1


def _interp(x0: float, x1: float, y0: float, y1: float, x: float) -> float:
    if x1 - x0 == 0:
        raise EngineError("IMPHTTAB interpolation reached a singularity (equal parameter values)")
    return y0 + (x - x0) * (y1 - y0) / (x1 - x0)


def _compute(row, ndim: int, name: str, obs: Obsmode, extrap: bool) -> float:
    if ndim == 0:
        return float(np.asarray(row[name]).ravel()[0])
    parnames, parvals, nelem = [], [], []
    for p in range(1, ndim + 1):
        pname = str(row[f"PAR{p}NAMES"]).strip().lower()
        n = int(row[f"NELEM{p}"])
        vals = np.asarray(row[f"PAR{p}VALUES"], dtype=np.float64).ravel()[:n]
        parnames.append(pname)
        parvals.append(vals)
        nelem.append(n)
    results = np.asarray(row[f"{name}{ndim}"], dtype=np.float64).ravel()
    obsvals, bounds = [], []
    for pname, vals, n in zip(parnames, parvals, nelem, strict=True):
        # HSTCAL compares the first len(table name) characters, case-insensitively.
        value = next((v for k, v in obs.params.items() if k[: len(pname)] == pname), 0.0)
        if value == 0.0:
            raise EngineError(f"IMPHTTAB: no obsmode value for parameter {pname}")
        if value < vals[0] or value > vals[-1]:
            if not (extrap and pname == "mjd#"):
                log.warning("Parameter %s%g is outside IMPHTTAB bounds; value -9999", pname, value)
                return OUT_OF_RANGE
        if value < vals[0]:
            index = 0.0
        elif value > vals[-1]:
            index = float(n - 1)
        else:
            j0, j1 = _bounds(n, float(np.searchsorted(vals, value, side="right") - 1))
            index = _interp(vals[j0], vals[j1], j0, j1, value)
        obsvals.append(value)
        bounds.append(_bounds(n, math.floor(index)))
    # Multilinear interpolation, first axis varying fastest in the results array.
    strides = np.cumprod([1] + nelem[:-1])
    corners = {}
    for mask in range(2 ** ndim):
        idx = [bounds[d][(mask >> d) & 1] for d in range(ndim)]
        corners[mask] = float(results[int(np.dot(idx, strides))])
    for d in range(ndim):
        lo, hi = bounds[d]
        x0, x1 = parvals[d][lo], parvals[d][hi]
        nxt = {}
        for mask, val in corners.items():
            if (mask >> d) & 1:
                continue
            nxt[mask] = _interp(x0, x1, val, corners[mask | (1 << d)], obsvals[d])
        corners = nxt
    return corners[0]


class _Table(NamedTuple):
    obsmodes: list[str]
    datacols: list[str]
    rows: object  # FITS_rec, kept in memory after the file is closed


class _Parsed(NamedTuple):
    extrap: bool
    zpt: float
    tables: dict[str, _Table]


def _parsed(path) -> _Parsed:
    """The IMPHTTAB at `path`, parsed once per file version: an association looks up several modes
    and chips in the same table, and parsing it costs more than a lookup."""
    return per_file_version(path, "imphttab", _parse)


def _parse(path: Path) -> _Parsed:
    with ff.open(path) as hdul:
        primary = hdul[0].header
        tables = {}
        for hdu in hdul[1:]:
            name = str(hdu.header.get("EXTNAME", "")).strip().upper()
            if not name or name in tables or hdu.data is None:
                continue
            rows = hdu.data
            obsmodes, datacols = column(rows, "OBSMODE"), column(rows, "DATACOL")
            if obsmodes is None or datacols is None:
                continue
            tables[name] = _Table([str(v) for v in obsmodes], [str(v) for v in datacols], rows)
        return _Parsed(bool(primary.get("EXTRAP", False)), float(primary.get("PHOTZPT", -21.1)), tables)


def lookup(path, photmode: str, names=("PHOTFLAM", "PHOTPLAM", "PHOTBW")) -> dict[str, float]:
    """Photometry values for `photmode` from IMPHTTAB `path`: {name: value, "PHOTZPT": zpt}.

    Extensions are found by EXTNAME (``PHOTFLAM``, ``PHOTPLAM``, ``PHOTBW``, ``PHTFLAM1``…).
    Raises EngineError if the file lacks an extension or no row matches. Each (mode, names) is
    computed once per table version (products and chips of an association ask for the same
    modes; a thread asking for a mode another is computing waits for it).
    """
    names = tuple(names)
    values = per_file_version(path, ("imphttab-mode", photmode, names), lambda p: _lookup(p, photmode, names))
    return dict(values)


def _lookup(path, photmode: str, names: tuple[str, ...]) -> dict[str, float]:
    obs = parse_photmode(photmode)
    parsed = _parsed(path)
    out: dict[str, float] = {"PHOTZPT": parsed.zpt}
    for name in names:
        table = parsed.tables.get(name)
        if table is None:
            raise EngineError(f"IMPHTTAB has no {name} extension", file=path, keyword="IMPHTTAB")
        for i, obsmode in enumerate(table.obsmodes):
            if _row_matches(obsmode, obs.text):
                datacol = table.datacols[i].strip().upper()
                m = re.fullmatch(rf"{name}(\d*)", datacol)
                ndim = int(m.group(1)) if m and m.group(1) else 0
                out[name] = _compute(table.rows[i], ndim, name, obs, parsed.extrap)
                break
        else:
            raise EngineError(f"no IMPHTTAB row for obsmode {obs.text!r}", file=path, keyword="IMPHTTAB")
    return out
