"""caldp-process on bad input: one clear line, CALDP's exit code, a dataset-error message,
nothing under datasets-processed and no product that looks complete."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from .conftest import message, messages, run_process

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def assert_failed(proc, out: Path, dataset: str, code: int, name: str, text: str):
    assert proc.returncode == code, proc.stderr[-3000:]
    last = [ln for ln in proc.stderr.splitlines() if ln.startswith("caldp: ")]
    assert last and name in last[-1] and text.lower() in last[-1].lower(), proc.stderr[-2000:]
    assert f"EXIT - {name}[{code}]" in proc.stderr.splitlines()[-1]
    msgs = messages(out)
    assert msgs.get("dataset-error") == [dataset], msgs
    assert not msgs.get("datasets-processed")
    meta = message(out, "dataset-error", dataset)
    assert meta["exit_code"] == code and meta["exit_name"] == name and meta["reason"]
    data = out / "data"
    if data.exists():
        assert not [p for p in data.rglob("*.fits")], "a failed dataset must not deliver products"


def test_invalid_dataset_name(tmp_path):
    out = tmp_path / "out"
    proc = run_process("j8cb0", "file:.", f"file:{out}", "caldp-config-local", env={"CRDS_PATH": str(tmp_path)})
    assert_failed(proc, out, "j8cb0", 2, "CMDLINE_ERROR", "invalid dataset name")


def test_unknown_instrument(tmp_path):
    out = tmp_path / "out"
    proc = run_process("q8cb010b0", "file:.", f"file:{out}", "caldp-config-local", env={"CRDS_PATH": str(tmp_path)})
    assert_failed(proc, out, "q8cb010b0", 2, "CMDLINE_ERROR", "unknown instrument")


def test_unsupported_instrument(tmp_path):
    out = tmp_path / "out"
    proc = run_process("u8cb010b0", "file:.", f"file:{out}", "caldp-config-local", env={"CRDS_PATH": str(tmp_path)})
    assert_failed(proc, out, "u8cb010b0", 2, "CMDLINE_ERROR", "does not calibrate")


def test_unknown_config(tmp_path):
    out = tmp_path / "out"
    proc = run_process("j8cb010b0", "file:.", f"file:{out}", "caldp-config-mars")
    assert_failed(proc, out, "j8cb010b0", 2, "CMDLINE_ERROR", "unknown config")


def test_missing_input_dir(tmp_path):
    out = tmp_path / "out"
    proc = run_process("j8cb010b0", f"file:{tmp_path / 'nowhere'}", f"file:{out}", "caldp-config-local",
                       env={"CRDS_PATH": str(tmp_path)})
    assert_failed(proc, out, "j8cb010b0", 21, "INPUT_TAR_FILE_ERROR", "does not exist")


def test_no_files_for_dataset(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "j9zz01a1q_raw.fits").write_bytes(b"")  # another dataset's file
    out = tmp_path / "out"
    proc = run_process("j8cb010b0", f"file:{inputs}", f"file:{out}", "caldp-config-local",
                       env={"CRDS_PATH": str(tmp_path)})
    assert_failed(proc, out, "j8cb010b0", 21, "INPUT_TAR_FILE_ERROR", "no input files")


def _tar(path: Path, members: dict[str, bytes], link: str | None = None):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)


def test_two_tarballs(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _tar(inputs / "j8cb010b0.tar.gz", {"j8cb010b0_asn.fits": b"x"})
    _tar(inputs / "j8cb01u2q.tar.gz", {"j8cb01u2q_raw.fits": b"x"})
    out = tmp_path / "out"
    proc = run_process("j8cb010b0", f"file:{inputs}", f"file:{out}", "caldp-config-local",
                       env={"CRDS_PATH": str(tmp_path)})
    assert_failed(proc, out, "j8cb010b0", 21, "INPUT_TAR_FILE_ERROR", "more than one input tarball")


@pytest.mark.parametrize("member,link", [("../evil_raw.fits", None), ("/tmp/evil_raw.fits", None),
                                         ("j8cb010b0_asn.fits", "j8cb01a1q_raw.fits")])
def test_unsafe_tarball(tmp_path, member, link):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _tar(inputs / "j8cb010b0.tar.gz", {member: b"SIMPLE"}, link=link)
    out = tmp_path / "out"
    proc = run_process("j8cb010b0", f"file:{inputs}", f"file:{out}", "caldp-config-local",
                       env={"CRDS_PATH": str(tmp_path)})
    assert_failed(proc, out, "j8cb010b0", 21, "INPUT_TAR_FILE_ERROR", "unsafe member")
    assert not (tmp_path / "evil_raw.fits").exists()


def _copy_inputs(sim, tmp_path) -> tuple[str, Path]:
    ds = sim.datasets[0]
    dest = tmp_path / "in"
    shutil.copytree(ds.input_path, dest)
    return ds.name, dest


def test_truncated_fits(sim_acs, tmp_path):
    name, inputs = _copy_inputs(sim_acs, tmp_path)
    raw = sorted(inputs.glob("*_raw.fits"))[0]
    raw.write_bytes(raw.read_bytes()[: raw.stat().st_size // 2])
    out = tmp_path / "out"
    proc = run_process(name, f"file:{inputs}", f"file:{out}", "caldp-config-local", env=sim_acs.env)
    assert_failed(proc, out, name, 21, "INPUT_TAR_FILE_ERROR", "truncated")


def test_raw_without_instrume(sim_acs, tmp_path):
    from astropy.io import fits

    name, inputs = _copy_inputs(sim_acs, tmp_path)
    for raw in inputs.glob("*_raw.fits"):
        with fits.open(raw, mode="update") as hdul:
            del hdul[0].header["INSTRUME"]
    out = tmp_path / "out"
    proc = run_process(name, f"file:{inputs}", f"file:{out}", "caldp-config-local", env=sim_acs.env)
    assert_failed(proc, out, name, 27, "BESTREFS_ERROR", "INSTRUME")


def test_missing_reference_in_readonly_cache(sim_acs, tmp_path):
    name, inputs = _copy_inputs(sim_acs, tmp_path)
    cache = tmp_path / "cache"
    shutil.copytree(sim_acs.crds_cache, cache)
    victim = sorted((cache / "references" / "hst").glob("*_drk.fits"))[0]
    victim.unlink()
    env = {**sim_acs.env, "CRDS_PATH": str(cache), "CRDS_READONLY_CACHE": "1"}
    out = tmp_path / "out"
    proc = run_process(name, f"file:{inputs}", f"file:{out}", "caldp-config-local", env=env)
    assert_failed(proc, out, name, 27, "BESTREFS_ERROR", victim.name)


def test_unwritable_output(sim_acs, tmp_path):
    """An output path under a regular file cannot be created: GENERIC_ERROR, message in ./messages."""
    name, inputs = _copy_inputs(sim_acs, tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    out = blocker / "out"
    proc = run_process(name, f"file:{inputs}", f"file:{out}", "caldp-config-local", env=sim_acs.env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "EXIT - GENERIC_ERROR[1]" in proc.stderr.splitlines()[-1]
    assert "not writable" in proc.stderr
    assert (tmp_path / "messages" / "dataset-error" / name).is_file()
    assert not (tmp_path / "messages" / "datasets-processed").exists()
