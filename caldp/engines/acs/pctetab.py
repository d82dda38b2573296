"""PCTETAB, the ACS/WFC pixel-based CTE model (HSTCAL ``ctegen2/ctehelpers.c: loadPCTETAB``,
``acscte/docte.c``; cte-notes.md).

Layout: primary keywords ``CTE_NAME`` (must be the generation-3 name), ``CTE_VER``, ``PCTERNOI``
(read, then ignored: the CCDTAB read noise is used), ``PCTENSMD`` (must be 0), ``PCTETRSH``,
``FIXROCR``; then five sets of (``QPROF``, ``SCLBYCOL``, ``RPROF``, ``CPROF``). Set 1 (extensions
1–4) is the parallel model, sets 2–5 (extensions 5–8, 9–12, 13–16, 17–20) the serial model of amps
A, B, C, D. QPROF and SCLBYCOL are opened by extension number, RPROF/CPROF by name and EXTVER =
set number, as calacs.e does. ``CTEDATE0``, ``CTEDATE1``, ``PCTETLEN``, ``PCTENFOR``, ``PCTENPAR``
come from the set's QPROF header.

QPROF: 9999 rows (``TRAPS``) of ``W``, ``QLEV_Q``, ``DPDE_W``; a trap counts as used when
``QLEV_Q < 999999`` (``cte_traps``). SCLBYCOL: 8192 rows of ``IZ``, ``SENS_0512`` … ``SENS_2048``.
RPROF/CPROF: float32 images with NAXIS1 = trap, NAXIS2 = transfer (``[transfer, trap]`` here).
Every problem is an :class:`EngineError` naming the file and the extension/column/keyword.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common import fitsfile as ff
from ..common.errors import EngineError
from ..common.filecache import per_file_version

GEN3_CTE_NAME = "Par/Serial PixelCTE 2023"
GEN3_CTE_VER = "3.0"
GEN2_CTE_NAME = "PixelCTE 2012"
N_TRAPS = 9999  # TRAPS in pcte.h: QPROF rows read
N_SCALE_COLUMNS = 8192  # N_COLUMNS_FOR_RAZ_CDAB_ALIGNED_IMAGE: SCLBYCOL rows read
SET_START = {"parallel": 1, "A": 5, "B": 9, "C": 13, "D": 17}  # first extension of each set
KEYWORD = "PCTETAB"


@dataclass(frozen=True, slots=True)
class CteSet:
    """One set of the PCTETAB (the parallel model or one amp's serial model).

    ``qlev``, ``dpde``: float64 (N_TRAPS,); ``iz`` int64 (8192,); ``sens``: float64 (4, 8192) for rows
    512, 1024, 1536, 2048; ``rprof``, ``cprof``: float32 (transfers, traps).
    """

    extver: int
    cte_date0: float
    cte_date1: float
    cte_len: int
    n_forward: int
    n_par: int
    qlev: np.ndarray
    dpde: np.ndarray
    n_traps_used: int
    iz: np.ndarray
    sens: np.ndarray
    rprof: np.ndarray
    cprof: np.ndarray


@dataclass(frozen=True, slots=True)
class CteModel:
    """The whole PCTETAB: primary keywords and the five sets (``sets['parallel']``, ``sets['A']`` …)."""

    name: str
    cte_name: str
    cte_ver: str
    rn_amp: float
    noise_mit: int
    thresh: float
    fix_rocr: int
    pedigree: str
    descrip: str
    sets: dict


def _err(path, msg, what):
    return EngineError(msg, file=Path(path).name, keyword=f"{KEYWORD} {what}")


def _key(hdr, key, kind, path, where):
    if key not in hdr:
        raise _err(path, f"keyword {key} missing", f"{where} {key}")
    value = hdr[key]
    try:
        if kind is str:
            return str(value).strip()
        if kind is int:
            if isinstance(value, float) and value != int(value):
                raise ValueError(value)
            return int(value)
        return float(value)
    except (TypeError, ValueError) as exc:
        raise _err(path, f"keyword {key} = {value!r} is not {kind.__name__}", f"{where} {key}") from exc


def _column(data, name, path, ext, nrows):
    names = {n.upper(): n for n in (data.dtype.names or ())}
    if name.upper() not in names:
        raise _err(path, f"column {name} not found in extension {ext}", f"[{ext}] {name}")
    col = np.asarray(data[names[name.upper()]])
    if col.ndim != 1 or col.shape[0] < nrows:
        raise _err(path, f"column {name} has {col.shape[0]} rows, {nrows} are needed", f"[{ext}] {name}")
    return col[:nrows]


def _table(hdul, ext, extname, path):
    if ext >= len(hdul):
        raise _err(path, f"extension {ext} ({extname}) missing", f"[{ext}]")
    hdu = hdul[ext]
    if not hdu.is_table or hdu.data is None:
        raise _err(path, f"extension {ext} is not the {extname} table", f"[{ext}]")
    return hdu


def _image(hdul, extname, extver, path, ntraps, cte_len):
    try:
        hdu = hdul[extname, extver]
    except KeyError as exc:
        raise _err(path, f"image {extname},{extver} missing", f"{extname},{extver}") from exc
    data = hdu.data
    if data is None or data.ndim != 2 or data.shape[1] < ntraps or data.shape[0] < cte_len:
        shape = None if data is None else data.shape[::-1]
        raise _err(
            path,
            f"image {extname},{extver} has NAXIS {shape}; needs ≥ {ntraps} traps × {cte_len} transfers",
            f"{extname},{extver}",
        )
    return np.ascontiguousarray(data, dtype=np.float32)


def _read_set(hdul, start, path) -> CteSet:
    extver = start // 4 + 1
    q = _table(hdul, start, "QPROF", path)
    where = f"[{start}]"
    hdr = q.header
    date0 = _key(hdr, "CTEDATE0", float, path, where)
    date1 = _key(hdr, "CTEDATE1", float, path, where)
    cte_len = _key(hdr, "PCTETLEN", int, path, where)
    n_forward = _key(hdr, "PCTENFOR", int, path, where)
    n_par = _key(hdr, "PCTENPAR", int, path, where)
    if not 1 <= cte_len <= 100:
        raise _err(path, f"PCTETLEN = {cte_len} outside 1..100", f"{where} PCTETLEN")
    if n_par < 1 or n_forward < 1:
        raise _err(path, "PCTENFOR and PCTENPAR must be ≥ 1", f"{where} PCTENPAR")
    if date1 == date0:
        raise _err(path, "CTEDATE1 equals CTEDATE0", f"{where} CTEDATE1")
    _column(q.data, "W", path, start, N_TRAPS)
    qlev = _column(q.data, "QLEV_Q", path, start, N_TRAPS).astype(np.float64)
    dpde = _column(q.data, "DPDE_W", path, start, N_TRAPS).astype(np.float64)
    used = int(np.count_nonzero(qlev < 999999.0))
    if used and np.any(np.diff(qlev[:used]) < 0):
        raise _err(path, "QLEV_Q of the used traps is not ascending", f"[{start}] QLEV_Q")
    s = _table(hdul, start + 1, "SCLBYCOL", path)
    iz = _column(s.data, "IZ", path, start + 1, N_SCALE_COLUMNS).astype(np.int64)
    sens = np.stack(
        [
            _column(s.data, f"SENS_{r:04d}", path, start + 1, N_SCALE_COLUMNS).astype(np.float64)
            for r in (512, 1024, 1536, 2048)
        ]
    )
    rprof = _image(hdul, "RPROF", extver, path, N_TRAPS, cte_len)
    cprof = _image(hdul, "CPROF", extver, path, N_TRAPS, cte_len)
    return CteSet(
        extver=extver,
        cte_date0=date0,
        cte_date1=date1,
        cte_len=cte_len,
        n_forward=n_forward,
        n_par=n_par,
        qlev=qlev,
        dpde=dpde,
        n_traps_used=used,
        iz=iz,
        sens=sens,
        rprof=rprof,
        cprof=cprof,
    )


def _read(path: Path) -> CteModel:
    try:
        with ff.open(path) as hdul:
            p = hdul[0].header
            if "CTE_NAME" not in p:
                raise _err(path, "no CTE_NAME keyword: this PCTETAB is obsolete", "CTE_NAME")
            cte_name = str(p["CTE_NAME"]).strip()
            if cte_name != GEN3_CTE_NAME:
                gen = "Generation 2" if cte_name == GEN2_CTE_NAME else "Generation 1"
                raise _err(path, f"{gen} PCTETAB ({cte_name!r}) is obsolete", "CTE_NAME")
            model = dict(
                name=Path(path).name,
                cte_name=cte_name,
                cte_ver=_key(p, "CTE_VER", str, path, "primary"),
                rn_amp=_key(p, "PCTERNOI", float, path, "primary"),
                noise_mit=_key(p, "PCTENSMD", int, path, "primary"),
                thresh=_key(p, "PCTETRSH", float, path, "primary"),
                fix_rocr=_key(p, "FIXROCR", int, path, "primary"),
                pedigree=str(p.get("PEDIGREE", "")).strip(),
                descrip=str(p.get("DESCRIP", "")).strip(),
            )
            sets = {name: _read_set(hdul, start, path) for name, start in SET_START.items()}
    except EngineError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise _err(path, f"cannot read the CTE table ({exc})", "file") from exc
    return CteModel(sets=sets, **model)


def read_pctetab(path) -> CteModel:
    """The parsed PCTETAB (once per file version)."""
    path = Path(path)
    if not path.is_file():
        raise EngineError("reference file not found", file=path.name, keyword=KEYWORD)
    return per_file_version(path, ("acs-pctetab",), _read)
