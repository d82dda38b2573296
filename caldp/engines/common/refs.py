"""Reference files: names, opening, table rows.

HSTCAL reads reference names like ``jref$name.fits`` from science headers and finds them
through the environment variable (``jref``, ``iref``…, ending with ``/``). Reference tables
select rows with wildcards (``lib/sameint.c``): integer −1 or −999, float −1.0 or −999.0,
string ``ANY``; other string comparisons are exact and case-sensitive.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import EngineError

NOT_GIVEN = {"", "N/A", "NONE"}
INT_WILDCARDS = (-1, -999)
STR_WILDCARD = "ANY"


def is_given(value) -> bool:
    """False for a missing, blank or ``N/A`` reference keyword value."""
    return value is not None and str(value).strip().upper() not in NOT_GIVEN


def resolve(value: str, env: Mapping[str, str] | None = None, *, keyword: str | None = None) -> Path:
    """Turn ``jref$name.fits`` (or a plain path) into a path, using `env` (default os.environ).

    >>> str(resolve("jref$x_bia.fits", {"jref": "/refs/"}))
    '/refs/x_bia.fits'
    >>> resolve("jref$x_bia.fits", {}, keyword="BIASFILE")
    Traceback (most recent call last):
    ...
    caldp.engines.common.errors.EngineError: jref$x_bia.fits: BIASFILE: environment variable 'jref' is not set
    """
    env = os.environ if env is None else env
    text = str(value).strip()
    if "$" in text:
        var, _, name = text.partition("$")
        prefix = env.get(var) or env.get(var.lower()) or env.get(var.upper())
        if not prefix:
            raise EngineError(f"environment variable {var!r} is not set", file=text, keyword=keyword)
        # HSTCAL concatenates; accept a prefix without the trailing slash too.
        return Path(prefix if prefix.endswith("/") else prefix + "/").joinpath(name)
    return Path(text)


def reference_path(header, keyword: str, env: Mapping[str, str] | None = None, *, required=True) -> Path | None:
    """The existing file named by `keyword` in `header`, or None if not given and not required."""
    value = header.get(keyword)
    if not is_given(value):
        if required:
            raise EngineError("reference file is not given (N/A or missing)", keyword=keyword)
        return None
    path = resolve(value, env, keyword=keyword)
    if not path.is_file():
        raise EngineError("reference file not found", file=path, keyword=keyword)
    return path


def is_dummy(primary_header) -> bool:
    """A reference whose PEDIGREE starts with DUMMY turns its step into SKIPPED."""
    return str(primary_header.get("PEDIGREE", "")).strip().upper().startswith("DUMMY")


def _matches(column: np.ndarray, want) -> np.ndarray:
    """Boolean mask of table rows whose `column` equals `want` or is a wildcard."""
    kind = column.dtype.kind
    if kind in "SU":
        col = np.char.strip(column.astype(str))
        return (col == str(want).strip()) | (col == STR_WILDCARD)
    if kind in "iu":
        return (column == int(want)) | np.isin(column, INT_WILDCARDS)
    if kind == "f":
        return (column == np.float32(want)) | np.isin(column, (-1.0, -999.0))
    if kind == "b":
        return column == bool(want)
    raise TypeError(f"cannot match column of dtype {column.dtype}")


def match_rows(table, criteria: Mapping[str, object], *, file=None, keyword=None) -> np.ndarray:
    """Indices of rows of `table` (FITS_rec / structured array) matching every criterion.

    Column names are case-insensitive. A criterion whose column is absent raises
    EngineError (HSTCAL needs those columns); use :func:`match_optional` for optional ones.
    """
    names = {n.upper(): n for n in table.dtype.names}
    mask = np.ones(len(table), dtype=bool)
    for col, want in criteria.items():
        real = names.get(col.upper())
        if real is None:
            raise EngineError(f"table has no column {col}", file=file, keyword=keyword)
        mask &= _matches(np.asarray(table[real]), want)
    return np.flatnonzero(mask)


def column(table, name: str):
    """A table column by case-insensitive name, or None."""
    names = {n.upper(): n for n in table.dtype.names}
    real = names.get(name.upper())
    return None if real is None else table[real]


def first_row(table, criteria: Mapping[str, object], *, file=None, keyword=None):
    """The first row matching `criteria`; EngineError naming the file if none does."""
    rows = match_rows(table, criteria, file=file, keyword=keyword)
    if len(rows) == 0:
        wanted = ", ".join(f"{k}={v}" for k, v in criteria.items())
        raise EngineError(f"no row matches {wanted}", file=file, keyword=keyword)
    return table[rows[0]]
