"""caldp-process on a stis-ccd-image dataset uses the builtin engine and delivers _flt/_crj."""

from __future__ import annotations

from astropy.io import fits

from caldp.engines.builtin import BuiltinEngine
from tests.integration.conftest import run_process


def test_builtin_supports_stis():
    assert BuiltinEngine().supports("stis")


def test_caldp_process_builtin(stis_small, tmp_path):
    (ds,) = stis_small.datasets
    out = tmp_path / "out"
    proc = run_process(
        ds.name,
        f"file:{ds.input_path.parent}",
        f"file:{out}",
        "caldp-config-local",
        env={"CRDS_PATH": str(stis_small.crds_cache)},
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    prod = out / "data" / "stis" / ds.name
    log = (prod / "logs" / "process.txt").read_text()
    assert "Stage 1 with the builtin engine" in log
    with fits.open(prod / f"{ds.name}_crj.fits") as crj:
        assert crj[0].header["CRCORR"] == "COMPLETE" and crj[0].header["FLATCORR"] == "COMPLETE"
    assert (prod / f"{ds.name}_flt.fits").is_file() and (prod / f"{ds.name}.tra").is_file()
