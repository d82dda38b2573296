"""Native caldp-process with CALDP_HOME: scratch files (and a local CRDS work area) go there,
the output tree where the output argument says, nothing into the current directory."""

from __future__ import annotations

import json

import pytest

from caldp.config import caldp_home, resolve_config
from caldp.exit_codes import ExitCode
from caldp.messages import ERROR, PROCESSED

from .conftest import clean_env, run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_scratch_goes_to_caldp_home(sim_dataset, tmp_path):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    env = clean_env(CALDP_HOME=str(home), CALDP_KEEP_SCRATCH="1", CRDS_PATH=str(sim_dataset.crds_cache))
    proc = run(
        "caldp-process",
        sim_dataset.name,
        f"file:{sim_dataset.tarball.parent}",
        "file:out",
        "caldp-config-local",
        "--no-stage2",
        "--no-previews",
        env=env,
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    scratch = sorted(home.iterdir())
    assert [p.name.startswith(f"caldp-{sim_dataset.name}-") for p in scratch] == [True]
    assert sorted(p.name for p in scratch[0].iterdir()) == ["staging", "work"]
    assert sorted(p.name for p in cwd.iterdir()) == ["out"]
    assert (cwd / "out" / "messages" / PROCESSED / sim_dataset.name).is_file()
    assert any((cwd / "out" / "data" / "acs" / sim_dataset.name).glob("*_flt.fits"))


def test_crds_work_area_defaults_under_caldp_home(tmp_path):
    env = resolve_config("caldp-config-aws", {"CRDSBUCKET": "s3://b/crds", "CALDP_HOME": str(tmp_path)})
    assert env["CRDS_PATH"] == str(tmp_path / "crds_cache")
    assert env["jref"] == f"{tmp_path}/crds_cache/references/hst/acs/"
    env = resolve_config("caldp-config-offsite", {"CALDP_HOME": str(tmp_path)})
    assert env["CRDS_PATH"] == str(tmp_path / "crds_cache")
    # an explicit CRDS_PATH wins
    assert resolve_config("caldp-config-offsite", {"CALDP_HOME": "/x", "CRDS_PATH": "/c"})["CRDS_PATH"] == "/c"


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_bad_caldp_home_is_one_line_and_cmdline_error(tmp_path, kind):
    home = tmp_path / "home"
    if kind == "file":
        home.write_text("not a directory")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = run(
        "caldp-process",
        "jcs101010",
        "file:in",
        "file:out",
        "caldp-config-onsite",
        env=clean_env(CALDP_HOME=str(home)),
        cwd=cwd,
    )
    assert proc.returncode == ExitCode.CMDLINE_ERROR, proc.stderr
    reason = f"CALDP_HOME={home} is not a directory" + (" (it does not exist)" if kind == "missing" else "")
    assert f"caldp: CMDLINE_ERROR: {reason}" in proc.stderr.splitlines()
    assert kind == "file" or not home.exists()  # nothing made in its place
    # as for any bad command line: the error message, and no data tree
    msg = json.loads((cwd / "out" / "messages" / ERROR / "jcs101010").read_text())
    assert msg["exit_name"] == "CMDLINE_ERROR" and reason in msg["reason"]
    assert sorted(p.name for p in (cwd / "out").iterdir()) == ["messages"]
    with pytest.raises(ValueError, match="is not a directory"):
        caldp_home({"CALDP_HOME": str(home)})
    assert caldp_home({}) is None and caldp_home({"CALDP_HOME": str(tmp_path)}) == tmp_path
