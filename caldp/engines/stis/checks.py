"""Up-front checks of a STIS exposure before any pixel is touched (HSTCAL ``cs1/getkeyinfo1.c``,
``cs1/getflags1.c``, ``cs2``'s CRREJTAB lookup): the raw header's CCD keywords, and every reference
file a PERFORM switch needs exists (:func:`needed_references` for the CCD,
:func:`needed_references_mama` for the MAMAs) — all named in one :class:`EngineError` (file and keyword).

Where cs0.e is lenient this is stricter, on purpose (docs/notes/stis.md): cs0.e takes a missing
CCDGAIN, CCDOFFST, BINAXIS1 or BINAXIS2 as 1 without a word; here each is an error naming the keyword.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..common.errors import EngineError
from ..common.refs import is_given

#: The MAMA detectors (calstis1's MAMA path; the rest of the STIS engine is the CCD's).
MAMAS = ("FUV-MAMA", "NUV-MAMA")

#: Raw primary keywords calstis1 reads for the CCD (``GetKeyInfo1``), in its order.
CCD_KEYWORDS = ("CCDAMP", "CCDGAIN", "CCDOFFST", "BINAXIS1", "BINAXIS2")
AMPS = "ABCD"


def key_info(primary, fname: str) -> None:
    """DETECTOR, then the CCD keywords: present, integers where calstis1 reads integers, and
    CCDAMP one of A–D (``CCDAMP = `X' is invalid`` in cs0.e)."""
    if "DETECTOR" not in primary:
        raise EngineError("required keyword missing", file=fname, keyword="DETECTOR")
    if str(primary["DETECTOR"]).strip() != "CCD":
        return  # calstis1 says which detectors the builtin engine supports
    for key in CCD_KEYWORDS:
        if key not in primary:
            raise EngineError("required keyword missing", file=fname, keyword=key)
        value = primary[key]
        if key == "CCDAMP":
            amp = str(value).strip().upper()
            if len(amp) != 1 or amp not in AMPS:
                raise EngineError(f"CCDAMP = `{value}' is invalid (one of A, B, C, D)", file=fname, keyword=key)
        elif isinstance(value, bool) or not isinstance(value, int):
            raise EngineError(f"{key} = {value!r} is not an integer", file=fname, keyword=key)


def needed_references(primary, perform: Callable[[str], bool], crcorr: bool) -> list[tuple[str, bool]]:
    """(keyword, required) of the reference files this exposure's switches need, in ``GetFlags1``'s
    order; `required` False: a blank or N/A name just leaves that part out (BPIXTAB for the CCD,
    the flats one by one, TDSTAB)."""
    need: list[tuple[str, bool]] = []
    if perform("DQICORR"):
        need.append(("BPIXTAB", False))
    need.append(("CCDTAB", True))
    if perform("BIASCORR"):
        need.append(("BIASFILE", True))
    if perform("DARKCORR"):
        need.append(("DARKFILE", True))
    if perform("FLATCORR"):
        need += [("PFLTFILE", False), ("DFLTFILE", False), ("LFLTFILE", False)]
    if perform("PHOTCORR") and str(primary.get("OBSTYPE", "")).strip() == "IMAGING":
        need += [("IMPHTTAB", True), ("TDSTAB", False)]
    if crcorr:
        need.append(("CRREJTAB", True))
    return need


def check_references(primary, need: list[tuple[str, bool]], where: Callable[[str], Path], fname: str) -> None:
    """Every named reference of `need` exists (cs0.e: ``KEYWORD `name' not found or can't open``, then
    *Calibration file(s) missing*); `where` resolves a keyword's value to a path. The first missing
    file is the error's file and keyword (the raw file `fname` when the name is blank), any others
    are listed in its message."""
    missing: list[tuple[str, str, Path | None]] = []
    for key, required in need:
        value = primary.get(key)
        if not is_given(value):
            if required:
                missing.append((key, "" if value is None else str(value).strip(), None))
            continue
        path = where(key)
        if not path.is_file():
            missing.append((key, str(value).strip(), path))
    flats = [k for k, _ in need if k in ("PFLTFILE", "DFLTFILE", "LFLTFILE")]
    if flats and not any(is_given(primary.get(k)) for k in flats):
        missing.append(("PFLTFILE", "", None))  # cs0.e: "PFLTFILE, DFLTFILE, and LFLTFILE are all blank."
    if not missing:
        return
    key, value, path = missing[0]
    if path is None:
        msg = (
            "FLATCORR=PERFORM but PFLTFILE, DFLTFILE and LFLTFILE are all blank"
            if key == "PFLTFILE" and not value
            else "reference file is not given (blank, N/A or missing keyword)"
        )
    else:
        msg = f"not found or can't open ({path})"
    if len(missing) > 1:
        msg += "; also missing: " + ", ".join(f"{k} {v or '(blank)'}" for k, v, _ in missing[1:])
    raise EngineError(msg, file=value or fname, keyword=key)


def needed_references_mama(primary, perform: Callable[[str], bool]) -> list[tuple[str, bool]]:
    """(keyword, required) of the references a MAMA exposure's switches need (``GetFlags1``): the
    BPIXTAB is required for the MAMAs, MLINTAB for GLINCORR/LFLGCORR, TDCTAB with the NUV-MAMA dark."""
    need: list[tuple[str, bool]] = []
    if perform("DQICORR"):
        need.append(("BPIXTAB", True))
    if perform("GLINCORR") or perform("LFLGCORR"):
        need.append(("MLINTAB", True))
    if perform("DARKCORR"):
        need.append(("DARKFILE", True))
        if str(primary.get("DETECTOR", "")).strip() == "NUV-MAMA":
            need.append(("TDCTAB", True))
    if perform("FLATCORR"):
        need += [("PFLTFILE", False), ("DFLTFILE", False), ("LFLTFILE", False)]
    if perform("PHOTCORR") and str(primary.get("OBSTYPE", "")).strip() == "IMAGING":
        need += [("IMPHTTAB", True), ("TDSTAB", False)]
    return need
