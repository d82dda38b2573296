"""Synthetic WFC3/UVIS pixel-based CTE references: PCTETAB, BIACFILE and DRKCFILE.

Format as calwf3.e 3.7.x reads them (caldp/engines/wfc3/uvis/pctetab.py describes the PCTETAB).
The trap model is made up but strong: ``NTRAPS`` traps with charge levels spread geometrically
from 2 to 20000 e⁻, one electron each, emptying with a ~5-shift exponential, so that near the top
of a chip (PCTEFRAC·row/2048 ≈ 1) a faint 50 e⁻ source loses about a quarter of its charge into
a visible trail.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

TRAPS = 999
NTRAPS = 32
TDIM_FILE = 100
RAZ_COLS = 8412
CTE_NAME = "PixelCTE 2019 caldp.sim"  # calwf3 keeps 24 characters
CTE_VER = "2.0"
CTEDATE0 = 54962.0  # UVIS installation (MJD)
CTEDATE1 = 57023.0  # model pinning (MJD)
PARAMS = {"PCTETLEN": 60, "PCTENFOR": 5, "PCTENPAR": 7, "PCTENSMD": 0, "PCTETRSH": -10.0, "FIXROCR": 1}
RAW_KEYS = {"PCTETLEN": 0, "PCTENFOR": 0, "PCTENPAR": 0, "PCTENSMD": 0, "FIXROCR": 0}


def trap_model(ntraps: int = NTRAPS, *, tau: float = 5.0, qmin: float = 2.0, qmax: float = 20000.0):
    """``(q, dpde, rprof, cprof)``: float64 (999,) ×2 and float32 (100, 999) ×2 arrays.

    Unused traps have ``q = 999999``; ``cprof[t] = 1 − Σ_{k≤t} rprof[k]`` (what is left to flush).
    """
    q = np.full(TRAPS, 999999.0)
    q[:ntraps] = np.round(np.geomspace(qmin, qmax, ntraps), 2)
    dpde = np.zeros(TRAPS)
    dpde[:ntraps] = 1.0
    t = np.arange(1, TDIM_FILE + 1, dtype=np.float64)
    taus = tau * (1.0 + 0.5 * np.linspace(0.0, 1.0, ntraps))  # deeper traps release a bit slower
    rprof = np.zeros((TDIM_FILE, TRAPS), np.float32)
    cprof = np.zeros((TDIM_FILE, TRAPS), np.float32)
    for w in range(ntraps):
        e = np.exp(-(t - 1) / taus[w]) * (1 - np.exp(-1 / taus[w]))
        rprof[:, w] = e
        cprof[:, w] = np.clip(1.0 - np.cumsum(e), 0.0, 1.0)
    return q, dpde, rprof, cprof


def pctetab_hdus(primary_cards: dict, *, ntraps: int = NTRAPS, **kw) -> fits.HDUList:
    """The PCTETAB as an HDUList: primary (CTE_NAME … FIXROCR), QPROF, SCLBYCOL, RPROF, CPROF.

    `kw` overrides the PARAMS keywords (tests make broken tables this way).
    """
    q, dpde, rprof, cprof = trap_model(ntraps)
    ph = fits.PrimaryHDU()
    for k, v in primary_cards.items():
        ph.header[k] = v
    ph.header["FILETYPE"] = "PIXCTE"
    ph.header["CTE_NAME"] = CTE_NAME
    ph.header["CTE_VER"] = CTE_VER
    ph.header["CTEDATE0"] = CTEDATE0
    ph.header["CTEDATE1"] = CTEDATE1
    for k, v in {**PARAMS, **kw}.items():
        ph.header[k] = v
    qprof = fits.BinTableHDU.from_columns(
        [
            fits.Column("W", "J", array=np.arange(1, TRAPS + 1, dtype=np.int32)),
            fits.Column("QLEV_Q", "D", array=q),
            fits.Column("DPDE_W", "D", array=dpde),
        ],
        name="QPROF",
    )
    ones = np.ones(RAZ_COLS, np.float32)
    scl = fits.BinTableHDU.from_columns(
        [fits.Column("IZ", "J", array=np.arange(1, RAZ_COLS + 1, dtype=np.int32))]
        + [fits.Column(f"SENS_{n:04d}", "E", array=ones) for n in (512, 1024, 1536, 2048)],
        name="SCLBYCOL",
    )
    r = fits.ImageHDU(rprof, name="RPROF")
    c = fits.ImageHDU(cprof, name="CPROF")
    for h in (r, c):
        h.header["EXTVER"] = 1
    return fits.HDUList([ph, qprof, scl, r, c])


def write_pctetab(path: Path, primary_cards: dict | None = None, **kw) -> Path:
    """Write the synthetic PCTETAB at `path` (temp name, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    pctetab_hdus(primary_cards or {}, **kw).writeto(tmp, overwrite=True)
    tmp.replace(path)
    return path
