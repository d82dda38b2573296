"""caldp-calstis loads only what a run needs: a drop-in pays every import on every call.

Run in a fresh interpreter on the small dataset of each STIS simulator mode; afterwards none of the
heavy packages may be loaded (scipy, matplotlib, CRDS and Dask never; astropy.table, whose import
alone cost 0.1–0.3 s, not even for the spectroscopic table products), and CCD data does not load
the MAMA, echelle or spectroscopic modules.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

HEAVY = ("scipy", "matplotlib", "crds", "dask", "distributed", "astropy.table", "asdf", "yaml")
SPECTRO = ("caldp.engines.stis.echelle", "caldp.engines.stis.x1d", "caldp.engines.stis.x2d")
CODE = """
import json, sys
from caldp.cli.calstis import main
rc = main([sys.argv[1]])
print(json.dumps([rc, sorted(sys.modules)]))
"""


@pytest.mark.parametrize("mode", ["stis-ccd-image", "stis-ccd-spec", "stis-mama-image", "stis-mama-echelle"])
def test_calstis_run_loads_no_heavy_package(tmp_path, mode):
    from caldp import sim

    result = sim.simulate(tmp_path / "sim", modes=[mode], size="small", seed=2)
    (ds,) = result.datasets
    work = tmp_path / "run"
    shutil.copytree(ds.input_path, work)
    env = {**os.environ, **result.env}
    proc = subprocess.run(
        [sys.executable, "-c", CODE, f"{ds.name}_raw.fits"], cwd=work, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rc, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rc == 0, proc.stdout[-2000:]
    heavy = sorted({h for h in HEAVY for m in loaded if m == h or m.startswith(h + ".")})
    assert heavy == [], f"caldp-calstis on {mode} loaded {heavy}"
    if mode == "stis-ccd-image":
        assert not [m for m in loaded if m in SPECTRO or m == "caldp.engines.stis.calstis1_mama"]
