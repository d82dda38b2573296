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
