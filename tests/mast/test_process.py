"""caldp-process with ``astroquery:`` input against the MAST replay server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from caldp.exit_codes import ExitCode
from caldp.messages import ERROR

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run_process(*args, env, cwd, timeout=600):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CRDS_", "CALDP_"))}
    return subprocess.run([sys.executable, "-m", "caldp", *map(str, args)], env={**base, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_astroquery_input_downloads_then_calibrates(replay, tmp_path):
    """The files come from 'MAST'; calibration of the replay's tiny files then fails at
    bestrefs (no CRDS cache), which is reported as such: the download worked."""
    out = tmp_path / "out"
    proc = run_process("j8cb010b0", "astroquery:", f"file:{out}", "caldp-config-onsite", "--no-stage2",
                       "--no-previews", env={"CALDP_MAST_URL": replay.url}, cwd=tmp_path)
    log_text = (out / "data/acs/j8cb010b0/logs/process.txt").read_text()
    assert "Downloaded 3/3 j8cb01u3q_raw.fits (8640 bytes)" in log_text, proc.stderr[-3000:]
    assert "Inputs: j8cb010b0_asn.fits, j8cb01u2q_raw.fits, j8cb01u3q_raw.fits" in log_text
    assert proc.returncode not in (ExitCode.ASTROQUERY_ERROR, ExitCode.INPUT_TAR_FILE_ERROR), proc.stderr[-3000:]


@pytest.mark.parametrize(("error", "text"), [
    ({"invoke": 500}, "500 Server Error"),
    ({"download:j8cb01u2q_raw.fits": 404}, "MAST download of j8cb01u2q_raw.fits failed: HTTPError: 404"),
])
def test_mast_errors_are_astroquery_error(replay, tmp_path, error, text):
    replay.errors.update(error)
    out = tmp_path / "out"
    proc = run_process("j8cb010b0", "astroquery:", f"file:{out}", "caldp-config-onsite",
                       env={"CALDP_MAST_URL": replay.url}, cwd=tmp_path)
    assert proc.returncode == ExitCode.ASTROQUERY_ERROR == 22, proc.stderr[-3000:]
    assert text in proc.stderr
    msg = json.loads((out / "messages" / ERROR / "j8cb010b0").read_text())
    assert msg["exit_name"] == "ASTROQUERY_ERROR" and msg["step"] == "fetch" and text in msg["reason"]
    assert sorted(p.name for p in (out / "data/acs/j8cb010b0").rglob("*") if p.is_file()) == [
        "process.txt", "process_metrics.txt"]
