"""Pixel-based CTE references for simulated ACS/WFC data: a synthetic but format-correct PCTETAB and
the CTE-corrected dark (DRKCFILE).

The PCTETAB has the layout calacs.e 10.x reads (``ctegen2/ctehelpers.c: loadPCTETAB``; cte-notes.md):
a primary header with ``CTE_NAME`` (the generation-3 name, anything else is refused as obsolete),
``CTE_VER``, ``PCTERNOI``, ``PCTENSMD`` (0), ``PCTETRSH``, ``FIXROCR``; then 5 sets of 4 extensions
(``QPROF`` table, ``SCLBYCOL`` table, ``RPROF`` and ``CPROF`` images), set 1 the parallel model and
sets 2–5 the serial model of amps A, B, C, D. Each set's headers carry ``CTEDATE0``, ``CTEDATE1``,
``PCTETLEN``, ``PCTENFOR``, ``PCTENPAR``. QPROF has 9999 rows (calacs.e reads exactly that many),
SCLBYCOL 8192 (the four amps' 2048 columns side by side in C, D, A, B order), RPROF/CPROF are
float32 images of 100 transfers × 9999 traps (``NAXIS1`` = trap, ``NAXIS2`` = transfer).

The trap model is made strong (a few per cent of a faint source's charge moves into a ~30-pixel
trail at the top of a chip) so that the correction visibly changes faint sources.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from .fitsutil import F32, primary, table

CTE_NAME = "Par/Serial PixelCTE 2023"
CTE_VER = "3.0"
N_TRAPS = 9999  # rows of QPROF calacs.e reads
N_SCALE = 8192  # rows of SCLBYCOL: 4 amps × 2048 columns, CDAB
N_TRANSFERS = 100  # rows (NAXIS2) of RPROF/CPROF
UNUSED_QLEV = 999999  # QLEV_Q of an unused trap row


#: Parameters of one set: (CTEDATE0, CTEDATE1, PCTETLEN, PCTENFOR, PCTENPAR, traps used, SENS level).
PARALLEL = (52335.0, 59500.0, 60, 5, 7, 40, 0.55)
SERIAL = (54962.0, 59000.0, 40, 4, 3, 24, 0.35)


def trap_levels(n_used: int, *, power: float = 1.7, first: float = 2.0) -> np.ndarray:
    """QLEV_Q (int32, e⁻): the charge packet size that fills each trap; unused rows = 999999."""
    q = np.full(N_TRAPS, UNUSED_QLEV, np.int32)
    w = np.arange(n_used, dtype=np.float64)
    q[:n_used] = np.round(first * (w + 1.0) ** power).astype(np.int32)
    return q


def trail_profiles(n_used: int, tlen: int, *, tau0: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """RPROF (fraction released per transfer) and CPROF (fraction still held) as (100, 9999) float32.

    Trap ``w`` releases exponentially with a time constant growing with ``w``; both profiles are zero
    beyond ``tlen`` transfers and for unused traps.
    """
    rprof = np.zeros((N_TRANSFERS, N_TRAPS), F32)
    cprof = np.zeros((N_TRANSFERS, N_TRAPS), F32)
    n = np.arange(tlen, dtype=np.float64)[:, None]
    tau = tau0 * (1.0 + np.arange(n_used, dtype=np.float64) / max(n_used, 1))[None, :]
    rel = np.exp(-n / tau) - np.exp(-(n + 1.0) / tau)
    rel /= rel.sum(axis=0, keepdims=True)
    held = 1.0 - np.cumsum(rel, axis=0)
    rprof[:tlen, :n_used] = rel.astype(F32)
    cprof[:tlen, :n_used] = np.clip(held, 0.0, 1.0).astype(F32)
    return rprof, cprof


def column_scaling(level: float, seed: int) -> dict[str, np.ndarray]:
    """SCLBYCOL columns: IZ (0..8191) and SENS_0512..SENS_2048 (float32, a smooth ripple around `level`)."""
    iz = np.arange(N_SCALE, dtype=np.int16)
    x = np.arange(N_SCALE, dtype=np.float64)
    out = {"IZ": iz}
    for k, name in enumerate(("SENS_0512", "SENS_1024", "SENS_1536", "SENS_2048")):
        ripple = 0.08 * np.sin(2.0 * np.pi * x / (611.0 + 97.0 * seed) + k)
        out[name] = (level * (0.85 + 0.05 * k) * (1.0 + ripple)).astype(F32)
    return out


def _set_hdus(extver: int, params, descrip: str) -> list:
    date0, date1, tlen, nfor, npar, n_used, level = params
    cards = {
        "CTEDATE0": (date0, "Date of instrument installation in HST (MJD)"),
        "CTEDATE1": (date1, "Date of CTE model pinning (MJD)"),
        "PCTETLEN": (tlen, "max length of CTE trail"),
        "PCTENFOR": (nfor, "number of iterations in the forward model"),
        "PCTENPAR": (npar, "number of iterations in the parallel transfer"),
    }
    q = trap_levels(n_used)
    qprof = table(
        {
            "W": ("I", np.arange(1, N_TRAPS + 1, dtype=np.int16)),
            "QLEV_Q": ("J", q),
            "DPDE_W": ("E", np.ones(N_TRAPS, F32)),
            "DESCRIP": ("20A", [descrip[:20]] * N_TRAPS),
        },
        cards,
    )
    qprof.header["EXTNAME"] = "QPROF"
    qprof.header["EXTVER"] = extver
    scl = column_scaling(level, extver)
    sclbycol = table(
        {
            "IZ": ("I", scl["IZ"]),
            "SENS_0512": ("E", scl["SENS_0512"]),
            "SENS_1024": ("E", scl["SENS_1024"]),
            "SENS_1536": ("E", scl["SENS_1536"]),
            "SENS_2048": ("E", scl["SENS_2048"]),
            "DESCRIP": ("20A", [descrip[:20]] * N_SCALE),
        },
        cards,
    )
    sclbycol.header["EXTNAME"] = "SCLBYCOL"
    sclbycol.header["EXTVER"] = extver
    rprof, cprof = trail_profiles(n_used, tlen)
    out = [qprof, sclbycol]
    for name, data in (("RPROF", rprof), ("CPROF", cprof)):
        hdu = fits.ImageHDU(data=data)
        hdu.header["EXTNAME"] = name
        hdu.header["EXTVER"] = extver
        for k, v in cards.items():
            hdu.header[k] = v
        out.append(hdu)
    return out


def pctetab_hdus(*, useafter: str = "Mar 01 2002 00:00:00", rn_amp: float = 4.5) -> list:
    """The PCTETAB: primary + 20 extensions (parallel set, then serial sets for amps A, B, C, D)."""
    head = primary(
        {
            "INSTRUME": "ACS",
            "DETECTOR": "WFC",
            "FILETYPE": "PIXCTE",
            "USEAFTER": useafter,
            "PEDIGREE": "INFLIGHT 01/03/2002 01/01/2026",
            "DESCRIP": "Synthetic parallel and serial pixel CTE model (caldp.sim)",
            "COMMENT": "Simulated by caldp.sim",
            "CTE_NAME": (CTE_NAME, "name of CTE algorithm"),
            "CTE_VER": (CTE_VER, "version of CTE algorithm"),
            "PCTERNOI": (rn_amp, "read noise amplitude (ignored: CCDTAB is used)"),
            "PCTENSMD": (0, "read noise mitigation algorithm"),
            "PCTETRSH": (-10.0, "over-subtraction threshold"),
            "FIXROCR": (1, "fix readout cosmic rays"),
        }
    )
    hdus = [head]
    hdus += _set_hdus(1, PARALLEL, "parallel")
    for k, amp in enumerate("ABCD"):
        hdus += _set_hdus(k + 2, SERIAL, f"serial amp {amp}")
    return hdus


def ctedark_hdus(dark: fits.HDUList, *, factor: float = 0.96) -> list:
    """The CTE-corrected dark (DRKCFILE) made from the ordinary dark: same layout, FILETYPE 'CTEDARK',
    SCI and ERR scaled by `factor` (a CTE-corrected dark keeps the hot pixels' trailed charge)."""
    out = []
    for k, hdu in enumerate(dark):
        h = hdu.header.copy()
        if k == 0:
            h["FILETYPE"] = "CTEDARK"
            h["DESCRIP"] = "Synthetic CTE-corrected dark (caldp.sim)"
            out.append(fits.PrimaryHDU(header=h))
            continue
        name = str(h.get("EXTNAME", "")).upper()
        if name in ("SCI", "ERR"):
            if hdu.data is not None:
                out.append(fits.ImageHDU(data=(hdu.data * F32(factor)).astype(F32), header=h))
            else:
                if "PIXVALUE" in h:
                    h["PIXVALUE"] = float(F32(h["PIXVALUE"]) * F32(factor))
                out.append(fits.ImageHDU(header=h))
        else:
            out.append(hdu.copy())
    return out


# ----------------------------------------------------------------------------- CTE datasets

PCTETAB_KIND, DRKC_KIND = "pctetab", "drkcfile"


def cte_set(extver: int, params, *, tau0: float = 4.0):
    """One set of the table as the engine reads it (:class:`caldp.engines.acs.pctetab.CteSet`):
    `params` = (CTEDATE0, CTEDATE1, PCTETLEN, PCTENFOR, PCTENPAR, traps used, SENS level) as in
    :data:`PARALLEL`, `tau0` the release time constant of :func:`trail_profiles`. Small sets (a few
    traps, short trails) serve the CTE algorithm's unit tests."""
    from caldp.engines.acs.pctetab import CteSet

    date0, date1, tlen, nfor, npar, n_used, level = params
    scl = column_scaling(level, extver)
    rprof, cprof = trail_profiles(n_used, tlen, tau0=tau0)
    return CteSet(
        extver=extver,
        cte_date0=date0,
        cte_date1=date1,
        cte_len=tlen,
        n_forward=nfor,
        n_par=npar,
        qlev=trap_levels(n_used).astype(np.float64),
        dpde=np.ones(N_TRAPS),
        n_traps_used=n_used,
        iz=scl["IZ"].astype(np.int64),
        sens=np.stack([scl[k].astype(np.float64) for k in ("SENS_0512", "SENS_1024", "SENS_1536", "SENS_2048")]),
        rprof=rprof,
        cprof=cprof,
    )


def model_sets() -> dict:
    """The table's five sets as the engine reads them (:func:`cte_set`), for adding trails to
    simulated pixels without reading the file back."""
    sets = (("parallel", PARALLEL), *((a, SERIAL) for a in "ABCD"))
    return {name: cte_set(extver, params) for extver, (name, params) in enumerate(sets, start=1)}


def add_trails(electrons: np.ndarray, *, ccdchip: int, ccdamp: str, expstart: float) -> np.ndarray:
    """CTE trails on a trimmed chip of detected electrons (float32 ``[row, col]``): per amp the parallel
    transfer and then (post-SM4) the serial one, each HSTCAL's forward model with this module's table
    (what calacs's PCTECORR inverts). The amps split the chip at its middle column."""
    from caldp.engines.acs import pctecorr as P

    sets = model_sets()
    kern = P.kernels()
    out = np.array(electrons, dtype=F32, order="C")
    amps = P.chip_amps(ccdamp, ccdchip)
    nx = out.shape[1]
    ampx = nx // 2 if len(amps) == 2 else nx
    for amp in amps:
        x0, x1 = P.amp_columns(amp, amps, ampx, nx)
        raz = x0 + (P.RAZ_CHIP_COLUMNS if amp in "AB" else 0)
        passes = [("parallel", sets["parallel"])]
        if expstart >= P.SM4MJD:
            passes.append(("serial", sets[amp]))
        for kind, s in passes:
            serial = kind == "serial"
            sec = np.ascontiguousarray(P.to_readout(out[:, x0:x1], amp, serial))
            frac = (expstart - s.cte_date0) / (s.cte_date1 - s.cte_date0)
            traps = P.trap_map(*sec.shape, s.iz, s.sens, raz, frac)
            trailed = P.forward_readout(sec, traps, s, n_traps_used=s.n_traps_used, kernels=kern)
            out[:, x0:x1] = P.from_readout(trailed, amp, serial)
    return out


def write_references(refdir, darkfile: str, *, size: str, ccdamp: str, ccdgain: float, detector: str = "WFC"):
    """Write the PCTETAB and the CTE-corrected dark (made from the simulated DARKFILE `darkfile`) into
    `refdir` as ``s<d><s>c0001j_cte.fits`` and ``…0002j_dkc.fits``; returns their rmap entries and the
    raw-header values ``{"PCTETAB": "jref$…", "DRKCFILE": "jref$…"}``."""
    from pathlib import Path

    from .crdscache import RefEntry
    from .fitsutil import write

    refdir = Path(refdir)
    prefix = f"s{detector[0].lower()}{size[0].lower()}c"
    pcte, dkc = f"{prefix}0001j_cte.fits", f"{prefix}0002j_dkc.fits"
    write(pctetab_hdus(), refdir / pcte)
    with fits.open(refdir / darkfile) as d:
        write(ctedark_hdus(d), refdir / dkc)
    useafter = "2002-03-01 00:00:00"
    amp_gain = {"DETECTOR": detector, "CCDAMP": ccdamp, "CCDGAIN": f"{ccdgain:.1f}"}
    entries = [
        RefEntry("acs", PCTETAB_KIND, pcte, {"DETECTOR": detector}, useafter),
        RefEntry("acs", DRKC_KIND, dkc, amp_gain, useafter),
    ]
    return entries, {"PCTETAB": f"jref${pcte}", "DRKCFILE": f"jref${dkc}"}
