"""Reference-file sanity checks shared by the WFC3 UVIS and IR engines (``lib/wf3info.c``).

HSTCAL checks the primary header of every reference file before using it:

- ``FILETYPE`` must *start with* the expected type (``CheckTabType``/``CheckImgType``);
- ``DETECTOR`` must be a prefix of ``UVIS`` or ``IR`` (``CheckDetector``: the header value is
  compared over its own length, so ``UV`` passes for UVIS);
- ``FILTER`` (flats) must be a prefix of ``ANY`` or of the science filter (``CheckFilter``);
- ``CCDGAIN`` (BIASFILE) must equal the science gain as float32, or be −1 (``CheckGain``).

Every failure raises :class:`EngineError` naming the file and the reference keyword.

>>> from caldp.engines.common.fitsfile import Header
>>> h = Header({"FILETYPE": "CCD PARAMETERS", "DETECTOR": "UVIS"})
>>> check_reference(h, filetype="CCD PARAMETERS", detector="UVIS", keyword="CCDTAB", file="x_ccd.fits")
>>> check_reference(h, filetype="CCD PARAMETERS", detector="IR", keyword="CCDTAB", file="x_ccd.fits")
Traceback (most recent call last):
...
caldp.engines.common.errors.EngineError: x_ccd.fits: CCDTAB: DETECTOR='UVIS' does not match science data (IR)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common import fitsfile as ff
from ..common.crrejtab import CRRejPars, select_crrejtab
from ..common.errors import EngineError
from ..common.filecache import per_file_version
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


def read_table(path) -> tuple[ff.Header, np.ndarray | None]:
    """(primary header, first extension's rows or None) of a reference table (see :func:`read_table_ext`)."""
    primary, _, data = read_table_ext(path)
    return primary, data


def read_table_ext(path) -> tuple[ff.Header, ff.Header | None, np.ndarray | None]:
    """(primary header, first extension's header, its rows) of a reference table, read once per file
    version (:func:`~caldp.engines.common.filecache.per_file_version`): CCDTAB, OSCNTAB … are looked
    up for every chip of every exposure. Callers must not modify what they get. Raises what
    ``fitsfile.open`` raises.
    """
    return per_file_version(path, "table", _read_table_ext)


def _read_table_ext(path: Path):
    with ff.open(path) as hdul:
        primary = hdul[0].header.copy()
        header = hdul[1].header.copy() if len(hdul) > 1 else None
        data = hdul[1].data if len(hdul) > 1 else None
        data = data.copy() if data is not None else None
    return primary, header, data


def table_derived(path, name: str, fn):
    """``fn(rows)`` of a reference table's first extension, computed once per file version (e.g. the
    typed row array CCDTAB/OSCNTAB selection works on). Errors of `fn` are raised on every call."""
    return per_file_version(path, ("derived", name), lambda p: fn(read_table_ext(p)[2]))


def read_crrejtab(path: str | Path, *, detector: str | None = None, **criteria) -> CRRejPars:
    """Open CRREJTAB `path` (a DUMMY pedigree is fatal) and select the row (see select_crrejtab)."""
    path = Path(path)
    try:
        with ff.open(path) as hdul:
            check_table(
                hdul[0].header,
                filetype="COSMIC RAY REJECTION",
                keyword="CRREJTAB",
                file=path.name,
                detector=detector,
                dummy_fatal=True,
            )
            data = hdul[1].data if len(hdul) > 1 else None
            if data is None or len(data) == 0:
                raise EngineError("table is empty", file=path.name, keyword="CRREJTAB")
            return select_crrejtab(data, file=path.name, **criteria)
    except EngineError as exc:
        if exc.file is None:
            raise EngineError(exc.message, file=path.name, keyword="CRREJTAB") from None
        raise
    except (OSError, IndexError, KeyError, ValueError, TypeError) as exc:
        raise EngineError(f"cannot read table ({exc})", file=path.name, keyword="CRREJTAB") from exc
