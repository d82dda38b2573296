"""Reference-file sanity checks shared by the WFC3 UVIS and IR engines (``lib/wf3info.c``).

HSTCAL checks the primary header of every reference file before using it:

- ``FILETYPE`` must *start with* the expected type (``CheckTabType``/``CheckImgType``);
- ``DETECTOR`` must be a prefix of ``UVIS`` or ``IR`` (``CheckDetector``: the header value is
  compared over its own length, so ``UV`` passes for UVIS);
- ``FILTER`` (flats) must be a prefix of ``ANY`` or of the science filter (``CheckFilter``);
- ``CCDGAIN`` (BIASFILE) must equal the science gain as float32, or be −1 (``CheckGain``).

Every failure raises :class:`EngineError` naming the file and the reference keyword.

>>> from astropy.io import fits
>>> h = fits.Header({"FILETYPE": "CCD PARAMETERS", "DETECTOR": "UVIS"})
>>> check_reference(h, filetype="CCD PARAMETERS", detector="UVIS", keyword="CCDTAB", file="x_ccd.fits")
>>> check_reference(h, filetype="CCD PARAMETERS", detector="IR", keyword="CCDTAB", file="x_ccd.fits")
Traceback (most recent call last):
...
caldp.engines.common.errors.EngineError: x_ccd.fits: CCDTAB: DETECTOR='UVIS' does not match science data (IR)
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..common.errors import EngineError
from ..common.refs import is_dummy


def _text(hdr, key) -> str | None:
    value = hdr.get(key)
    return None if value is None else str(value).strip()


def check_reference(
    hdr,
    *,
    filetype: str,
    keyword: str,
    file,
    detector: str | None = None,
    filter: str | None = None,
    ccdgain: float | None = None,
) -> None:
    """Raise EngineError unless the reference primary header `hdr` suits the science data."""
    ftype = _text(hdr, "FILETYPE") or ""
    if not ftype.upper().startswith(filetype.upper()):
        raise EngineError(f"FILETYPE={ftype!r} is invalid (expected {filetype!r})", file=file, keyword=keyword)
    if detector is not None:
        det = _text(hdr, "DETECTOR")
        if det is None:
            raise EngineError("reference file has no DETECTOR keyword", file=file, keyword=keyword)
        if not detector.upper().startswith(det.upper()):
            raise EngineError(f"DETECTOR={det!r} does not match science data ({detector})", file=file, keyword=keyword)
    if filter is not None:
        filt = _text(hdr, "FILTER")
        if filt is None:
            raise EngineError("reference file has no FILTER keyword", file=file, keyword=keyword)
        if not ("ANY".startswith(filt) or filter.startswith(filt)):
            raise EngineError(f"FILTER={filt!r} does not match science data ({filter})", file=file, keyword=keyword)
    if ccdgain is not None:
        gain = hdr.get("CCDGAIN")
        if gain is None:
            raise EngineError("reference file has no CCDGAIN keyword", file=file, keyword=keyword)
        g = np.float32(float(gain))
        if g != np.float32(-1) and g != np.float32(ccdgain):
            raise EngineError(
                f"CCDGAIN={float(gain):g} does not match science data ({ccdgain:g})", file=file, keyword=keyword
            )


def check_table(
    hdr, *, filetype: str, keyword: str, file, detector: str | None = None, dummy_fatal: bool = False
) -> bool:
    """Check a reference *table*; returns False if its PEDIGREE is DUMMY (fatal if `dummy_fatal`)."""
    if is_dummy(hdr):
        if dummy_fatal:
            raise EngineError("reference table is a dummy (PEDIGREE=DUMMY)", file=file, keyword=keyword)
        return False
    check_reference(hdr, filetype=filetype, keyword=keyword, file=file, detector=detector)
    return True


_TABLES: OrderedDict[tuple, tuple] = OrderedDict()
_TABLES_LOCK = threading.Lock()
_TABLES_MAX = 16


def read_table(path) -> tuple[fits.Header, np.ndarray | None]:
    """(primary header, first extension's rows or None) of a reference table (see :func:`read_table_ext`)."""
    primary, _, data = read_table_ext(path)
    return primary, data


def read_table_ext(path) -> tuple[fits.Header, fits.Header | None, np.ndarray | None]:
    """(primary header, first extension's header, its rows) of a reference table, read once per file
    version: CCDTAB, OSCNTAB … are looked up for every chip of every exposure. The cache key is the
    file's path, inode, size and modification time, so a rewritten file is read again. Callers must
    not modify what they get. Raises what ``fits.open`` raises.
    """
    path = Path(path)
    st = os.stat(path)
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    with _TABLES_LOCK:
        hit = _TABLES.get(key)
        if hit is not None:
            _TABLES.move_to_end(key)
            return hit
    with fits.open(path, memmap=False) as hdul:
        primary = hdul[0].header.copy()
        header = hdul[1].header.copy() if len(hdul) > 1 else None
        data = hdul[1].data if len(hdul) > 1 else None
        data = data.copy() if data is not None else None
    with _TABLES_LOCK:
        _TABLES[key] = (primary, header, data)
        while len(_TABLES) > _TABLES_MAX:
            _TABLES.popitem(last=False)
    return primary, header, data


_DERIVED: OrderedDict[tuple, object] = OrderedDict()


def table_derived(path, name: str, fn):
    """``fn(rows)`` of a reference table's first extension, computed once per file version (e.g. the
    typed row array CCDTAB/OSCNTAB selection works on). Errors of `fn` are raised on every call."""
    path = Path(path)
    st = os.stat(path)
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, name)
    with _TABLES_LOCK:
        if key in _DERIVED:
            _DERIVED.move_to_end(key)
            return _DERIVED[key]
    _, _, data = read_table_ext(path)
    value = fn(data)
    with _TABLES_LOCK:
        _DERIVED[key] = value
        while len(_DERIVED) > _TABLES_MAX:
            _DERIVED.popitem(last=False)
    return value
