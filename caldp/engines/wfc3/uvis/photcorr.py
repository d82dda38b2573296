"""PHOTCORR for UVIS (HSTCAL ``wf32d/photmode.c``, ``wf32d/dophot.c``, ``lib/getphttab.c``; calib-wfc3.md §D4).

PHOTMODE = ``"WFC3 UVIS<chip> <FILTER> MJD#<EXPSTART %.4f>"`` (FILTER left out when it starts with
CLEAR) is always written to the SCI header. With PHOTCORR = PERFORM, the IMPHTTAB gives PHOTFLAM,
PHOTPLAM, PHOTBW and the chip's PHTFLAM<k>; the *other* chip's PHTFLAM is obtained by querying the
table again with ``uvis1`` ↔ ``uvis2`` swapped. ``PHOTFNU = f32(3.33564e4·PHTFLAM<k>·PHOTPLAM²)``.

Keyword placement (``doPhot``): SCI gets PHOTFLAM, PHOTZPT, PHOTPLAM, PHOTBW, PHTFLAM<k>, PHOTFNU,
and — for chip 1, or a chip-2 subarray — the other PHTFLAM too; the primary gets PHOTFLAM, PHOTZPT,
PHTFLAM1, PHTFLAM2. HSTCAL writes the primary header only with imset 1, so the product's primary
values are those of imset 1 (chip 2 in a full frame).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future

from ...common.imphttab import lookup

log = logging.getLogger(__name__)

UVIS_NAMES = ("PHOTFLAM", "PHOTPLAM", "PHOTBW", "PHTFLAM1", "PHTFLAM2")


def photmode(chip: int, filter: str, expstart: float) -> str:
    """The PHOTMODE string.

    >>> photmode(2, "F606W", 60300.25531)
    'WFC3 UVIS2 F606W MJD#60300.2553'
    >>> photmode(1, "CLEAR", 55000.0)
    'WFC3 UVIS1 MJD#55000.0000'
    """
    text = f"WFC3 UVIS{chip}"
    if not filter.startswith("CLEAR"):
        text += f" {filter}"
    return text + f" MJD#{expstart:0.4f}"


def _table_names(path) -> tuple[str, ...]:
    st = os.stat(path)
    return _table_names_cached(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _table_names_cached(path: str, size: int, mtime_ns: int) -> tuple[str, ...]:
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        n = int(hdul[0].header.get("NEXTEND", len(hdul) - 1))
    return UVIS_NAMES[: max(0, min(n, len(UVIS_NAMES)))]


def phot_values(path, mode: str, chip: int) -> dict[str, float]:
    """Photometry values (float64) for `mode` of `chip`; includes both PHTFLAM1 and PHTFLAM2 and PHOTFNU.

    Raises EngineError (from the table lookup) when no row matches. Results are cached per table
    file (path, size, modification time), mode and chip: a CR-SPLIT product and its exposures
    query the same modes.
    """
    st = os.stat(path)
    return dict(_phot_values_cached(str(path), st.st_size, st.st_mtime_ns, mode, chip))


@functools.lru_cache(maxsize=64)
def _phot_values_cached(path: str, size: int, mtime_ns: int, mode: str, chip: int) -> tuple:
    return tuple(_phot_values(path, mode, chip).items())


_LOOKUPS: OrderedDict[tuple, Future] = OrderedDict()
_LOOKUPS_LOCK = threading.Lock()
_LOOKUPS_MAX = 64


def _lookup(path, mode: str, names: tuple[str, ...]) -> dict[str, float]:
    """IMPHTTAB values of one mode, computed once per table file (path, size, modification time)
    and mode: chip 1's query of the other chip is chip 2's own query (and the reverse). Threads
    asking for a mode another thread is computing wait for that result instead of repeating it.
    """
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns, mode, tuple(names))
    with _LOOKUPS_LOCK:
        fut = _LOOKUPS.get(key)
        owner = fut is None
        if owner:
            fut = _LOOKUPS[key] = Future()
            while len(_LOOKUPS) > _LOOKUPS_MAX:
                _LOOKUPS.popitem(last=False)
    if owner:
        try:
            fut.set_result(tuple(lookup(path, mode, names=tuple(names)).items()))
        except BaseException as exc:
            with _LOOKUPS_LOCK:
                _LOOKUPS.pop(key, None)  # an error is not cached: the next call raises it again
            fut.set_exception(exc)
            raise
    return dict(fut.result())


def prefetch(path, modes) -> threading.Thread:
    """Look up `modes` (PHOTMODE strings) of IMPHTTAB `path` in a background thread, so that
    PHOTCORR finds them done; errors are left for PHOTCORR's own lookup to raise."""

    def run():
        try:
            names = _table_names(path)
            for mode in modes:
                _lookup(path, mode, names)
        except Exception:  # noqa: BLE001 - PHOTCORR repeats the lookup and reports the error
            log.debug("IMPHTTAB prefetch of %s failed", path, exc_info=True)

    thread = threading.Thread(target=run, name="imphttab-prefetch", daemon=True)
    thread.start()
    return thread


def _phot_values(path, mode: str, chip: int) -> dict[str, float]:
    names = _table_names(path)
    vals = _lookup(path, mode, names=names)
    own = "uvis1" if chip == 1 else "uvis2"
    other = "uvis2" if chip == 1 else "uvis1"
    out = {
        "PHOTFLAM": vals.get("PHOTFLAM", 0.0),
        "PHOTPLAM": vals.get("PHOTPLAM", 0.0),
        "PHOTBW": vals.get("PHOTBW", 0.0),
        "PHOTZPT": vals.get("PHOTZPT", 0.0),
    }
    k = 1 if chip == 1 else 2
    out[f"PHTFLAM{k}"] = vals.get(f"PHTFLAM{k}", 0.0)
    swapped = mode.lower().replace(own, other, 1)
    other_vals = _lookup(path, swapped, names=names)
    j = 2 if chip == 1 else 1
    out[f"PHTFLAM{j}"] = other_vals.get(f"PHTFLAM{j}", 0.0)
    out["PHOTFNU"] = 3.33564e4 * out[f"PHTFLAM{k}"] * out["PHOTPLAM"] * out["PHOTPLAM"]
    return out
