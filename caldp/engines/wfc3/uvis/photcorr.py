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

import logging
import threading

from ...common import fitsfile as ff
from ...common.filecache import per_file_version
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
    return per_file_version(path, "uvis-phot-names", _read_table_names)


def _read_table_names(path) -> tuple[str, ...]:
    with ff.open(path) as hdul:
        n = int(hdul[0].header.get("NEXTEND", len(hdul) - 1))
    return UVIS_NAMES[: max(0, min(n, len(UVIS_NAMES)))]


def prefetch(path, modes) -> threading.Thread:
    """Look up `modes` (PHOTMODE strings) of IMPHTTAB `path` in a background thread, so that
    PHOTCORR finds them done; errors are left for PHOTCORR's own lookup to raise."""

    def run():
        try:
            names = _table_names(path)
            for mode in modes:
                lookup(path, mode, names=names)
        except Exception:  # noqa: BLE001 - PHOTCORR repeats the lookup and reports the error
            log.debug("IMPHTTAB prefetch of %s failed", path, exc_info=True)

    thread = threading.Thread(target=run, name="imphttab-prefetch", daemon=True)
    thread.start()
    return thread


def phot_values(path, mode: str, chip: int) -> dict[str, float]:
    """Photometry values (float64) for `mode` of `chip`; includes both PHTFLAM1 and PHTFLAM2 and PHOTFNU.

    Raises EngineError (from the table lookup) when no row matches (lookups are kept per table
    version and mode by :func:`~caldp.engines.common.imphttab.lookup`).
    """
    names = _table_names(path)
    vals = lookup(path, mode, names=names)
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
    other_vals = lookup(path, swapped, names=names)
    j = 2 if chip == 1 else 1
    out[f"PHTFLAM{j}"] = other_vals.get(f"PHTFLAM{j}", 0.0)
    out["PHOTFNU"] = 3.33564e4 * out[f"PHTFLAM{k}"] * out["PHOTPLAM"] * out["PHOTPLAM"]
    return out
