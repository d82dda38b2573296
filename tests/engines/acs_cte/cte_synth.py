"""Small CTE models and data sets for the ACS CTE tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
from astropy.io import fits

from caldp.engines.acs.pctetab import N_SCALE_COLUMNS, N_TRAPS, CteSet
from caldp.sim import cte
from caldp.sim.fitsutil import write

F32 = np.float32


def small_set(*, n_used=6, tlen=8, n_forward=3, n_par=2, level=0.6) -> CteSet:
    """A CteSet with a few traps (QLEV 2, 6, 13, …) and short trails, as the reader would return it."""
    qlev = cte.trap_levels(n_used).astype(np.float64)
    rprof, cprof = cte.trail_profiles(n_used, tlen, tau0=2.0)
    scl = cte.column_scaling(level, 1)
    return CteSet(
        extver=1,
        cte_date0=52335.0,
        cte_date1=59500.0,
        cte_len=tlen,
        n_forward=n_forward,
        n_par=n_par,
        qlev=qlev,
        dpde=np.ones(N_TRAPS),
        n_traps_used=n_used,
        iz=scl["IZ"].astype(np.int64),
        sens=np.stack([scl[k].astype(np.float64) for k in ("SENS_0512", "SENS_1024", "SENS_1536", "SENS_2048")]),
        rprof=rprof,
        cprof=cprof,
    )


def small_image(nrows=40, ncols=12, seed=3) -> np.ndarray:
    """Background ~20 e⁻ with read noise, a few faint and bright sources and a readout-CR-like
    over-subtraction dip (so the CR fix runs)."""
    rng = np.random.default_rng(seed)
    img = (20.0 + rng.normal(0, 4.0, (nrows, ncols))).astype(F32)
    img[5, 2] += 400.0
    img[17, 5] += 60.0
    img[25, 8] += 2500.0
    img[30:33, 10] -= 40.0
    img[12, 0] += 150.0
    img[20, ncols - 1] += 90.0
    return img


def add_cte_to_dataset(src_inputs: Path, refdir: Path, dst: Path) -> Path:
    """Copy a simulated ACS association to `dst` with PCTECORR=PERFORM, PCTETAB and DRKCFILE set,
    and write those two references into `refdir`. Returns the association path."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src_inputs.iterdir():
        shutil.copy(f, dst / f.name)
    write(cte.pctetab_hdus(), refdir / "tstcte_cte.fits")
    dark = None
    for raw in sorted(dst.glob("*_raw.fits")):
        with fits.open(raw, mode="update") as h:
            dark = str(h[0].header["DARKFILE"]).split("$")[1]
            h[0].header["PCTECORR"] = "PERFORM"
            h[0].header["PCTETAB"] = "jref$tstcte_cte.fits"
            h[0].header["DRKCFILE"] = "jref$" + dark.replace("_drk", "_dkc")
    with fits.open(refdir / dark) as d:
        write(cte.ctedark_hdus(d), refdir / dark.replace("_drk", "_dkc"))
    return next(dst.glob("*_asn.fits"))


def run_hstcal(cmd: list[str], cwd: Path, jref: Path) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, jref=str(jref) + "/")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


__all__ = ["small_set", "small_image", "add_cte_to_dataset", "run_hstcal", "N_SCALE_COLUMNS"]
