"""Importing the drop-in commands and the engines they load stays lean.

``caldp-calacs``/``caldp-calwf3``/``caldp-calstis`` start a new interpreter on every call, so every module they
import is paid on every call: scipy.signal alone cost 0.8 s of the ACS engine's 1.2 s import, and
dask/drizzlepac belong to the pipeline, not to stage 1. Checked in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("scipy.signal", "dask", "distributed", "drizzlepac", "stwcs", "matplotlib")

MODULES = (
    "caldp.cli.calacs",
    "caldp.cli.calwf3",
    "caldp.cli.calstis",
    "caldp.engines.acs.calacs",
    "caldp.engines.wfc3.calwf3",
    "caldp.engines.stis.calstis",
)


@pytest.mark.parametrize("module", MODULES)
def test_dropin_import_stays_lean(module):
    code = (
        "import json, sys\n"
        f"import {module}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    heavy = sorted({h for h in HEAVY for m in loaded if m == h or m.startswith(h + ".")})
    assert heavy == [], f"importing {module} loads {heavy}"


@pytest.mark.parametrize("module", MODULES)
def test_dropin_import_without_astropy(module):
    """The drop-ins read and write FITS with caldp.engines.common.fitsfile: importing them loads no
    astropy (astropy.io.fits cost ~0.15 s of astropy.units at every start)."""
    code = f"import sys\nimport {module}\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'astropy'))\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", f"importing {module} loads astropy"


#: one dataset per common path of each drop-in (CTE-corrected WFC3/UVIS still reads through astropy)
RUN_MODES = {
    "acs-wfc-asn": "calacs",
    "acs-wfc-cte-asn": "calacs",
    "wfc3-uvis-asn": "calwf3",
    "wfc3-ir": "calwf3",
    "stis-ccd-image": "calstis",
    "stis-ccd-spec": "calstis",
    "stis-mama-image": "calstis",
    "stis-mama-echelle": "calstis",
}


@pytest.fixture(scope="module")
def small_sims(tmp_path_factory):
    from caldp.sim import crds_env, simulate

    root = tmp_path_factory.mktemp("dropin_sims")
    res = simulate(root, modes=tuple(RUN_MODES), size="small")
    return res, crds_env(root / "crds_cache")


@pytest.mark.parametrize("mode", list(RUN_MODES))
def test_dropin_run_without_astropy(small_sims, mode, tmp_path):
    """A whole drop-in run (calibration, products, SPT, association table update) loads no astropy."""
    import os
    import shutil

    res, env = small_sims
    (ds,) = [d for d in res.datasets if d.mode == mode]
    wd = tmp_path / ds.name
    shutil.copytree(ds.input_path, wd)
    inputs = sorted(wd.glob("*_asn.fits")) or sorted(wd.glob("*_raw.fits"))
    tool = RUN_MODES[mode]
    code = (
        "import sys\n"
        f"from caldp.cli.{tool} import main\n"
        "rc = main()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'astropy'))\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, inputs[0].name],
        cwd=wd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]", f"caldp-{tool} on {mode} loaded astropy"
    assert sorted(wd.glob("*_fl?.fits")) or sorted(wd.glob("*_x1d.fits")) or sorted(wd.glob("*_sx1.fits"))
