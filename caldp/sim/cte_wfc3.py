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


def add_trails(electrons: np.ndarray, *, ccdchip: int, expstart: float, tab: dict | None = None) -> np.ndarray:
    """CTE trails on a trimmed UVIS chip of detected electrons (float32 ``[row, col]``): each column
    read out PCTENPAR times through HSTCAL's readout model (what WF3CTE inverts) with this module's
    traps. Row r of the trimmed chip is r rows from the serial register (chip 1 is read at the top),
    which is its RAZ row, so the trap density is ``PCTEFRAC·(r+1)/2048``."""
    from caldp.engines.wfc3.uvis import pctecorr as P

    q, dpde, rprof, cprof = trap_model() if tab is None else (tab["q"], tab["dpde"], tab["rprof"], tab["cprof"])
    npar = PARAMS["PCTENPAR"]
    frac = (float(expstart) - CTEDATE0) / (CTEDATE1 - CTEDATE0)
    e = np.asarray(electrons, np.float64)
    sec = e[::-1] if ccdchip == 1 else e
    fff = P.scale_column(frac, sec.shape[0]).astype(np.float64)[:, None]
    out = np.ascontiguousarray(sec)
    for _ in range(npar):
        out = P.readout_fast(out, fff, q, dpde, npar, rprof, cprof)
    out = out[::-1] if ccdchip == 1 else out
    return out.astype(np.float32)


def write_references(refdir, *, biasfile: str, darkfile: str, size: str):
    """Write PCTETAB, BIACFILE (the simulated BIASFILE as FILETYPE CTEBIAS) and DRKCFILE (the DARKFILE
    as CTEDARK: the simulator's dark current has no CTE trails) into `refdir`; return their rmap
    entries and raw-header values ``{"PCTETAB": "iref$…", "BIACFILE": …, "DRKCFILE": …}``."""
    from .crdscache import RefEntry

    refdir = Path(refdir)
    prefix = f"su{size[0].lower()}c"
    kinds = (("PCTETAB", "cte"), ("BIACFILE", "bic"), ("DRKCFILE", "dkc"))
    names = {k: f"{prefix}{i:04d}i_{sfx}.fits" for i, (k, sfx) in enumerate(kinds, 1)}
    # these types match on date only: one set per cache, the full-size one when both sizes are there
    useafter = "2009-05-14 00:00:00" if size == "full" else "2009-05-13 00:00:00"
    base = {
        "TELESCOP": "HST",
        "INSTRUME": "WFC3",
        "DETECTOR": "UVIS",
        "USEAFTER": useafter,
        "PEDIGREE": "INFLIGHT 14/05/2009 01/01/2026",
        "DESCRIP": "caldp.sim PCTETAB",
    }
    write_pctetab(refdir / names["PCTETAB"], base)
    for key, src, ftype in (("BIACFILE", biasfile, "CTEBIAS"), ("DRKCFILE", darkfile, "CTEDARK")):
        with fits.open(refdir / src) as h:
            h[0].header["FILETYPE"] = ftype
            h[0].header["DESCRIP"] = f"caldp.sim {key.lower()}"
            tmp = refdir / (names[key] + ".tmp")
            h.writeto(tmp, overwrite=True)
        tmp.replace(refdir / names[key])
    entries = [RefEntry("wfc3", k.lower(), names[k], {}, useafter) for k, _ in kinds]
    return entries, {k: f"iref${v}" for k, v in names.items()}
