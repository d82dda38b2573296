"""PCTETAB for WFC3/UVIS pixel-based CTE (HSTCAL ``wf3cte/getctepars.c``).

Layout calwf3.e 3.7.x reads (and this reader checks):

* primary header: CTE_NAME, CTE_VER (strings), CTEDATE0, CTEDATE1 (MJD), PCTETLEN, PCTENFOR,
  PCTENPAR, PCTENSMD, FIXROCR (integers), PCTETRSH (float);
* extension **1** (by number) — table with columns W, QLEV_Q, DPDE_W; the first 999 rows are read
  (fewer is a table error); traps with ``QLEV_Q ≥ 999999`` are unused;
* extension **2** (by number) — table IZ, SENS_0512, SENS_1024, SENS_1536, SENS_2048, 8412 rows
  (read and checked by calwf3 but not used by the 2019 algorithm);
* images RPROF and CPROF (found by EXTNAME, EXTVER 1), float32 with ``NAXIS1 = 999`` (one value
  per trap) and at least 60 rows (the trail length the algorithm uses): the code indexes them
  as ``data[w + t·999]``.

Every problem raises :class:`EngineError` naming the file and the keyword, column or extension.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from ...common.errors import EngineError
from ...common.filecache import per_file_version

TRAPS = 999  # rows of QPROF read; QLEV_Q >= UNUSED_Q marks an unused trap
UNUSED_Q = 999999.0
RAZ_COLS = 8412
SZ_CBUF = 24  # calwf3 reads CTE_NAME/CTE_VER into 24-character buffers (longer ones are cut)
TDIM = 60  # trail length of the 2019 algorithm (``_TDIM_``)
INT_KEYS = ("PCTETLEN", "PCTENFOR", "PCTENPAR", "PCTENSMD", "FIXROCR")


@dataclass(frozen=True, slots=True)
class CTEModel:
    """One PCTETAB: header parameters and the trap model.

    ``q``, ``dpde``: float64 (999,) charge level and trap size per trap; ``rprof``/``cprof``:
    float32 (nt, 999) emission and cumulative profiles (row t = shifts since the trap filled).
    """

    name: str
    ver: str
    date0: float
    date1: float
    tlen: int
    nfor: int
    npar: int
    nsmd: int
    thresh: float
    fixrocr: int
    q: np.ndarray
    dpde: np.ndarray
    rprof: np.ndarray
    cprof: np.ndarray
    ntraps: int  # traps with QLEV_Q < 999999
    pedigree: str = ""
    descrip: str = ""

    def scale_fraction(self, expstart: float) -> float:
        """``PCTEFRAC = (EXPSTART − CTEDATE0)/(CTEDATE1 − CTEDATE0)`` (float64, as wf3cte.c)."""
        return (float(expstart) - self.date0) / (self.date1 - self.date0)


def _fail(path, what, message):
    raise EngineError(message, file=Path(path).name, keyword=f"PCTETAB {what}")


def _column(path, ext, data, name, nrows):
    names = [n.upper() for n in (data.columns.names if data is not None else [])]
    if name not in names:
        _fail(path, f"[{ext}] column {name}", "column missing")
    col = np.asarray(data.field(names.index(name)))
    if col.shape[0] < nrows:
        _fail(path, f"[{ext}] column {name}", f"has {col.shape[0]} rows, calwf3 reads {nrows}")
    return col[:nrows]


def _read(path: Path) -> CTEModel:
    try:
        hdul = fits.open(path, memmap=False)
    except (OSError, ValueError) as exc:
        _fail(path, "file", f"cannot be opened ({exc})")
    with hdul:
        hdr = hdul[0].header
        for key in ("CTE_NAME", "CTE_VER", "CTEDATE0", "CTEDATE1", "PCTETRSH", *INT_KEYS):
            if key not in hdr:
                _fail(path, key, "keyword missing from the primary header")
        try:
            ints = {k: int(hdr[k]) for k in INT_KEYS}
            date0, date1, thresh = float(hdr["CTEDATE0"]), float(hdr["CTEDATE1"]), float(hdr["PCTETRSH"])
        except (TypeError, ValueError) as exc:
            _fail(path, "primary header", f"non-numeric parameter ({exc})")
        if date1 == date0:
            _fail(path, "CTEDATE1", "CTEDATE1 equals CTEDATE0 (no time scaling possible)")
        if len(hdul) < 3 or not isinstance(hdul[1], fits.BinTableHDU) or not isinstance(hdul[2], fits.BinTableHDU):
            _fail(path, "extensions 1-2", "extensions 1 (QPROF) and 2 (SCLBYCOL) must be binary tables")
        q1 = hdul[1].data
        _column(path, 1, q1, "W", TRAPS)
        q = _column(path, 1, q1, "QLEV_Q", TRAPS).astype(np.float64)
        dpde = _column(path, 1, q1, "DPDE_W", TRAPS).astype(np.float64)
        s2 = hdul[2].data
        for name in ("IZ", "SENS_0512", "SENS_1024", "SENS_1536", "SENS_2048"):
            _column(path, 2, s2, name, RAZ_COLS)
        profs = {}
        for name in ("RPROF", "CPROF"):
            try:
                img = hdul[name, 1]
            except KeyError:
                _fail(path, f"[{name},1]", "image extension missing")
            data = img.data
            if data is None or data.ndim != 2 or data.shape[1] != TRAPS or data.shape[0] < TDIM:
                shape = None if data is None else data.shape
                _fail(path, f"[{name},1]", f"shape {shape}; calwf3 needs NAXIS1={TRAPS}, NAXIS2>={TDIM}")
            profs[name] = np.ascontiguousarray(data, dtype=np.float32)
    return CTEModel(
        name=str(hdr["CTE_NAME"])[:SZ_CBUF],
        ver=str(hdr["CTE_VER"])[:SZ_CBUF],
        pedigree=str(hdr.get("PEDIGREE", "")),
        descrip=str(hdr.get("DESCRIP", "")),
        date0=date0,
        date1=date1,
        tlen=ints["PCTETLEN"],
        nfor=ints["PCTENFOR"],
        npar=ints["PCTENPAR"],
        nsmd=ints["PCTENSMD"],
        thresh=thresh,
        fixrocr=ints["FIXROCR"],
        q=np.ascontiguousarray(q),
        dpde=np.ascontiguousarray(dpde),
        rprof=profs["RPROF"],
        cprof=profs["CPROF"],
        ntraps=int(np.count_nonzero(q < UNUSED_Q)),
    )


def read_pctetab(path: str | Path) -> CTEModel:
    """The PCTETAB at `path` (parsed once per file version); EngineError on bad input."""
    path = Path(path)
    if not path.is_file():
        _fail(path, "file", "reference file not found")
    return per_file_version(path, "wfc3-pctetab", _read)


@dataclass(frozen=True, slots=True)
class CTEParams:
    """Parameters one exposure runs with (``CompareCTEParams``): table values, overridden by the
    raw primary header's PCTETLEN/PCTENFOR/PCTENPAR when those are > 1 and differ; PCTENSMD is
    always taken from the header; FIXROCR only if negative (calwf3's test ``0 > v && v <= 1``).
    ``header`` holds the primary keywords calwf3 writes (CTE_NAME … FIXROCR)."""

    nfor: int
    npar: int
    tlen: int
    nsmd: int
    fixrocr: int
    header: dict


def exposure_params(model: CTEModel, phdr, *, file: str = "raw") -> CTEParams:
    """Merge the raw primary header `phdr` with `model` as ``CompareCTEParams`` does.

    The five override keywords must exist in the raw header (calwf3: "Header problem").
    """
    vals = {}
    for key in ("PCTENSMD", "PCTETLEN", "PCTENFOR", "PCTENPAR", "FIXROCR"):
        if key not in phdr:
            raise EngineError(
                "keyword missing from the raw primary header (calwf3: header problem)", file=file, keyword=key
            )
        try:
            vals[key] = int(phdr[key])
        except (TypeError, ValueError):
            raise EngineError("not an integer", file=file, keyword=key) from None
    out = {
        "CTE_NAME": model.name,
        "CTE_VER": model.ver,
        "CTEDATE0": model.date0,
        "PCTETRSH": model.thresh,
        "CTEDATE1": model.date1,
    }
    nsmd = vals["PCTENSMD"]
    tlen = vals["PCTETLEN"] if (vals["PCTETLEN"] != model.tlen and vals["PCTETLEN"] > 1) else model.tlen
    if tlen == model.tlen:
        out["PCTETLEN"] = model.tlen
    nfor = vals["PCTENFOR"] if (vals["PCTENFOR"] > 1 and vals["PCTENFOR"] != model.nfor) else model.nfor
    if nfor == model.nfor and not (vals["PCTENFOR"] > 1 and vals["PCTENFOR"] != model.nfor):
        out["PCTENFOR"] = model.nfor
    npar = vals["PCTENPAR"] if (vals["PCTENPAR"] > 1 and vals["PCTENPAR"] != model.npar) else model.npar
    if not (vals["PCTENPAR"] > 1 and vals["PCTENPAR"] != model.npar):
        out["PCTENPAR"] = model.npar
    fr = vals["FIXROCR"]
    if 0 > fr and fr != model.fixrocr:
        fixrocr = fr
    else:
        fixrocr = model.fixrocr
        out["FIXROCR"] = model.fixrocr
    return CTEParams(nfor=nfor, npar=npar, tlen=tlen, nsmd=nsmd, fixrocr=fixrocr, header=out)
